"""What one parsed file holds (``ParsedFile``): the result type of pipelines.ingest.parse,
filled in by its steps (header block, data rows, week sheets, report row, units)."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.findings import ERROR


@dataclass
class ParsedFile:
    """What one file holds.

    form: "A"|"B"|"C"|"D", None when no form was recognised (then `problems` holds one
    file-level finding). level: 村/乡镇/县 of the form.
    unit_code: from the rows when they carry it (A: household ids' first 12 digits, C:
    the village codes' common 9-digit prefix, D: the township codes' 6-digit prefix),
    else from the header block (B); unit_code_source says which, unit_codes has every
    source found ({"header": ..., "rows": ...}); a disagreement is a unit_code.mismatch
    finding. week: "2026-W47" from 填报周次 (week_source "header"), a title/line of
    text (week_source "title") or the name of the sheet read (week_source "sheet"); a
    week written without its year takes the folder's (``folder_week``); None when the
    content names no week.
    header: unit_name, unit_code, week, filled_by, reviewed_by, signed_by, filled_date
    (datetime.date or None), raw ({label: text as written}), lines (all header/footer
    texts). tables/raw/totals/totals_raw: keyed "plan"/"measures"/"helpers" (A) or
    "report" (B/C/D); raw frames share the index of their table and hold the cell text
    as submitted ('' for empty). totals: the 合计 row(s) of C/D (and of any table that
    has one). sheets: table -> sheet name; column_headers: table -> {canonical name:
    header as written in the file}. held: table -> the rows (Columns) of a ledger sheet
    found but not read for a missing column, staged held back without checks.

    The tables are kept as columns (``parts``, ``total_parts``: table -> Columns) and
    made into frames when first read: a task joins many files' columns into one frame
    per table (``join_columns``) without making a frame per file first.
    """

    name: str = ""
    form: str | None = None
    level: str = ""
    unit_code: str = ""
    unit_code_source: str = ""                 # "rows" | "header" | ""
    unit_codes: dict = field(default_factory=dict)  # source -> code found there
    unit_name: str = ""
    week: str | None = None
    week_source: str = ""                      # "header" | "title" | "sheet" | ""
    folder_week: str | None = None             # the week of the folder the file was found in
    header: dict = field(default_factory=dict)
    file_format: str = ""
    encoding: str = ""
    parts: dict = field(default_factory=dict)        # table -> Columns (data rows)
    total_parts: dict = field(default_factory=dict)  # table -> Columns (合计 rows)
    sheets: dict = field(default_factory=dict)  # table -> sheet name
    held: dict = field(default_factory=dict)    # table -> Columns of a sheet not read (a missing column)
    column_headers: dict = field(default_factory=dict)  # table -> {canonical: header as written}
    problems: list = field(default_factory=list)
    _keys: dict = field(default_factory=dict, repr=False)  # table -> key column values
    _frames: dict = field(default_factory=dict, repr=False)  # what the properties below made

    @property
    def has_errors(self) -> bool:
        return any(p["severity"] == ERROR for p in self.problems)

    def _made(self, what: str) -> dict:
        if what not in self._frames:
            source = self.parts if what in ("tables", "raw") else self.total_parts
            raw = what in ("raw", "totals_raw")
            self._frames[what] = {t: c.raw_frame() if raw else c.frame() for t, c in source.items()}
        return self._frames[what]

    tables = property(lambda self: self._made("tables"))
    raw = property(lambda self: self._made("raw"))
    totals = property(lambda self: self._made("totals"))
    totals_raw = property(lambda self: self._made("totals_raw"))
