"""The ``dancu`` command: run the pipeline, generate test data, evaluate a registry.

    dancu run --inbox DIR --warehouse DIR [--settings FILE] [--demo]
    dancu generate --persons N --seed S --out DIR [--batches B] [--profile P] [--broken-files]
    dancu evaluate --truth DIR --warehouse DIR [--settings FILE] [--demo]
    dancu review list --warehouse DIR [--limit N] [--settings FILE] [--demo]
    dancu review decide --warehouse DIR KEY_A KEY_B (--same | --different) --reviewer NAME
    dancu audit verify --warehouse DIR [--settings FILE] [--demo]

The register's keys (PIN, registry, audit) come from key files: ``DANCU_PIN_KEY_FILE``,
``DANCU_DB_KEY_FILE``, ``DANCU_AUDIT_KEY_FILE`` or the settings (see ``dancu.keys``).
Without them nothing runs; ``--demo`` allows the public demo keys of data/demo-keys/
(for the bundled samples only). Exit status 0 when the command completed
(quarantined rows included), 1 with a one-line message when it could not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dancu", description=__doc__.splitlines()[0])
    parser.add_argument("--traceback", action="store_true", help="show the full error trace")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process batch folders into the registry")
    run.add_argument("--inbox", type=Path, required=True, help="inbox, or one batch folder in it")
    run.add_argument("--warehouse", type=Path, required=True, help="where registry.duckdb lives")
    run.add_argument(
        "--force", action="store_true", help="process batches even if already loaded unchanged"
    )
    run.add_argument("--settings", type=Path, help="TOML settings file (see dancu/defaults.toml)")
    run.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another writer")
    _key_options(run)

    gen = sub.add_parser("generate", help="write a synthetic inbox with its ground truth")
    gen.add_argument("--persons", type=int, required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--batches", type=int, default=1)
    gen.add_argument("--profile", default="default", choices=["default", "hard", "clean"])
    gen.add_argument(
        "--broken-files", action="store_true", help="add the broken files of synth.broken"
    )

    ev = sub.add_parser("evaluate", help="compare a registry with a generator's truth")
    ev.add_argument("--truth", type=Path, required=True, help="the generator's truth folder")
    ev.add_argument("--warehouse", type=Path, required=True)
    _key_options(ev)

    review = sub.add_parser("review", help="the clerical-review queue and reviewers' decisions")
    actions = review.add_subparsers(dest="action", required=True)
    queue = actions.add_parser("list", help="show the undecided pairs")
    queue.add_argument("--warehouse", type=Path, required=True)
    queue.add_argument("--limit", type=int, default=20)
    _key_options(queue)
    decide = actions.add_parser(
        "decide", help="record a decision on a pair; applied from the next run"
    )
    decide.add_argument("--warehouse", type=Path, required=True)
    decide.add_argument("record_a", help="record_key (province_code:local_id)")
    decide.add_argument("record_b", help="record_key (province_code:local_id)")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--same", dest="same", action="store_true", help="one person")
    verdict.add_argument("--different", dest="same", action="store_false", help="two people")
    decide.add_argument("--reviewer", required=True)
    decide.add_argument("--note")
    _key_options(decide)

    audit = sub.add_parser("audit", help="the audit trail of the registry")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser(
        "verify", help="check the hash chains; name the first edited or deleted row"
    )
    verify.add_argument("--warehouse", type=Path, required=True)
    _key_options(verify)
    return parser


def _key_options(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "settings" for a in parser._actions):
        parser.add_argument("--settings", type=Path, help="TOML settings file (key files)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="allow the public demo keys (data/demo-keys/; for the bundled samples only)",
    )


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from dancu.settings import load_settings

    return load_settings(args.settings, force=getattr(args, "force", False), demo=args.demo)


def _run(args: argparse.Namespace) -> None:
    from dancu.inbox import batch_folders, stray_entries
    from dancu.stages import run_batch

    settings = _settings(args)
    batches = batch_folders(args.inbox)
    for name in stray_entries(args.inbox):
        print(f"not a batch folder (a batch is named YYYY-MM-DD[-suffix]), not loaded: {name!r}")
    if not batches:
        raise FileNotFoundError(f"no batch folders under '{args.inbox}'")
    for batch in batches:
        started = time.perf_counter()
        summary = run_batch(batch, args.warehouse, settings, wait_seconds=args.wait)
        print(summary.to_text())
        print(f"  took {time.perf_counter() - started:.1f} s")


def _generate(args: argparse.Namespace) -> None:
    from synth import generate

    summary = generate(
        persons=args.persons,
        seed=args.seed,
        out=args.out,
        batches=args.batches,
        profile=args.profile,
        broken_files=args.broken_files,
    )
    print(summary)


def _evaluate(args: argparse.Namespace) -> None:
    from dancu.evaluate import evaluate

    keys = _settings(args).require_keys()
    print(evaluate(args.truth, args.warehouse, keys.registry).to_text())


def _review(args: argparse.Namespace) -> None:
    import polars as pl

    from dancu.stages import writer_lock
    from pipelines.warehouse import REGISTRY_FILE, connect
    from pipelines.warehouse.registry import record_decision, undecided_pairs

    keys = _settings(args).require_keys()
    registry = args.warehouse / REGISTRY_FILE
    if not registry.exists():
        raise FileNotFoundError(f"no registry at '{registry}'")
    if args.action == "list":
        with (
            pl.Config(tbl_rows=args.limit, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200),
            connect(registry, keys.registry, read_only=True) as con,
        ):
            print(undecided_pairs(con, args.limit))
        return
    with (
        writer_lock(args.warehouse, "dancu review decide"),
        connect(registry, keys.registry) as con,
    ):
        left, right = record_decision(
            con,
            args.record_a,
            args.record_b,
            same=args.same,
            reviewer=args.reviewer,
            note=args.note,
            audit_key=keys.audit,
        )
    verdict = "the same person" if args.same else "different people"
    print(f"recorded: {left} and {right} are {verdict}; applied from the next run")


def _audit(args: argparse.Namespace) -> None:
    from pipelines.warehouse import REGISTRY_FILE, connect
    from pipelines.warehouse.audit import verify

    keys = _settings(args).require_keys()
    with connect(args.warehouse / REGISTRY_FILE, keys.registry, read_only=True) as con:
        reports = verify(con, keys.audit, args.warehouse)
    for report in reports:
        print(report.to_text())
    broken = [r for r in reports if r.problem]
    if broken:
        raise ValueError(f"audit trail broken: {broken[0].table}: {broken[0].problem}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dancu`` command."""
    args = _parser().parse_args(argv)
    commands = {
        "run": _run,
        "generate": _generate,
        "evaluate": _evaluate,
        "review": _review,
        "audit": _audit,
    }
    try:
        commands[args.command](args)
    except Exception as err:  # one clear line for users; --traceback for developers
        if args.traceback:
            raise
        message = str(err).splitlines()[0] if str(err) else ""
        print(f"dancu {args.command}: {type(err).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
