"""Deduplicate a records CSV with Splink 5 (DuckDB backend); run by ``bench/vs_splink.py``.

    .bench-venv/bin/python bench/run_splink.py --csv records.csv --out /tmp/splink [--threads 2]
        [--u-max-pairs 1e8]

Runs in the benchmark environment (``make bench-env``), so it imports only the
standard library, DuckDB and Splink. Writes ``clusters.parquet`` (``record_key``,
``cluster_id``), ``model.json`` (the trained Splink model) and ``stats.json``
(seconds per step, pair counts, the configuration) to ``--out``.

The configuration follows Splink's documentation: standardised inputs (names
lowercased and stripped of diacritics, the 01/01 placeholder date treated as
missing), several blocking rules for predictions, library comparisons for
names and ID numbers with term-frequency adjustment on names, a date
comparison that also uses the birth year of year-only dates, the prior from
deterministic rules, u from random sampling, m from EM on training blocks
that fix sex (given names imply sex, so namesakes agree on sex far more often
than random pairs do; without it EM learns a wrong model on these data).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import duckdb
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import ColumnExpression, DuckDBAPI, Linker, SettingsCreator, block_on

PREDICT_THRESHOLD = 0.5
CLUSTER_THRESHOLD = 0.95
U_MAX_PAIRS = 1e8
PRIOR_RECALL = 0.6
SEED = 1

_NAME_COLUMNS = (
    "family_name",
    "middle_name",
    "given_name",
    "father_name",
    "mother_name",
    "address",
)


def _fold(column: str) -> str:
    """SQL folding a name to lowercase ASCII words (Đ to d), empty to null."""
    stripped = f"strip_accents(lower(replace(replace({column}, 'Đ', 'D'), 'đ', 'd')))"
    return f"nullif(trim(regexp_replace({stripped}, '[^a-z0-9]+', ' ', 'g')), '')"


def load_sql(csv: Path) -> str:
    """SQL creating the ``records`` table Splink reads from the CSV."""
    names = ",\n    ".join(f"{_fold(c)} AS {c}" for c in _NAME_COLUMNS)
    return f"""
CREATE TABLE records AS
SELECT
    record_key AS unique_id,
    {names},
    CASE WHEN dob_placeholder::BOOLEAN THEN NULL ELSE date_of_birth::DATE END AS dob,
    birth_year::INTEGER AS birth_year,
    birth_month::INTEGER AS birth_month,
    birth_day::INTEGER AS birth_day,
    nullif(sex, '') AS sex,
    nullif(birth_province_code, '') AS birth_province_code,
    nullif(id_number, '') AS id_number
