"""The ``dancu`` command: run the pipeline, generate test data, evaluate a registry, review pairs.

    dancu run --inbox DIR --warehouse DIR [--settings FILE] [--force] [--demo]
    dancu generate --persons N --seed S --out DIR [--batches B] [--profile P] [--broken-files]
    dancu evaluate --truth DIR --warehouse DIR [--settings FILE] [--demo]
    dancu review list|decide|confirm|history|apply --warehouse DIR ... [--demo]
    dancu review serve --warehouse DIR ...   (the review workspace in the browser)
    dancu review user add|list --users FILE ...
    dancu audit verify --warehouse DIR [--settings FILE] [--demo]
    dancu keys derive audit --out FILE [--settings FILE]

The register's keys (PIN, audit) come from key files: ``DANCU_PIN_KEY_FILE``,
``DANCU_AUDIT_KEY_FILE`` or the settings (see ``dancu.keys``); the audit key,
when not given, is derived from the PIN key.
Without a PIN key nothing runs; ``--demo`` allows the public demo keys of data/demo-keys/
(for the bundled samples only). Exit status 0 when the command completed
(quarantined rows included), 1 with a one-line message when it could not
(``--traceback``, anywhere on the line, shows the trace), 2 for a command line
argparse rejects.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

_DESCRIPTION = (
    "dancu builds a national population registry (DuckDB) from legacy Vietnamese"
    " household-register exports: run batches, generate test data, evaluate a"
    " registry, and review the pairs the model could not decide."
)


def os_user() -> str:
    """The operating-system user running this process (not $USER, which anyone can set)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def _version() -> str:
    try:
        return metadata.version("dancu")
    except metadata.PackageNotFoundError:
        return "unknown"


