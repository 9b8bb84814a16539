"""Parse one submitted file into typed tables: `parse_file(data, name) -> ParsedFile`.

The form (A/B/C/D), the unit and the week come from the content: the header rows are
found by matching cells against the headers of pipelines.forms (with synonyms), two-row
merged headers are joined (期初 + 贫困户数 -> 期初贫困户数), the header block (填报单位,
行政区划代码, 填报周次, 填表人, 审核人, 填报日期) is read from the lines above and below the
table, and title rows, units lines, blank rows, 合计 rows and footers are kept out of
the data. parse_file never raises: a file it cannot read comes back with form None
(or empty tables) and one file-level finding.

Typed columns: see pipelines.ingest.values (strings are pandas StringDtype, ints Int64,
floats Float64, dates datetime64[ns], yes/no 是/否). Every table frame also carries
source_sheet (str; '' for csv) and source_row (int64, the row number the user sees when the
file is opened in Excel/WPS; for csv the record number = the line number unless a quoted
cell holds a line break).
"""
from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.findings import ERROR, WARNING, finding
from pipelines.ingest import values as V
from pipelines.ingest.readers import NOT_CAUGHT, Book, ReadError, Sheet, read_book

# ---- header vocabulary ---------------------------------------------------------------

TABLE_KEYS = list(forms.TABLES)          # [("A","plan"), ...]
_STRIP_MARKS = str.maketrans("", "", "*＊※★")


def norm(text: object) -> str:
    """normalize_header plus removal of 'required' markers like * or ※."""
    if type(text) is str:
        return _norm_str(text)
    return forms.normalize_header(text).translate(_STRIP_MARKS)


@functools.lru_cache(maxsize=8192)
def _norm_str(text: str) -> str:
    # headers repeat across thousands of files: cache them
    k = forms.normalize_header(text).translate(_STRIP_MARKS)
    # a count unit in brackets says nothing the header does not: 期初贫困户数（户）
    # (money units 元/万元 are kept: they change what the number means)
    return _COUNT_UNIT_RE.sub("", k) or k


_COUNT_UNIT_RE = re.compile(r"\((?:户|人|个|次|人次|期|名|村|户数|人数)\)$")


_BRACKET_RE = re.compile(r"\([^()]*\)$")


def _build_lookup(columns) -> dict[str, str]:
    look = {forms.normalize_header(k): v for k, v in forms.header_lookup(columns).items()}
    # A header written without its unit bracket (本周发放扶贫小额信贷 for
    # 本周发放扶贫小额信贷(万元)) still names the column, when unambiguous.
    extra: dict[str, set[str]] = {}
    for key, name in look.items():
        base = _BRACKET_RE.sub("", key)
        if base and base != key and base not in look:
            extra.setdefault(base, set()).add(name)
    for base, names in extra.items():
        if len(names) == 1:
            look[base] = next(iter(names))
    return look


LOOKUPS = {key: _build_lookup(cols) for key, cols in forms.TABLES.items()}
SPECS = {key: {c.name: c for c in cols} for key, cols in forms.TABLES.items()}
ALL_HEADER_KEYS = frozenset(k for look in LOOKUPS.values() for k in look)
IGNORED_HEADERS = frozenset({"序号", "编号", "备注", "说明", "No.", "NO.", "no."})

# Numeric columns where an empty cell or "—" means zero. Elsewhere (household size,
# years, per-capita income) an empty cell stays NA for validation to report.
NO_ZERO_FILL = frozenset({"household_size", "identified_year", "planned_exit_year",
                          "income_per_capita_yuan"})

# Columns that identify a row (record_key).
KEY_COLUMNS = ("household_id", "village_code", "township_code")

TABLE_DIMENSION = {"plan": "household", "measures": "measures", "helpers": "measures",
                   "report": "ledger"}

_LABELS = {
    "填报单位": "unit_name", "单位名称": "unit_name",
    "行政区划代码": "unit_code", "区划代码": "unit_code", "单位代码": "unit_code", "代码": "unit_code",
    "填报周次": "week", "周次": "week",
    "填报日期": "filled_date", "填表日期": "filled_date", "报送日期": "filled_date",
    "填表人": "filled_by", "填报人": "filled_by", "制表人": "filled_by",
    "审核人": "reviewed_by",
    "专职副书记": "signed_by", "专职常委": "signed_by",
}
for _k, _v in forms.HEADER_FIELDS.items():
    _LABELS.setdefault(_k, _v)
_LABEL_RE = re.compile(
    "(" + "|".join(sorted(map(re.escape, _LABELS), key=len, reverse=True)) + r")\s*[:：]")
_FOOTER_RE = re.compile(
    r"^\s*(填表人|填报人|制表人|审核人|审核|专职副书记|专职常委|填报日期|填表日期|报送日期|"
    r"单位负责人|负责人|主管领导|分管领导|联系人|备注|说明|注)\s*[:：]")
_UNITS_RE = re.compile(r"^\s*(计量)?单位\s*[:：]")
_CODE_IN_BRACKETS = re.compile(r"[（(]\s*(\d{6,12})\s*[）)]")
_DIGITS_RE = re.compile(r"\d{6,12}")
TOTAL_WORDS = frozenset({"合计", "总计", "合计数", "全村合计", "全镇合计", "全乡合计", "全县合计"})

HEADER_SCAN_ROWS = 40
CODE_LENGTH = {"A": 12, "B": 12, "C": 9, "D": 6}


# ---- result --------------------------------------------------------------------------

