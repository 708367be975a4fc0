"""Record linkage for dancu: find the records of one person across provinces.

``link_records(records, settings)`` blocks, compares, fits a Fellegi-Sunter
model (u from random pairs, m by EM, term-frequency adjusted names), decides
each pair (rules for twins and household members override the model) and
clusters the records. ``new_keys``, ``prior_clusters`` and ``decisions`` make
the run incremental: new records against a registry, its persons held
together, reviewers' decisions obeyed. See ``matching.settings`` for what can
be tuned.
"""

from matching.estimate import FITTED, MatchModel, ModelError, default_model
from matching.link import LinkResult, link_records
from matching.settings import BlockingRule, MatchSettings

__all__ = [
    "FITTED",
    "BlockingRule",
    "LinkResult",
    "MatchModel",
    "MatchSettings",
    "ModelError",
    "default_model",
    "link_records",
]
