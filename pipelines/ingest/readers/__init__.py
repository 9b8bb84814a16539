"""Read a submitted file's bytes into sheets of cell rows.

xlsx / xls (and xlsb / ods) go through python-calamine; csv (and tab-separated text
saved with an .xls name, as some systems export) through the csv module after the
encoding is found: UTF-8 (with or without BOM) strictly first, then GB18030 (a superset
of GBK; reported as "gbk" when the text is plain GBK), then charset-normalizer.

Cells are kept as calamine returns them (str, float, int, bool, date, datetime, ...;
'' for empty); csv cells are str. Every sheet's rows start at the sheet's first row
and column (A1), so row i of `rows` is Excel row i + 1. Characters a clerk cannot see
(zero-width spaces, BOMs, control characters; readers.invisible) are taken out of every
text cell, and odd spaces (NBSP, ideographic space) made plain spaces. A workbook
sheet's merged ranges are kept (Sheet.merges) for the data rows to fill in.

Guards (limits are settings, see `Limits`): the file size is checked before anything
is read; an xlsx's zip central directory is read first and the declared uncompressed
sizes of its members are checked before calamine inflates anything (calamine itself
refuses a member larger than its declared size); encrypted members, password-protected
(OLE "EncryptedPackage") workbooks and truncated zips are ReadErrors; each worksheet's
XML is scanned (streamed, bounded) for its row count and used area before calamine
builds the dense cell range; csv is read row by row and stopped at the row and cell
limits; cells longer than max_cell_chars are cut. Macro-enabled workbooks, formulas
without a saved value and formulas calling out (DDE, HYPERLINK, WEBSERVICE ...) are
reported as notes (Book.notes), never run.
"""
from __future__ import annotations

import io

import python_calamine as pc

from pipelines.ingest.readers.book import (
    ENCRYPTED_MESSAGE,
    EXTERNAL_FORMULA_RE,
    MAX_FORMULA_NOTES,
    NOT_CAUGHT,
    OLE_MAGIC,
    ZIP_MAGIC,
    Book,
    Limits,
    Note,
    ReadError,
    Sheet,
    size_text,
)
from pipelines.ingest.readers.invisible import strip_invisible
from pipelines.ingest.readers.text import read_text
from pipelines.ingest.readers.xls import inspect_xls
from pipelines.ingest.readers.xlsx import inspect_zip


def sniff_format(data: bytes, name: str) -> str:
    """xlsx | xls | csv from the content (the file name only breaks ties)."""
    lower = name.lower()
    if data[:4] == ZIP_MAGIC:
        if lower.endswith(".ods"):
            return "ods"
        return "xlsb" if lower.endswith(".xlsb") else "xlsx"
    if data[:8] == OLE_MAGIC:
        return "xls"
    return "csv"


def read_book(data: bytes, name: str = "", limits: Limits | None = None) -> Book:
    """Read bytes into a Book. Raises ReadError (never anything else) when unreadable."""
    if not data:
        raise ReadError("file.empty", "文件为空（0 字节），请重新上传完整的报表文件")
    limits = limits or Limits.from_settings()
    if len(data) > limits.max_file_bytes:
        raise ReadError("file.too_large", f"文件大于 {size_text(limits.max_file_bytes)} 的上限，未读取；"
                        "请删除多余的工作表、图片和空行后另存为 .xlsx 重新上传")
    fmt = sniff_format(data, name)
    try:
        if fmt == "csv":
            book = read_text(data, limits)
        else:
            book = _read_workbook(data, fmt, name, limits)
        for sheet in book.sheets:
            strip_invisible(sheet.rows)
            _check_sheet(sheet, limits, book.notes)
        return book
    except ReadError:
        raise
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything a broken file can raise,
        # including pyo3's PanicException (a BaseException) when calamine panics
        raise ReadError("file.unreadable", f"无法读取文件（{type(exc).__name__}），"
                        "请用 Excel 或 WPS 打开确认文件完好后另存为 .xlsx 重新上传") from exc


