"""The PIN register: persons and their PINs, kept stable across runs and batches.

Given the clusters found by matching over the registered records and a new
batch, :func:`update_register` decides who is who:

- a cluster that holds the records of one registered person keeps that person
  and its PIN (re-running a batch changes nothing);
- a cluster that holds most of the records of several registered persons is a
  **merge**: the person whose PIN was issued first survives, the others are
  retired with a ``merged`` event pointing to the survivor;
- records of a registered person that now sit in another cluster are a
  **split**: the cluster holding most of them keeps the person, the others
  become new persons with new PINs and a ``split`` event;
- when the canonical sex or birth year of a person no longer agrees with the
  digits of its PIN, the PIN is **cancelled** and a new one issued (Circular
  59/2021 Art. 6);
- a person whose sex or birth year is unknown gets no PIN: it is pending.

Everything is deterministic: new persons are keyed by a hash of the batch and
the cluster, and serials are drawn per prefix in ``person_id`` order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import polars as pl

from domain.identity import (
    birth_year_from_pin_expr,
    pin_prefix_expr,
    sex_from_digit_expr,
)
from domain.schema import EVENT_SCHEMA
from domain.vntext import NOT_A_NAME_REASON
from pipelines.register.serials import make_pins
from pipelines.register.survivorship import golden_records


@dataclass(frozen=True)
class PinEvent:
    """One change to the PIN register (a ``pin_event`` row, without its time)."""

    event: str  # issued / merged / split / cancelled
    pin: str | None
    other_pin: str | None
    person_id: str
    reason: str
    decision_id: int | None = None

    def as_row(self) -> tuple[str | int | None, ...]:
        """The event in ``EVENT_SCHEMA`` column order."""
        return (self.event, self.pin, self.other_pin, self.person_id, self.reason, self.decision_id)


def _event_frame(events: list[PinEvent]) -> pl.DataFrame:
    return pl.DataFrame([e.as_row() for e in events], schema=EVENT_SCHEMA, orient="row")


@dataclass(frozen=True)
class PreviousRegister:
    """What the registry held before this run."""

    record_person: pl.DataFrame  # record_key, person_id
    persons: pl.DataFrame  # the person table, plus first_issued (event order, null if no PIN)
    serials_issued: dict[str, int] = field(default_factory=dict)  # prefix -> count
    #: Every PIN ever issued (``pin``): a serial is never issued twice under a prefix.
    issued_pins: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"pin": pl.String})
    )

    @staticmethod
    def empty() -> PreviousRegister:
        """The register of a new warehouse."""
        return PreviousRegister(
            record_person=pl.DataFrame(schema={"record_key": pl.String, "person_id": pl.String}),
            persons=pl.DataFrame(
                schema={
                    "person_id": pl.String,
                    "pin": pl.String,
                    "status": pl.String,
                    "merged_into_pin": pl.String,
                    "first_issued": pl.Int64,
                }
            ),
        )

    def restricted_to(self, records: pl.DataFrame) -> PreviousRegister:
        """The part of the register that owns ``records`` (a frame with ``record_key``)."""
        record_person = self.record_person.join(records, on="record_key", how="semi")
        persons = self.persons.join(record_person.select("person_id"), on="person_id", how="semi")
        return PreviousRegister(record_person, persons, self.serials_issued, self.issued_pins)


def affected_records(
    clusters: pl.DataFrame, record_person: pl.DataFrame, new_keys: pl.Series
) -> pl.DataFrame:
    """``record_key`` of every record whose person this run may change.

    A cluster is affected when it holds a new (or re-sent) record, records of
    more than one registered person (a merge), or only part of a registered
    person's records (a split). Every record of an affected cluster is
    returned, and with it every record of the persons concerned, so the
    register can re-decide those persons whole and leave all others alone.
    """
    owned = clusters.join(record_person, on="record_key", how="left").with_columns(
        (pl.col("person_id").is_null() | pl.col("record_key").is_in(new_keys.implode())).alias(
            "_new"
        )
    )
    spread = (
        owned.drop_nulls("person_id")
        .group_by("person_id")
        .agg(pl.col("cluster_id").n_unique().alias("_clusters"))
    )
    flagged = (
        owned.join(spread, on="person_id", how="left")
        .group_by("cluster_id")
        .agg(
            (
                pl.col("_new").any()
                | (pl.col("person_id").drop_nulls().n_unique() > 1)
                | (pl.col("_clusters").fill_null(1) > 1).any()
            ).alias("_affected")
        )
        .filter("_affected")
    )
    return owned.join(flagged, on="cluster_id", how="semi").select("record_key").sort("record_key")


@dataclass(frozen=True)
class RegisterUpdate:
    """The register after this run."""

    record_person: pl.DataFrame  # record_key, person_id, pin
    persons: pl.DataFrame  # golden fields + pin, status, merged_into_pin, pending_reason
    events: pl.DataFrame  # EVENT_SCHEMA, in the order they happened
    serials_issued: dict[str, int]
    persons_new: int
    persons_merged: int
    pins_issued: int


def _new_person_id(batch_id: str, cluster_id: str) -> str:
    digest = hashlib.blake2b(f"{batch_id}\x1f{cluster_id}".encode(), digest_size=8).hexdigest()
    return f"P{digest}"


def update_register(
    records: pl.DataFrame,
    clusters: pl.DataFrame,
    previous: PreviousRegister,
    batch_id: str,
    key: bytes,
) -> RegisterUpdate:
    """Assign persons and PINs to clustered records.

    Args:
        records: every record in scope (registered and new), standardised.
        clusters: ``record_key``, ``cluster_id`` for every record in ``records``.
        previous: the register before this run.
        batch_id: the batch being loaded (new persons and events carry it).
        key: the register's secret for serial permutation.
    """
    owned = _owners(clusters, previous.record_person)
    person_of_cluster, splits, retired = _resolve_clusters(owned, clusters, previous, batch_id)
    assigned = clusters.join(person_of_cluster, on="cluster_id", how="left").select(
        "record_key", "person_id"
    )
    golden = golden_records(records.join(assigned, on="record_key", how="inner"))
    # A name written as markup or code (flaw not_a_name) holds its person back from a PIN.
    flagged = (
        records.filter(pl.col("flaws").str.contains("not_a_name").fill_null(False))
        if "flaws" in records.columns
        else records.clear()
    )
    golden = golden.with_columns(
        pl.col("name_source").is_in(flagged["record_key"].implode()).alias("_name_flagged")
    )
    prior = previous.persons.select("person_id", pin_before="pin")
    # The part split off a PIN holder inherits the PIN's sex and year as evidence.
    came_from = {e.person_id: e.other_pin for e in splits}
    golden = golden.join(prior, on="person_id", how="left").with_columns(
        pl.col("person_id")
        .replace_strict(came_from, default=None, return_dtype=pl.String)
        .alias("evidence_pin")
    )
    persons, pin_events, serials = _issue_pins(
        golden, previous.serials_issued, previous.issued_pins, key
    )
    issued = pin_events.filter(pl.col("event") == "issued")
    by_person = dict(zip(issued["person_id"], issued["pin"], strict=True))
    # A split event names the new PIN and the PIN the records came from.
    events = [replace(e, pin=by_person[e.person_id]) for e in splits if e.person_id in by_person]
    survivors = dict(zip(persons["person_id"], persons["pin"], strict=True))
    retired_rows = (
        previous.persons.filter(pl.col("person_id").is_in(list(retired)))
        .with_columns(
            pl.lit("retired").alias("status"),
            pl.col("person_id")
            .replace_strict({k: survivors.get(v) for k, v in retired.items()}, default=None)
            .alias("merged_into_pin"),
        )
        .drop("first_issued")
    )
    events.extend(
        PinEvent("merged", merged_pin, survivor_pin, person_id, "merged by new evidence")
        for merged_pin, survivor_pin, person_id in retired_rows.select(
            "pin", "merged_into_pin", "person_id"
        ).iter_rows()
        if merged_pin is not None
    )
    event_frame = pl.concat([pin_events, _event_frame(events)], how="vertical")
    still_retired = previous.persons.filter(
        (pl.col("status") == "retired") & ~pl.col("person_id").is_in(persons["person_id"].to_list())
    ).drop("first_issued")
    all_persons = pl.concat([persons, retired_rows, still_retired], how="diagonal_relaxed").sort(
        "person_id"
    )
    record_person = assigned.join(persons.select("person_id", "pin"), on="person_id", how="left")
    new_ids = set(persons["person_id"]) - set(previous.persons["person_id"])
    return RegisterUpdate(
        record_person=record_person.sort("record_key"),
        persons=all_persons,
        events=event_frame,
        serials_issued=serials,
        persons_new=len(new_ids),
        persons_merged=len(retired),
        pins_issued=int((event_frame["event"] == "issued").sum()),
    )


def _owners(clusters: pl.DataFrame, record_person: pl.DataFrame) -> pl.DataFrame:
    """For each registered person, the cluster holding most of its records."""
    joined = clusters.join(record_person, on="record_key", how="inner")
    counts = joined.group_by("person_id", "cluster_id").agg(pl.len().alias("n"))
    return (
        counts.sort(["person_id", "n", "cluster_id"], descending=[False, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "cluster_id")
    )


def _resolve_clusters(
    owned: pl.DataFrame, clusters: pl.DataFrame, previous: PreviousRegister, batch_id: str
) -> tuple[pl.DataFrame, list[PinEvent], dict[str, str]]:
    """Map each cluster to a person; return the mapping, split events and merges."""
    rank = previous.persons.select(
        "person_id", "pin", pl.col("first_issued").fill_null(2**62).alias("order")
    )
    owners = owned.join(rank, on="person_id", how="left").sort(["cluster_id", "order", "person_id"])
    survivor = owners.group_by("cluster_id", maintain_order=True).agg(
        pl.col("person_id").first().alias("person_id"),
        pl.col("person_id").slice(1).alias("merged"),
    )
    retired: dict[str, str] = {}
    for person_id, merged in survivor.select("person_id", "merged").iter_rows():
        for other in merged:
            retired[other] = person_id
    cluster_ids = clusters.select("cluster_id").unique().sort("cluster_id")
    mapping = cluster_ids.join(
        survivor.select("cluster_id", "person_id"), on="cluster_id", how="left"
    )
    # A new person's id is a digest of the batch and its cluster (hashed in one loop:
    # a per-row map_elements took 8 s for a million clusters).
    unowned = mapping.filter(pl.col("person_id").is_null())["cluster_id"]
    fresh = pl.DataFrame(
        {
            "cluster_id": unowned,
            "new_id": pl.Series([_new_person_id(batch_id, c) for c in unowned], dtype=pl.String),
        }
    )
    mapping = mapping.join(fresh, on="cluster_id", how="left", maintain_order="left").select(
        "cluster_id", pl.coalesce("person_id", "new_id").alias("person_id")
    )
    # Splits: a new person holding records of a registered person that lives elsewhere.
    events: list[PinEvent] = []
    split = (
        clusters.join(previous.record_person, on="record_key", how="inner")
        .join(owned.rename({"cluster_id": "owner"}), on="person_id", how="left")
        .filter(pl.col("cluster_id") != pl.col("owner"))
        .join(mapping.rename({"person_id": "new_person"}), on="cluster_id", how="left")
        .filter(~pl.col("new_person").is_in(owned["person_id"].to_list()))
        .select("new_person", pl.col("person_id").alias("from_person"))
        .unique()
        .sort("new_person", "from_person")
    )
    pins = dict(zip(previous.persons["person_id"], previous.persons["pin"], strict=True))
    for new_person, from_person in split.iter_rows():
        events.append(
            PinEvent("split", None, pins.get(from_person), new_person, f"split from {from_person}")
        )
    return mapping, events, retired


def _used_serials(issued_pins: pl.DataFrame, prefixes: set[str]) -> dict[str, list[int]]:
    """The serials already issued under each of ``prefixes``."""
    found = (
        issued_pins.select(
            pl.col("pin").str.slice(0, 6).alias("prefix"),
            pl.col("pin").str.slice(6, 6).cast(pl.Int64).alias("serial"),
        )
        .filter(pl.col("prefix").is_in(sorted(prefixes)))
        .group_by("prefix")
        .agg("serial")
    )
    return dict(zip(found["prefix"].to_list(), found["serial"].to_list(), strict=True))


def _issue_pins(
    golden: pl.DataFrame, serials_issued: dict[str, int], issued_pins: pl.DataFrame, key: bytes
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Keep, cancel or issue each person's PIN; mark persons with no sex or year pending.

    Returns the persons with their PIN, the events (``EVENT_SCHEMA``: each
    cancelled PIN in the persons' order, naming its successor, then every new
    PIN by person id) and each prefix's serial counter after this run.
    """
    # A PIN is evidence too: when the records no longer state the sex or the
    # year (a re-sent record lost them), the values the PIN encodes stand.
    evidence = pl.coalesce("pin_before", "evidence_pin")
    golden = golden.with_columns(
        pl.coalesce("sex", sex_from_digit_expr(evidence.str.slice(3, 1).cast(pl.Int32))).alias(
            "sex"
        ),
        pl.coalesce("birth_year", birth_year_from_pin_expr(evidence)).alias("birth_year"),
    )
    before = pl.col("pin_before")
    prefix = pl.col("_prefix")
    pin_sex = sex_from_digit_expr(before.str.slice(3, 1).cast(pl.Int32))
    golden = (
        golden.with_columns(
            pin_prefix_expr(
                pl.col("birth_province_code"), pl.col("sex"), pl.col("birth_year")
            ).alias("_prefix"),
            pl.when(pl.col("_name_flagged"))
            .then(pl.lit(NOT_A_NAME_REASON))
            .when(pl.col("sex").is_null() & pl.col("birth_year").is_null())
            .then(pl.lit("sex and year of birth unknown"))
            .when(pl.col("sex").is_null())
            .then(pl.lit("sex unknown"))
            .when(pl.col("birth_year").is_null())
            .then(pl.lit("year of birth unknown"))
            .alias("pending_reason"),
        )
        .with_columns(
            # A PIN stands unless the records now say another sex or year (or cannot say).
            (
                before.is_not_null()
                & (
                    prefix.is_null()
                    | (
                        (pin_sex == pl.col("sex"))
                        & (birth_year_from_pin_expr(before) == pl.col("birth_year"))
                    )
                )
            ).alias("_keep"),
        )
        .with_columns(
            # A new PIN for a person with a prefix whose PIN does not stand, unless the name
            # is held for verification (never a PIN silently).
            (
                ~pl.col("_keep")
                & prefix.is_not_null()
                & ~(before.is_null() & (pl.col("pending_reason") == NOT_A_NAME_REASON)).fill_null(
                    False
                )
            ).alias("_new"),
        )
    )
    serials = dict(serials_issued)
    need = (
        golden.filter("_new")
        .select("_prefix", "person_id")
        .sort("_prefix", "person_id")
        .group_by("_prefix", maintain_order=True)
        .agg("person_id")
    )
    used = _used_serials(issued_pins, set(need["_prefix"]))
    new_ids: list[str] = []
    new_pins: list[str] = []
    for prefix_value, people in need.iter_rows():
        pins, serials[prefix_value] = make_pins(
            prefix_value, serials.get(prefix_value, 0), len(people), key, used.get(prefix_value, ())
        )
        new_ids += people
        new_pins += pins
    issued = pl.DataFrame(
        {"person_id": new_ids, "_issued": new_pins},
        schema={"person_id": pl.String, "_issued": pl.String},
    )
    golden = golden.join(issued, on="person_id", how="left", maintain_order="left")
    cancelled = golden.filter(before.is_not_null() & ~pl.col("_keep")).select(
        pl.lit("cancelled").alias("event"),
        before.alias("pin"),
        pl.col("_issued").alias("other_pin"),
        "person_id",
        pl.format("sex/year corrected to {}/{}", "sex", "birth_year").alias("reason"),
        pl.lit(None, dtype=pl.Int64).alias("decision_id"),
    )
    new_pin_events = issued.sort("person_id").select(
        pl.lit("issued").alias("event"),
        pl.col("_issued").alias("pin"),
        pl.lit(None, dtype=pl.String).alias("other_pin"),
        "person_id",
        pl.lit("new PIN").alias("reason"),
        pl.lit(None, dtype=pl.Int64).alias("decision_id"),
    )
    events = pl.concat([cancelled, new_pin_events], how="vertical").cast(EVENT_SCHEMA)
    persons = golden.with_columns(
        pl.when("_keep").then(before).otherwise(pl.col("_issued")).alias("pin"),
    ).with_columns(
        # The PIN's province is the registered birth province: later records that
        # name another one do not change it (only sex and year corrections re-issue).
        pl.coalesce(pl.col("pin").str.slice(0, 3), "birth_province_code").alias(
            "birth_province_code"
        ),
        pl.when(pl.col("pin").is_null())
        .then(pl.lit("pending"))
        .otherwise(pl.lit("active"))
        .alias("status"),
        pl.lit(None, dtype=pl.String).alias("merged_into_pin"),
        pl.when(pl.col("pin").is_null()).then(pl.col("pending_reason")).alias("pending_reason"),
    )
    dropped = ("_prefix", "pin_before", "evidence_pin", "_name_flagged", "_keep", "_new", "_issued")
    return persons.drop(*dropped), events, serials


