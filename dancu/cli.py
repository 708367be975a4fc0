"""The ``dancu`` command: run the pipeline, generate test data, evaluate a registry.

    dancu run --inbox DIR --warehouse DIR [--settings FILE]
    dancu generate --persons N --seed S --out DIR [--batches B] [--profile P] [--broken-files]
    dancu evaluate --truth DIR --warehouse DIR
    dancu review list --warehouse DIR [--limit N]
    dancu review decide --warehouse DIR KEY_A KEY_B (--same | --different) --reviewer NAME

Exit status 0 when the command completed (quarantined rows included), 1 with
a one-line message when it could not.
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

    review = sub.add_parser("review", help="the clerical-review queue and reviewers' decisions")
    actions = review.add_subparsers(dest="action", required=True)
    queue = actions.add_parser("list", help="show the undecided pairs")
    queue.add_argument("--warehouse", type=Path, required=True)
    queue.add_argument("--limit", type=int, default=20)
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
    return parser


def _run(args: argparse.Namespace) -> None:
    from dancu.inbox import batch_folders
    from dancu.settings import load_settings
    from dancu.stages import run_batch

    settings = load_settings(args.settings, force=args.force)
    batches = batch_folders(args.inbox)
    if not batches:
        raise FileNotFoundError(f"no batch folders under '{args.inbox}'")
    for batch in batches:
        started = time.perf_counter()
        summary = run_batch(batch, args.warehouse, settings)
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

    print(evaluate(args.truth, args.warehouse).to_text())


def _review(args: argparse.Namespace) -> None:
    import polars as pl

    from pipelines.warehouse import REGISTRY_FILE, connect
    from pipelines.warehouse.registry import record_decision, undecided_pairs

    registry = args.warehouse / REGISTRY_FILE
    if not registry.exists():
        raise FileNotFoundError(f"no registry at '{registry}'")
    if args.action == "list":
        with (
            pl.Config(tbl_rows=args.limit, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200),
            connect(registry, read_only=True) as con,
        ):
            print(undecided_pairs(con, args.limit))
        return
    with connect(registry) as con:
        left, right = record_decision(
            con,
            args.record_a,
            args.record_b,
            same=args.same,
            reviewer=args.reviewer,
            note=args.note,
        )
    verdict = "the same person" if args.same else "different people"
    print(f"recorded: {left} and {right} are {verdict}; applied from the next run")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dancu`` command."""
    args = _parser().parse_args(argv)
    commands = {"run": _run, "generate": _generate, "evaluate": _evaluate, "review": _review}
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