@dataclass
class ParsedFile:
    """What one file holds.

    form: "A"|"B"|"C"|"D", None when no form was recognised (then `problems` holds one
    file-level finding). level: 村/乡镇/县 of the form.
    unit_code: from the rows when they carry it (A: household ids' first 12 digits, C:
    the village codes' common 9-digit prefix, D: the township codes' 6-digit prefix),
    else from the header block (B); unit_code_source says which, unit_codes has every
    source found ({"header": ..., "rows": ...}); a disagreement is a unit_code.mismatch
    finding. week: "2026-W47" from 填报周次 (week_source "header") or a title/line of
    text (week_source "title"); None when the content names no week.
    header: unit_name, unit_code, week, filled_by, reviewed_by, signed_by, filled_date
    (datetime.date or None), raw ({label: text as written}), lines (all header/footer
    texts). tables/raw/totals/totals_raw: keyed "plan"/"measures"/"helpers" (A) or
    "report" (B/C/D); raw frames share the index of their table and hold the cell text
    as submitted ('' for empty). totals: the 合计 row(s) of C/D (and of any table that
    has one). sheets: table -> sheet name; column_headers: table -> {canonical name:
    header as written in the file}.

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
    week_source: str = ""                      # "header" | "title" | ""
    header: dict = field(default_factory=dict)
    file_format: str = ""
    encoding: str = ""
    parts: dict = field(default_factory=dict)        # table -> Columns (data rows)
    total_parts: dict = field(default_factory=dict)  # table -> Columns (合计 rows)
    sheets: dict = field(default_factory=dict)  # table -> sheet name
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


class Columns:
    """One table's rows of one file: typed column arrays (name -> array, in the frame's
    column order) and the cells' texts (one list per column of the form's spec)."""

    __slots__ = ("key", "typed", "raw", "n")

    def __init__(self, key: tuple, typed: dict, raw: list[list], n: int):
        self.key, self.typed, self.raw, self.n = key, typed, raw, n

    def frame(self) -> pd.DataFrame:
        return make_frame(self.key, self.typed, self.n)

    def raw_frame(self) -> pd.DataFrame:
        return make_raw_frame(self.key, self.raw, self.n)


def _join_arrays(arrays: list):
    """One array of ``arrays`` end to end, when they are all of one kind and dtype; else None."""
    first = arrays[0]
    tp, dtype = type(first), first.dtype
    if any(type(a) is not tp or a.dtype != dtype for a in arrays):
        return None
    if tp is np.ndarray:
        return np.concatenate(arrays)
    return tp._concat_same_type(arrays)


def join_columns(parts: list[Columns]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(typed frame, raw frame) of the rows of ``parts`` (one table of many files), in
    order: what ``pd.concat`` of their frames gives, joined column by column."""
    key = parts[0].key
    n = sum(p.n for p in parts)
    typed = {}
    for name in _COLUMN_NAMES[key]:
        arr = _join_arrays([p.typed[name] for p in parts])
        if arr is None:  # mixed kinds (not made by _convert): pandas aligns them
            return (pd.concat([p.frame() for p in parts], ignore_index=True),
                    pd.concat([p.raw_frame() for p in parts], ignore_index=True))
        typed[name] = arr
    raw = [list(chain.from_iterable(p.raw[j] for p in parts)) for j in range(len(parts[0].raw))]
    return make_frame(key, typed, n), make_raw_frame(key, raw, n)


def empty_columns(form: str, table: str) -> Columns:
    """A table with no rows."""
    cols = forms.TABLES[(form, table)]
    data = {c.name: _na_array(c.dtype, 0) for c in cols}
    data["source_sheet"] = V.string_array(np.empty(0, dtype=object))
    data["source_row"] = np.empty(0, dtype="int64")
    return Columns((form, table), data, [[] for _ in cols], 0)


def empty_table(form: str, table: str) -> pd.DataFrame:
    """A typed table frame with no rows."""
    return empty_columns(form, table).frame()


def empty_raw(form: str, table: str) -> pd.DataFrame:
    return empty_columns(form, table).raw_frame()


_COLUMN_INDEX = {key: pd.Index([c.name for c in cols] + ["source_sheet", "source_row"])
                 for key, cols in forms.TABLES.items()}
_RAW_INDEX = {key: pd.Index([c.name for c in cols]) for key, cols in forms.TABLES.items()}
_COLUMN_NAMES = {key: tuple(idx.tolist()) for key, idx in _COLUMN_INDEX.items()}


def make_frame(key: tuple, data: dict, n: int) -> pd.DataFrame:
    """DataFrame from ready-made typed arrays (the fast constructor; they are trusted)."""
    columns = _COLUMN_INDEX[key]
    arrays = [data[c] for c in _COLUMN_NAMES[key]]
    if _pdi is not None:
        frame = _frame_from_arrays(arrays, columns, n)
        if frame is not None:
            return frame
    try:
        return pd.DataFrame._from_arrays(arrays, columns=columns, index=pd.RangeIndex(n),
                                         verify_integrity=False)
    except (AttributeError, TypeError):  # pragma: no cover - private API moved
        return pd.DataFrame(dict(zip(columns, arrays)))


def make_raw_frame(key: tuple, cols: list[list], n: int) -> pd.DataFrame:
    """The raw text frame: object dtype, one block."""
    if n and _pdi is not None:
        # what DataFrame(block.T, dtype=object, copy=False) builds, without its inference
        # and checks: one object block (columns x rows) over the given texts
        values = np.array(cols, dtype=object)
        columns = _RAW_INDEX[key]
        if values.shape == (len(columns), n):
            blk = _pdi.new_block_2d(values, _pdi.BlockPlacement(slice(len(columns))))
            mgr = _pdi.BlockManager((blk,), [columns, pd.RangeIndex(n)], verify_integrity=False)
            return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)
    if n:
        block = np.array(cols, dtype=object).T
    else:
        block = np.empty((0, len(cols)), dtype=object)
    return pd.DataFrame(block, columns=_RAW_INDEX[key], dtype=object, copy=False)


