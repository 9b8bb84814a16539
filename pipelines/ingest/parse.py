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

import difflib
from collections import Counter
from itertools import chain

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.findings import ERROR, WARNING, finding
from pipelines.ingest import headers as H
from pipelines.ingest import values as V
from pipelines.ingest.data_rows import convert_rows, split_rows
from pipelines.ingest.file_names import name_problems
from pipelines.ingest.frames import (
    COLUMN_NAMES,
    Columns,
    empty_columns,
    make_frame,
    make_raw_frame,
)
from pipelines.ingest.header_block import interpret_header, scan_header_lines
from pipelines.ingest.parsed_file import ParsedFile
from pipelines.ingest.readers import read_book
from pipelines.ingest.readers.book import NOT_CAUGHT, Book, ReadError
from pipelines.ingest.report_row import one_report_row
from pipelines.ingest.seen import what_was_seen
from pipelines.ingest.traditional import to_simplified
from pipelines.ingest.units import to_form_units
from pipelines.ingest.week_sheets import keep_week_sheets



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
    for name in COLUMN_NAMES[key]:
        arr = _join_arrays([p.typed[name] for p in parts])
        if arr is None:  # mixed kinds (not made by _convert): pandas aligns them
            return (pd.concat([p.frame() for p in parts], ignore_index=True),
                    pd.concat([p.raw_frame() for p in parts], ignore_index=True))
        typed[name] = arr
    raw = [list(chain.from_iterable(p.raw[j] for p in parts)) for j in range(len(parts[0].raw))]
    return make_frame(key, typed, n), make_raw_frame(key, raw, n)



# ---- unit code -----------------------------------------------------------------------

def _present(pf: ParsedFile, table: str) -> list[str]:
    arr = pf._keys.get(table)
    if arr is None:
        return []
    return [v for v in np.asarray(arr, dtype=object) if type(v) is str]


# Forms whose rows carry codes of the filing unit's children: the tables, the length of a
# row's code and of the unit's code it starts with (household ids are a village's code
# plus a 4-digit household number).
_ROW_CODES = {
    "A": (("plan", "measures", "helpers"), forms.CODE_LENGTH["A"] + 4, forms.CODE_LENGTH["A"]),
    "C": (("report",), forms.CODE_LENGTH["B"], forms.CODE_LENGTH["C"]),
    "D": (("report",), forms.CODE_LENGTH["C"], forms.CODE_LENGTH["D"]),
}


def _rows_code(pf: ParsedFile) -> str:
    """The unit code most of the rows' codes start with ('' when the rows carry none)."""
    spec = _ROW_CODES.get(pf.form)
    if spec is None:
        return ""
    tables, length, want = spec
    cands = [s[:want] for t in tables for s in _present(pf, t) if len(s) == length and s.isdigit()]
    if not cands:
        return ""
    return Counter(cands).most_common(1)[0][0]


def _resolve_unit(pf: ParsedFile) -> None:
    want = forms.CODE_LENGTH.get(pf.form or "", 0)
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
                  dimension: str = "ledger", sheet: str = "", value: str = "", row: int = 0) -> None:
    pf.problems.append(finding(file=pf.name, sheet=sheet, row=row, rule=rule, severity=severity,
                               dimension=dimension, message=message, value=value,
                               level=pf.level, unit_code=pf.unit_code))


