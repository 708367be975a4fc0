"""A model that never refuses a batch: the registry's last accepted model, or the default."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from dancu.stages import run_batch
from matching import FITTED, MatchModel, MatchSettings, ModelError, default_model, link_records
from matching.settings import TrainingSettings
from synth import generate
from synth.records import synthetic_records
from tests.registry_helpers import demo_settings, open_registry

#: EM stopped after one iteration cannot converge: a batch that cannot fit a model.
_CANNOT_FIT = MatchSettings(training=TrainingSettings(em_max_iterations=1))


@pytest.mark.unit
def test_a_model_survives_its_json() -> None:
    model = default_model()
    assert model.source == "default"
    again = MatchModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    assert model.fits(MatchSettings().comparisons)


@pytest.mark.unit
def test_a_fit_that_fails_uses_the_fallback_and_says_so() -> None:
    records, _ = synthetic_records(600, seed=4)
    with pytest.raises(ModelError, match="did not converge"):
        link_records(records, _CANNOT_FIT)
    fallback = dataclasses.replace(default_model(), source="registry:2025-01-01")
    result = link_records(records, _CANNOT_FIT, fallback=[fallback])
    assert (result.model.source, result.stats["model_source"]) == ("registry:2025-01-01",) * 2
    assert "did not converge" in result.model.note
    assert [c.m for c in result.model.comparisons] == [c.m for c in fallback.comparisons]
    # u and the prior are the batch's own, and the records are still linked.
    assert result.model.prior != fallback.prior
    assert result.stats["decisions"].get("link", 0) > 0
    fitted = link_records(records, MatchSettings(), fallback=[fallback])
    assert (fitted.model.source, fitted.model.note) == (FITTED, "")


def _run_row(warehouse: Path) -> list[tuple]:
    with open_registry(warehouse) as con:
        return con.execute(
            "SELECT batch_id, model_source, rows_loaded FROM run ORDER BY ended_at"
        ).fetchall()


def _loads_whole_with_pins(warehouse: Path) -> int:
    """Every loaded record has a PIN or belongs to a pending person; returns the records."""
    with open_registry(warehouse) as con:
        ((records, with_pin, pending_rows),) = con.execute(
            "SELECT count(*), count(pin), count(*) FILTER (pin IS NULL AND person_id IN "
            "(SELECT person_id FROM person WHERE status = 'pending')) FROM source_record"
        ).fetchall()
    assert with_pin + pending_rows == records  # every record without a PIN is pending
    assert with_pin > 0.9 * records
    return int(records)


@pytest.mark.integration
def test_a_pilot_first_batch_loads_whole_with_pins(tmp_path: Path) -> None:
    # A 300-person first batch: few candidate pairs to learn from. Whether its
    # own fit passes the self-check or not, it loads, and the run says which model.
    generate(300, 3, tmp_path / "gen")
    (batch,) = (tmp_path / "gen" / "inbox").iterdir()
    warehouse = tmp_path / "wh"
    summary = run_batch(batch, warehouse, demo_settings())
    ((batch_id, source, loaded),) = _run_row(warehouse)
    assert batch_id == batch.name and source in ("fitted", "default")
    assert "  model: " in summary.to_text()
    assert _loads_whole_with_pins(warehouse) == loaded > 300 * 0.95


@pytest.mark.integration
def test_a_first_batch_that_cannot_fit_loads_whole_with_the_default_model(
    tmp_path: Path,
) -> None:
    generate(300, 3, tmp_path / "gen")
    (batch,) = (tmp_path / "gen" / "inbox").iterdir()
    warehouse = tmp_path / "wh"
    summary = run_batch(batch, warehouse, demo_settings(match=_CANNOT_FIT))
    assert "model: default (this batch's fit failed:" in summary.to_text()
    ((batch_id, source, loaded),) = _run_row(warehouse)
    assert (batch_id, source) == (batch.name, "default")
    assert _loads_whole_with_pins(warehouse) == loaded > 300 * 0.95
    assert "default" in (warehouse / "report.html").read_text(encoding="utf-8")


@pytest.mark.integration
def test_a_later_batch_that_cannot_fit_uses_the_registrys_last_accepted_model(
    tmp_path: Path,
) -> None:
    generate(400, 1, tmp_path / "gen", batches=2)
    first, second = sorted((tmp_path / "gen" / "inbox").iterdir())
    warehouse = tmp_path / "wh"
    run_batch(first, warehouse, demo_settings())
    summary = run_batch(second, warehouse, demo_settings(match=_CANNOT_FIT))
    assert f"model: registry:{first.name}" in summary.to_text()
    assert [r[:2] for r in _run_row(warehouse)] == [
        (first.name, "fitted"),
        (second.name, f"registry:{first.name}"),
    ]
    shutil.rmtree(tmp_path / "gen")
