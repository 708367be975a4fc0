"""The ``dancu`` command as an operator meets it: help, version, errors, progress, summaries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dancu.cli import _parser
from dancu.stages import group_provinces

DANCU = str(Path(sys.executable).with_name("dancu"))


def _dancu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DANCU, *args], capture_output=True, text=True, timeout=600)


def _subparsers(parser):  # type: ignore[no-untyped-def]
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


@pytest.mark.unit
def test_every_option_has_help_and_no_help_holds_markup() -> None:
    parser = _parser()
    for command in [parser, *_subparsers(parser)]:
        text = command.format_help()
        assert "``" not in text, command.prog
        for action in command._actions:
            if action.option_strings or action.dest not in ("command", "action", "user_action"):
                assert action.help, f"{command.prog}: {action.option_strings or action.dest}"


@pytest.mark.unit
def test_the_review_command_has_no_reviewer_option() -> None:
    decide = _parser().parse_args(
        ["review", "decide", "--warehouse", "w", "001:1", "001:2", "--same"]
    )
    assert not hasattr(decide, "reviewer")


@pytest.mark.unit
def test_small_provinces_share_an_ingest_task_and_a_large_one_has_its_own(
    tmp_path: Path,
) -> None:
    for code, size in [("001", 10), ("004", 10), ("079", 100), ("080", 10)]:
        (tmp_path / code).mkdir()
        (tmp_path / code / "f.csv").write_bytes(b"x" * size)
    codes = ["001", "004", "079", "080"]
    assert group_provinces(tmp_path, codes, max_bytes=50) == [["001", "004"], ["079"], ["080"]]
    assert group_provinces(tmp_path, codes, max_bytes=10**6) == [codes]


@pytest.mark.integration
def test_version_traceback_anywhere_and_a_clear_not_a_registry_error(tmp_path: Path) -> None:
    version = _dancu("--version")
    assert version.returncode == 0 and re.fullmatch(r"dancu \S+\n", version.stdout)
    other = tmp_path / "other"
    other.mkdir()
    with duckdb.connect(str(other / "registry.duckdb")) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    listed = _dancu("review", "list", "--demo", "--warehouse", str(other))
    assert listed.returncode == 1
    # Another DuckDB file is not a registry: said in one line, nothing about the file made up.
    assert "is not a dancu registry" in listed.stderr and "does not exist" not in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1
    traced = _dancu("review", "list", "--demo", "--warehouse", str(other), "--traceback")
    assert traced.returncode == 1 and "Traceback (most recent call last)" in traced.stderr
    before = _dancu("--traceback", "review", "list", "--demo", "--warehouse", str(other))
    assert "Traceback (most recent call last)" in before.stderr
    ran = _dancu("run", "--demo", "--inbox", str(tmp_path / "none"), "--warehouse", str(other))
    assert ran.returncode == 1 and "Traceback" not in ran.stderr


@pytest.mark.integration
def test_generate_prints_a_summary_and_run_prints_progress_lines(tmp_path: Path) -> None:
    generated = _dancu("generate", "--persons", "60", "--seed", "3", "--out", str(tmp_path / "g"))
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("generated 60 persons in 1 batch(es)")
    assert "GenerateSummary(" not in generated.stdout
    assert f"inbox: {tmp_path / 'g' / 'inbox'}" in generated.stdout
    ran = _dancu(
        "run",
        "--demo",
        "--inbox",
        str(tmp_path / "g" / "inbox"),
        "--warehouse",
        str(tmp_path / "w"),
    )
    assert ran.returncode == 0, ran.stderr
    # Not a terminal: one plain line per step (stage, rows, seconds elapsed).
    lines = ran.stderr.strip().splitlines()
    assert any(
        re.fullmatch(r"dancu run: \S+ ingest \d{3}, [\d,]+ rows, [\d.]+ s", x) for x in lines
    )
    assert any(re.fullmatch(r"dancu run: \S+ match: .* [\d.]+ s", x) for x in lines)
    assert any(" quality: " in x for x in lines)


@pytest.mark.unit
def test_on_a_terminal_progress_redraws_one_bar() -> None:
    import io

    from dancu.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress("dancu run", screen)
    progress.expect(4)
    progress("2021-06-15 ingest 001", 1200)
    progress("2021-06-15 match", 3000)
    progress.close()
    frames = screen.getvalue().split("\r\x1b[2K")
    assert frames[1].startswith("dancu run [######------------------] 1/4 2021-06-15 ingest 001,")
    assert "1,200 rows" in frames[1] and "\n" not in screen.getvalue()
    assert frames[2].startswith("dancu run [############------------] 2/4 2021-06-15 match")
    assert frames[-1] == ""