def parse_file(data: bytes, name: str, folder_week: str | None = None) -> ParsedFile:
    """Parse one submission found in the folder of ``folder_week`` (when known: it gives a
    week written without its year, and picks the sheet of a workbook kept one sheet per
    week). Never raises; problems go to ParsedFile.problems."""
    pf = ParsedFile(name=name, folder_week=folder_week)
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
    book = _read(pf, data, name)
    if book is None:
        return
    sheet_week = keep_week_sheets(pf, book)
    layouts = _layouts(book)
    if not layouts:
        seen = what_was_seen(book)
        _file_problem(pf, "file.not_a_form",
                      "文件中没有找到村级三本账、村级周报、乡镇周报或县级周报的表头"
                      "（如「户编号」「期初贫困户数」「村代码」「乡镇代码」）"
                      f"{'：' + seen if seen else ''}。请使用市扶贫办统一下发的模板填报")
        return
    chosen = _choose(pf, layouts, book)
    pf.level = forms.FORM_LEVEL[pf.form]
    splits = {table: split_rows(lay) for table, lay in chosen.items()}
    header = _read_header(pf, chosen, splits)
    if pf.week is None and sheet_week:
        pf.week, pf.week_source = sheet_week, "sheet"
    if pf.form == "B" and "report" in splits:
        data_idx, total_idx, extra = splits["report"]
        splits["report"] = (one_report_row(pf, chosen["report"], data_idx), total_idx, extra)
    _read_tables(pf, chosen, splits)
    for table in _expected_tables(pf.form):
        if table not in pf.parts:
            pf.parts[table] = empty_columns(pf.form, table)
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


def _read(pf: ParsedFile, data: bytes, name: str) -> Book | None:
    """The file's sheets, its reader notes as findings; None (and a finding) when the file
    cannot be read or holds nothing."""
    try:
        book = read_book(data, name)
    except ReadError as err:
        _file_problem(pf, err.rule, err.message)
        return None
    pf.file_format, pf.encoding = book.file_format, book.encoding
    for note in book.notes:
        pf.problems.append(finding(file=pf.name, sheet=note.sheet, row=note.row, rule=note.rule,
                                   severity=note.severity, dimension="ledger", value=note.value,
                                   message=note.message))
    if not any(s.rows and any(any(v != "" for v in r) for r in s.rows) for s in book.sheets):
        _file_problem(pf, "file.empty", "文件中没有任何内容，请重新上传填好的报表")
        return None
    return book


def _layouts(book: Book) -> list[H.Layout]:
    """The sheets whose headers name one of the tables."""
    layouts: list[H.Layout] = []
    for sheet in book.sheets:
        if not sheet.rows:
            continue
        lay = H.find_layout(sheet)
        if lay is not None:
            H.classify(lay)
            if lay.table is not None:
                layouts.append(lay)
    return layouts


def _read_header(pf: ParsedFile, chosen: dict[str, H.Layout], splits: dict) -> dict:
    """The header block: rows above each chosen table and rows after it that are not data.
    Returns the label values as found (interpreted into pf.header)."""
    header: dict = {}
    texts: list[str] = []
    for table, lay in chosen.items():
        rows = lay.sheet.rows
        extra = splits[table][2]
        texts += scan_header_lines(rows[:lay.header_row] + [rows[i] for i in extra], header)
    interpret_header(pf, header, texts)
    return header


def _read_tables(pf: ParsedFile, chosen: dict[str, H.Layout], splits: dict) -> None:
    """Each chosen table's rows as columns (pf.parts, pf.total_parts) and what is wrong
    with its columns."""
    form = pf.form
    unknown: list[str] = []
    for table, lay in chosen.items():
        pf.sheets[table] = lay.sheet.name
        pf.column_headers[table] = {n: lay.written[j] for n, j in lay.mapping.items()}
        missing = [c.header for c in forms.TABLES[lay.table]
                   if c.required and c.name not in lay.mapping]
        unknown += [u for u in lay.unknown if u not in unknown]
        data_idx, total_idx, _ = splits[table]
        if missing:
            pf.parts[table] = empty_columns(form, table)
            if _missing_columns(pf, lay, missing):
                # only this sheet is not read: its rows are staged held back, unchecked
                # (their cells are not reported one by one: the sheet is to be sent again)
                n = len(pf.problems)
                pf.held[table] = convert_rows(pf, lay, data_idx, table, False)
                del pf.problems[n:]
            continue
        for d in lay.duplicates:
            _file_problem(pf, "file.duplicate_column", severity=WARNING, sheet=lay.sheet.name,
                          value=d, message=f"{_where(lay)}栏目「{d}」重复出现，只读取了第一栏，"
                                           f"请删除多余的栏目")
        if not data_idx and table in ("plan", "report"):
            _file_problem(pf, "file.no_rows", sheet=lay.sheet.name,
                          message=f"{_where(lay)}表头之下没有任何数据行，"
                                  f"请填写{forms.FORM_TITLE[form]}的数据后重新报送")
        pf.parts[table] = convert_rows(pf, lay, data_idx, table, False)
        if total_idx:
            pf.total_parts[table] = convert_rows(pf, lay, total_idx, table, True)
        to_form_units(pf, lay, [pf.parts[table]] + ([pf.total_parts[table]] if total_idx else []))
    if unknown:
        _file_problem(pf, "file.unknown_columns", severity=WARNING, value="、".join(unknown),
                      message=f"文件中有模板以外的栏目：{'、'.join(unknown)}，这些栏目未读取")


