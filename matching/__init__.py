"""Record linkage for dancu: find the records of one person across provinces.

``link_records(records, settings)`` blocks, compares, fits a Fellegi-Sunter
model (u from random pairs, m by EM), decides each pair and clusters the
records. See ``matching.settings`` for what can be tuned.
"""

from matching.estimate import MatchModel, ModelError
from matching.link import LinkResult, link_records
from matching.settings import BlockingRule, MatchSettings

__all__ = [
    "BlockingRule",
    "LinkResult",
    "MatchModel",
    "MatchSettings",
    "ModelError",
    "link_records",
]
