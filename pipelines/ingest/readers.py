"""Read a submitted file's bytes into sheets of cell rows.

xlsx / xls (and xlsb / ods) go through python-calamine; csv (and tab-separated text
saved with an .xls name, as some systems export) through the csv module after the
encoding is found: UTF-8 (with or without BOM) strictly first, then GB18030 (a superset
of GBK; reported as "gbk" when the text is plain GBK), then charset-normalizer.

Cells are kept as calamine returns them (str, float, int, bool, date, datetime, ...;
'' for empty); csv cells are str. Every sheet's rows start at the sheet's first row
and column (A1), so row i of `rows` is Excel row i + 1.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import python_calamine as pc

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# Everything else a broken file makes a reader raise is caught, even BaseExceptions:
# a panic inside calamine (Rust) reaches Python as pyo3_runtime.PanicException, which
# derives from BaseException.
NOT_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit)


class ReadError(Exception):
    """A file that cannot be read; rule is the finding's rule code."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass
class Sheet:
    name: str
    rows: list[list]                 # rows[i] is the user's row i + 1
    line_numbers: list[int] | None = None  # csv: the line each row starts on


@dataclass
class Book:
    file_format: str                 # xlsx | xls | csv
    encoding: str = ""               # csv only
    sheets: list[Sheet] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)


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


def read_book(data: bytes, name: str = "") -> Book:
    """Read bytes into a Book. Raises ReadError (never anything else) when unreadable."""
    if not data:
        raise ReadError("file.empty", "文件为空（0 字节），请重新上传完整的报表文件")
    fmt = sniff_format(data, name)
    try:
        if fmt == "csv":
            return _read_text(data)
        return _read_workbook(data, fmt)
    except ReadError:
        raise
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything a broken file can raise,
        # including pyo3's PanicException (a BaseException) when calamine panics
        raise ReadError("file.unreadable", f"无法读取文件（{type(exc).__name__}），"
                        "请用 Excel 或 WPS 打开确认文件完好后另存为 .xlsx 重新上传") from exc


def _is_encrypted_ole(data: bytes) -> bool:
    # An encrypted .xlsx is an OLE container holding EncryptionInfo/EncryptedPackage.
    probe = data[:65536]
    return ("EncryptionInfo".encode("utf-16-le") in probe
            or "EncryptedPackage".encode("utf-16-le") in probe)


def _read_workbook(data: bytes, fmt: str) -> Book:
    if fmt == "xls" and _is_encrypted_ole(data):
        raise ReadError("file.encrypted", "文件设置了打开密码，无法读取，请取消密码后重新上传")
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except pc.PasswordError as exc:
        raise ReadError("file.encrypted", "文件设置了打开密码，无法读取，请取消密码后重新上传") from exc
    book = Book(file_format="xls" if fmt == "xls" else "xlsx")
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
            rows = wb.get_sheet_by_name(sname).to_python(skip_empty_area=False)
        except pc.PasswordError as exc:
            raise ReadError("file.encrypted", "文件设置了打开密码，无法读取，请取消密码后重新上传") from exc
        except NOT_CAUGHT:
            raise
        except BaseException as exc:  # noqa: BLE001 - a damaged sheet damages the file
            raise ReadError("file.unreadable", f"工作表「{sname}」已损坏，无法读取（{type(exc).__name__}），"
                            "请用 Excel 或 WPS 打开确认文件完好后另存为 .xlsx 重新上传") from exc
        book.sheets.append(Sheet(sname, rows))
    return book


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) for csv bytes: utf-8-sig strictly, then GBK/GB18030, then
    charset-normalizer. Raises ReadError when the bytes are not text."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        try:
            data.decode("gbk")
            return text, "gbk"
        except UnicodeDecodeError:
            return text, "gb18030"
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(data).best()
    except Exception:  # noqa: BLE001
        best = None
    if best is None:
        raise ReadError("file.unreadable", "文件既不是 Excel 表格也不是可识别编码的 CSV 文本，"
                        "请另存为 .xlsx 后重新上传")
    return str(best), str(best.encoding)


def _read_text(data: bytes) -> Book:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError("file.unreadable", "文件不是可识别的 Excel 表格或 CSV 文本，"
                        "请另存为 .xlsx 后重新上传")
    text, enc = decode_text(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ReadError("file.empty", "文件没有任何内容，请重新上传填好的报表")
    first = text[:4096]
    delim = ","
    if first.count("\t") > first.count(",") and first.count("\t") > 0:
        delim = "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list] = []
    lines: list[int] = []
    start = 1
    try:
        for rec in reader:
            rows.append(rec)
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ReadError("file.unreadable", f"CSV 文件格式有误（{exc}），请另存为 .xlsx 后重新上传") from exc
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        if len(r) < width:
            r.extend([""] * (width - len(r)))
    return Book(file_format="csv", encoding=enc, sheets=[Sheet("", rows, lines)])