def _missing_columns(pf: ParsedFile, lay: H.Layout, missing: list[str]) -> bool:
    """The finding on a table whose required columns are not all there: which, the closest
    header found for each, and every header found. True when only its own sheet goes
    unread: a ledger's 措施办法账 or 帮扶责任账 is a finding on its header row, the other
    sheets load; the 计划进度账 (what the other two are checked against) or a report's
    only table is the file's (not loaded)."""
    mapped = set(lay.mapping.values())
    found = [w for w in lay.written if w]
    others = [w for j, w in enumerate(lay.written) if w and j not in mapped]
    keys = [H.norm(w) for w in others]
    named = []
    for header in missing:
        close = difflib.get_close_matches(H.norm(header), keys, n=1, cutoff=0.5)
        named.append(f"{header}（表中最接近的是「{others[keys.index(close[0])]}」）" if close
                     else f"{header}（表中没有相近的表头）")
    sheet_only = pf.form == "A" and lay.table[1] != "plan"
    if sheet_only:
        effect = "该工作表的数据暂不入库，其他工作表照常入库；"
    elif pf.form == "A":
        effect = "措施办法账和帮扶责任账须按计划进度账核对，本文件暂不入库；"
    else:
        effect = "本文件暂不入库；"
    _file_problem(pf, "file.missing_columns", sheet=lay.sheet.name, value="、".join(missing),
                  row=lay.header_row + 1 if sheet_only else 0,
                  message=f"{_where(lay)}缺少必填栏目：{'、'.join(named)}。"
                          f"表中找到的表头：{'、'.join(found)}。"
                          f"{effect}请使用统一模板补齐这些栏目后重新报送")
    return sheet_only


def _where(lay: H.Layout) -> str:
    return f"工作表「{lay.sheet.name}」" if lay.sheet.name else ""


def _expected_tables(form: str) -> list[str]:
    return [t for (f, t) in H.TABLE_KEYS if f == form]


def _choose(pf: ParsedFile, layouts: list[H.Layout], book: Book) -> dict[str, H.Layout]:
    """Decide the form and which sheet holds each of its tables."""
    by_form: dict[str, list[H.Layout]] = {}
    for lay in layouts:
        by_form.setdefault(lay.table[0], []).append(lay)
    if "A" in by_form:
        form = "A"
    else:
        # the form whose best sheet matches best; visible sheets first
        form = max(by_form, key=lambda f: max(
            (lay.score + (lay.sheet.name not in book.hidden,)) for lay in by_form[f]))
    pf.form = form
    chosen: dict[str, H.Layout] = {}
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


def _rank(lay: H.Layout, book: Book) -> tuple:
    expected = forms.LEDGER_SHEETS.get(lay.table[1], "")
    named = bool(expected) and expected in to_simplified(lay.sheet.name)
    return (lay.score[0], lay.sheet.name not in book.hidden, named, lay.score[1:])