try:
    class _PandasInternals:
        """The pandas internals make_frame / make_raw_frame build blocks with (None
        when they moved: then the public constructors are used)."""

        from pandas._libs.internals import BlockPlacement
        from pandas.core.construction import ensure_wrapped_if_datetimelike
        from pandas.core.dtypes.common import is_1d_only_ea_dtype
        from pandas.core.internals.blocks import get_block_type, new_block_2d
        from pandas.core.internals.managers import BlockManager, _stack_arrays

    _pdi = _PandasInternals
    _PLACEMENTS = [_pdi.BlockPlacement(i) for i in range(256)]
except Exception:  # noqa: BLE001 - pragma: no cover
    _pdi = None


def _frame_from_arrays(arrays: list, columns: pd.Index, n: int) -> pd.DataFrame | None:
    """DataFrame._from_arrays(arrays, columns, RangeIndex(n), verify_integrity=False),
    the same blocks in the same order (pandas' _form_blocks: numpy arrays stacked per
    dtype, one block per extension array, grouped by dtype in order of first appearance),
    built without the per-call overhead. None when the arrays are not the plain kinds
    this handles (the caller then uses pandas' own constructor)."""
    pdi = _pdi
    if len(arrays) != len(columns) or len(arrays) > len(_PLACEMENTS):
        return None
    groups: dict = {}
    for i, arr in enumerate(arrays):
        tp = type(arr)
        if tp is np.ndarray:
            if arr.ndim != 1 or len(arr) != n or arr.dtype.kind not in "iufbM":
                return None
            k = arr.dtype
        elif tp in _EA_TYPES:
            if len(arr) != n:
                return None
            k = id(arr.dtype)
        else:
            return None
        g = groups.get(k)
        if g is None:
            groups[k] = [(i, arr)]
        else:
            g.append((i, arr))
    blocks = []
    for g in groups.values():
        dtype = g[0][1].dtype
        block_type = pdi.get_block_type(dtype)
        if isinstance(dtype, np.dtype):
            values, placement = pdi._stack_arrays(g, dtype)
            if dtype.kind in "mM":
                values = pdi.ensure_wrapped_if_datetimelike(values)
            blocks.append(block_type(values, placement=pdi.BlockPlacement(placement), ndim=2))
        elif pdi.is_1d_only_ea_dtype(dtype):
            blocks.extend(block_type(a, placement=_PLACEMENTS[i], ndim=2) for i, a in g)
        else:
            return None
    mgr = pdi.BlockManager(tuple(blocks), [columns, pd.RangeIndex(n)], verify_integrity=False)
    mgr._consolidate_inplace()
    return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)


_EA_TYPES = (pd.arrays.StringArray, pd.arrays.IntegerArray, pd.arrays.FloatingArray)


def _na_array(dtype: str, n: int):
    if dtype == "int":
        return pd.arrays.IntegerArray(np.zeros(n, "int64"), np.ones(n, bool))
    if dtype == "float":
        return pd.arrays.FloatingArray(np.zeros(n, "float64"), np.ones(n, bool))
    if dtype == "date":
        return np.full(n, np.datetime64("NaT"), dtype=V.DATE_DTYPE)
    arr = np.empty(n, dtype=object)
    arr[:] = pd.NA
    return V.string_array(arr)


# ---- layout of one sheet -------------------------------------------------------------

@dataclass
class Layout:
    sheet: Sheet
    header_row: int                 # 0-based index of the (first) header row
    n_header_rows: int              # 1 or 2
    names: list[list[str]]          # per column: candidate normalised names
    written: list[str]              # per column: header as written (whitespace removed)
    table: tuple | None = None      # best (form, table)
    mapping: dict = field(default_factory=dict)  # canonical -> column index
    score: tuple = (0.0, 0, 0)
    unknown: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)


def _row_keys(row: list) -> list[str]:
    # header rows repeat across thousands of files (the same templates): cache them.
    # Only str cells give keys, so rows equal as tuples (1 == 1.0 == True) agree.
    try:
        key = tuple(row)
        hit = _ROW_KEYS_CACHE.get(key)
    except TypeError:  # pragma: no cover - an unhashable cell
        return [norm(v) if type(v) is str and v else "" for v in row]
    if hit is None:
        if len(_ROW_KEYS_CACHE) >= _CACHE_MAX:
            _ROW_KEYS_CACHE.clear()
        hit = _ROW_KEYS_CACHE[key] = tuple(norm(v) if type(v) is str and v else "" for v in row)
    return list(hit)


_CACHE_MAX = 20_000
_ROW_KEYS_CACHE: dict[tuple, tuple] = {}


def _count(keys: list[str]) -> int:
    return sum(1 for k in keys if k in ALL_HEADER_KEYS)


def _written(v: object) -> str:
    return "".join(V.cell_text(v).split())


