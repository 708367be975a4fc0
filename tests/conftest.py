"""Shared fixtures: a throw-away Airflow home, the bundled samples, a sample run.

Airflow reads its configuration from the environment when first imported, so
the environment is set here, before any test module imports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dancu-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """Airflow's SQLite metadata DB, migrated once per test session."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_inbox() -> Path:
    """The committed sample inbox (several batches)."""
    inbox = SAMPLES / "inbox"
    assert inbox.is_dir(), "data/samples/inbox is missing"
    return inbox


@pytest.fixture(scope="session")
def sample_truth() -> Path:
    """The generator's truth for the committed samples."""
    return SAMPLES / "truth"


@pytest.fixture(scope="session")
def cli_warehouse(tmp_path_factory: pytest.TempPathFactory, sample_inbox: Path) -> Path:
    """A warehouse built from the samples by the ``dancu run`` command."""
    warehouse = tmp_path_factory.mktemp("cli-warehouse")
    dancu = Path(sys.executable).with_name("dancu")
    result = subprocess.run(
        [str(dancu), "run", "--demo", "--inbox", str(sample_inbox), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return warehouse


@pytest.fixture(scope="session")
def one_batch_warehouse(tmp_path_factory: pytest.TempPathFactory, sample_inbox: Path) -> Path:
    """A warehouse holding the first sample batch (run in this process); copy it to change it."""
    from dancu.stages import run_batch
    from tests.registry_helpers import demo_settings

    warehouse = tmp_path_factory.mktemp("one-batch")
    run_batch(sample_inbox / "2021-06-15", warehouse, demo_settings())
    return warehouse