def name_decisions(
    update: RegisterUpdate, before: pl.DataFrame, decisions: pl.DataFrame
) -> RegisterUpdate:
    """Name, in each event of applying reviewers' decisions, the decision that caused it.

    An event concerns a person: its records after the update (or, for a
    merged person, before it). The event names the latest of ``decisions``
    on a pair with a record among them; a merge or a split says so in its
    reason, with the decision's number and reviewer.

    Args:
        update: The register update that applied the decisions.
        before: ``record_key``, ``person_id`` before the update.
        decisions: The decisions applied: ``decision_id``, ``record_key_l``,
            ``record_key_r``, ``verdict``, ``reviewer``.
    """
    if update.events.is_empty() or decisions.is_empty():
        return update
    ends = pl.concat(
        [
            decisions.select("decision_id", "reviewer", record_key="record_key_l"),
            decisions.select("decision_id", "reviewer", record_key="record_key_r"),
        ]
    )
    records = pl.concat(
        [
            update.record_person.select("record_key", "person_id"),
            before.select("record_key", "person_id"),
        ]
    ).unique()
    latest = (
        records.join(ends, on="record_key")
        .sort("decision_id")
        .group_by("person_id")
        .agg(pl.col("decision_id").last(), pl.col("reviewer").last())
    )
    by_decision = pl.concat_str(
        pl.lit("by reviewer decision #"),
        pl.col("decision_id").cast(pl.String),
        pl.lit(" ("),
        pl.col("reviewer"),
        pl.lit(")"),
    )
    named = pl.col("decision_id").is_not_null()
    events = (
        update.events.drop("decision_id")
        .join(latest, on="person_id", how="left", maintain_order="left")
        .with_columns(
            reason=pl.when(named & (pl.col("event") == "merged"))
            .then(pl.concat_str(pl.lit("merged "), by_decision))
            .when(named & (pl.col("event") == "split"))
            .then(pl.concat_str(pl.col("reason"), pl.lit(" "), by_decision))
            .otherwise(pl.col("reason"))
        )
        .select(EVENT_SCHEMA.names())
    )
    return replace(update, events=events)