def _common() -> argparse.ArgumentParser:
    """Options every command takes, wherever they stand on the line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on an error, show the full Python trace instead of one line",
    )
    return common


def _warehouse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        type=Path,
        required=True,
        help="the warehouse folder (holds registry.duckdb and report.html)",
    )


def _parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="dancu", description=_DESCRIPTION, parents=[common])
    parser.add_argument("--version", action="version", version=f"dancu {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        parents=[common],
        help="process batch folders into the registry",
        description="Process each batch folder (in name order) into the registry.",
    )
    run.add_argument(
        "--inbox",
        type=Path,
        required=True,
        help="the inbox (every batch folder in it, in order) or one batch folder",
    )
    _warehouse(run)
    run.add_argument(
        "--force",
        action="store_true",
        help="process a batch again even when it is already loaded with the same files",
    )
    run.add_argument(
        "--settings", type=Path, help="a TOML settings file (every key: dancu/defaults.toml)"
    )
    run.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for another writer (0)"
    )
    _key_options(run)

    gen = sub.add_parser(
        "generate",
        parents=[common],
        help="write a synthetic inbox with its ground truth",
        description="Write legacy-style exports of a synthetic population, and its truth.",
    )
    gen.add_argument("--persons", type=int, required=True, help="how many true persons")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    gen.add_argument(
        "--out", type=Path, required=True, help="output folder (inbox/ and truth/ below it)"
    )
    gen.add_argument("--batches", type=int, default=1, help="how many batches (default 1)")
    gen.add_argument(
        "--profile",
        default="default",
        choices=["default", "hard", "clean"],
        help="how dirty the records are (default: default; clean: one UTF-8 CSV per province)",
    )
    gen.add_argument(
        "--broken-files",
        action="store_true",
        help="add broken files (truncated, wrong format, empty) to the inbox",
    )

    ev = sub.add_parser(
        "evaluate",
        parents=[common],
        help="compare a registry with a generator's truth",
        description="Score the registry's persons against the truth of `dancu generate`.",
    )
    ev.add_argument("--truth", type=Path, required=True, help="the generator's truth folder")
    _warehouse(ev)
    _key_options(ev)

    _review_parser(sub, common)

    audit = sub.add_parser("audit", parents=[common], help="the audit trail of the registry")
    audit_actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_actions.add_parser(
        "verify",
        parents=[common],
        help="check the hash chains; name the first edited or deleted row",
    )
    _warehouse(verify)
    _key_options(verify)

    keys = sub.add_parser("keys", parents=[common], help="the register's keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    derive = key_actions.add_parser(
        "derive",
        parents=[common],
        help="write the audit key in use (given or derived from the PIN key) to a new"
        " file only you can read, to hand to those who verify the audit trail",
    )
    derive.add_argument("kind", choices=["audit"], help="which key: audit")
    derive.add_argument("--out", type=Path, required=True, help="the key file to create")
    _key_options(derive)
    return parser


def _review_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    review = sub.add_parser(
        "review",
        parents=[common],
        help="the clerical-review queue, reviewers' decisions and the workspace",
        description=(
            "Decide the pairs the model could not decide. The reviewer is the OS user running"
            " the command. A decision on a queued pair is in force at once; on any other pair"
            " it needs a note and a second reviewer's `confirm`. `apply` makes the decisions"
            " in force take effect on the register now."
        ),
    )
    actions = review.add_subparsers(dest="action", required=True, metavar="ACTION")
    queue = actions.add_parser("list", parents=[common], help="show the undecided pairs")
    _warehouse(queue)
    _key_options(queue)
    queue.add_argument("--limit", type=int, default=20, help="at most this many pairs (20)")

    decide = actions.add_parser(
        "decide", parents=[common], help="record your decision on a pair (as the OS user)"
    )
    _warehouse(decide)
    _key_options(decide)
    decide.add_argument("record_a", help="record_key of one record (province_code:local_id)")
    decide.add_argument("record_b", help="record_key of the other record")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument(
        "--same", dest="verdict", action="store_const", const="same", help="one person"
    )
    verdict.add_argument(
        "--different",
        dest="verdict",
        action="store_const",
        const="different",
        help="two people: never link them",
    )
    verdict.add_argument(
        "--unsure",
        dest="verdict",
        action="store_const",
        const="unsure",
        help="not sure: leave the pair in the queue for another look",
    )
    decide.add_argument("--note", help="why (required for a pair that is not in the review queue)")

    confirm = actions.add_parser(
        "confirm",
        parents=[common],
        help="confirm another reviewer's decision on a pair outside the queue",
    )
    _warehouse(confirm)
    _key_options(confirm)
    confirm.add_argument("decision_id", type=int, help="the decision's number")

    history = actions.add_parser(
        "history", parents=[common], help="every decision on a pair, oldest first"
    )
    _warehouse(history)
    _key_options(history)
    history.add_argument("record_a", help="record_key of one record")
    history.add_argument("record_b", help="record_key of the other record")

    apply = actions.add_parser(
        "apply", parents=[common], help="apply the decisions in force to the register now"
    )
    _warehouse(apply)
    _key_options(apply)

    serve = actions.add_parser(
        "serve", parents=[common], help="start the review workspace (a web page with a login)"
    )
    _warehouse(serve)
    _key_options(serve)
    serve.add_argument(
        "--users", type=Path, required=True, help="the users file (`dancu review user add`)"
    )
    serve.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        help="file holding the key that signs session cookies (created, 0600, when missing)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")

    user = actions.add_parser("user", parents=[common], help="manage the review workspace's users")
    user_actions = user.add_subparsers(dest="user_action", required=True, metavar="ACTION")
    add = user_actions.add_parser(
        "add", parents=[common], help="add a user, or set a user's password"
    )
    add.add_argument("name", help="the login name")
    add.add_argument(
        "--users", type=Path, required=True, help="the users file (created, 0600, when missing)"
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking twice",
    )
    listing = user_actions.add_parser("list", parents=[common], help="list the users")
    listing.add_argument("--users", type=Path, required=True, help="the users file")


def _key_options(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "settings" for a in parser._actions):
        parser.add_argument(
            "--settings", type=Path, help="a TOML settings file (key files, matching rules)"
        )
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
    from dancu.progress import Progress
    from dancu.stages import run_batch

    settings = _settings(args)
    batches = batch_folders(args.inbox)
    for name in stray_entries(args.inbox):
        print(f"not a batch folder (a batch is named YYYY-MM-DD[-suffix]), not loaded: {name!r}")
    if not batches:
        raise FileNotFoundError(f"no batch folders under '{args.inbox}'")
    for batch in batches:
        started = time.perf_counter()
        progress = Progress("dancu run")
        try:
            summary = run_batch(batch, args.warehouse, settings, progress, wait_seconds=args.wait)
        finally:
            progress.close()
        print(summary.to_text())
        print(f"  took {time.perf_counter() - started:.1f} s", flush=True)


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
    formats = ", ".join(f"{n} {k}" for k, n in sorted(summary.files_by_format.items()))
    print(
        "\n".join(
            [
                f"generated {summary.persons:,} persons in {len(summary.batches)} batch(es):"
                f" {', '.join(summary.batches)}",
                f"  rows {summary.records:,} about persons ({summary.flawed_rows:,} flawed)"
                f" + {summary.junk_rows:,} other rows",
                f"  files {summary.files:,} ({formats})",
                f"  inbox: {summary.out / 'inbox'}",
                f"  truth: {summary.out / 'truth'}",
            ]
        )
    )


def _evaluate(args: argparse.Namespace) -> None:
    from dancu.evaluate import evaluate

    print(evaluate(args.truth, args.warehouse).to_text())


def _registry(warehouse: Path) -> Path:
    from pipelines.warehouse import REGISTRY_FILE

    registry = warehouse / REGISTRY_FILE
    if not registry.exists():
        raise FileNotFoundError(f"no registry at '{registry}': run `dancu run` first")
    return registry


def _review(args: argparse.Namespace) -> None:
    if args.action == "user":
        _users(args)
        return
    if args.action == "serve":
        from dancu.workspace.app import serve

        serve(
            args.warehouse,
            users=args.users,
            secret_file=args.secret_file,
            host=args.host,
            port=args.port,
            settings=_settings(args),
        )
        return
    if args.action == "apply":
        from dancu.stages import apply_decisions

        _registry(args.warehouse)
        summary = apply_decisions(args.warehouse, _settings(args), actor=os_user())
        print(summary.to_text())
        return
    _review_registry(args)


def _review_registry(args: argparse.Namespace) -> None:
    import polars as pl

    from dancu.stages import anchor_audit, writer_lock
    from pipelines.warehouse import connect
    from pipelines.warehouse.registry import (
        confirm_decision,
        decision_history,
        record_decision,
        undecided_pairs,
    )

    keys = _settings(args).require_keys()
    registry = _registry(args.warehouse)
    table = pl.Config(tbl_rows=200, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200)
    if args.action in ("list", "history"):
        with table, connect(registry, read_only=True) as con:
            if args.action == "list":
                print(undecided_pairs(con, args.limit))
            else:
                print(decision_history(con, args.record_a, args.record_b))
        return
    with (
        writer_lock(args.warehouse, f"dancu review {args.action}"),
        connect(registry) as con,
    ):
        if args.action == "confirm":
            confirm_decision(con, args.decision_id, os_user(), audit_key=keys.audit)
            anchor_audit(args.warehouse, con, keys)
            print(
                f"decision #{args.decision_id} confirmed by {os_user()};"
                " `dancu review apply` applies it"
            )
            return
        decision = record_decision(
            con,
            args.record_a,
            args.record_b,
            verdict=args.verdict,
            reviewer=os_user(),
            note=args.note,
            audit_key=keys.audit,
        )
        anchor_audit(args.warehouse, con, keys)
    said = {"same": "the same person", "different": "different people", "unsure": "not sure"}
    wait = (
        "`dancu review apply` applies it"
        if decision.queued
        else "not in the queue: in force once another reviewer runs"
        f" `dancu review confirm {decision.decision_id}`"
    )
    print(
        f"decision #{decision.decision_id} by {decision.reviewer}: {decision.record_key_l} and"
        f" {decision.record_key_r} are {said[decision.verdict]}; {wait}"
    )


def _users(args: argparse.Namespace) -> None:
    import getpass

    from dancu.workspace.users import Users

    users = Users(args.users)
    if args.user_action == "list":
        for name in users.names():
            print(name)
        return
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")
    users.set_password(args.name, password)
    print(f"user {args.name} saved in {args.users}")


def _audit(args: argparse.Namespace) -> None:
    from pipelines.warehouse import REGISTRY_FILE, connect
    from pipelines.warehouse.audit import verify

    keys = _settings(args).require_keys()
    with connect(args.warehouse / REGISTRY_FILE, read_only=True) as con:
        reports = verify(con, keys.audit, args.warehouse)
    for report in reports:
        print(report.to_text())
    broken = [r for r in reports if r.problem]
    if broken:
        raise ValueError(f"audit trail broken: {broken[0].table}: {broken[0].problem}")


def _keys(args: argparse.Namespace) -> None:
    import base64

    keys = _settings(args).require_keys()
    text = base64.b64encode(keys.audit).decode()
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(text + "\n")
    print(f"wrote the {args.kind} key to {args.out} (mode 0600)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dancu`` command."""
    args = _parser().parse_args(argv)
    commands = {
        "run": _run,
        "generate": _generate,
        "evaluate": _evaluate,
        "review": _review,
        "audit": _audit,
        "keys": _keys,
    }
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        print(f"dancu {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one clear line for users; --traceback for developers
        if getattr(args, "traceback", False):
            raise
        message = str(err).splitlines()[0] if str(err) else ""
        print(f"dancu {args.command}: {type(err).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