def find_layout(sheet: Sheet) -> Layout | None:
    """Locate the header row(s) of a sheet; None when no known header is found."""
    rows = sheet.rows
    limit = min(len(rows), HEADER_SCAN_ROWS)
    best_i, best_n, best_keys = -1, 0, None
    for i in range(limit):
        row = rows[i]
        # cheap pre-check: a header row has several text cells
        if sum(1 for v in row if type(v) is str and v) < 2:
            continue
        keys = _row_keys(row)
        n = _count(keys)
        if n >= 3 and n > best_n:
            best_i, best_n, best_keys = i, n, keys
            # a later row only wins with clearly more matches; stop at the first
            # convincing header (the data follows)
            if n >= 5:
                break
    if best_i < 0:
        # try with two matches (tiny tables)
        for i in range(limit):
            keys = _row_keys(rows[i])
            if _count(keys) >= 2:
                best_i, best_n, best_keys = i, _count(keys), keys
                break
    if best_i < 0:
        return None
    parent = best_keys
    width = len(parent)
    parent_written = [_written(v) if type(v) is str else "" for v in rows[best_i]]
    single = [[k] if k else [] for k in parent]
    layout = Layout(sheet, best_i, 1, single, parent_written)
    if best_i + 1 < len(rows):
        child_row = rows[best_i + 1]
        numeric = any(type(v) in (float, int) for v in child_row)
        child = [] if numeric else _row_keys(child_row)
        if any(child):
            ff, last, ff_w, last_w = [], "", [], ""
            for k, w in zip(parent, parent_written):
                if k:
                    last, last_w = k, w
                ff.append(last)
                ff_w.append(last_w)
            names, written = [], []
            for j in range(width):
                c = child[j] if j < len(child) else ""
                if c:
                    cw = _written(child_row[j])
                    names.append([ff[j] + c, c] + ([parent[j]] if parent[j] else []))
                    written.append(ff_w[j] + cw)
                else:
                    names.append(single[j])
                    written.append(parent_written[j])
            joined = sum(1 for cand in names if any(x in ALL_HEADER_KEYS for x in cand))
            plain = sum(1 for k in parent if k in ALL_HEADER_KEYS)
            if joined > plain:
                layout = Layout(sheet, best_i, 2, names, written)
    return layout


def _map_table(layout: Layout, key: tuple) -> tuple[dict, list, list]:
    look = LOOKUPS[key]
    mapping: dict[str, int] = {}
    unknown, dups = [], []
    for j, cands in enumerate(layout.names):
        if not cands:
            continue
        name = None
        for c in cands:
            name = look.get(c)
            if name:
                break
        if name is None:
            if cands[0] not in IGNORED_HEADERS and cands[-1] not in IGNORED_HEADERS:
                unknown.append(layout.written[j])
        elif name in mapping:
            dups.append(layout.written[j])
        else:
            mapping[name] = j
    return mapping, unknown, dups


# header key -> [(table key, canonical name)], to shortlist the tables a sheet can be
_KEY_INDEX: dict[str, list[tuple[tuple, str]]] = {}
for _key, _look in LOOKUPS.items():
    for _h, _name in _look.items():
        _KEY_INDEX.setdefault(_h, []).append((_key, _name))
REQUIRED = {key: frozenset(c.name for c in cols if c.required) for key, cols in forms.TABLES.items()}


def _shortlist(layout: Layout) -> list[tuple]:
    """Tables whose required columns could reach the 50 % bar with these headers."""
    hits: dict[tuple, set] = {}
    for cands in layout.names:
        for c in cands:
            for key, name in _KEY_INDEX.get(c, ()):
                hits.setdefault(key, set()).add(name)
    return [key for key in TABLE_KEYS
            if key in hits and len(hits[key] & REQUIRED[key]) * 2 >= len(REQUIRED[key])]


def classify(layout: Layout) -> None:
    """Pick the table spec the sheet's headers match best."""
    # the same headers recur across files: the choice depends only on names and written
    key = (tuple(map(tuple, layout.names)), tuple(layout.written))
    hit = _CLASSIFY_CACHE.get(key)
    if hit is None:
        if len(_CLASSIFY_CACHE) >= _CACHE_MAX:
            _CLASSIFY_CACHE.clear()
        probe = Layout(layout.sheet, layout.header_row, layout.n_header_rows,
                       layout.names, layout.written)
        _classify(probe)
        hit = _CLASSIFY_CACHE[key] = (probe.table, probe.mapping, probe.score,
                                      probe.unknown, probe.duplicates)
    table, mapping, score, unknown, dups = hit
    if table is not None:
        layout.table, layout.mapping, layout.score = table, dict(mapping), score
        layout.unknown, layout.duplicates = list(unknown), list(dups)


_CLASSIFY_CACHE: dict[tuple, tuple] = {}


def _classify(layout: Layout) -> None:
    best = None
    for key in _shortlist(layout):
        mapping, unknown, dups = _map_table(layout, key)
        req = REQUIRED[key]
        got = sum(1 for n in req if n in mapping)
        ratio = got / len(req)
        score = (ratio, -len(unknown), len(mapping))
        if best is None or score > best[0]:
            best = (score, key, mapping, unknown, dups)
    if best is None:
        return
    score, key, mapping, unknown, dups = best
    req_got = sum(1 for c in forms.TABLES[key] if c.required and c.name in mapping)
    if score[0] >= 0.5 and req_got >= 2:
        layout.table, layout.mapping, layout.score = key, mapping, score
        layout.unknown, layout.duplicates = unknown, dups


# ---- header block --------------------------------------------------------------------

def _scan_header_lines(rows: list[list], header: dict) -> list[str]:
    """Read label：value pairs from header/footer rows into `header` (first wins)."""
    texts = []
    for row in rows:
        cells = [(j, v) for j, v in enumerate(row) if v != "" and v is not None]
        for pos, (j, v) in enumerate(cells):
            if type(v) is not str:
                continue
            s = v.strip()
            if not s:
                continue
            texts.append(s)
            matches = list(_LABEL_RE.finditer(s))
            if not matches:
                bare = "".join(s.split())
                if bare in _LABELS and pos + 1 < len(cells):
                    # a label in its own cell without a colon, the value in the next cell
                    nxt = cells[pos + 1][1]
                    if not (type(nxt) is str and ("".join(nxt.split()) in _LABELS
                                                  or _LABEL_RE.match(nxt.strip()))):
                        header.setdefault("raw", {}).setdefault(bare, V.cell_text(nxt).strip())
                        if header.get(_LABELS[bare]) in (None, ""):
                            header[_LABELS[bare]] = nxt
                continue
            for mi, m in enumerate(matches):
                end = matches[mi + 1].start() if mi + 1 < len(matches) else len(s)
                val: object = s[m.end():end].strip()
                if val == "" and mi + 1 == len(matches) and pos + 1 < len(cells):
                    nxt = cells[pos + 1][1]
                    if not (type(nxt) is str and _LABEL_RE.match(nxt.strip())):
                        val = nxt
                field_ = _LABELS[m.group(1)]
                header.setdefault("raw", {}).setdefault(m.group(1), V.cell_text(val).strip())
                if field_ not in header or header[field_] in ("", None):
                    header[field_] = val
    return texts