FROM read_csv('{csv}', header = true, all_varchar = true)
"""


def _dob_comparison() -> cl.CustomComparison:
    """Date of birth: exact, day/month swapped, Levenshtein 1, same year and month,
    same year where a side is year-only, year within one, else; null without a year."""
    year_only = "(dob_l IS NULL OR dob_r IS NULL)"
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.CustomLevel("birth_year_l IS NULL OR birth_year_r IS NULL").configure(
                is_null_level=True
            ),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "birth_year_l = birth_year_r AND birth_day_l = birth_month_r "
                "AND birth_month_l = birth_day_r",
                label_for_charts="Day and month swapped",
            ),
            cll.LevenshteinLevel(ColumnExpression("dob").cast_to_string(), 1),
            cll.CustomLevel(
                f"birth_year_l = birth_year_r AND {year_only}",
                label_for_charts="Same year, one side year-only or 01/01",
            ),
            cll.CustomLevel(
                "birth_year_l = birth_year_r AND birth_month_l = birth_month_r",
                label_for_charts="Same year and month",
            ),
            cll.CustomLevel(
                "abs(birth_year_l - birth_year_r) <= 1", label_for_charts="Years within 1"
            ),
            cll.ElseLevel(),
        ],
    )


def settings() -> SettingsCreator:
    """The Splink model: blocking rules, comparisons, thresholds."""
    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("family_name", "given_name", "birth_year"),
            block_on("given_name", "dob"),
            block_on("family_name", "dob"),
            block_on("id_number"),
            block_on("given_name", "birth_province_code", "birth_year"),
        ],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("middle_name"),
            _dob_comparison(),
            cl.ExactMatch("sex"),
            cl.ExactMatch("birth_province_code").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("id_number", [1]),
            cl.JaroWinklerAtThresholds("father_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("mother_name", [0.92, 0.8]),
            cl.ExactMatch("address"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


#: Training: the prior from near-certain rules, then EM sessions; those on names or
#: dates fix sex, the one on the ID number (nearly all matches) estimates sex too.
PRIOR_RULES = [
    block_on("family_name", "middle_name", "given_name", "dob"),
    block_on("id_number", "birth_year"),
]
EM_RULES = [
    block_on("dob", "sex"),
    block_on("family_name", "given_name", "birth_year", "sex"),
    block_on("id_number"),
]


def describe(u_max_pairs: float = U_MAX_PAIRS) -> dict[str, Any]:
    """The configuration, as plain data for the report."""
    return {
        "splink": splink.__version__,
        "duckdb": duckdb.__version__,
        "blocking_rules": [
            str(r.get_blocking_rule("duckdb").blocking_rule_sql)
            for r in settings().blocking_rules_to_generate_predictions
        ],
        "comparisons": [
            "given_name: NameComparison (exact+TF, JW 0.92/0.88/0.7)",
            "family_name: NameComparison (exact+TF, JW 0.92/0.88/0.7)",
            "middle_name: NameComparison",
            "dob: exact, day/month swap, Levenshtein 1, same year (year-only), "
            "same year+month, year +-1",
            "sex: exact",
            "birth_province_code: exact+TF",
            "id_number: Damerau-Levenshtein <= 1",
            "father_name, mother_name: JW 0.92/0.8",
            "address: exact",
        ],
        "prior_rules": [str(r.get_blocking_rule("duckdb").blocking_rule_sql) for r in PRIOR_RULES],
        "prior_recall": PRIOR_RECALL,
        "u_max_pairs": u_max_pairs,
        "em_rules": [str(r.get_blocking_rule("duckdb").blocking_rule_sql) for r in EM_RULES],
        "predict_threshold": PREDICT_THRESHOLD,
        "cluster_threshold": CLUSTER_THRESHOLD,
    }


def run(
    csv: Path, out: Path, threads: int | None, u_max_pairs: float = U_MAX_PAIRS
) -> dict[str, Any]:
    """Deduplicate ``csv``; write clusters, model and stats to ``out``; return the stats."""
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    started = time.time()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(load_sql(csv))
    db_api = DuckDBAPI(connection=con)
    records = db_api.register("records")
    linker = Linker(records, settings(), log_level=logging.WARNING)
    lap("load")
    linker.training.estimate_probability_two_random_records_match(PRIOR_RULES, recall=PRIOR_RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=SEED)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    lap("train")
    predictions = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=CLUSTER_THRESHOLD
    )
    lap("cluster")
    con.execute(
        f"COPY (SELECT unique_id AS record_key, cluster_id FROM {clusters.physical_name}) "
        f"TO '{out / 'clusters.parquet'}' (FORMAT parquet)"
    )
    lap("write")
    predicted_pairs = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()
    linker.misc.save_model_to_json(str(out / "model.json"), overwrite=True)
    stats = {
        "tool": f"splink {splink.__version__}",
        "started": started,
        "seconds": seconds,
        "pairs_above_predict_threshold": int(predicted_pairs[0][0]),
        "config": describe(u_max_pairs),
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--u-max-pairs", type=float, default=U_MAX_PAIRS, help="Splink's docs: 1e7 to 1e9"
    )
    args = parser.parse_args()
    stats = run(args.csv, args.out, args.threads, args.u_max_pairs)
    print(json.dumps(stats["seconds"]))


if __name__ == "__main__":
    main()
