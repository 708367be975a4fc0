"""One batch under Airflow's real scheduler against the same batch with ``dancu run``.

    .venv/bin/python bench/dag_vs_cli.py --persons 3000 [--seed 1] [--repo .]

Generates a batch (``dancu generate``), loads it with ``dancu run`` into one
warehouse (timed; again after each DAG run, so that on a shared machine each
DAG run is bracketed by CLI runs under the same load), then starts
``airflow standalone`` as ``make airflow`` does (127.0.0.1, parallelism 4,
its own process group and a fresh AIRFLOW_HOME), unpauses ``dancu_batch``,
triggers it for the same batch into a second warehouse through the REST API,
waits for the run and prints
the run's duration (start to end, as Airflow records it) and the wall time
from the trigger, then stops the whole process group. The DAG runs twice, into
two fresh warehouses: the first run also pays for starting the executor's
workers (once per Airflow start), the second is what every later batch pays. ``--repo`` points at
a checkout whose ``dags/`` and code are run (to measure another branch with
this environment).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(url: str, token: str | None = None, method: str = "GET", body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _wait(what: str, probe, timeout: float = 300.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
            if found:
                return found
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(1.0)


def main() -> int:
    """Run the comparison; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=3000, help="persons in the batch")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose code is run")
    args = parser.parse_args()
    repo = args.repo.resolve()
    bin_dir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="dancu-dag-vs-cli-"))
    env = {**os.environ, "PYTHONPATH": str(repo)}
    subprocess.run(
        [
            str(bin_dir / "dancu"),
            "generate",
            "--persons",
            str(args.persons),
            "--seed",
            str(args.seed),
            "--out",
            str(work / "gen"),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    inbox = work / "gen" / "inbox"
    (batch,) = sorted(p.name for p in inbox.iterdir())

    def cli_run(n: int) -> float:
        started = time.perf_counter()
        command = [str(bin_dir / "dancu"), "run", "--inbox", str(inbox / batch)]
        command += ["--warehouse", str(work / f"cli{n}")]
        subprocess.run(command, check=True, env=env, capture_output=True)
        took = time.perf_counter() - started
        print(
            f"dancu run {n} ({args.persons} persons, batch {batch}): {took:.1f} s"
            f" (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        return took

    cli = cli_run(1)

    home = work / "airflow"
    port = _port()
    airflow_env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"],
        check=True,
        env=airflow_env,
        capture_output=True,
    )
    log = (work / "standalone.log").open("w")
    standalone = subprocess.Popen(
        [str(bin_dir / "airflow"), "standalone"],
        env=airflow_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        passwords = home / "simple_auth_manager_passwords.json.generated"
        _wait("the API server", lambda: urllib.request.urlopen(f"{base}/api/v2/monitor/health"))
        password = _wait(
            "the admin password",
            lambda: passwords.exists() and json.loads(passwords.read_text()).get("admin"),
        )
        token = _call(
            f"{base}/auth/token", method="POST", body={"username": "admin", "password": password}
        )["access_token"]
        _wait("dancu_batch to be parsed", lambda: _call(f"{base}/api/v2/dags/dancu_batch", token))
        _call(f"{base}/api/v2/dags/dancu_batch", token, "PATCH", {"is_paused": False})
        ok = True
        for attempt in (1, 2):
            conf = {"inbox": str(inbox), "batch": batch, "warehouse": str(work / f"dag{attempt}")}
            triggered = time.perf_counter()
            run = _call(
                f"{base}/api/v2/dags/dancu_batch/dagRuns",
                token,
                "POST",
                {"logical_date": None, "conf": conf},
            )
            run_id = run["dag_run_id"]
            url = f"{base}/api/v2/dags/dancu_batch/dagRuns/{urllib.request.quote(run_id, safe='')}"
            final = _wait(
                "the DAG run",
                lambda url=url: (r := _call(url, token))["state"] in ("success", "failed") and r,
                timeout=1200,
            )
            wall = time.perf_counter() - triggered
            duration = (
                dt.datetime.fromisoformat(final["end_date"])
                - dt.datetime.fromisoformat(final["start_date"])
            ).total_seconds()
            tasks = _call(f"{url}/taskInstances?limit=100", token)["task_instances"]
            print(
                f"dancu_batch run {attempt} under the scheduler: {final['state']}, {duration:.1f} s"
                f" (start to end), {wall:.1f} s from the trigger; {len(tasks)} task instances"
            )
            for ti in sorted(tasks, key=lambda t: t.get("start_date") or ""):
                print(
                    f"  {ti['task_id']}[{ti.get('map_index', -1)}] {ti['state']}"
                    f" {ti.get('duration') or 0:.1f} s"
                )
            # The machine may be shared: a CLI run right after each DAG run brackets it.
            after = cli_run(attempt + 1)
            mean = (cli + after) / 2
            print(
                f"  ratio: {duration / mean:.2f} x the mean of the CLI runs before and after"
                f" ({mean:.1f} s)",
                flush=True,
            )
            cli = after
            ok = ok and final["state"] == "success"
        return 0 if ok else 1
    finally:
        os.killpg(standalone.pid, signal.SIGTERM)
        try:
            standalone.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(standalone.pid, signal.SIGKILL)
        log.close()
        print(f"(files in {work})")


if __name__ == "__main__":
    sys.exit(main())