def _interpret_header(pf: ParsedFile, header: dict, texts: list[str]) -> None:
    out = {"filled_by": "", "reviewed_by": "", "signed_by": "", "filled_date": None,
           "unit_name": "", "unit_code": "", "week": "", "raw": header.get("raw", {}),
           "lines": texts}
    for k in ("filled_by", "reviewed_by", "signed_by"):
        out[k] = V.clean_text(header.get(k, ""))
    if header.get("filled_date") not in (None, ""):
        d, _ = V.parse_date(header["filled_date"])
        out["filled_date"] = d
    name = V.clean_text(header.get("unit_name", ""))
    code = ""
    m = _CODE_IN_BRACKETS.search(V.halfwidth(name))
    if m:
        code = m.group(1)
        name = V.halfwidth(name)[:m.start()].strip()
    out["unit_name"] = name
    raw_code = header.get("unit_code")
    if raw_code not in (None, ""):
        c, status = V.parse_code(raw_code)
        if c:
            mm = _DIGITS_RE.search(c)
            code = mm.group(0) if mm else code
    out["unit_code"] = code
    week_text = V.cell_text(header.get("week", ""))
    week = V.find_week(week_text)
    src = "header" if week else ""
    if not week:
        for t in texts:
            week = V.find_week(t)
            if week:
                src = "title"
                break
    out["week"] = week or ""
    pf.header = out
    pf.unit_name = name
    pf.week, pf.week_source = week, src
    if code:
        pf.unit_codes["header"] = code


# ---- data block ----------------------------------------------------------------------

_UNIT_CELL_RE = re.compile(r"^[（(]?\s*(户|人|万元|元|个|次|人次|期|名|岁|年|%)\s*[)）]?$")


def _is_decoration_row(row) -> bool:
    """A row right under the header that numbers the columns (1, 2, 3 ...) or names
    their units ((户) (人) (万元)); not data."""
    vals = [v for v in row if v != "" and v is not None]
    if vals and all(type(v) is str and _UNIT_CELL_RE.match(v.strip()) for v in vals):
        return True
    return _is_numbering_row(vals)


def _is_numbering_row(row) -> bool:
    vals = [v for v in row if v != "" and v is not None]
    if len(vals) < 3:
        return False
    try:
        nums = [int(float(v)) if type(v) is not str else int(v.strip()) for v in vals]
    except (TypeError, ValueError):
        return False
    return nums == list(range(nums[0], nums[0] + len(nums))) and nums[0] in (0, 1)


def _split_rows(layout: Layout) -> tuple[list[int], list[int], list[int]]:
    """(data row indices, total row indices, header/footer row indices)."""
    rows = layout.sheet.rows
    cols = sorted(layout.mapping.values())
    ncols = len(cols)
    pick = operator.itemgetter(*cols) if ncols > 1 else (lambda r: (r[cols[0]],))
    # 合计 is written in the code or the name column (the first text columns)
    text_cols = sorted(layout.mapping[c.name] for c in forms.TABLES[layout.table]
                       if c.name in layout.mapping and c.dtype in ("code", "str"))[:2]
    start = layout.header_row + layout.n_header_rows
    data, totals, extra = [], [], []
    first = True
    for i in range(start, len(rows)):
        row = rows[i]
        try:
            cells = pick(row)
        except IndexError:   # a ragged row (csv): pad it
            row = rows[i] = row + [""] * (max(cols) + 1 - len(row))
            cells = pick(row)
        if cells.count("") + cells.count(None) == ncols:
            if row.count("") + row.count(None) != len(row):
                extra.append(i)   # text outside the table, e.g. a note or a label
            continue
        first_text = ""
        for v in row:
            if v != "" and v is not None:
                if type(v) is str:
                    first_text = v
                break
        if ":" in first_text or "：" in first_text:
            if _FOOTER_RE.match(first_text):
                extra.extend(range(i, len(rows)))
                break
            if _UNITS_RE.match(first_text):
                extra.append(i)
                continue
        if first:
            first = False
            if _is_decoration_row(cells):
                continue
        is_total = False
        if "计" in first_text:
            k = norm(first_text)
            is_total = k in TOTAL_WORDS or (k.endswith("合计") and len(k) <= 6)
        for j in text_cols if not is_total else ():
            v = row[j]
            if type(v) is str and "计" in v:
                k = norm(v)
                if k in TOTAL_WORDS or (k.endswith("合计") and len(k) <= 6):
                    is_total = True
                    break
        (totals if is_total else data).append(i)
    return data, totals, extra


