"""``make demo``: run the bundled sample batches through Airflow, then summarise.

Initialises Airflow's SQLite metadata DB under ``AIRFLOW_HOME`` (set by the
Makefile to ``.airflow/``), runs the ``dancu_batch`` DAG once per batch folder
with ``dag.test()`` (batches in order), and prints what the registry now holds.
It runs with the public demo keys of ``data/demo-keys/`` (the DAG's ``demo``
param): fine for the bundled samples, never for real data.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def _output_to(log: TextIO) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def main() -> int:
    """Run the demo; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()
    inbox, warehouse = args.inbox.resolve(), args.warehouse.resolve()
    home = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow"))
    home.mkdir(parents=True, exist_ok=True)
    log = home / "demo.log"
    started = time.perf_counter()
    with log.open("w") as out:
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], stdout=out, stderr=out, check=True)
        from airflow.dag_processing.dagbag import DagBag

        from dancu.inbox import batch_folders
        from dancu.summary import warehouse_summary

        with _output_to(out):
            bag = DagBag(dag_folder=str(REPO / "dags"))
        if bag.import_errors:
            print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
            return 1
        dag = bag.get_dag("dancu_batch")
        for batch in batch_folders(inbox):
            print(f"running DAG dancu_batch for batch {batch.name} (Airflow log: {log})")
            conf = {
                "inbox": str(batch.parent),
                "batch": batch.name,
                "warehouse": str(warehouse),
                "demo": True,
            }
            with _output_to(out):
                run = dag.test(run_conf=conf)
            state = str(getattr(run, "state", "unknown"))
            print(f"  DAG run {state}")
            if "success" not in state:
                print(f"DAG run for {batch.name} ended {state}; see {log}", file=sys.stderr)
                return 1
    print(warehouse_summary(warehouse))
    print(f"demo took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
