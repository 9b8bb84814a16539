"""The data block of a sheet: which rows under the header are data, 合计 or text, and
the data rows as typed columns.

``split_rows`` fills merged cells down the data rows (``fill_merged``), keeps column
numbering and unit rows, blank rows, notes, units lines, footers (填表人：... and what
follows) and the table's header repeated inside it (for printing, or two blocks pasted
one under the other) out of the data and sets 合计 rows apart;
``convert_rows`` turns the chosen rows into typed column arrays (pipelines.ingest.values),
each cell that did not convert into a finding naming the row and the header, and each
repeated header row into a warning naming the row.
"""
from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipelines import forms, labels
from pipelines.findings import ERROR, WARNING, finding
from pipelines.ingest import converters as C
from pipelines.ingest import values as V
from pipelines.ingest.frames import Columns, na_array
from pipelines.ingest.headers import SPECS, Layout, norm
from pipelines.ingest.traditional import to_simplified
from pipelines.ingest.units import stated_units

if TYPE_CHECKING:
    from pipelines.ingest.parsed_file import ParsedFile


# Numeric columns where an empty cell or "—" means zero. Elsewhere (household size,
# years, per-capita income) an empty cell stays NA for validation to report.
NO_ZERO_FILL = frozenset({"household_size", "identified_year", "planned_exit_year",
                          "income_per_capita_yuan"})

# Code columns' lengths: a number of that many digits may be the code itself (see
# values.parse_code).
CODE_DIGITS = {"household_id": 16, "village_code": 12, "township_code": 9}

# Columns that identify a row (record_key): the tables' key columns.
KEY_COLUMNS = tuple(dict.fromkeys(k for t in forms.REGISTRY.values() for k in t.keys))

TABLE_DIMENSION = {"plan": "household", "measures": "measures", "helpers": "measures",
                   "report": "ledger"}

FOOTER_LABELS = ("填表人", "填报人", "制表人", "审核人", "审核", "专职副书记", "专职常委", "填报日期", "填表日期",
                 "报送日期", "单位负责人", "负责人", "主管领导", "分管领导", "联系人", "备注", "说明", "注")
_FOOTER_RE = re.compile(r"^\s*(" + "|".join(FOOTER_LABELS) + r")\s*[:：]")
_UNITS_RE = re.compile(r"^\s*(计量)?单位\s*[:：]")
TOTAL_WORDS = frozenset({"合计", "总计", "合计数", "全村合计", "全镇合计", "全乡合计", "全县合计"})


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


# Column types a merged cell is filled down in: a household's 户编号 merged over its two
# measures, a helper's name and phone over the households paired with them. Numbers are
# not: a merged amount or count is more likely the rows' total than each row's.
FILLED_DTYPES = frozenset({"code", "id18", "str", "yesno", "date"})


def fill_merged(layout: Layout, start: int) -> None:
    """Give every row a merged range covers, below the header (from row index ``start``),
    the value its first cell holds, in the table's columns of FILLED_DTYPES: each of those
    rows shows it in Excel and WPS. Only ranges one column wide: a block merged over
    several columns and rows is a note written across the table, not a cell."""
    rows = layout.sheet.rows
    filled = {layout.mapping[c.name] for c in forms.TABLES[layout.table]
              if c.name in layout.mapping and c.dtype in FILLED_DTYPES}
    for r0, c0, r1, c1 in layout.sheet.merges:
        if r1 <= r0 or c1 != c0 or r0 < start or c0 not in filled or r0 >= len(rows):
            continue
        value = rows[r0][c0] if c0 < len(rows[r0]) else ""
        for row in rows[r0 + 1:r1 + 1]:  # the few rows of one merged range
            if c0 < len(row) and row[c0] in ("", None):
                row[c0] = value


def _header_keys(layout: Layout) -> dict[int, frozenset[str]]:
    """Per table column: the normalised texts its header shows (each header row's cell and
    the names the header was matched by)."""
    rows = layout.sheet.rows
    header = rows[layout.header_row:layout.header_row + layout.n_header_rows]
    out = {}
    for j in layout.mapping.values():
        keys = set(layout.names[j]) if j < len(layout.names) else set()
        keys.update(norm(r[j]) for r in header if j < len(r) and type(r[j]) is str and r[j])
        keys.discard("")
        out[j] = frozenset(keys)
    return out


def _is_header_copy(row, keys: dict[int, frozenset[str]]) -> bool:
    """A row whose cells are the table's own headers: at least two, and most of its
    non-empty cells, equal their column's header (or one of its header rows)."""
    filled = matched = 0
    for j, k in keys.items():
        v = row[j] if j < len(row) else ""
        if v == "" or v is None:
            continue
        filled += 1
        if type(v) is str and norm(v) in k:
            matched += 1
    return matched >= 2 and 2 * matched > filled


def header_copies(layout: Layout, skip: set[int]) -> list[int]:
    """The rows under the header, other than ``skip``, that repeat the table's header."""
    keys = _header_keys(layout)
    rows = layout.sheet.rows
    start = layout.header_row + layout.n_header_rows
    return [i for i in range(start, len(rows)) if i not in skip and _is_header_copy(rows[i], keys)]


