"""The vocabulary every layer shares; it imports nothing of ours.

``schema``: the layouts of the frames between stages (``pl.Schema``).
``vntext``: Vietnamese text (one fold, tone placement, syllables).
``legacy_encoding``: TCVN3, VNI and the other encodings of legacy exports.
``tables`` and ``reference``: the reference data (one loader) and its lookups.
``identity``: the digit rules of the PIN and the CCCD (Python and polars forms).
"""

from domain.identity import century_sex_digit, decode_prefix, pin_prefix
from domain.schema import (
    DECISION_SCHEMA,
    EVENT_SCHEMA,
    FILE_COUNT_SCHEMA,
    LINK_SCHEMA,
    QUARANTINE_SCHEMA,
    RECORD_SCHEMA,
)
from domain.vntext import fold, fold_expr, normalize

__all__ = [
    "DECISION_SCHEMA",
    "EVENT_SCHEMA",
    "FILE_COUNT_SCHEMA",
    "LINK_SCHEMA",
    "QUARANTINE_SCHEMA",
    "RECORD_SCHEMA",
    "century_sex_digit",
    "decode_prefix",
    "fold",
    "fold_expr",
    "normalize",
    "pin_prefix",
]
