"""Three generated batches through the whole pipeline, with a PIN-lifecycle invariant check.

Between batch 1 and batch 2 the scenario adds what a register sees over
months: a province re-sends a record with the sex corrected, another
re-sends a pending person's record with the sex now known, and a reviewer
separates one linked pair and joins one pair from the review queue. After
every batch the register must hold every invariant of the contract, and
every PIN that changed must be explained by an event of that batch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dancu.inbox import batch_folders
from dancu.stages import run_batch
from domain.identity import decode_prefix
from domain.reference import provinces
from pipelines.warehouse.registry import confirm_decision, record_decision
from synth import generate
from tests.registry_helpers import DEMO_KEYS, demo_settings, open_registry

pytestmark = pytest.mark.integration

TABLES = {
    "person": "person_id",
    "source_record": "record_key",
    "household_member": "record_key",
    "match_link": "record_key_l, record_key_r",
    "pin_event": "event_id",
    "pin_serial": "prefix",
}


@dataclass(frozen=True)
class Snapshot:
    """The register after one batch."""

    record_pins: dict[str, str | None]  # record_key -> pin
    record_persons: dict[str, str]  # record_key -> person_id
    events: pl.DataFrame  # pin_event


def _snapshot(registry: Path) -> Snapshot:
    with open_registry(registry) as con:
        rows = con.sql("SELECT record_key, person_id, pin FROM source_record").fetchall()
        events = con.sql("SELECT * FROM pin_event ORDER BY event_id").pl()
    return Snapshot({k: pin for k, _, pin in rows}, {k: p for k, p, _ in rows}, events)


def _invariant_violations(registry: Path) -> list[str]:
    """Every invariant of the register that does not hold, in words."""
    found: list[str] = []
    with open_registry(registry) as con:
        persons = con.sql("SELECT * FROM person").pl()
        records = con.sql("SELECT record_key, person_id, pin FROM source_record").pl()
        events = con.sql("SELECT * FROM pin_event").pl()
        serials = dict(con.sql("SELECT prefix, issued FROM pin_serial").fetchall())
    pins = persons["pin"].drop_nulls()
    if pins.n_unique() != pins.len():
        found.append("a PIN is held by two persons")
    issued = events.filter(pl.col("event") == "issued")["pin"]
    if issued.n_unique() != issued.len():
        found.append("a PIN was issued twice (reused)")
    by_prefix = issued.str.slice(0, 6).value_counts()
    for prefix, n in by_prefix.iter_rows():
        if serials.get(prefix, 0) < n:
            found.append(
                f"prefix {prefix}: {n} PINs issued but serial counter at {serials.get(prefix)}"
            )
    codes = set(provinces())
    for person in persons.filter(pl.col("status") == "active").iter_rows(named=True):
        pin = person["pin"]
        if pin is None or len(pin) != 12 or not pin.isdigit():
            found.append(f"active person {person['person_id']} has PIN {pin!r}")
            continue
        province, sex, year = decode_prefix(pin)
        if province not in codes or (sex, year) != (person["sex"], person["birth_year"]):
            found.append(f"PIN {pin} does not encode {person['sex']}/{person['birth_year']}")
        if pin not in set(issued):
            found.append(f"active PIN {pin} has no 'issued' event")
    status = dict(zip(persons["person_id"], persons["status"], strict=True))
    pin_of = dict(zip(persons["person_id"], persons["pin"], strict=True))
    for key, person_id, pin in records.iter_rows():
        if status.get(person_id) not in ("active", "pending"):
            found.append(f"record {key} belongs to {status.get(person_id)} person {person_id}")
        elif pin != pin_of[person_id]:
            found.append(f"record {key} carries PIN {pin}, its person {pin_of[person_id]}")
    pending = persons.filter(pl.col("status") == "pending")
    if pending["pin"].is_not_null().any() or pending["pending_reason"].is_null().any():
        found.append("a pending person has a PIN or no reason")
    merged = set(events.filter(pl.col("event") == "merged")["pin"])
    for person in persons.filter(pl.col("status") == "retired").iter_rows(named=True):
        if person["pin"] is not None and person["pin"] not in merged:
            found.append(f"retired PIN {person['pin']} has no 'merged' event")
    return found


def _unexplained_changes(before: Snapshot, after: Snapshot, batch_id: str) -> list[str]:
    """Changes of a record's PIN that no event of ``batch_id`` explains."""
    events = after.events.filter(pl.col("batch_id") == batch_id)
    moves = {
        (pin, other)
        for event, pin, other in events.select("event", "pin", "other_pin").iter_rows()
        if event in ("merged", "cancelled")
    } | {
        (other, pin)
        for event, pin, other in events.select("event", "pin", "other_pin").iter_rows()
        if event == "split"
    }
    issued = set(events.filter(pl.col("event") == "issued")["pin"])
    found = []
    for key, pin in after.record_pins.items():
        old = before.record_pins.get(key)
        if pin == old:
            continue
        if pin is None:
            found.append(f"record {key} lost PIN {old}")
        elif old is None and pin not in issued and pin not in before.record_pins.values():
            found.append(f"record {key} got PIN {pin} with no 'issued' event")
        elif old is not None and (old, pin) not in moves:
            # Following a chain of merges within the batch is allowed.
            chain = {a: b for a, b in moves}
            seen, step = set(), old
            while step in chain and step not in seen:
                seen.add(step)
                step = chain[step]
            if step != pin:
                found.append(f"record {key}: PIN {old} -> {pin} without an event")
    return found