def split_rows(layout: Layout) -> tuple[list[int], list[int], list[int]]:
    """(data row indices, total row indices, header/footer row indices)."""
    rows = layout.sheet.rows
    cols = sorted(layout.mapping.values())
    ncols = len(cols)
    pick = operator.itemgetter(*cols) if ncols > 1 else (lambda r: (r[cols[0]],))
    # 合计 is written in the code or the name column (the first text columns)
    text_cols = sorted(layout.mapping[c.name] for c in forms.TABLES[layout.table]
                       if c.name in layout.mapping and c.dtype in ("code", "str"))[:2]
    start = layout.header_row + layout.n_header_rows
    fill_merged(layout, start)
    keys = _header_keys(layout)
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
                    first_text = to_simplified(v)   # 合計, 審核人： read as 合计, 审核人：
                break
        if ":" in first_text or "：" in first_text:
            if _FOOTER_RE.match(first_text):
                if _data_below(rows, i, cols):
                    extra.append(i)   # a footer line inside the table: the rows under it are data
                    continue
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
            if type(v) is str and ("计" in v or "計" in v):
                k = norm(v)
                if k in TOTAL_WORDS or (k.endswith("合计") and len(k) <= 6):
                    is_total = True
                    break
        if not is_total and _is_header_copy(row, keys):
            continue   # reported by convert_rows
        (totals if is_total else data).append(i)
    return data, totals, extra


def _data_below(rows: list[list], i: int, cols: list[int]) -> bool:
    """Whether a row under row ``i`` is filled in at least half of the table's columns:
    then the footer line at ``i`` was written inside the table (above rows a clerk added
    or pasted later), not under it, and the table goes on."""
    need = max(2, (len(cols) + 1) // 2)
    for row in rows[i + 1:]:
        if sum(1 for j in cols if j < len(row) and row[j] != "" and row[j] is not None) >= need:
            return True
    return False


def convert_rows(pf: ParsedFile, layout: Layout, idx: list[int], table: str, is_total: bool) -> Columns:
    """The rows `idx` of a sheet as typed columns and texts; their bad cells' findings."""
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
    units = {**labels.COLUMN_UNITS, **stated_units(layout)}  # a money header may say 元
    for c in spec:
        j = layout.mapping.get(c.name)
        if j is None or not n:
            typed[c.name] = na_array(c.dtype, n)
            raw[c.name] = [""] * n
            continue
        values = list(cols_t[j])
        arr, bad = C.convert_column(values, c.dtype, c.name not in NO_ZERO_FILL,
                                    units.get(c.name, ""), CODE_DIGITS.get(c.name))
        typed[c.name] = arr
        raw[c.name] = C.raw_texts(values)
        if is_total and c.dtype == "yesno":
            continue  # a 合计 row's 是否贫困村 says nothing of one village (a count of them, a dash)
        for pos, kind in bad:
            bad_cells.append((c.name, pos, kind))
    if not is_total:
        for i in header_copies(layout, set(idx)):
            pf.problems.append(finding(
                file=pf.name, sheet=sheet.name, row=i + 1, rule="row.repeated_header",
                severity=WARNING, dimension=TABLE_DIMENSION.get(table, "ledger"),
                value=" ".join(V.clean_text(v) for v in rows[i] if v not in ("", None)),
                message=f"第{i + 1}行是重复的表头，已跳过"))
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
                                              raw[name][pos], kind, record_key, units.get(name, "")))
    return Columns(layout.table, typed, [raw[c.name] for c in spec], n)


def _value_finding(pf, layout, table, name, row, value, kind, record_key, unit: str) -> dict:
    header = pf.column_headers.get(table, {}).get(name) or SPECS[layout.table][name].header
    dim = TABLE_DIMENSION.get(table, "ledger")
    where = f"第{row}行「{header}」"
    if kind == C.SCIENTIFIC:
        what = "身份证号" if name == "id_number" else "编号" if name == "household_id" else "代码"
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule=f"{name}.scientific", severity=ERROR,
                       dimension="identification", record_key=record_key,
                       message=f"{where}为 {value}：Excel 已将{what}转为科学计数法，末位数字丢失，"
                               f"请以文本格式重新填报")
    if kind == C.BAD_DATE:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.not_date", severity=WARNING, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」不是可识别的日期，已按空值处理；"
                               f"请按 2026-11-23 或 2026年11月23日 的格式填写")
    if kind == C.BAD_YESNO:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.not_yesno", severity=ERROR, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」不是“是”或“否”，未读取；请填写“是”或“否”"
                               f"（也可填 {' '.join(V.YES_EQUIVALENTS)} 表示“是”，"
                               f"{' '.join(V.NO_EQUIVALENTS)} 表示“否”），更正后重新报送")
    if kind == C.UNIT_MISMATCH:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.unit_mismatch", severity=ERROR, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」所带单位「{V.split_unit(value)[1]}」"
                               f"与该栏的单位「{unit}」不符，未读取；请填写以{unit}计的数字，"
                               f"更正后重新报送")
    if kind == C.BAD_INTEGER:
        return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                       value=value, rule="value.not_integer", severity=ERROR, dimension=dim,
                       record_key=record_key,
                       message=f"{where}的值「{value}」不是整数，该栏应填写整数，请更正后重新报送")
    return finding(file=pf.name, sheet=layout.sheet.name, row=row, column=header,
                   value=value, rule="value.not_number", severity=ERROR, dimension=dim,
                   record_key=record_key,
                   message=f"{where}的值「{value}」不是有效数字，请只填写数字"
                           f"（不要带单位或文字，零可填 0 或留空），更正后重新报送")