def _convert(pf: ParsedFile, layout: Layout, idx: list[int], table: str, is_total: bool) -> Columns:
    """The rows `idx` of a sheet as typed columns and texts; their bad cells' findings."""
    form, _ = layout.table
    spec = forms.TABLES[layout.table]
    sheet = layout.sheet
    rows = sheet.rows
    n = len(idx)
    # The row as Excel/WPS shows it. For csv this is the record number, which is the
    # line number unless a quoted cell holds a line break (Sheet.line_numbers has those).
    src_rows = np.array(idx, dtype="int64") + 1
    cols_t = list(zip(*[rows[i] for i in idx])) if n else []
    typed: dict = {}
    raw: dict = {}
    bad_cells: list[tuple[str, int, str]] = []
    for c in spec:
        j = layout.mapping.get(c.name)
        if j is None or not n:
            typed[c.name] = _na_array(c.dtype, n)
            raw[c.name] = [""] * n
            continue
        values = list(cols_t[j])
        arr, bad = V.convert_column(values, c.dtype, c.name not in NO_ZERO_FILL)
        typed[c.name] = arr
        raw[c.name] = V.raw_texts(values)
        for pos, kind in bad:
            bad_cells.append((c.name, pos, kind))
    typed["source_sheet"] = V.string_array(np.full(n, sheet.name, dtype=object))
    typed["source_row"] = src_rows
    if not is_total:
        key_col = next((k for k in KEY_COLUMNS if k in typed), None)
        if key_col:
            pf._keys[table] = typed[key_col]
    if bad_cells:
        key_col = next((k for k in KEY_COLUMNS if k in typed), None)
        for name, pos, kind in bad_cells:
            record_key = "合计" if is_total else ""
            if key_col and not is_total:
                kv = typed[key_col][pos]
                record_key = raw[key_col][pos].strip() if kv is pd.NA else str(kv)
            pf.problems.append(_value_finding(pf, layout, table, name, int(src_rows[pos]),
                                              raw[name][pos], kind, record_key))
    return Columns(layout.table, typed, [raw[c.name] for c in spec], n)


def _value_finding(pf, layout, table, name, row, value, kind, record_key) -> dict:
    header = pf.column_headers.get(table, {}).get(name) or SPECS[layout.table][name].header
    dim = TABLE_DIMENSION.get(table, "ledger")
    where = f"第{row}行「{header}」"
    if kind == V.SCIENTIFIC:
        what = "身份证号" if name == "id_number" else "编号" if name == "household_id" else "代码"
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule=f"{name}.scientific", severity=ERROR,
                       dimension="identification", record_key=record_key,
                       message=f"{where}为 {value}：Excel 已将{what}转为科学计数法，末位数字丢失，"
                               f"请以文本格式重新填报")
    if kind == V.BAD_DATE:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.not_date", severity=WARNING, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」不是可识别的日期，已按空值处理；"
                               f"请按 2026-11-23 或 2026年11月23日 的格式填写")
    if kind == V.BAD_INTEGER:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.not_integer", severity=ERROR, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」不是整数，该栏应填写整数，请更正后重新报送")
    return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                   value=value, rule="value.not_number", severity=ERROR, dimension=dim,
                   record_key=record_key,
                   message=f"{where}的值「{value}」不是有效数字，请只填写数字"
                           f"（不要带单位或文字，零可填 0 或留空），更正后重新报送")


# ---- unit code -----------------------------------------------------------------------

def _present(pf: ParsedFile, table: str) -> list[str]:
    arr = pf._keys.get(table)
    if arr is None:
        return []
    return [v for v in np.asarray(arr, dtype=object) if type(v) is str]


def _rows_code(pf: ParsedFile) -> str:
    form = pf.form
    if form == "A":
        ids = []
        for t in ("plan", "measures", "helpers"):
            ids.extend(_present(pf, t))
        cands = [s[:12] for s in ids if len(s) == 16 and s.isdigit()]
    elif form == "C":
        vals = _present(pf, "report")
        cands = [s[:9] for s in vals if len(s) == 12 and s.isdigit()]
    elif form == "D":
        vals = _present(pf, "report")
        cands = [s[:6] for s in vals if len(s) == 9 and s.isdigit()]
    else:
        return ""
    if not cands:
        return ""
    return Counter(cands).most_common(1)[0][0]


def _resolve_unit(pf: ParsedFile) -> None:
    want = CODE_LENGTH.get(pf.form or "", 0)
    header_code = pf.unit_codes.get("header", "")
    rows_code = _rows_code(pf)
    if rows_code:
        pf.unit_codes["rows"] = rows_code
    if rows_code:
        pf.unit_code, pf.unit_code_source = rows_code, "rows"
    elif header_code and len(header_code) == want:
        pf.unit_code, pf.unit_code_source = header_code, "header"
    elif header_code:
        pf.unit_code, pf.unit_code_source = header_code, "header"
        pf.problems.append(finding(
            file=pf.name, rule="unit_code.bad_length", severity=ERROR,
            dimension="identification", value=header_code, level=pf.level,
            message=f"表头中的行政区划代码「{header_code}」应为 {want} 位"
                    f"（{forms.FORM_TITLE[pf.form]}），请核对后重新报送"))
    if header_code and rows_code and header_code != rows_code:
        what = {"A": "户编号前12位", "C": "各村代码的前9位", "D": "各乡镇代码的前6位"}[pf.form]
        pf.problems.append(finding(
            file=pf.name, rule="unit_code.mismatch", severity=ERROR,
            dimension="identification", value=header_code, unit_code=pf.unit_code,
            level=pf.level,
            message=f"表头填报单位代码「{header_code}」与表内{what}「{rows_code}」不一致，"
                    f"请核对填报单位后重新报送"))
    if not pf.unit_code:
        pf.problems.append(finding(
            file=pf.name, rule="unit_code.missing", severity=ERROR,
            dimension="identification", level=pf.level,
            message="无法从文件内容识别填报单位代码：请在表头填写「行政区划代码：」"
                    f"（{want} 位）后重新报送"))


# ---- main ----------------------------------------------------------------------------

