"""Quality: Great Expectations suites, the HTML report and its plots, pure metrics.

``quality.expectations`` validates staged records and the registry (GX is the
engine of record); ``quality.report`` writes the reviewers' HTML report from an
open registry connection; ``quality.metrics`` scores a clustering against a
truth. Nothing here opens a database or a warehouse: callers pass frames and
connections in.
"""

from quality.expectations import (
    QualityError,
    ValidationReport,
    validate_records,
    validate_registry,
    write_validation_json,
)
from quality.metrics import Evaluation, evaluate_frames
from quality.report import write_report

__all__ = [
    "Evaluation",
    "QualityError",
    "ValidationReport",
    "evaluate_frames",
    "validate_records",
    "validate_registry",
    "write_report",
    "write_validation_json",
]
