"""Record linkage for dancu: find the records of one person across provinces.

``link_records(records, settings)`` blocks, compares, fits a Fellegi-Sunter
model (u from random pairs, m by EM, term-frequency adjusted names), decides
each pair (rules for twins and household members override the model) and
clusters the records. ``new_keys``, ``prior_clusters`` and ``decisions`` make
the run incremental: new records against a registry, its persons held
together, reviewers' decisions obeyed. See ``matching.settings`` for what can
be tuned. ``reviewed_clusters`` applies reviewers' decisions to registered
persons at once, without scoring again.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matching.estimate import MatchModel, ModelError, default_model
    from matching.link import LinkResult, link_records
    from matching.reviewed import ReviewedClusters, reviewed_clusters
    from matching.settings import FITTED, BlockingRule, MatchSettings

# The public names and the modules that define them, imported on first use:
# a process that needs only the settings (an Airflow task that loads a
# batch) does not pay for scipy and the estimator.
_EXPORTS = {
    "FITTED": "matching.settings",
    "BlockingRule": "matching.settings",
    "LinkResult": "matching.link",
    "MatchModel": "matching.estimate",
    "MatchSettings": "matching.settings",
    "ModelError": "matching.estimate",
    "ReviewedClusters": "matching.reviewed",
    "default_model": "matching.estimate",
    "link_records": "matching.link",
    "reviewed_clusters": "matching.reviewed",
}

__all__ = [
    "FITTED",
    "BlockingRule",
    "LinkResult",
    "MatchModel",
    "MatchSettings",
    "ModelError",
    "ReviewedClusters",
    "default_model",
    "link_records",
    "reviewed_clusters",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'matching' has no attribute '{name}'")
    return getattr(import_module(_EXPORTS[name]), name)
