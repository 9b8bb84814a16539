"""Header matching: where a sheet's header row(s) are and which of the six tables they name.

A header cell is normalised (``norm``: no whitespace, no required markers, traditional
characters as simplified, no bracketed qualifier or unit) and looked up among the Chinese headers and synonyms
of pipelines.forms (``LOOKUPS``). ``find_layout`` finds the header row within the first
rows of a sheet and joins a two-row header (期初 + 贫困户数 -> 期初贫困户数);
``classify`` picks the table whose required columns the headers cover best and maps
each canonical column to its sheet column.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from pipelines import forms
from pipelines.ingest import values as V
from pipelines.ingest.header_block import LABELS as BLOCK_LABELS
from pipelines.ingest.readers.book import Sheet
from pipelines.ingest.traditional import to_simplified

# ---- header vocabulary ---------------------------------------------------------------
TABLE_KEYS = list(forms.REGISTRY)          # [("A","plan"), ...]
_STRIP_MARKS = str.maketrans("", "", "*＊※★")
_HALF_WIDTH = str.maketrans("【［〔[】］〕]／", "(((())))/")
# a bracketed qualifier or unit: 联系电话（手机）, 人均纯收入（元/年）, 投入资金（万元）;
# a unit after a slash: 本周到村扶贫资金/万元
_QUALIFIER_RE = re.compile(r"\([^()]*(?:\)|$)|/(?:万元|元|户|人|人次|个|次|期|名)$")


def norm(text: object) -> str:
    """The key a header cell is matched by: normalize_header, no 'required' markers like
    * or ※, traditional characters as simplified, and no bracketed qualifiers or units
    (half- or full-width) or unit after a slash; what a unit says is read from the header as written
    (pipelines.ingest.units). A cell that is all brackets keeps them: （户）."""
    if type(text) is str:
        return _norm_str(text)
    return _header_key(forms.normalize_header(text))


@functools.lru_cache(maxsize=8192)
def _norm_str(text: str) -> str:
    # headers repeat across thousands of files: cache them
    return _header_key(forms.normalize_header(text))


def _header_key(normalized: str) -> str:
    k = to_simplified(normalized.translate(_STRIP_MARKS).translate(_HALF_WIDTH))
    return _QUALIFIER_RE.sub("", k) or k


def _build_lookup(columns) -> dict[str, str]:
    """Header key (standard header or synonym) -> canonical name of one table."""
    return {norm(h): col.name for col in columns for h in (col.header, *col.synonyms)}


LOOKUPS = {key: _build_lookup(cols) for key, cols in forms.TABLES.items()}
SPECS = {key: {c.name: c for c in cols} for key, cols in forms.TABLES.items()}
ALL_HEADER_KEYS = frozenset(k for look in LOOKUPS.values() for k in look)
# not the form's columns, and not unknown either: a serial number, notes, and the header
# block's labels written as a column (填报周次 beside the figures: report_row reads it)
IGNORED_HEADERS = frozenset({"序号", "编号", "备注", "说明", "No.", "NO.", "no.", *map(norm, BLOCK_LABELS)})
HEADER_SCAN_ROWS = 40


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
                    names.append([norm(ff[j] + c), c] + ([parent[j]] if parent[j] else []))
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

