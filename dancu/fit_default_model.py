"""Fit the default match model shipped with dancu (``matching/default_model.json``).

A run whose batch cannot fit a model that passes the self-check, and whose
registry holds no accepted model (a first batch), falls back on this one.
It is fitted on generated data only: ``synth`` writes a delivery
of legacy exports (hard profile), ingest reads it as a real batch would be
read, and ``link_records`` fits the model on the staged records.

    .venv/bin/python -m dancu.fit_default_model [--persons 20000] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from dancu.stages import plan_batch, staged_records
from matching import link_records
from matching.estimate import DEFAULT_MODEL_FILE
from pipelines.ingest import ingest_province
from synth import generate


def fit_default_model(persons: int, seed: int, out: Path) -> dict[str, object]:
    """Generate, ingest and link one batch; write its model to ``out``; return the model."""
    with tempfile.TemporaryDirectory(prefix="dancu-default-model-") as tmp:
        summary = generate(persons, seed, Path(tmp) / "gen", batches=1, profile="hard")
        batch = Path(tmp) / "gen" / "inbox" / summary.batches[0]
        warehouse = Path(tmp) / "warehouse"
        for code in plan_batch(batch, warehouse):
            ingest_province(batch, code, warehouse / "staging")
        result = link_records(staged_records(warehouse, batch.name))
    model = result.model.to_dict()
    model["fitted_on"] = f"synth hard profile, {persons} persons, seed {seed}"
    out.write_text(json.dumps(model, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return model


def main() -> None:
    """Command line: fit and write the default model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_FILE)
    args = parser.parse_args()
    model = fit_default_model(args.persons, args.seed, args.out)
    comparisons = model["comparisons"]
    assert isinstance(comparisons, list)
    print(f"wrote {args.out}: prior {model['prior']:.3g}, {len(comparisons)} comparisons")


if __name__ == "__main__":
    main()
