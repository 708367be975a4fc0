"""Find the header row of a raw table and map its cells to canonical fields.

The mapping is driven by data (``reference/header_synonyms.csv``): a header
cell is folded (no case, diacritics, spaces or punctuation) and looked up.
Cells that match nothing are kept as extra attributes under their own text.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.reference import header_key, header_synonyms

#: How many rows from the top may hold titles before the header.
MAX_TITLE_ROWS = 40
_NAME_FIELDS = frozenset({"full_name", "given_name", "family_name"})


@dataclass(frozen=True)
class Header:
    """Where the header is, and what each column holds."""

    index: int  # position of the header row among the table's rows
    fields: list[str]  # canonical field, or ``extra:<header text>``, per column
    cells: list[str]  # the header cells as written

    @property
    def canonical(self) -> set[str]:
        """The canonical fields present."""
        return {f for f in self.fields if not f.startswith("extra:")}


class HeaderNotFoundError(ValueError):
    """No row near the top of a table looks like a header."""


def map_header(cells: list[str | None]) -> list[str]:
    """Map header cells to canonical fields; repeats and unknowns become extras."""
    synonyms = header_synonyms()
    fields: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells):
        text = (cell or "").strip()
        field = synonyms.get(header_key(text)) if text else None
        if field is None or field in seen:
            label = text or f"column_{position + 1}"
            field = f"extra:{label}"
            while field in seen:
                field += "_"
        seen.add(field)
        fields.append(field)
    return fields


def find_header(rows: list[list[str | None]]) -> Header:
    """Return the first row that names at least a person identifier and a name.

    Args:
        rows: The cells of the first rows of a table (at least ``MAX_TITLE_ROWS``
            when the table has that many).

    Raises:
        HeaderNotFoundError: no such row among the first rows of the table.
    """
    best: Header | None = None
    best_score = 0
    for index, cells in enumerate(rows[:MAX_TITLE_ROWS]):
        fields = map_header(cells)
        known = {f for f in fields if not f.startswith("extra:")}
        if not known & _NAME_FIELDS:
            continue
        score = len(known)
        if score > best_score:
            best = Header(index=index, fields=fields, cells=[c or "" for c in cells])
            best_score = score
        if "local_id" in known and score >= 3:
            break
    if best is None or best_score < 2:
        raise HeaderNotFoundError("no header row with a name column found in the first rows")
    return best
