"""Synthetic legacy household-register exports with a known truth.

``generate(persons, seed, out)`` writes ``out/inbox/<batch_id>/<province>/``
files in the formats, encodings and dialects of ``legacy-exports.md``, and
``out/truth/`` tables saying which person every physical row describes.
"""

from pipelines.synth.generate import GenerateSummary, generate

__all__ = ["GenerateSummary", "generate"]
