"""A run's settings: one frozen object, read from a TOML file, passed down.

``RunSettings`` holds the matching settings (``matching.MatchSettings``),
the readers' memory limits (``pipelines.ingest.ReadLimits``) and where the
PIN key comes from. ``load_settings(path)`` reads the scalar parts from a
TOML file (``dancu run --settings FILE``, the DAG's ``settings`` param); a
key the file does not name keeps its default, and an unknown key is an
error. ``dancu/defaults.toml`` documents every key with its default.
Blocking rules, comparisons and pair rules are code, not settings.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from matching import MatchSettings
from pipelines.ingest import ReadLimits

#: Serial key of the demo register. A real deployment passes its own secret.
DEMO_PIN_KEY = b"dancu-demo-register-key"


class SettingsError(ValueError):
    """A settings file that names an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class RunSettings:
    """Everything a run can be told; passed down, never read from globals.

    Attributes:
        match: The matching settings.
        read_limits: The readers' memory limits (they never change the rows).
        pin_key: The register's secret for PIN serials.
        pin_key_file: Where ``pin_key`` was read from (None: the demo key).
        force: Process a batch even when it is already loaded with the same files.
    """

    match: MatchSettings = field(default_factory=MatchSettings)
    read_limits: ReadLimits = field(default_factory=ReadLimits)
    pin_key: bytes = DEMO_PIN_KEY
    pin_key_file: Path | None = None
    force: bool = False


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


def load_settings(path: Path | None = None, *, force: bool = False) -> RunSettings:
    """Read ``RunSettings`` from a TOML file (defaults when ``path`` is None).

    Raises:
        SettingsError: an unknown table or key, or a value of the wrong type.
        FileNotFoundError: the settings file or the PIN key file does not exist.
    """
    data: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    unknown = set(data) - {"ingest", "matching", "pin"}
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
    pin = data.get("pin", {})
    unknown_pin = set(pin) - {"key_file"}
    if unknown_pin:
        raise SettingsError(f"unknown setting 'pin.{sorted(unknown_pin)[0]}'")
    key_file = Path(pin["key_file"]) if "key_file" in pin else None
    if key_file is not None and path is not None and not key_file.is_absolute():
        key_file = path.parent / key_file
    key = key_file.read_bytes().strip() if key_file is not None else DEMO_PIN_KEY
    return replace(
        settings, read_limits=read_limits, match=match, pin_key=key, pin_key_file=key_file
    )
