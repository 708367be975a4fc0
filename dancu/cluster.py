"""Airflow on Celery with several workers on one host: each names itself.

``[core] hostname_callable = dancu.cluster.worker_hostname`` (set by
``scripts/cluster.sh``): a Celery worker started with ``DANCU_WORKER_NAME=w1``
records ``w1.<fqdn>`` as the hostname of the task instances it runs, so two
workers on one machine can be told apart (``--celery-hostname`` does not change
what Airflow records). Without the variable it is the host's name, as Airflow's
default.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """``<DANCU_WORKER_NAME>.<fqdn>``, or the fully qualified host name alone."""
    name = os.environ.get("DANCU_WORKER_NAME")
    fqdn = socket.getfqdn()
    return f"{name}.{fqdn}" if name else fqdn
