"""dancu, the application: the command line, the stages the DAGs run, settings.

``dancu.stages`` holds one function per DAG task (and ``run_batch``, all of
them in one process); ``dancu.cli`` the ``dancu`` command; ``dancu.settings``
the run's settings from a TOML file; ``dancu.inbox`` which batches to load;
``dancu.summary`` what a user reads; ``dancu.evaluate`` the score against a
generator's truth.
"""

from dancu.settings import RunSettings, load_settings
from dancu.stages import run_batch

__all__ = ["RunSettings", "load_settings", "run_batch"]
