"""The same DAG across workers: ``dancu_batch`` on Airflow's CeleryExecutor.

``scripts/cluster.sh`` (``make cluster``) starts PostgreSQL and Redis from
Debian's packages (installed with apt-get when missing, as root), Airflow's
api-server, scheduler and DAG processor, and two Celery workers of one task
slot each. A generated batch of four provinces is triggered through the REST
API, its matching cut into two partitions; its tasks must run on both workers,
and the registry must be the one ``dancu run`` builds from the same inbox (in
one partition), table by table (wall-clock columns aside), both on the public
demo keys, and each side's audit chain must hold. Then the cluster is stopped
and no process of it may be left.

About three minutes on two cores. Select or leave out with ``-m cluster``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.warehouse.compare import compare_registries

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "scripts" / "cluster.sh"
BIN = Path(sys.executable).parent


class _Api:
    """Airflow 3's REST API: a JWT from ``/auth/token``, then ``/api/v2`` with it."""

    def __init__(self, base: str, user: str, password: str) -> None:
        self.base = base
        self.token = self._call("POST", "/auth/token", {"username": user, "password": password})[
            "access_token"
        ]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        """Unpause the DAG (new DAGs start paused) and start a run with ``conf``."""
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def wait(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's final state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return str(state)
            time.sleep(1)
        raise TimeoutError(f"{dag_id}/{run_id} still running after {timeout} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances (mapped ones one each)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        return list(self._call("GET", path)["task_instances"])


def _sourced(env_file: Path) -> dict[str, str]:
    """This process's environment with ``env_file`` sourced over it."""
    raw = subprocess.run(
        ["bash", "-c", f"set -a; . '{env_file}'; env -0"], check=True, capture_output=True
    ).stdout
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running cluster (two workers); stopped afterwards, and nothing of it left."""
    state = tmp_path_factory.mktemp("cluster") / "c"
    env = os.environ | {"DANCU_REPO": str(REPO), "CLUSTER_DIR": str(state), "CLUSTER_WORKERS": "2"}
    started = subprocess.run([str(CLUSTER_SH), "start"], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        password = json.loads((state / "airflow" / "passwords.json").read_text())["admin"]
        api = _Api(_sourced(state / "env")["DANCU_CLUSTER_API"], "admin", password)
        yield {"api": api, "state": state}
    finally:
        groups = [int(f.read_text()) for f in (state / "pids").glob("*.pid")]
        stopped = subprocess.run([str(CLUSTER_SH), "stop"], env=env, capture_output=True, text=True)
        assert stopped.returncode == 0, stopped.stderr
        left = []
        for group in groups:
            try:
                os.killpg(group, 0)
                left.append(group)
            except ProcessLookupError:
                pass
        assert not left, f"process groups still alive after stop: {left}"
        assert not (state / "run").exists(), "the servers' data folder was not removed"


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_dancu_batch_on_two_celery_workers_gives_dancu_runs_registry(
    cluster: dict[str, Any], tmp_path: Path
) -> None:
    synth = tmp_path / "synth"
    dancu = str(BIN / "dancu")
    generate = [dancu, "generate", "--persons", "2000", "--seed", "7", "--out", str(synth)]
    subprocess.run(generate, check=True, capture_output=True)
    (batch,) = (synth / "inbox").iterdir()
    provinces = sorted(
        (p for p in batch.iterdir() if p.is_dir()), key=lambda p: (-_folder_bytes(p), p.name)
    )
    for extra in provinces[4:]:  # four province folders: four mapped ingest tasks
        shutil.rmtree(extra)

    local = tmp_path / "wh-local"
    run = [dancu, "run", "--inbox", str(synth / "inbox"), "--warehouse", str(local), "--demo"]
    subprocess.run(run, check=True, capture_output=True)

    api: _Api = cluster["api"]
    shared = tmp_path / "wh-cluster"  # one folder every worker sees
    conf = {
        "inbox": str(synth / "inbox"),
        "batch": batch.name,
        "warehouse": str(shared),
        "demo": True,  # the workers open the registry with the public demo keys
        "ingest_task_bytes": 1,  # one ingest task per province (else small ones share one)
        "match_partitions": 2,  # two compare and two score tasks (the CLI matches in one)
    }
    api.trigger("dancu_batch", "batch-1", conf)
    state = api.wait("dancu_batch", "batch-1", timeout=900)
    tasks = api.task_instances("dancu_batch", "batch-1")
    assert state == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tasks]
    assert {t["state"] for t in tasks} == {"success"}
    assert len([t for t in tasks if t["task_id"] == "ingest"]) == 4
    for step in ("compare", "score"):
        assert sorted(t["map_index"] for t in tasks if t["task_id"] == step) == [0, 1]
    assert {t["hostname"].split(".")[0] for t in tasks} == {"w1", "w2"}

    differences = compare_registries(local / "registry.duckdb", shared / "registry.duckdb")
    assert {d.table for d in differences} >= {"person", "source_record", "match_link", "run"}
    assert [d for d in differences if not d.same] == []
    assert all(d.rows_left for d in differences if d.table in ("person", "match_link", "run"))
    # The audit chains' MACs were left out of the comparison: each side's chain must hold.
    for warehouse in (local, shared):
        verify = [dancu, "audit", "verify", "--warehouse", str(warehouse), "--demo"]
        checked = subprocess.run(verify, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr[-3000:]
