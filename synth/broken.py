"""Broken files in a synthetic delivery: what ingest must survive without losing the batch.

With ``generate(..., broken_files=True)`` every batch also gets, each in a
province chosen from the seed:

- ``empty_file``: a zero-byte ``.csv``;
- ``blank_file``: a ``.txt`` holding only blank lines;
- ``header_only``: a ``.csv`` with a header row and no data rows;
- ``truncated_xlsx``: the first half of one of the batch's workbooks;
- ``random_bytes``: random bytes named ``.csv``;

and three of the batch's own delimited files are altered in place, keeping
every row (and so the truth of every row):

- ``ragged_rows``: some data rows lose their trailing empty cells, others gain
  an extra cell;
- ``duplicate_header``: the last header cell repeats an earlier column's label;
- ``mixed_encoding``: a UTF-8 file of a province with several files is
  re-encoded as VNI, so that province's files mix encodings.

Each is a row of ``truth/files.csv`` with its kind in the ``broken`` column
(added files have no rows in ``truth/records.csv``).
"""

from __future__ import annotations

import csv
import io
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from domain.legacy_encoding import encode_text

#: Kinds of broken files written next to the batch's files.
ADDED_KINDS = ("empty_file", "blank_file", "header_only", "truncated_xlsx", "random_bytes")
#: Kinds of alteration made to the batch's own delimited files.
ALTERED_KINDS = ("ragged_rows", "duplicate_header", "mixed_encoding")
_PY_CODECS = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf-16": "utf-16", "ascii": "ascii"}


def add_broken_files(
    inbox: Path, batches: list[str], files: list[dict[str, Any]], rng: np.random.Generator
) -> None:
    """Write and record the broken files of every batch (``files`` is updated in place).

    Args:
        inbox: The generated inbox.
        batches: Batch ids.
        files: The rows of ``truth/files.csv`` written so far.
        rng: Seeded generator.
    """
    for batch in batches:
        mine = [f for f in files if f["batch_id"] == batch]
        provinces = sorted({str(f["province_code"]) for f in mine})
        for kind in ADDED_KINDS:
            code = provinces[int(rng.integers(len(provinces)))]
            entry = _add(inbox / batch, code, kind, mine, rng)
            if entry is not None:
                files.append({**_blank_entry(batch, code), **entry, "broken": kind})
        used: set[str] = set()
        for kind in ALTERED_KINDS:
            target = _pick_delimited(mine, kind, used, rng)
            if target is None:
                continue
            used.add(str(target["source_file"]))
            _alter(inbox / batch / str(target["source_file"]), target, kind)
            target["broken"] = kind


def _blank_entry(batch: str, code: str) -> dict[str, Any]:
    return {
        "batch_id": batch,
        "province_code": code,
        "source_sheet": "",
        "encoding": "",
        "system": "",
        "delimiter": "",
        "header_row": 0,
        "rows": 0,
        "person_rows": 0,
        "sheet_kind": "",
    }


def _add(
    batch_dir: Path, code: str, kind: str, files: list[dict[str, Any]], rng: np.random.Generator
) -> dict[str, Any] | None:
    folder = batch_dir / code
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "empty_file":
        name, fmt, data = "broken_empty.csv", "csv", b""
    elif kind == "blank_file":
        name, fmt, data = "broken_blank.txt", "csv", b"\r\n  \r\n\r\n"
    elif kind == "header_only":
        header = "Mã NK,Họ và tên,Ngày sinh,Giới tính\r\n"
        name, fmt, data = "broken_header_only.csv", "csv", header.encode("utf-8")
    elif kind == "random_bytes":
        name, fmt, data = "broken_random.csv", "csv", rng.bytes(4096)
    else:
        workbooks = sorted({str(f["source_file"]) for f in files if f["format"] == "xlsx"})
        if not workbooks:
            return None
        whole = (batch_dir / workbooks[int(rng.integers(len(workbooks)))]).read_bytes()
        name, fmt, data = "broken_truncated.xlsx", "xlsx", whole[: len(whole) // 2]
    (folder / name).write_bytes(data)
    return {"source_file": f"{code}/{name}", "format": fmt}


def _pick_delimited(
    files: list[dict[str, Any]], kind: str, used: set[str], rng: np.random.Generator
) -> dict[str, Any] | None:
    """A delimited file (one sheet entry) fit for the alteration, chosen from the seed."""
    per_province: dict[str, int] = {}
    for f in files:
        per_province[str(f["province_code"])] = per_province.get(str(f["province_code"]), 0) + 1
    fit = [
        f
        for f in files
        if f["format"] == "csv"
        and not f.get("broken")
        and str(f["source_file"]) not in used
        and int(f["header_row"]) > 0
        and (
            f["encoding"] in ("utf-8", "utf-8-sig")
            if kind == "mixed_encoding"
            else f["encoding"] in _PY_CODECS
        )
        and (kind != "mixed_encoding" or per_province[str(f["province_code"])] > 1)
    ]
    return fit[int(rng.integers(len(fit)))] if fit else None


def _alter(path: Path, entry: dict[str, Any], kind: str) -> None:
    """Alter a generated delimited file in place, keeping its physical rows."""

    encoding, delimiter = str(entry["encoding"]), str(entry["delimiter"])
    text = path.read_bytes().decode(_PY_CODECS[encoding])
    newline = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = int(entry["header_row"]) - 1
    if kind == "ragged_rows":
        for i in range(header + 1, len(rows)):
            row = rows[i]
            if i % 5 == 1 and row and not row[-1]:
                while row and not row[-1]:
                    row.pop()
            elif i % 5 == 3 and any(row):
                row.append("ghi chú thêm")
    elif kind == "duplicate_header":
        names = [c for c in rows[header] if c.strip()]
        rows[header][-1] = names[min(1, len(names) - 1)]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    if kind == "mixed_encoding":
        nfc = unicodedata.normalize("NFC", out.getvalue())
        try:
            data, entry["encoding"] = encode_text(nfc, "vni"), "vni"
        except UnicodeEncodeError:
            data, entry["encoding"] = encode_text(nfc, "utf-16"), "utf-16"
    else:
        data = encode_text(out.getvalue(), "utf-8-sig" if encoding == "utf-8-sig" else encoding)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    shutil.move(tmp, path)