def _file_problem(pf: ParsedFile, rule: str, message: str, severity: str = ERROR,
                  dimension: str = "ledger", sheet: str = "", value: str = "") -> None:
    pf.problems.append(finding(file=pf.name, sheet=sheet, rule=rule, severity=severity,
                               dimension=dimension, message=message, value=value,
                               level=pf.level, unit_code=pf.unit_code))


_NOT_UTF8_BYTE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")
_URL_ESCAPED_SEP = re.compile(r"[%％](?:2[fFeE]|5[cC])")
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
NAME_MAX_CHARS = 80


def _shown_name(text: str) -> str:
    """A name for a message: control characters written as \\xNN, very long names cut."""
    out = "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return out if len(out) <= 120 else out[:60] + "…" + out[-40:]


def name_problems(name: str) -> list[dict]:
    """Warnings about a landing path that is not a plain file name (the file is read as
    usual): bytes that were not UTF-8 (written \\xNN by discover), control characters,
    path-like pieces ('..', backslashes, URL-escaped separators), a leading '-',
    characters Windows forbids, very long names."""
    out = []
    if _NOT_UTF8_BYTE.search(name):
        def raw_of(text: str) -> bytes:
            return re.sub(rb"\\x([89a-fA-F][0-9a-fA-F])", lambda m: bytes.fromhex(m.group(1).decode()),
                          text.encode("utf-8"))
        part = next(p for p in reversed(name.split("/")) if _NOT_UTF8_BYTE.search(p))
        raw = raw_of(part)
        out.append(finding(
            file=name, rule="file_name.not_utf8", severity=WARNING, dimension="ledger",
            value=raw_of(name).hex(),
            message=f"文件名「{_shown_name(part)}」不是 UTF-8 编码（原始字节 {raw.hex(' ')}），按 GBK 可读作"
                    f"「{_shown_name(raw.decode('gb18030', 'replace'))}」；文件已照常接收和存档，"
                    f"今后请直接用中文文件名保存（不要用旧版压缩软件打包）"))
    base = name.rsplit("/", 1)[-1]
    plain = _NOT_UTF8_BYTE.sub("", base)
    what = []
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        what.append("含有控制字符（如换行、制表符）")
    if ".." in plain:
        what.append("含有连续的点「..」")
    if "\\" in plain:
        what.append("含有反斜杠「\\」")
    if _URL_ESCAPED_SEP.search(plain):
        what.append("含有网址转义的路径符号（如 %2F）")
    if plain.startswith("-"):
        what.append("以「-」开头")
    if _WINDOWS_FORBIDDEN & set(plain):
        what.append("含有 Windows 不允许的字符（< > : \" | ? *）")
    if len(base) > NAME_MAX_CHARS:
        what.append(f"过长（{len(base)} 个字符）")
    if what:
        out.append(finding(
            file=name, rule="file_name.unsafe", severity=WARNING, dimension="ledger", value=_shown_name(base),
            message=f"文件名「{_shown_name(base)}」{'，'.join(what)}；文件已照常接收和存档，"
                    f"今后请只用汉字、字母、数字和括号命名文件（如「焦东村第47周周报.xlsx」）"))
    return out


def parse_file(data: bytes, name: str) -> ParsedFile:
    """Parse one submission. Never raises; problems go to ParsedFile.problems."""
    pf = ParsedFile(name=name)
    try:
        pf.problems.extend(name_problems(name))
        _parse(pf, data, name)
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 - one bad file must not stop the batch
        # (BaseException: a Rust panic in calamine arrives as pyo3's PanicException)
        pf.problems.append(finding(
            file=name, rule="file.parse_error", severity=ERROR, dimension="ledger",
            message=f"解析文件时出错（{type(exc).__name__}: {exc}），请联系市扶贫办技术人员，"
                    f"或将文件另存为 .xlsx 后重新上传"))
    return pf


