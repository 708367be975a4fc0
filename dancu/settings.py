"""A run's settings: one frozen object, read from a TOML file, passed down.

``RunSettings`` holds the matching settings (``matching.MatchSettings``),
the readers' memory limits (``pipelines.ingest.ReadLimits``), what is kept
after a load (``Retention``) and the register's keys (``dancu.keys``: read
from key files, never from the settings file itself, never a default).
``load_settings(path)`` reads the scalar parts from a TOML file (``dancu run
--settings FILE``, the DAG's ``settings`` param); a key the file does not name
keeps its default, and an unknown key is an error. ``dancu/defaults.toml``
documents every key with its default.
Blocking rules, comparisons and pair rules are code, not settings.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dancu.keys import KINDS, Keys, load_keys
from matching import MatchSettings
from pipelines.ingest import ReadLimits
from pipelines.warehouse import Retention


class SettingsError(ValueError):
    """A settings file that names an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class RunSettings:
    """Everything a run can be told; passed down, never read from globals.

    Attributes:
        match: The matching settings.
        read_limits: The readers' memory limits (they never change the rows).
        retention: What is kept of a batch's staging once it is loaded.
        keys: The register's secrets (None until read: a run refuses to start).
        key_files: The key files named in the settings, by kind.
        force: Process a batch even when it is already loaded with the same files.
    """

    match: MatchSettings = field(default_factory=MatchSettings)
    read_limits: ReadLimits = field(default_factory=ReadLimits)
    retention: Retention = field(default_factory=Retention)
    keys: Keys | None = None
    key_files: dict[str, Path] = field(default_factory=dict)
    force: bool = False

    def require_keys(self) -> Keys:
        """The keys, or a clear error when the run was given none."""
        if self.keys is None:
            raise ValueError(
                "no keys: a run needs the PIN key (the audit key is derived from it when"
                " not given; see dancu.keys)"
            )
        return self.keys


_SCALARS = (bool, int, float, str, type(None))


def _scalar_fields(cls: type) -> dict[str, Any]:
    """The fields of a settings part that a file may set (numbers, strings, None)."""
    out = {}
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        if isinstance(default, _SCALARS):
            out[f.name] = default
    return out


def _apply(part: Any, values: Mapping[str, Any], where: str) -> Any:
    allowed = _scalar_fields(type(part))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            continue  # a sub-table, applied on its own
        if key not in allowed:
            raise SettingsError(f"unknown setting '{where}.{key}'")
        default = allowed[key]
        if default is not None and not isinstance(value, type(default)):
            if not (isinstance(default, float) and isinstance(value, int)):
                raise SettingsError(
                    f"setting '{where}.{key}' must be {type(default).__name__}, not {value!r}"
                )
            value = float(value)
        changes[key] = value
    return replace(part, **changes)


def load_settings(
    path: Path | None = None,
    *,
    force: bool = False,
    demo: bool = False,
    secrets: dict[str, str | None] | None = None,
    with_keys: bool = True,
) -> RunSettings:
    """Read ``RunSettings`` from a TOML file (defaults when ``path`` is None), and the keys.

    Args:
        path: the settings file.
        force: process batches already loaded unchanged.
        demo: allow (and default to) the public demo keys.
        secrets: key texts from Airflow's secrets backend, by kind.
        with_keys: read the keys (False: settings only, ``keys`` stays None).

    Raises:
        SettingsError: an unknown table or key, or a value of the wrong type.
        dancu.keys.KeyFileError: a key is missing, malformed, or the demo key without ``demo``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    # [registry] key_file is read only to be refused with its reason (dancu.keys).
    key_tables = (*KINDS, "registry")
    unknown = set(data) - {"ingest", "matching", "retention", *key_tables}
    if unknown:
        raise SettingsError(f"unknown settings table(s): {', '.join(sorted(unknown))}")
    settings = RunSettings(force=force)
    read_limits = _apply(settings.read_limits, data.get("ingest", {}), "ingest")
    matching = data.get("matching", {})
    unknown_parts = {k for k, v in matching.items() if isinstance(v, dict)} - {
        "blocking",
        "training",
        "thresholds",
        "limits",
    }
    if unknown_parts:
        raise SettingsError(f"unknown settings table(s): matching.{sorted(unknown_parts)[0]}")
    match = settings.match
    match = replace(
        match,
        blocking=_apply(match.blocking, matching.get("blocking", {}), "matching.blocking"),
        training=_apply(match.training, matching.get("training", {}), "matching.training"),
        thresholds=_apply(match.thresholds, matching.get("thresholds", {}), "matching.thresholds"),
        limits=_apply(match.limits, matching.get("limits", {}), "matching.limits"),
    )
    match = _apply(match, matching, "matching")
    retention = _apply(settings.retention, data.get("retention", {}), "retention")
    key_files: dict[str, Path] = {}
    for kind in key_tables:
        table = data.get(kind, {})
        unknown_key = set(table) - {"key_file"}
        if unknown_key:
            raise SettingsError(f"unknown setting '{kind}.{sorted(unknown_key)[0]}'")
        if "key_file" in table:
            key_file = Path(table["key_file"])
            if path is not None and not key_file.is_absolute():
                key_file = path.parent / key_file
            key_files[kind] = key_file
    keys = load_keys(key_files, demo=demo, values=secrets) if with_keys else None
    return replace(
        settings,
        read_limits=read_limits,
        match=match,
        retention=retention,
        keys=keys,
        key_files=key_files,
    )


def settings_for_dag(params: dict[str, Any]) -> RunSettings:
    """The settings of a DAG run: its ``settings`` and ``demo`` params, keys from Airflow first.

    The keys are read from Airflow's secrets backend (Variables named in
    ``dancu.keys.AIRFLOW_VARIABLES``) before the key files; Airflow is
    imported only here, so the command line never needs it.
    """
    from airflow.sdk import Variable

    from dancu.keys import AIRFLOW_VARIABLES

    secrets = {kind: Variable.get(name, default=None) for kind, name in AIRFLOW_VARIABLES.items()}
    return load_settings(
        Path(params["settings"]) if params.get("settings") else None,
        demo=bool(params.get("demo")),
        secrets=secrets,
    )
