"""One writer at a time: an exclusive ``flock`` on ``WAREHOUSE/.dancu.lock``.

Every process that writes to a warehouse (``dancu run``, each writing task of
the ``dancu_batch`` DAG, ``dancu review decide``) holds this lock while it
writes. It is ``flock(2)`` on a file of its own, not DuckDB's lock: DuckDB's
is a POSIX ``fcntl`` lock, which a process loses as soon as it closes *any*
descriptor of the database file, and which covers neither staging nor the
time between two stages. The kernel frees a ``flock`` when its holder dies,
so there is never a stale lock. The holder (host, pid, user, command, time)
is written into the file, so a refused writer can say who holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.warehouse.paths import LOCK_FILE, private_dir


class WarehouseLockedError(RuntimeError):
    """Another writer holds the warehouse."""


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "an unknown process"
    except OSError:
        return "an unknown process"


@contextlib.contextmanager
def warehouse_lock(
    warehouse: Path, command: str, wait_seconds: float = 0.0, *, shared: bool = False
) -> Iterator[None]:
    """Hold the warehouse's writer lock for the ``with`` block.

    Args:
        warehouse: the warehouse folder (created, 0700, when missing).
        command: what this writer does, recorded for whoever is refused.
        wait_seconds: how long to wait for another writer to finish.
        shared: share the lock with other shared holders (the province tasks of
            one DAG run, which each write only their own province's staging);
            it still excludes every exclusive writer.

    Raises:
        WarehouseLockedError: another writer still holds it after ``wait_seconds``.
    """
    private_dir(warehouse)
    path = warehouse / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"warehouse '{warehouse}' is being written by {_holder(path)}; "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.2)
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": getpass.getuser(),
            "command": command,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            if not shared:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
