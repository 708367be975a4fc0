"""Sort a table's rows into persons, quarantined rows and junk, piece by piece.

``table_parts`` finds a table's header and names every piece's columns by
field; ``sort_rows`` marks each row as a person, a flawed person row (with
the reason it is quarantined) or a row that is not a person (blank, repeated
header, totals, nameless: only counted). ``with_original_text`` renders the
cells of rows that end in quarantine as the file had them. Everything is
polars expressions over whole pieces: no Python loop per row.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import polars as pl

from domain.vntext import CONTROL_CHARACTERS, without_control_characters
from pipelines.ingest.headers import MAX_TITLE_ROWS, Header, HeaderNotFoundError, find_header
from pipelines.ingest.readers import RawTable, cell_columns, row_cells

#: A totals label: "Tổng cộng", "Tổng số", "Tổng" or "Cộng" (any case, with or without
#: diacritics) ending the cell, or followed by a colon, a count unit or text with a
#: number ("Tổng cộng: 1.234 nhân khẩu", "TONG SO NHAN KHAU", "Cộng có 956 người").
#: The words after a surname (Tòng, Tống written "Tong") are names: no number.
_TOTAL_LABEL = (
    r"(?i)^\s*(?:t[ổo]ng\s+c[ộo]ng|t[ổo]ng\s+s[ốo]|t[ổo]ng|c[ộo]ng)"
    r"(?:\s*$|\s*:|\b.*\d|\s+(?:nhân\s+khẩu|nhan\s+khau|người|nguoi)\b)"
)
#: A count beside a totals label: digits with thousands separators.
_COUNT = r"^[\d.,\s]+$"
_NAME_FIELDS = ("full_name", "family_name", "given_name")
RAW_PREFIX = "_raw"
_JSON_FLAGS = {
    "escape": r'[\\"\n\r\t]',
    "control": r"[\x00-\x08\x0b\x0c\x0e-\x1f]",
}


def table_parts(table: RawTable) -> Iterator[tuple[pl.DataFrame, Header | None, int]]:
    """Sort every piece of a table; yield (person rows, header, rows skipped) per piece.

    Person rows include the quarantined ones (``_reason`` set); skipped rows
    are only counted. A table with no person header near its top (a summary
    or notes sheet, a file of something else) yields its rows with the header
    None: every non-blank physical row quarantined with the reason (see
    :func:`headerless_rows`), blank rows skipped. An empty table yields nothing.
    """
    first = next(table.pieces, None)
    if first is None:
        return
    reason = ""
    try:
        header: Header | None = find_header(row_cells(first.head(MAX_TITLE_ROWS)))
    except HeaderNotFoundError as err:
        header = None
        where = "sheet" if table.sheet is not None else "file"
        reason = f"{where} without a person header: {err}"
    body = first if header is None else first.slice(header.index + 1)
    for piece in itertools.chain([body], table.pieces):
        rows = sort_rows(piece, header) if header is not None else headerless_rows(piece, reason)
        rows = rows.with_columns(
            pl.lit(table.sheet, dtype=pl.String).alias("_sheet"),
            pl.lit(table.encoding).alias("_encoding"),
        )
        kept = rows.filter(pl.col("_skip").is_null())
        yield kept.drop("_skip"), header, rows.height - kept.height


def headerless_rows(piece: pl.DataFrame, reason: str) -> pl.DataFrame:
    """The rows of a table without a person header: each non-blank one quarantined.

    There is no header row, so every physical row counts: blank rows are
    skipped (``_skip``), every other row gets ``reason`` (``_reason``) and
    keeps its cells as read (``_width``, ``_raw<n>``) for its original text.
    A DBF's field descriptors (``_row`` 0) are not a physical row.
    """
    present = cell_columns(piece)
    piece = piece.filter(pl.col("_row") > 0)
    blank = pl.all_horizontal(
        [pl.col(c).str.strip_chars().fill_null("") == "" for c in present] or [pl.lit(True)]
    )
    return piece.select(
        "_row",
        "_width",
        *(pl.col(c).alias(f"{RAW_PREFIX}{i + 1}") for i, c in enumerate(present)),
        pl.when(blank).then(pl.lit("blank row")).alias("_skip"),
        pl.when(~blank).then(pl.lit(reason)).alias("_reason"),
    )


def sort_rows(piece: pl.DataFrame, header: Header) -> pl.DataFrame:
    """Name a piece's columns by field and sort its rows into persons, quarantine and junk.

    Args:
        piece: Rows below the header (``_row``, ``_width``, ``c1``..``cN``).
        header: The table's header.

    Returns:
        One trimmed text column per field (null when empty), ``extra:column_<n>``
        for cells beyond the header, ``_row``, ``_skip`` (why a row is not a
        person: blank, repeated header, totals, no name and no id), ``_reason``
        (why a person row is quarantined), and ``_width`` and ``_raw<n>``, the
        cells as read (see :func:`with_original_text`).
    """
    width = len(header.fields)
    present = cell_columns(piece)
    longest = max(width, len(present))
    fields = header.fields + [f"extra:column_{i + 1}" for i in range(width, longest)]
    header_cells = [c.strip().lower() for c in header.cells] + [""] * (longest - width)
    # A column with nothing to trim and no empty cell is used as it is (no copy).
    spaced = piece.select(
        pl.col(c).str.contains(r"^\s|\s$").fill_null(False).any() for c in present
    ).row(0)
    # Control characters (ESC, BEL, ...) are removed from every cell: they would
    # reach record keys, terminals and reports. The original text keeps them, escaped.
    controlled = piece.select(
        pl.col(c).str.contains(CONTROL_CHARACTERS).fill_null(False).any() for c in present
    ).row(0)
    empty = piece.select((pl.col(c).str.len_bytes() == 0).any() for c in present).row(0)
    stripped: list[pl.Expr] = []
    for i in range(longest):
        if i >= len(present):
            stripped.append(pl.lit(None, dtype=pl.String))
            continue
        cell = pl.col(f"c{i + 1}")
        if controlled[i]:
            cell = without_control_characters(cell)
        if spaced[i] or controlled[i]:
            trimmed = cell.str.strip_chars()
            stripped.append(pl.when(trimmed != "").then(trimmed))
        else:
            stripped.append(pl.when(cell != "").then(cell) if empty[i] else cell)
    # The cells as read stay (without a copy) for the original text of rows
    # that end in quarantine; it is written only for those.
    frame = piece.select(
        "_row",
        "_width",
        *(pl.col(c).alias(f"{RAW_PREFIX}{i + 1}") for i, c in enumerate(present)),
        *(cell.alias(field) for cell, field in zip(stripped, fields, strict=True)),
    )
    cells = [pl.col(f) for f in fields]
    filled = pl.sum_horizontal(c.is_not_null() for c in cells)
    same = pl.sum_horizontal(
        c.str.contains(f"(?i)^{_literal_regex(h)}$").fill_null(False)
        for c, h in zip(cells, header_cells, strict=True)
        if h
    )
    frame = frame.with_columns(_total_row(cells).alias("_total"))
    has_name = pl.any_horizontal(
        [pl.col(f).is_not_null() for f in fields if f in _NAME_FIELDS] or [pl.lit(False)]
    )
    has_id = pl.col("local_id").is_not_null() if "local_id" in fields else pl.lit(False)
    frame = frame.with_columns(
        pl.when(filled == 0)
        .then(pl.lit("blank row"))
        .when((same if any(header_cells) else pl.lit(0)) * 2 >= filled)
        .then(pl.lit("repeated header row"))
        .when(pl.col("_total"))
        .then(pl.lit("totals row"))
        .when(~has_name & ~has_id)
        .then(pl.lit("row with no name"))
        .alias("_skip"),
    ).with_columns(
        pl.when(pl.col("_skip").is_not_null())
        .then(None)
        .when(~has_name)
        .then(pl.lit("missing name"))
        .when(~has_id)
        .then(pl.lit("missing local_id (required)"))
        .alias("_reason"),
    )
    return frame.drop("_total")


def _total_row(cells: list[pl.Expr]) -> pl.Expr:
    """A totals row: one cell holds a totals label and every other filled cell a count.

    ``Tổng cộng: 1.234 nhân khẩu`` alone, or ``Tổng cộng`` beside ``1.234``, is a
    totals row; a person whose surname is written ``Tong`` (Tòng, Tống) is not,
    for the words after it are not a count and the row's other cells hold text
    (a split name ``TONG | CONG`` holds two labels, which no totals row does).
    """
    if not cells:
        return pl.lit(False)
    label = [c.str.contains(_TOTAL_LABEL).fill_null(False) for c in cells]
    counted = [
        (c.is_null() | c.str.contains(_COUNT).fill_null(False) | lab)
        for c, lab in zip(cells, label, strict=True)
    ]
    return (pl.sum_horizontal(label) == 1) & pl.all_horizontal(counted)


def with_original_text(rows: pl.DataFrame) -> pl.DataFrame:
    """Add ``_original``: each row's cells as read, as ``json.dumps`` writes the list of them.

    Args:
        rows: Rows with ``_width`` and ``_raw1``..``_rawN`` (a missing cell is
            ``null``, cells past a row's width are left out).
    """
    raw = sorted(
        (c for c in rows.columns if c.startswith(RAW_PREFIX)),
        key=lambda c: int(c[len(RAW_PREFIX) :]),
    )
    flags = (
        rows.select(
            *(
                pl.col(c).str.contains(pattern).fill_null(False).any().alias(f"{c}/{kind}")
                for c in raw
                for kind, pattern in _JSON_FLAGS.items()
            )
        ).row(0, named=True)
        if rows.height
        else {}
    )
    width = pl.col("_width")
    parts = [pl.lit("[")]
    for i, name in enumerate(raw):
        text = _json_string(
            pl.col(name), flags.get(f"{name}/escape", False), flags.get(f"{name}/control", False)
        )
        if i:
            text = pl.concat_str([pl.lit(", "), text])
        parts.append(pl.when(width > i).then(text))
    parts.append(pl.lit("]"))
    return rows.with_columns(pl.concat_str(parts, ignore_nulls=True).alias("_original"))


def _json_string(cell: pl.Expr, escape: bool, control: bool) -> pl.Expr:
    """One cell as a JSON string (``null`` when missing), as json.dumps writes it.

    ``escape``: the column holds a backslash, quote, newline, carriage return or
    tab; ``control``: it holds another control character (then json.dumps
    itself writes each cell: rare and slow).
    """
    if control:
        text = cell.map_elements(
            lambda v: json.dumps(v, ensure_ascii=False), return_dtype=pl.String, skip_nulls=True
        )
    else:
        if escape:
            cell = (
                cell.str.replace_all("\\", "\\\\", literal=True)
                .str.replace_all('"', '\\"', literal=True)
                .str.replace_all("\n", "\\n", literal=True)
                .str.replace_all("\r", "\\r", literal=True)
                .str.replace_all("\t", "\\t", literal=True)
            )
        text = pl.concat_str([pl.lit('"'), cell, pl.lit('"')])
    return pl.when(cell.is_null()).then(pl.lit("null")).otherwise(text)


def _literal_regex(text: str) -> str:
    """A Rust regex matching ``text`` literally."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)
