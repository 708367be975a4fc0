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

from matching.estimate import MatchModel, ModelError
from matching.link import LinkResult, link_records
from matching.reviewed import ReviewedClusters, reviewed_clusters
from matching.settings import BlockingRule, MatchSettings

__all__ = [
    "BlockingRule",
    "LinkResult",
    "MatchModel",
    "MatchSettings",
    "ModelError",
    "ReviewedClusters",
    "link_records",
    "reviewed_clusters",
]
