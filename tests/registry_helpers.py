"""Open a test registry the way the pipeline does: encrypted, with the public demo keys."""

from __future__ import annotations

from pathlib import Path

from dancu.keys import Keys, load_keys
from dancu.settings import RunSettings, load_settings

DEMO_KEYS: Keys = load_keys({}, demo=True, environ={})


def demo_settings(**changes: object) -> RunSettings:
    """The default settings with the demo keys (what ``dancu run --demo`` uses)."""
    from dataclasses import replace

    return replace(load_settings(None, demo=True), **changes)  # type: ignore[arg-type]


def open_registry(path: Path, read_only: bool = True):  # type: ignore[no-untyped-def]
    """The registry at ``path`` (a file or a warehouse folder), opened with the demo key."""
    from pipelines.warehouse import REGISTRY_FILE, connect

    registry = path / REGISTRY_FILE if path.is_dir() else path
    return connect(registry, read_only=read_only)