def _parse(pf: ParsedFile, data: bytes, name: str) -> None:
    try:
        book = read_book(data, name)
    except ReadError as err:
        _file_problem(pf, err.rule, err.message)
        return
    pf.file_format, pf.encoding = book.file_format, book.encoding
    for note in book.notes:
        pf.problems.append(finding(file=pf.name, sheet=note.sheet, row=note.row, rule=note.rule,
                                   severity=note.severity, dimension="ledger", value=note.value,
                                   message=note.message))
    if not any(s.rows and any(any(v != "" for v in r) for r in s.rows) for s in book.sheets):
        _file_problem(pf, "file.empty", "文件中没有任何内容，请重新上传填好的报表")
        return

    layouts: list[Layout] = []
    for sheet in book.sheets:
        if not sheet.rows:
            continue
        lay = find_layout(sheet)
        if lay is not None:
            classify(lay)
            if lay.table is not None:
                layouts.append(lay)
    if not layouts:
        _file_problem(pf, "file.not_a_form",
                      "文件中没有找到村级三本账、村级周报、乡镇周报或县级周报的表头"
                      "（如「户编号」「期初贫困户数」「村代码」「乡镇代码」），"
                      "请使用市扶贫办统一下发的模板填报")
        return

    chosen = _choose(pf, layouts, book)
    form = pf.form
    pf.level = forms.FORM_LEVEL[form]

    # header block: rows above each chosen table and rows after it that are not data
    header: dict = {}
    texts: list[str] = []
    splits = {}
    for table, lay in chosen.items():
        splits[table] = _split_rows(lay)
    for table, lay in chosen.items():
        rows = lay.sheet.rows
        extra = splits[table][2]
        texts += _scan_header_lines(rows[:lay.header_row] + [rows[i] for i in extra], header)
    _interpret_header(pf, header, texts)

    unknown: list[str] = []
    for table, lay in chosen.items():
        pf.sheets[table] = lay.sheet.name
        pf.column_headers[table] = {n: lay.written[j] for n, j in lay.mapping.items()}
        missing = [c.header for c in forms.TABLES[lay.table]
                   if c.required and c.name not in lay.mapping]
        unknown += [u for u in lay.unknown if u not in unknown]
        if missing:
            _file_problem(pf, "file.missing_columns", sheet=lay.sheet.name,
                          value="、".join(missing),
                          message=f"{_where(lay)}缺少必填栏目：{'、'.join(missing)}。"
                                  f"请使用统一模板补齐这些栏目后重新报送")
            pf.parts[table] = empty_columns(form, table)
            continue
        for d in lay.duplicates:
            _file_problem(pf, "file.duplicate_column", severity=WARNING, sheet=lay.sheet.name,
                          value=d, message=f"{_where(lay)}栏目「{d}」重复出现，只读取了第一栏，"
                                           f"请删除多余的栏目")
        data_idx, total_idx, _ = splits[table]
        if not data_idx and table in ("plan", "report"):
            _file_problem(pf, "file.no_rows", sheet=lay.sheet.name,
                          message=f"{_where(lay)}表头之下没有任何数据行，"
                                  f"请填写{forms.FORM_TITLE[form]}的数据后重新报送")
        pf.parts[table] = _convert(pf, lay, data_idx, table, False)
        if total_idx:
            pf.total_parts[table] = _convert(pf, lay, total_idx, table, True)
    if unknown:
        _file_problem(pf, "file.unknown_columns", severity=WARNING, value="、".join(unknown),
                      message=f"文件中有模板以外的栏目：{'、'.join(unknown)}，这些栏目未读取")
    for table in _expected_tables(form):
        if table not in pf.parts:
            pf.parts[table] = empty_columns(form, table)
    _resolve_unit(pf)
    if pf.header.get("week") == "" and header.get("week") not in (None, ""):
        _file_problem(pf, "week.unreadable", severity=WARNING, dimension="ledger",
                      value=V.cell_text(header["week"]),
                      message=f"填报周次「{V.cell_text(header['week'])}」无法识别，"
                              f"请按「2026年第47周」的格式填写")
    for p in pf.problems:
        p["level"] = pf.level
        if not p["unit_code"]:
            p["unit_code"] = pf.unit_code


def _where(lay: Layout) -> str:
    return f"工作表「{lay.sheet.name}」" if lay.sheet.name else ""


def _expected_tables(form: str) -> list[str]:
    return [t for (f, t) in TABLE_KEYS if f == form]


def _choose(pf: ParsedFile, layouts: list[Layout], book: Book) -> dict[str, Layout]:
    """Decide the form and which sheet holds each of its tables."""
    by_form: dict[str, list[Layout]] = {}
    for lay in layouts:
        by_form.setdefault(lay.table[0], []).append(lay)
    if "A" in by_form:
        form = "A"
    else:
        # the form whose best sheet matches best; visible sheets first
        form = max(by_form, key=lambda f: max(
            (lay.score + (lay.sheet.name not in book.hidden,)) for lay in by_form[f]))
    pf.form = form
    chosen: dict[str, Layout] = {}
    for lay in by_form[form]:
        table = lay.table[1]
        cur = chosen.get(table)
        if cur is None or _rank(lay, book) > _rank(cur, book):
            chosen[table] = lay
    pf.level = forms.FORM_LEVEL[form]
    if form == "A":
        for table, sheet_name in forms.LEDGER_SHEETS.items():
            if table not in chosen:
                _file_problem(pf, "file.missing_sheet", value=sheet_name,
                              message=f"三本账缺少工作表「{sheet_name}」"
                                      f"（或该表的表头无法识别），请补齐后重新报送")
    return dict(sorted(chosen.items(), key=lambda kv: _expected_tables(form).index(kv[0])))


def _rank(lay: Layout, book: Book) -> tuple:
    expected = forms.LEDGER_SHEETS.get(lay.table[1], "")
    named = bool(expected) and expected in lay.sheet.name
    return (lay.score[0], lay.sheet.name not in book.hidden, named, lay.score[1:])


# ---- benchmark -----------------------------------------------------------------------

def benchmark(folder: str, repeat: int = 3) -> dict:
    """Parse every file under `folder` and compare with calamine's bare read of the same
    files: python -m pipelines.ingest.parse <week folder>.

    Read and parse are interleaved file by file and timed in CPU seconds (best of
    `repeat`), so a busy machine skews both alike.
    """
    import io
    import pathlib
    import time

    import python_calamine as pc

    def bare_read(data: bytes) -> None:
        try:
            if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
                wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
                for s in wb.sheet_names:
                    wb.get_sheet_by_name(s).to_python()
            else:
                data.decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001
            pass

    paths = sorted(p for p in pathlib.Path(folder).rglob("*")
                   if p.is_file() and not any(part.startswith("_") for part in p.parts))
    blobs = [(str(p), p.read_bytes()) for p in paths]
    best_read = best_parse = float("inf")
    n_problems = 0
    clock = time.process_time
    for _ in range(repeat):
        t_read = t_parse = 0.0
        n_problems = 0
        for name, data in blobs:
            t0 = clock()
            bare_read(data)
            t1 = clock()
            n_problems += len(parse_file(data, name).problems)
            t2 = clock()
            t_read += t1 - t0
            t_parse += t2 - t1
        best_read, best_parse = min(best_read, t_read), min(best_parse, t_parse)
    n = len(blobs)
    return {"files": n, "read_cpu_s": round(best_read, 3), "parse_cpu_s": round(best_parse, 3),
            "read_files_per_s": round(n / best_read, 1) if best_read else None,
            "parse_files_per_s": round(n / best_parse, 1) if best_parse else None,
            "parse_over_read": round(best_parse / best_read, 2) if best_read else None,
            "problems": n_problems}


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(benchmark(sys.argv[1]))
