"""Run the independent development set through dancu and print its scorer's figures.

    .venv/bin/python -m bench.devset [--devset ../shared/devset] [--workdir /tmp/dancu-devset]
                                     [--settings FILE] [--json]

The development set (``../shared/devset``, beside the repository; never copied
into it) holds two batches of legacy exports written by a generator that is
not dancu's, with their truth and a scorer (``score.py``). This bench loads
the batches in order into a fresh warehouse with ``dancu run`` (the same
command a user runs), then runs the set's own scorer on the registry and
prints what it prints: coverage per format and encoding, pairwise and
B-cubed scores, twins and namesakes given one PIN, the review queue and the
recall once it is decided. It also prints each batch's wall time.

The registry is encrypted: the scorer gets its key through ``DANCU_DB_KEY_FILE``
(the demo key unless set), and runs under duckdb 2.0.1 in a throw-away
environment (``uv run --with duckdb==2.0.1``), because it binds the path in
``ATTACH ? ...``, which the project's duckdb 1.4.4 does not parse. By hand::

    DANCU_DB_KEY_FILE=data/demo-keys/registry.key .uv-bootstrap/bin/uv run --no-project \
        --with duckdb==2.0.1 python ../shared/devset/score.py --truth ../shared/devset/truth \
        --registry WAREHOUSE/registry.duckdb
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORER_DUCKDB = "duckdb==2.0.1"


def main() -> int:
    """Load the development set's batches, then score the registry with its scorer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devset", type=Path, default=REPO.parent / "shared" / "devset")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dancu-devset"))
    parser.add_argument("--settings", type=Path, help="a dancu settings file (TOML)")
    parser.add_argument("--json", action="store_true", help="print the scorer's JSON")
    args = parser.parse_args()
    inbox, scorer = args.devset / "inbox", args.devset / "score.py"
    if not inbox.is_dir() or not scorer.is_file():
        print(f"no development set at {args.devset} (inbox/ and score.py)", file=sys.stderr)
        return 2
    shutil.rmtree(args.workdir, ignore_errors=True)
    warehouse = args.workdir / "warehouse"
    dancu = Path(sys.executable).with_name("dancu")
    for batch in sorted(p for p in inbox.iterdir() if p.is_dir()):
        command = [str(dancu), "run", "--inbox", str(batch), "--warehouse", str(warehouse)]
        command += ["--demo"]  # the public demo keys unless DANCU_*_KEY_FILE name others
        if args.settings:
            command += ["--settings", str(args.settings)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            return done.returncode
        print(f"batch {batch.name}: loaded in {seconds:.1f} s")
    # The scorer opens the encrypted registry with the key file DANCU_DB_KEY_FILE names.
    # It binds the path in ATTACH (ATTACH ? ...), which only DuckDB 2.x parses: it runs in
    # its own throw-away environment with duckdb 2.0.1, which reads what 1.4.4 wrote.
    os.environ.setdefault("DANCU_DB_KEY_FILE", str(REPO / "data" / "demo-keys" / "registry.key"))
    uv = REPO / ".uv-bootstrap" / "bin" / "uv"
    score = [str(uv), "run", "-q", "--no-project", "--python", sys.executable]
    score += ["--with", SCORER_DUCKDB, "python", str(scorer), "--truth", str(args.devset / "truth")]
    score += ["--registry", str(warehouse / "registry.duckdb")]
    if args.json:
        score.append("--json")
    return subprocess.run(score).returncode


if __name__ == "__main__":
    raise SystemExit(main())
