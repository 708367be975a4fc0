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

The batches load as a new register would: with a fresh PIN key (random, hex,
mode 0600, in the work folder) unless ``DANCU_PIN_KEY_FILE`` names one, never
the demo keys. The scorer runs in this environment, as the set's README says::

    .venv/bin/python ../shared/devset/score.py --truth ../shared/devset/truth \
        --registry WAREHOUSE/registry.duckdb
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    args.workdir.mkdir(mode=0o700, parents=True)
    warehouse = args.workdir / "warehouse"
    env = dict(os.environ)
    if not env.get("DANCU_PIN_KEY_FILE"):
        key = args.workdir / "pin.key"
        key.write_text(secrets.token_hex(32))
        key.chmod(0o600)
        env["DANCU_PIN_KEY_FILE"] = str(key)
    dancu = Path(sys.executable).with_name("dancu")
    for batch in sorted(p for p in inbox.iterdir() if p.is_dir()):
        command = [str(dancu), "run", "--inbox", str(batch), "--warehouse", str(warehouse)]
        if args.settings:
            command += ["--settings", str(args.settings)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        if done.returncode:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            return done.returncode
        print(f"batch {batch.name}: loaded in {seconds:.1f} s")
    score = [sys.executable, str(scorer), "--truth", str(args.devset / "truth")]
    score += ["--registry", str(warehouse / "registry.duckdb")]
    if args.json:
        score.append("--json")
    return subprocess.run(score).returncode


if __name__ == "__main__":
    raise SystemExit(main())