@dataclass
class Scenario:
    registry: Path
    inbox: Path
    snapshots: list[Snapshot]
    violations: list[list[str]]
    unexplained: list[list[str]]
    targets: dict[str, tuple[str, ...]]
    before_force: dict[str, list[tuple[object, ...]]]
    after_force: dict[str, list[tuple[object, ...]]]


def _dump(registry: Path) -> dict[str, list[tuple[object, ...]]]:
    with open_registry(registry) as con:
        return {t: con.sql(f"SELECT * FROM {t} ORDER BY {o}").fetchall() for t, o in TABLES.items()}


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[object, ...]:
    rows = con.sql(sql).fetchall()
    assert rows, f"the scenario needs a row from: {sql}"
    return rows[0]


def _pick_targets(registry: Path, later: set[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Records and pairs the scenario edits, chosen from the registry after batch 1."""
    clash = (
        " AND ".join(
            f"NOT (s.province_code = '{p}' AND s.local_id = '{i}')" for p, i in sorted(later)
        )
        or "true"
    )
    with open_registry(registry) as con:
        single = _one(
            con,
            f"""
            SELECT s.record_key, s.province_code, s.local_id, s.full_name, s.birth_year,
                   s.birth_month, s.birth_day, p.sex, p.pin
            FROM source_record s JOIN person p USING (person_id)
            WHERE p.status = 'active' AND p.record_count = 1 AND s.sex IS NOT NULL
              AND s.dob_precision = 'day' AND {clash}
            ORDER BY s.record_key LIMIT 1
            """,
        )
        pending = _one(
            con,
            f"""
            SELECT s.record_key, s.province_code, s.local_id, s.full_name, s.birth_year,
                   s.birth_month, s.birth_day, p.person_id
            FROM source_record s JOIN person p USING (person_id)
            WHERE p.status = 'pending' AND p.pending_reason = 'sex unknown'
              AND p.record_count = 1 AND s.birth_year IS NOT NULL AND {clash}
            ORDER BY s.record_key LIMIT 1
            """,
        )
        linked = _one(
            con,
            """
            SELECT min(s.record_key), max(s.record_key), any_value(p.pin)
            FROM source_record s JOIN person p USING (person_id)
            WHERE p.status = 'active' AND p.record_count = 2
            GROUP BY p.person_id ORDER BY p.person_id LIMIT 1
            """,
        )
        review = _one(
            con,
            """
            SELECT record_key_l, record_key_r, pin_l, pin_r FROM review_queue
            WHERE pin_l IS NOT NULL AND pin_r IS NOT NULL AND pin_l <> pin_r
              AND substr(pin_l, 4, 3) = substr(pin_r, 4, 3)
            ORDER BY match_probability DESC, record_key_l LIMIT 1
            """,
        )
    return {
        "single": tuple(map(str, single)),
        "pending": tuple(map(str, pending)),
        "linked": tuple(map(str, linked)),
        "review": tuple(map(str, review)),
    }


def _date_text(year: str, month: str, day: str) -> str:
    if month == "None":
        return year
    return (
        f"{int(day):02d}/{int(month):02d}/{year}" if day != "None" else f"{int(month):02d}/{year}"
    )


def _resend(batch: Path, rows: list[tuple[str, ...]]) -> None:
    """Write the records as a province would re-send them, one CSV per province."""
    for row in rows:
        _, province, local_id, full_name, year, month, day, sex = row
        path = batch / province / "zz_corrections.csv"
        path.parent.mkdir(exist_ok=True)
        new = not path.exists()
        with path.open("a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["Mã nhân khẩu", "Họ và tên", "Ngày sinh", "Giới tính"])
            writer.writerow([local_id, full_name, _date_text(year, month, day), sex])


def _later_ids(truth: Path, batch_ids: list[str]) -> set[tuple[str, str]]:
    frame = pl.read_csv(truth / "records.csv", infer_schema=False)
    later = frame.filter(pl.col("batch_id").is_in(batch_ids) & pl.col("local_id").is_not_null())
    return set(later.select("province_code", "local_id").iter_rows())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("scenario")
    generate(persons=1500, seed=59, out=root / "gen", batches=3)
    inbox = root / "gen" / "inbox"
    batches = batch_folders(inbox)
    assert len(batches) == 3
    warehouse = root / "warehouse"
    registry = warehouse / "registry.duckdb"
    empty = Snapshot({}, {}, pl.DataFrame(schema={"batch_id": pl.String}))
    snapshots, violations, unexplained = [empty], [], []
    targets: dict[str, tuple[str, ...]] = {}
    for n, batch in enumerate(batches):
        if n == 1:
            later = _later_ids(root / "gen" / "truth", [b.name for b in batches[1:]])
            targets = _pick_targets(registry, later)
            single, pending = targets["single"], targets["pending"]
            flipped = "Nữ" if single[7] == "M" else "Nam"
            _resend(batch, [(*single[:7], flipped), (*pending[:7], "Nam")])
            with open_registry(registry, read_only=False) as con:
                # A linked pair is not in the queue: a note and a second reviewer.
                off_queue = record_decision(
                    con,
                    *targets["linked"][:2],
                    verdict="different",
                    reviewer="test",
                    note="two people: different parents in the household book",
                    audit_key=DEMO_KEYS.audit,
                )
                confirm_decision(
                    con, off_queue.decision_id, "second-reviewer", audit_key=DEMO_KEYS.audit
                )
                record_decision(
                    con,
                    *targets["review"][:2],
                    verdict="same",
                    reviewer="test",
                    audit_key=DEMO_KEYS.audit,
                )
        run_batch(batch, warehouse, demo_settings())
        snapshots.append(_snapshot(registry))
        violations.append(_invariant_violations(registry))
        unexplained.append(_unexplained_changes(snapshots[-2], snapshots[-1], batch.name))
    before_force = _dump(registry)
    for batch in batches:
        run_batch(batch, warehouse, demo_settings(force=True))
    return Scenario(
        registry,
        inbox,
        snapshots[1:],
        violations,
        unexplained,
        targets,
        before_force,
        _dump(registry),
    )


def test_every_invariant_holds_after_every_batch(scenario: Scenario) -> None:
    assert scenario.violations == [[], [], []]


def test_every_change_of_pin_is_explained_by_an_event(scenario: Scenario) -> None:
    assert scenario.unexplained == [[], [], []]
    events = scenario.snapshots[-1].events
    kinds = set(events["event"])
    assert {"issued", "merged", "split", "cancelled"} <= kinds, kinds


def test_a_corrected_sex_cancels_the_pin_and_issues_one_for_the_same_person(
    scenario: Scenario,
) -> None:
    key, *_, sex, old_pin = scenario.targets["single"]
    before, after = scenario.snapshots[0], scenario.snapshots[1]
    new_pin = after.record_pins[key]
    assert new_pin is not None and new_pin != old_pin
    assert after.record_persons[key] == before.record_persons[key]
    assert decode_prefix(new_pin)[1] == ("F" if sex == "M" else "M")
    cancelled = after.events.filter(pl.col("event") == "cancelled")
    assert (old_pin, new_pin) in set(cancelled.select("pin", "other_pin").iter_rows())


def test_a_pending_person_gets_a_pin_once_the_sex_is_known(scenario: Scenario) -> None:
    key, *_, person_id = scenario.targets["pending"]
    assert scenario.snapshots[0].record_pins[key] is None
    pin = scenario.snapshots[1].record_pins[key]
    assert pin is not None and decode_prefix(pin)[1] == "M"
    assert scenario.snapshots[1].record_persons[key] == person_id
    with open_registry(scenario.registry) as con:
        listed = con.execute(
            "SELECT count(*) FROM pending_verification WHERE person_id = ?", [person_id]
        ).fetchall()
    assert listed == [(0,)]


def test_a_reviewers_cannot_link_splits_the_person_and_one_part_keeps_the_pin(
    scenario: Scenario,
) -> None:
    left, right, pin = scenario.targets["linked"]
    after = scenario.snapshots[1]
    assert after.record_persons[left] != after.record_persons[right]
    pins = {after.record_pins[left], after.record_pins[right]}
    assert pin in pins and None not in pins
    (new_pin,) = pins - {pin}
    split = after.events.filter(pl.col("event") == "split")
    assert (new_pin, pin) in set(split.select("pin", "other_pin").iter_rows())


def test_a_reviewers_link_merges_two_persons_and_the_older_pin_survives(
    scenario: Scenario,
) -> None:
    left, right, pin_l, pin_r = scenario.targets["review"]
    after = scenario.snapshots[1]
    assert after.record_persons[left] == after.record_persons[right]
    survivor = after.record_pins[left]
    assert survivor in (pin_l, pin_r)
    retired = pin_r if survivor == pin_l else pin_l
    issued = after.events.filter(pl.col("event") == "issued")
    order = dict(zip(issued["pin"], issued["event_id"], strict=True))
    assert order[survivor] < order[retired]
    merged = after.events.filter(pl.col("event") == "merged")
    assert (retired, survivor) in set(merged.select("pin", "other_pin").iter_rows())
    with open_registry(scenario.registry) as con:
        status = con.execute(
            "SELECT status, merged_into_pin FROM person WHERE pin = ?", [retired]
        ).fetchall()
    assert status == [("retired", survivor)]


def test_the_decided_pairs_stay_decided_in_later_batches(scenario: Scenario) -> None:
    last = scenario.snapshots[-1]
    left, right, _ = scenario.targets["linked"]
    assert last.record_persons[left] != last.record_persons[right]
    left, right, *_ = scenario.targets["review"]
    assert last.record_persons[left] == last.record_persons[right]


def test_reprocessing_all_three_batches_changes_nothing(scenario: Scenario) -> None:
    for table in TABLES:
        assert scenario.after_force[table] == scenario.before_force[table], table
