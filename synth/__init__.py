"""Synthetic data with a known truth, for tests and benchmarks only (not in the product wheel).

``generate(persons, seed, out)`` writes ``out/inbox/<batch_id>/<province>/``
files in the formats, encodings and dialects of ``legacy-exports.md``, and
``out/truth/`` tables saying which person every physical row describes.
``synthetic_records`` gives standardised records with their true persons for
matching tests; ``febrl_records`` maps the FEBRL benchmark onto the record
columns.
"""

from synth.febrl import febrl_records
from synth.generate import GenerateSummary, generate
from synth.records import records_frame, synthetic_records

__all__ = ["GenerateSummary", "febrl_records", "generate", "records_frame", "synthetic_records"]
