"""Staged tables on S3-compatible object storage: a local S3 server (moto), polars' object store.

The server runs from its own venv (``make s3-env``, part of ``make test``):
moto is not a project dependency. It listens on 127.0.0.1 only and is stopped
after the module.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.schema import FILE_COUNT_SCHEMA, QUARANTINE_SCHEMA, RECORD_SCHEMA
from pipelines.warehouse import read_staged
from pipelines.warehouse.objectstore import publish_staged, read_staged_remote
from tests.registry_helpers import demo_settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
MOTO = REPO / ".s3-venv" / "bin" / "moto_server"
SCHEMAS = {"records": RECORD_SCHEMA, "quarantine": QUARANTINE_SCHEMA, "files": FILE_COUNT_SCHEMA}


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port with a bucket ``dancu-warehouse``."""
    assert MOTO.exists(), "no local S3 server: run `make s3-env` (make test does)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server not ready after 60 s"
                time.sleep(0.2)
        bucket = urllib.request.Request(f"{endpoint}/dancu-warehouse", method="PUT")
        urllib.request.urlopen(bucket, timeout=10).close()
        yield {
            "aws_endpoint_url": endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def staged_warehouse(tmp_path_factory: pytest.TempPathFactory, sample_inbox: Path) -> Path:
    """The samples' batches staged as ``dancu run`` stages them (plan, then every province).

    A whole run removes a batch's staging once it is loaded (unless the settings
    keep it), so the batches are only staged here.
    """
    from dancu.stages import ingest, plan

    warehouse = tmp_path_factory.mktemp("staged-warehouse")
    settings = demo_settings()
    for batch in sorted(p for p in sample_inbox.iterdir() if p.is_dir()):
        token = f"objectstore-{batch.name}"
        for code in plan(batch, warehouse, settings, token).provinces:
            ingest(batch, code, warehouse, settings, token)
    return warehouse


def test_staged_tables_read_back_from_s3_as_from_the_local_warehouse(
    s3: dict[str, str], staged_warehouse: Path
) -> None:
    staging = staged_warehouse / "staging"
    batches = sorted(p.name for p in staging.iterdir())
    assert batches
    base = "s3://dancu-warehouse/wh"
    for batch in batches:
        parts = publish_staged(staging, batch, base, s3)
        assert parts == len(list((staging / batch).glob("*/province_code=*/part.parquet")))
        for table, schema in SCHEMAS.items():
            local = read_staged(staging, batch, table, schema)  # type: ignore[arg-type]
            remote = read_staged_remote(base, batch, table, schema, s3)  # type: ignore[arg-type]
            assert local.height > 0 or table == "quarantine"
            assert remote.equals(local), f"{batch}/{table} differs on S3"


def test_a_batch_with_nothing_staged_reads_as_an_empty_frame(s3: dict[str, str]) -> None:
    remote = read_staged_remote(
        "s3://dancu-warehouse/none", "2021-06-15", "records", RECORD_SCHEMA, s3
    )  # type: ignore[arg-type]
    assert remote.is_empty() and remote.schema == RECORD_SCHEMA