def _read_workbook(data: bytes, fmt: str, name: str, limits: Limits) -> Book:
    notes: list[Note] = []
    if fmt == "xls":
        inspect_xls(data, limits, notes)
    else:
        inspect_zip(data, fmt, name, limits, notes)
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except pc.PasswordError as exc:
        raise ReadError("file.encrypted", ENCRYPTED_MESSAGE) from exc
    book = Book(file_format="xls" if fmt == "xls" else "xlsx", notes=notes)
    metas = wb.sheets_metadata
    worksheets = set()
    for meta in metas:
        if meta.visible != pc.SheetVisibleEnum.Visible:
            book.hidden.add(meta.name)
        if meta.typ == pc.SheetTypeEnum.WorkSheet:
            worksheets.add(meta.name)
    for sname in wb.sheet_names:
        if sname not in worksheets:
            continue   # chart sheets, dialog sheets, macro sheets
        try:
            sheet = wb.get_sheet_by_name(sname)
            rows = sheet.to_python(skip_empty_area=False)
        except pc.PasswordError as exc:
            raise ReadError("file.encrypted", "文件设置了打开密码，无法读取，请取消密码后重新上传") from exc
        except NOT_CAUGHT:
            raise
        except BaseException as exc:  # noqa: BLE001 - a damaged sheet damages the file
            raise ReadError("file.unreadable", f"工作表「{sname}」已损坏，无法读取（{type(exc).__name__}），"
                            "请用 Excel 或 WPS 打开确认文件完好后另存为 .xlsx 重新上传") from exc
        book.sheets.append(Sheet(sname, rows, merges=_merges(sheet)))
    return book


def _merges(sheet) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges as (first row, first column, last row, last column)."""
    try:
        ranges = sheet.merged_cell_ranges or []
    except NOT_CAUGHT:
        raise
    except BaseException:  # noqa: BLE001 - merges only fill in key cells; the values are read
        return []
    return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges]


# ---- every sheet: row, area and cell limits ---------------------------------------------

MAX_CELL_NOTES = 20


def _check_sheet(sheet: Sheet, limits: Limits, notes: list[Note]) -> None:
    rows = sheet.rows
    label = f"工作表「{sheet.name}」" if sheet.name else "文件"
    if len(rows) > limits.max_rows:
        raise ReadError("file.too_many_rows", f"{label}超过 {limits.max_rows} 行的上限，未读取；"
                        "一份报表不应有这么多行，请删除多余的行（含空行）后重新上传")
    width = max((len(r) for r in rows), default=0)
    if len(rows) * width > limits.max_cells:
        raise ReadError("file.too_many_cells", f"{label}的使用区域为 {len(rows)} 行 × {width} 列，"
                        f"超过 {limits.max_cells} 个单元格的上限，未读取；请删除表格以外的内容后重新上传")
    cap = limits.max_cell_chars
    n_long = 0
    n_formula = 0
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if type(v) is not str or not v:
                continue
            if v[0] in "=+-@" and n_formula < MAX_FORMULA_NOTES and EXTERNAL_FORMULA_RE.search(v[:1000]):
                # text that Excel would run as a formula if the data were exported again (csv)
                n_formula += 1
                notes.append(Note("cell.external_formula",
                                  f"{label}第{i + 1}行第{_col_letters(j)}列的内容「{v[:200]}」像是调用外部程序或链接的公式"
                                  "（如 DDE、HYPERLINK），系统按文字读取、不会执行；请改为直接填写数值或文字后重新报送",
                                  sheet=sheet.name, row=i + 1, value=v[:1000]))
            if len(v) > cap:
                n_long += 1
                if n_long <= MAX_CELL_NOTES:
                    notes.append(Note("cell.too_long",
                                      f"{label}第{i + 1}行第{_col_letters(j)}列的内容有 {len(v)} 个字符，"
                                      f"超过 {cap} 个字符的上限，已截断；请精简该单元格的内容",
                                      sheet=sheet.name, row=i + 1, value=v[:200]))
                row[j] = v[:cap]
    if n_long > MAX_CELL_NOTES:
        notes.append(Note("cell.too_long", f"{label}另有 {n_long - MAX_CELL_NOTES} 个单元格超过 {cap} 个字符，已截断",
                          sheet=sheet.name))


def _col_letters(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s
