"""Cluster scores against generator truth, on cases small enough to count by hand."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dancu.evaluate import evaluate
from quality.metrics import evaluate_frames
from tests.registry_helpers import open_registry

pytestmark = pytest.mark.unit

REGISTRY_SQL = (
    Path(__file__).resolve().parents[2] / "pipelines" / "warehouse" / "sql" / "registry.sql"
)

# True persons P = {001:1, 001:2, 001:3} and Q = {001:4, 001:5}, twins of each other.
# The registry put 001:3 with Q's records: predicted x = {001:1, 001:2}, y = {001:3, 001:4, 001:5}.
# 001:1 is re-sent in batch b2; 079:9 (R) was quarantined; 079:10 names S and T (a conflict).
_TRUTH = """\
batch_id,province_code,source_file,source_sheet,source_row,local_id,person_id,row_kind,note
b1,001,hn.csv,,2,1,P,person,
b1,001,hn.csv,,3,2,P,person,
b1,001,hn.csv,,4,3,P,flawed,misspelt name
b1,001,hn.csv,,5,4,Q,person,
b1,001,hn.csv,,6,5,Q,person,
b1,001,hn.csv,,7,,,junk,total row
b2,001,hn2.csv,,2,1,P,person,re-sent
b1,079,hcm.csv,,2,9,R,person,
b1,079,hcm.csv,,3,10,S,person,
b2,079,hcm2.csv,,3,10,T,person,
"""

_PERSONS = """\
person_id,twin_of
P,Q
Q,P
R,
S,
T,
"""

_PREDICTED = [
    ("001", "1", "x"),
    ("001", "2", "x"),
    ("001", "3", "y"),
    ("001", "4", "y"),
    ("001", "5", "y"),
    ("079", "10", "z"),
]


def _warehouse(path: Path) -> Path:
    path.mkdir()
    with open_registry(path / "registry.duckdb", read_only=False) as con:
        con.execute(REGISTRY_SQL.read_text(encoding="utf-8"))
        con.executemany(
            """INSERT INTO source_record (record_key, province_code, local_id, person_id,
                                          batch_id, source_file, source_row)
               VALUES (? || ':' || ?, ?, ?, ?, 'b1', 'f.csv', 1)""",
            [(p, local, p, local, person) for p, local, person in _PREDICTED],
        )
    return path


def test_evaluate_reads_truth_and_registry(tmp_path: Path) -> None:
    truth_dir = tmp_path / "truth"
    truth_dir.mkdir()
    (truth_dir / "records.csv").write_text(_TRUTH, encoding="utf-8")
    (truth_dir / "persons.csv").write_text(_PERSONS, encoding="utf-8")

    result = evaluate(truth_dir, _warehouse(tmp_path / "warehouse"))

    assert result.truth_records == 7  # 001:1-5, 079:9, 079:10
    assert result.truth_conflicts == 1
    assert result.matched_records == 5
    assert result.missing_records == 1
    assert (result.junk_loaded, result.unknown_records) == (0, 0)
    assert (result.true_persons, result.predicted_persons) == (2, 2)
    # Predicted pairs: 1-2, 3-4, 3-5, 4-5; true pairs: 1-2, 1-3, 2-3, 4-5; both: 1-2, 4-5.
    assert (result.correct_pairs, result.predicted_pairs, result.true_pairs) == (2, 4, 4)
    assert result.pairwise_precision == pytest.approx(0.5)
    assert result.pairwise_recall == pytest.approx(0.5)
    assert result.pairwise_f1 == pytest.approx(0.5)
    # Per record, overlap / predicted size: 1, 1, 1/3, 2/3, 2/3; / true size: 2/3, 2/3, 1/3, 1, 1.
    assert result.bcubed_precision == pytest.approx(11 / 15)
    assert result.bcubed_recall == pytest.approx(11 / 15)
    assert result.bcubed_f1 == pytest.approx(11 / 15)
    assert (result.twin_pairs, result.twin_pairs_merged) == (1, 1)
    text = result.to_text()
    assert "precision 0.5000" in text and "pairs merged 1 of 1" in text


def _truth(rows: list[tuple[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "province_code": ["001"] * len(rows),
            "local_id": [r[0] for r in rows],
            "person_id": [r[1] for r in rows],
        }
    )


def _predicted(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "province_code": ["001"] * len(rows),
            "local_id": [r[0] for r in rows],
            "predicted": [r[1] for r in rows],
        }
    )


_NO_TWINS = pl.DataFrame(schema={"person_id": pl.String, "twin_of": pl.String})


def test_one_overmerged_cluster_has_full_recall_and_half_precision() -> None:
    truth = _truth([("a", "P"), ("b", "P"), ("c", "P"), ("d", "Q"), ("j", "")])
    predicted = _predicted([("a", "x"), ("b", "x"), ("c", "x"), ("d", "x"), ("j", "u"), ("z", "v")])

    result = evaluate_frames(truth, predicted, _NO_TWINS)

    # 6 predicted pairs, 3 true pairs, all 3 found.
    assert result.pairwise_precision == pytest.approx(3 / 6)
    assert result.pairwise_recall == pytest.approx(1.0)
    assert result.pairwise_f1 == pytest.approx(2 / 3)
    # a, b, c: 3/4 each; d: 1/4.
    assert result.bcubed_precision == pytest.approx((3 * 0.75 + 0.25) / 4)
    assert result.bcubed_recall == pytest.approx(1.0)
    assert result.bcubed_f1 == pytest.approx(2 * 0.625 / 1.625)
    assert (result.junk_loaded, result.unknown_records) == (1, 1)
    assert (result.twin_pairs, result.twin_pairs_merged) == (0, 0)


def test_singletons_score_perfectly_without_pairs() -> None:
    truth = _truth([("a", "P"), ("b", "Q")])
    predicted = _predicted([("a", "x"), ("b", "y")])

    result = evaluate_frames(truth, predicted, _NO_TWINS)

    assert (result.predicted_pairs, result.true_pairs) == (0, 0)
    assert (result.pairwise_precision, result.pairwise_recall) == (1.0, 1.0)
    assert (result.bcubed_precision, result.bcubed_recall) == (1.0, 1.0)


def test_twins_kept_apart_are_not_counted_as_merged() -> None:
    truth = _truth([("a", "P"), ("b", "Q"), ("c", "R")])
    predicted = _predicted([("a", "x"), ("b", "y"), ("c", "y")])
    twins = pl.DataFrame({"person_id": ["P", "Q", "R"], "twin_of": ["Q", "P", "S"]})

    result = evaluate_frames(truth, predicted, twins)

    # P-Q kept apart; R-S has no records of S, so it does not count.
    assert (result.twin_pairs, result.twin_pairs_merged) == (1, 0)


def test_blocking_recall_counts_true_pairs_offered_and_their_fate() -> None:
    from matching.diagnostics import blocking_recall, true_pairs

    truth = pl.DataFrame(
        {"record_key": ["a", "b", "c", "d", "e"], "person_id": ["P", "P", "P", "Q", "R"]}
    )
    assert true_pairs(truth).rows() == [("a", "b"), ("a", "c"), ("b", "c")]
    pairs = pl.DataFrame(
        {
            "record_key_l": ["a", "a", "b", "d", "x"],
            "record_key_r": ["b", "c", "d", "e", "a"],
            "blocked_by": ["names", "dob", "names", "dob", "names"],
            "decision": ["link", "review", "link", "non_link", "link"],
        }
    )
    result = blocking_recall(pairs, truth)
    # a-b and a-c offered, b-c missed; b-d is a false link; x is not in the truth.
    assert (result.true_pairs, result.found, result.candidate_pairs) == (3, 2, 4)
    assert result.recall == pytest.approx(2 / 3)
    assert result.by_rule == {"names": 1, "dob": 1}
    assert result.decisions == {"link": 1, "review": 1}
    assert result.false_links == 1
    assert "recall 0.6667" in result.to_text()


def test_evaluate_matching_links_staged_records_and_reports_blocking(tmp_path: Path) -> None:
    from dancu.evaluate import evaluate_matching
    from synth.records import synthetic_records

    records, truth = synthetic_records(600, seed=3)
    keyed = records.with_columns(
        local_id=pl.col("record_key").str.split(":").list.get(1), batch_id=pl.lit("2021-01-01")
    )
    for (province,), part in keyed.group_by("province_code"):
        folder = (
            tmp_path / "wh" / "staging" / "2021-01-01" / "records" / f"province_code={province}"
        )
        folder.mkdir(parents=True)
        part.write_parquet(folder / "part.parquet")
    truth_dir = tmp_path / "truth"
    truth_dir.mkdir()
    keyed.join(truth, on="record_key").select(
        "province_code", "local_id", person_id=pl.format("P{}", "person_id")
    ).write_csv(truth_dir / "records.csv")

    result = evaluate_matching(truth_dir, tmp_path / "wh")

    true_pairs = truth.join(truth, on="person_id").filter(
        pl.col("record_key") < pl.col("record_key_right")
    )
    assert result.blocking.true_pairs == result.clusters.true_pairs == true_pairs.height > 0
    assert 0.9 <= result.blocking.recall <= 1.0
    assert result.clusters.pairwise_precision >= 0.99
    assert "blocking" in result.to_text()


def test_recall_once_the_queue_is_decided_counts_pairs_a_review_joins() -> None:
    # P's records in two predicted persons x (a, b) and y (c); Q alone in z (d).
    truth = _truth([("a", "P"), ("b", "P"), ("c", "P"), ("d", "Q")])
    predicted = _predicted([("a", "x"), ("b", "x"), ("c", "y"), ("d", "z")])
    reviews = pl.DataFrame(
        {
            "province_code_l": ["001", "001"],
            "local_id_l": ["b", "c"],
            "province_code_r": ["001", "001"],
            "local_id_r": ["c", "d"],
        }
    )
    result = evaluate_frames(truth, predicted, _NO_TWINS, reviews)
    assert result.pairwise_recall == pytest.approx(1 / 3)
    # b~c joins x and y: a-c and b-c count too; c~d joins no true pair.
    assert result.recall_with_review == pytest.approx(1.0)
    assert (result.review_pairs, result.review_share) == (2, pytest.approx(2 / 4))
    assert "recall once decided 1.0000" in result.to_text()
    assert evaluate_frames(truth, predicted, _NO_TWINS).recall_with_review == pytest.approx(1 / 3)
