"""The layers point one way: each package imports only the packages below it.

Read from the code itself (every ``import`` and ``from ... import``, lazy
ones inside functions included), so a new breach fails here:

    domain                              imports nothing of ours
    pipelines, matching, quality, synth import domain (and themselves)
    dancu                               imports all of the above
    dags                                imports dancu

Inside ``pipelines``: ``register`` is pure (domain only), ``warehouse`` may use
``register``'s types, ``ingest`` may write through ``warehouse``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
OURS = ("domain", "pipelines", "matching", "quality", "synth", "dancu", "dags")
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "pipelines": {"domain"},
    "matching": {"domain"},
    "quality": {"domain"},
    "synth": {"domain"},
    "dancu": {"domain", "pipelines", "matching", "quality", "synth"},
    "dags": {"dancu"},
}
#: Sub-packages of ``pipelines`` and the other sub-packages each may import.
PIPELINES_ALLOWED: dict[str, set[str]] = {
    "register": set(),
    "warehouse": {"register"},
    "ingest": {"warehouse"},
}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names), with the line, lazy imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module is not None
            found.append((node.lineno, node.module))
            # ``from pipelines import ingest`` imports the sub-package too.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _breaches() -> list[str]:
    breaches = []
    for package, allowed in ALLOWED.items():
        for path in _sources(package):
            for line, module in _imported_modules(path):
                top = module.split(".")[0]
                if top in OURS and top != package and top not in allowed:
                    breaches.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return breaches


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert _breaches() == []


def test_the_pipelines_stages_keep_their_order() -> None:
    breaches = []
    for sub, allowed in PIPELINES_ALLOWED.items():
        for path in _sources(f"pipelines/{sub}"):
            for line, module in _imported_modules(path):
                parts = module.split(".")
                if parts[0] != "pipelines" or len(parts) < 2 or parts[1] == sub:
                    continue
                if parts[1] not in allowed:
                    breaches.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert breaches == []


def test_the_check_sees_a_breach_and_a_lazy_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dancu.stages import run_batch\n\nimport pipelines.ingest\n")
    assert sorted(m for _, m in _imported_modules(bad)) == [
        "dancu.stages",
        "dancu.stages.run_batch",
        "pipelines.ingest",
    ]


@pytest.mark.parametrize("package", [p for p in OURS if p != "dags"])
def test_our_generic_package_names_resolve_inside_the_repository(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(REPO / package)
    assert module.__doc__, f"{package}/__init__.py says what the package is for"
