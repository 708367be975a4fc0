"""The one loader of the reference tables shipped in ``domain/reference/``.

The CSV files are copies of facts (province codes, the 54 ethnic groups,
name frequencies, the TCVN3/VNI byte tables, legacy header spellings). They
are read through :mod:`importlib.resources`, so the code works from any
working directory; every module that needs a table reads it here.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources


@cache
def reference_rows(filename: str) -> tuple[dict[str, str], ...]:
    """Return the rows of ``domain/reference/<filename>`` as dicts (read once)."""
    text = resources.files("domain").joinpath("reference", filename).read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))
