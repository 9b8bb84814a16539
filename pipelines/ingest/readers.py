"""Read a submitted file's bytes into sheets of cell rows.

xlsx / xls (and xlsb / ods) go through python-calamine; csv (and tab-separated text
saved with an .xls name, as some systems export) through the csv module after the
encoding is found: UTF-8 (with or without BOM) strictly first, then GB18030 (a superset
of GBK; reported as "gbk" when the text is plain GBK), then charset-normalizer.

Cells are kept as calamine returns them (str, float, int, bool, date, datetime, ...;
'' for empty); csv cells are str. Every sheet's rows start at the sheet's first row
and column (A1), so row i of `rows` is Excel row i + 1.

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

import csv
import html
import io
import os
import re
import zipfile
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


MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one file may make the reader hold (defaults = pipelines.settings)."""

    max_file_bytes: int = 50 * MB
    max_uncompressed_bytes: int = 100 * MB
    max_rows: int = 50_000
    max_cells: int = 5_000_000
    max_cell_chars: int = 32_767

    @classmethod
    def from_settings(cls, settings=None) -> "Limits":
        if settings is None:
            # get_settings() resolves paths and builds every setting (costly once per
            # file); the limits depend only on their own environment variables
            key = tuple(map(os.environ.get, _LIMIT_ENV))
            hit = _LIMITS_CACHE.get(key)
            if hit is not None:
                return hit
            from pipelines.settings import get_settings

            settings = get_settings()
            out = cls(settings.max_file_bytes, settings.max_uncompressed_bytes, settings.max_rows,
                      settings.max_cells, settings.max_cell_chars)
            if len(_LIMITS_CACHE) < 64:
                _LIMITS_CACHE[key] = out
            return out
        return cls(settings.max_file_bytes, settings.max_uncompressed_bytes, settings.max_rows,
                   settings.max_cells, settings.max_cell_chars)


# the environment variables pipelines.settings reads the limits from
_LIMIT_ENV = ("HUIZONG_MAX_FILE_BYTES", "HUIZONG_MAX_UNCOMPRESSED_BYTES", "HUIZONG_MAX_ROWS",
              "HUIZONG_MAX_CELLS", "HUIZONG_MAX_CELL_CHARS")
_LIMITS_CACHE: dict[tuple, "Limits"] = {}


@dataclass
class Note:
    """A problem the reader found that does not stop it (becomes a finding)."""

    rule: str
    message: str
    severity: str = "warning"
    sheet: str = ""
    row: int = 0
    value: str = ""


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} 字节"


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
    notes: list[Note] = field(default_factory=list)


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
        raise ReadError("file.too_large", f"文件大于 {_size(limits.max_file_bytes)} 的上限，未读取；"
                        "请删除多余的工作表、图片和空行后另存为 .xlsx 重新上传")
    fmt = sniff_format(data, name)
    try:
        if fmt == "csv":
            book = _read_text(data, limits)
        else:
            book = _read_workbook(data, fmt, name, limits)
        for sheet in book.sheets:
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


_ENCRYPTED_NAMES = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
_OLE_VBA = "_VBA_PROJECT".encode("utf-16-le")
ENCRYPTED_MESSAGE = "文件设置了打开密码（已加密），无法读取，请取消密码后重新上传"
MACRO_MESSAGE = ("文件是启用宏的工作簿（含 VBA 宏代码）。系统不会运行宏，只读取单元格中保存的值；"
                 "请另存为不含宏的 .xlsx 文件后报送")


def _is_encrypted_ole(data: bytes) -> bool:
    # An encrypted .xlsx is an OLE container holding EncryptionInfo/EncryptedPackage
    # (their names are in the directory, which may sit anywhere in the file).
    return any(n in data for n in _ENCRYPTED_NAMES)


def _read_workbook(data: bytes, fmt: str, name: str, limits: Limits) -> Book:
    notes: list[Note] = []
    if fmt == "xls":
        if _is_encrypted_ole(data):
            raise ReadError("file.encrypted", ENCRYPTED_MESSAGE)
        if _OLE_VBA in data:
            notes.append(Note("file.macro", MACRO_MESSAGE))
        _inspect_biff(data, limits)
    else:
        _inspect_zip(data, fmt, name, limits, notes)
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


# ---- zip (xlsx / xlsm / xlsb / ods) guards ----------------------------------------------

_MACRO_PARTS = ("vbaproject.bin", "vbaprojectsignature.bin")
_ROW_R_RE = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{1,10})\"")
_CELL_RE = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_COL_RE = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"([A-Za-z]{1,3})\d")
_CELL_ROW_RE = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"[A-Za-z]{1,3}(\d{1,10})\"")
_ROW_BLOCK_RE = re.compile(rb"<(?:\w+:)?row\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_CELL_OPEN_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*)>")
_R_ATTR_RE = re.compile(rb"\sr=\"([A-Za-z]{1,3})(\d{1,10})\"")
_VALUE_RE = re.compile(rb"<(?:\w+:)?v>\s*[^<\s]")
_CELL_END_RE = re.compile(rb"</(?:\w+:)?c>")
# Formulas that reach outside the workbook when Excel opens it: DDE (cmd|' /C calc'!A0),
# links and web calls. They are never evaluated here; the cell's saved value is read.
_EXTERNAL_FORMULA_RE = re.compile(
    r"\||(?<![A-Z0-9_.])(HYPERLINK|WEBSERVICE|FILTERXML|CALL|REGISTER|REGISTER\.ID|RTD|EXEC|DDE|"
    r"IMPORTXML|IMPORTDATA|IMPORTRANGE|IMAGE)\s*\(", re.I)
_SHEET_TAG_RE = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_REL_TAG_RE = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTR_RE = re.compile(rb"([\w:]+)\s*=\s*\"([^\"]*)\"")
CHUNK = 1 << 20
MAX_FORMULA_NOTES = 20


def _read_member(z: zipfile.ZipFile, member) -> bytes:
    """A member's bytes, inflated piecewise: never more than its declared size (+1 piece).

    (ZipFile.read inflates all compressed input in one call before cutting to the
    declared size: a member that lies about its size would balloon there.)"""
    info = member if isinstance(member, zipfile.ZipInfo) else z.getinfo(member)
    out = []
    with z.open(info) as f:
        while chunk := f.read(CHUNK):
            out.append(chunk)
    return b"".join(out)


def _attrs(text: bytes) -> dict[str, str]:
    return {k.decode("ascii", "replace").split(":")[-1]: html.unescape(v.decode("utf-8", "replace"))
            for k, v in _ATTR_RE.findall(text)}


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _worksheet_names(z: zipfile.ZipFile, members: set[str]) -> dict[str, str]:
    """zip member -> sheet name, from xl/workbook.xml and its relationships (best effort)."""
    try:
        wb = _read_member(z, "xl/workbook.xml") if "xl/workbook.xml" in members else b""
        rels = _read_member(z, _WB_RELS) if _WB_RELS in members else b""
    except Exception:  # noqa: BLE001 - names only make messages nicer
        return {}
    targets = {}
    for m in _REL_TAG_RE.finditer(rels):
        a = _attrs(m.group(1))
        t = a.get("Target", "")
        if t:
            targets[a.get("Id", "")] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    out = {}
    for m in _SHEET_TAG_RE.finditer(wb):
        a = _attrs(m.group(1))
        target = targets.get(a.get("id", ""))
        if target:
            out[re.sub(r"[^/]+/\.\./", "", target)] = a.get("name", "")
    return out


def _inspect_zip(data: bytes, fmt: str, name: str, limits: Limits, notes: list[Note]) -> None:
    """Check a zip container before calamine opens it; raise ReadError for what must not
    be read, add notes for what is read with care."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 - BadZipFile, struct errors, ...
        raise ReadError("file.unreadable", "文件不完整或已损坏（Excel 文件的压缩结构无法读取，可能是上传或复制时中断），"
                        "请用 Excel 或 WPS 重新保存为 .xlsx 后上传") from exc
    if any(i.flag_bits & 0x1 for i in infos):
        raise ReadError("file.encrypted", ENCRYPTED_MESSAGE)
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        biggest = max(infos, key=lambda i: i.file_size)
        raise ReadError("file.too_large_uncompressed",
                        f"文件解压后有 {_size(total)}（其中「{biggest.filename}」{_size(biggest.file_size)}），"
                        f"超过 {_size(limits.max_uncompressed_bytes)} 的上限（可能是“压缩炸弹”或含大量无用内容），未读取；"
                        "请删除多余的工作表、图片和空行后另存为 .xlsx 重新上传")
    members = {i.filename for i in infos}
    lower = {m.lower() for m in members}
    macro = any(m.endswith(_MACRO_PARTS) for m in lower)
    if not macro and "[Content_Types].xml" in members:
        try:
            macro = b"macroEnabled" in _read_member(z, "[Content_Types].xml")
        except NOT_CAUGHT:
            raise
        except BaseException as exc:  # noqa: BLE001 - bad CRC, a size it lied about, ...
            raise ReadError("file.unreadable", f"文件已损坏（[Content_Types].xml：{type(exc).__name__}），无法读取；"
                            "请用 Excel 或 WPS 重新保存为 .xlsx 后上传") from exc
    if macro:
        notes.append(Note("file.macro", MACRO_MESSAGE))
    if fmt != "xlsx":
        return
    for info in infos:
        member = info.filename
        low = member.lower()
        if not ((low.startswith("xl/worksheets/") and low.endswith(".xml")) or member in _other_sheet_parts(z, members)):
            continue
        scan = _scan_worksheet(z, info, limits)
        if scan["error"] or scan["external"] or scan["no_value"] or scan["rows"] > limits.max_rows \
                or scan["rows"] * scan["width"] > limits.max_cells:
            sheet = _worksheet_names(z, members).get(member, member)
            _judge_worksheet(scan, sheet, limits, notes)


_WB_RELS = "xl/_rels/workbook.xml.rels"
_TARGET_RE = re.compile(rb"Target\s*=\s*\"([^\"]+)\"")
_NOT_SHEETS = re.compile(r"^xl/(styles\.xml|sharedstrings\.xml|calcchain\.xml|theme/|externallinks/|"
                         r"customxml|printersettings/|media/|vbaproject)", re.I)


def _other_sheet_parts(z: zipfile.ZipFile, members: set[str]) -> set[str]:
    """Parts the workbook points at outside xl/worksheets/ (a sheet may live anywhere)."""
    cache = getattr(z, "_huizong_parts", None)
    if cache is not None:
        return cache
    out: set[str] = set()
    if _WB_RELS in members:
        try:
            rels = _read_member(z, _WB_RELS)
        except Exception:  # noqa: BLE001
            rels = b""
        for t in _TARGET_RE.findall(rels):
            path = t.decode("utf-8", "replace")
            path = path.lstrip("/") if path.startswith("/") else "xl/" + path
            path = re.sub(r"[^/]+/\.\./", "", path)
            if path in members and not path.lower().startswith("xl/worksheets/") and not _NOT_SHEETS.match(path) \
                    and path.lower().endswith(".xml") and path != "xl/workbook.xml":
                out.add(path)
    z._huizong_parts = out
    return out


_ROW_RE = re.compile(rb"<(?:\w+:)?row[\s>/]")
_PREFIXED_ROOT_RE = re.compile(rb"<\w+:worksheet\b")
# a cell whose first attribute is not r (after exactly one space): not the fast path
# (calamine places a cell by its own reference; only cells without one go by position)
_CELL_NO_REF_RE = re.compile(rb"<c(?:[\t\r\n]| (?!r=)|>|/>)")
_BIG_OR_WIDE_RE = re.compile(rb' r="(?:[A-Za-z]{2,3}\d|[A-Za-z]{0,3}\d{4})')
_BIG_ROW_RE = re.compile(rb"\sr=\"[A-Za-z]{0,3}(\d{4,10})\"")   # row numbers >= 1000 only
_WIDE_COL_RE = re.compile(rb"\sr=\"([A-Za-z]{2,3})\d")          # columns beyond Z only


def _last_row_end(buf: bytes) -> int:
    """End of the last complete closing row tag in buf (</row> or </x:row>), or -1."""
    i = len(buf)
    while (i := buf.rfind(b"row>", 0, i)) >= 0:
        if buf[i - 2:i] == b"</" or (buf[i - 1:i] == b":" and buf.rfind(b"</", 0, i) >= i - 12):
            return i + 4
    return -1


def _parts(z: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The member's XML in pieces that end after a complete row (one piece when small);
    never more than its declared size is inflated (zipfile stops there and checks the CRC)."""
    if info.file_size <= CHUNK:
        yield _read_member(z, info)
        return
    pending: list[bytes] = []
    with z.open(info) as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                yield b"".join(pending)
                return
            prev = pending[-1][-16:] if pending else b""
            cut = _last_row_end(prev + chunk)
            if cut < 0:
                pending.append(chunk)
                continue
            cut -= len(prev)
            yield b"".join(pending) + chunk[:cut]
            pending = [chunk[cut:]]


def _may_hold_formula(part: bytes) -> bool:
    """b"<f" in part or b":f" in part, found faster: 'f' is rare in worksheet XML, and a
    one-byte find is a memchr where a two-byte one tests every position."""
    i = part.find(b"f")
    for _ in range(64):
        if i < 0:
            return False
        if i and part[i - 1] in b"<:":
            return True
        i = part.find(b"f", i + 1)
    return b"<f" in part or b":f" in part


def _scan_worksheet(z: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> dict:
    """Stream one worksheet's XML (at most its declared size): rows, used area, formulas.

    Fast path for what Excel, WPS and the usual libraries write (each cell's r attribute
    first): regexes that only match row numbers >= 1000 and columns beyond Z. Cells
    without a leading reference take the slow, exact path."""
    max_row = n_rows = 0
    cols: set[bytes] = set()
    seq_cols = 0
    exact = False
    first = True
    out = {"external": [], "no_value": 0, "first_no_value": "", "error": None}
    try:
        for part in _parts(z, info):
            if first:
                first = False
                exact = bool(_PREFIXED_ROOT_RE.search(part[:2000]))
            if exact:
                # prefixed tags (<x:c ...>): the exact, slower path
                n_rows += len(_ROW_RE.findall(part))
            else:
                exact = bool(_CELL_NO_REF_RE.search(part))
                if exact:
                    n_rows += len(_ROW_RE.findall(part))
            if exact:
                cols.update(_CELL_COL_RE.findall(part))
                rs = set(_CELL_ROW_RE.findall(part)) | set(_ROW_R_RE.findall(part))
                if rs:
                    max_row = max(max_row, max(map(int, rs)))
                for block in _ROW_BLOCK_RE.finditer(part):
                    seq_cols = max(seq_cols, len(_CELL_RE.findall(block.group(1) or b"")))
            elif _BIG_OR_WIDE_RE.search(part):
                big = _BIG_ROW_RE.findall(part)
                if big:
                    max_row = max(max_row, max(map(int, set(big))))
                cols.update(_WIDE_COL_RE.findall(part))
            if _may_hold_formula(part):
                _scan_formulas(part, out)
            if max(max_row, n_rows) > limits.max_rows:
                break
    except NOT_CAUGHT:
        raise
    except BaseException as exc:  # noqa: BLE001 - bad CRC, truncated member, ...
        out["error"] = type(exc).__name__
    rows = max(max_row, n_rows)
    width = max([_col_number(c) for c in cols] + [seq_cols])
    if not exact and cols and rows < 1000 and width * 999 > limits.max_cells and not out["error"]:
        # wide, and row numbers below 1000 are not collected on the fast path: count them
        data = _read_member(z, info)
        rs = set(_CELL_ROW_RE.findall(data)) | set(_ROW_R_RE.findall(data))
        rows = max(rows, max(map(int, rs), default=0))
    out["rows"] = rows
    out["width"] = width
    return out


def _judge_worksheet(scan: dict, sheet: str, limits: Limits, notes: list[Note]) -> None:
    if scan["error"]:
        raise ReadError("file.unreadable", f"工作表「{sheet}」已损坏（{scan['error']}），无法读取；"
                        "请用 Excel 或 WPS 重新保存为 .xlsx 后上传")
    rows, width = scan["rows"], scan["width"]
    if rows > limits.max_rows:
        raise ReadError("file.too_many_rows",
                        f"工作表「{sheet}」超过 {limits.max_rows} 行的上限，未读取；"
                        "一份报表不应有这么多行，请删除多余的行（含空行）后重新上传")
    if rows * width > limits.max_cells:
        raise ReadError("file.too_many_cells",
                        f"工作表「{sheet}」的使用区域为 {rows} 行 × {width} 列，超过 {limits.max_cells} 个单元格的上限，"
                        "未读取；请删除表格以外远处的单元格内容和格式后重新上传")
    for ref, text in scan["external"][:MAX_FORMULA_NOTES]:
        notes.append(Note("cell.external_formula",
                          f"工作表「{sheet}」单元格 {ref} 含有调用外部程序或链接的公式「{text[:200]}」"
                          "（如 DDE、HYPERLINK），系统不会执行，只读取其保存的值；请改为直接填写数值或文字后重新报送",
                          sheet=sheet, row=int(re.sub(r"\D", "", ref) or 0), value=text[:1000]))
    if scan["no_value"]:
        notes.append(Note("cell.formula_no_value",
                          f"工作表「{sheet}」有 {scan['no_value']} 个公式单元格（如 {scan['first_no_value']}）"
                          "没有保存计算结果（文件未经 Excel/WPS 计算保存），这些单元格按空值读取；"
                          "请在 Excel 或 WPS 中打开、保存后重新上传", sheet=sheet,
                          value=scan["first_no_value"]))


def _scan_formulas(part: bytes, out: dict) -> None:
    for m in _FORMULA_RE.finditer(part):
        text = html.unescape((m.group(2) or b"").decode("utf-8", "replace")).strip()
        open_at = max(part.rfind(b"<c ", 0, m.start()), part.rfind(b":c ", 0, m.start()))
        ref = ""
        if open_at >= 0:
            cm = _R_ATTR_RE.search(part, open_at, m.start())
            if cm:
                ref = (cm.group(1) + cm.group(2)).decode("ascii")
        end = _CELL_END_RE.search(part, m.end())
        segment = part[m.end(): end.start() if end else m.end()]
        if not _VALUE_RE.search(segment):
            out["no_value"] += 1
            if not out["first_no_value"]:
                out["first_no_value"] = ref
        if text and _EXTERNAL_FORMULA_RE.search(text) and len(out["external"]) < MAX_FORMULA_NOTES:
            out["external"].append((ref, "=" + text))


# ---- xls (BIFF in an OLE2 compound file) guards ----------------------------------------

_BIFF_CELLS = frozenset({0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x0201, 0x0006, 0x0406, 0x00D6})
_BIFF_MULTI = frozenset({0x00BD, 0x00BE})   # MULRK, MULBLANK: row, first col, ..., last col
_BIFF_BOF, _BIFF_FILEPASS = 0x0809, 0x002F
_FREE = 0xFFFFFFFF


def _cfb_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """The first stream called one of `names` in an OLE2 compound file (MS-CFB), or None.
    Chains are followed at most as many steps as the file has sectors (no loops)."""
    import struct

    if len(data) < 512:
        return None
    ssz = 1 << struct.unpack_from("<H", data, 30)[0]
    mssz = 1 << struct.unpack_from("<H", data, 32)[0]
    n_fat, first_dir = struct.unpack_from("<II", data, 44)[0], struct.unpack_from("<I", data, 48)[0]
    cutoff, first_mini, n_mini, first_difat, n_difat = struct.unpack_from("<IIIII", data, 56)
    if ssz not in (512, 4096):
        return None
    n_sectors = (len(data) - ssz) // ssz + 1

    def sector(i: int) -> bytes:
        off = (i + 1) * ssz
        return data[off:off + ssz]

    difat = list(struct.unpack_from("<109I", data, 76))
    nxt, steps = first_difat, 0
    while nxt < 0xFFFFFFFA and steps < n_difat and steps < n_sectors:
        sec = sector(nxt)
        k = ssz // 4 - 1
        difat += struct.unpack_from(f"<{k}I", sec)
        nxt = struct.unpack_from("<I", sec, k * 4)[0]
        steps += 1
    fat: list[int] = []
    for i in difat[:n_fat]:
        if i < 0xFFFFFFFA:
            sec = sector(i)
            fat += struct.unpack_from(f"<{len(sec) // 4}I", sec)

    def chain(start: int, table: list[int], limit: int) -> list[int]:
        out, i = [], start
        while 0 <= i < len(table) and len(out) <= limit:
            out.append(i)
            i = table[i]
        return out

    def read(start: int, size: int) -> bytes:
        return b"".join(sector(i) for i in chain(start, fat, n_sectors))[:size]

    dirs = read(first_dir, n_sectors * ssz)
    entries = [dirs[k:k + 128] for k in range(0, len(dirs) - 127, 128)]
    if not entries:
        return None
    root_start, root_size = struct.unpack_from("<IQ", entries[0], 116)
    for e in entries:
        nlen = struct.unpack_from("<H", e, 64)[0]
        name = e[:max(0, nlen - 2)].decode("utf-16-le", "replace")
        if e[66] == 2 and name in names:
            start, size = struct.unpack_from("<IQ", e, 116)
            size = min(size, len(data))
            if size >= cutoff:
                return read(start, size)
            mini_fat_bytes = read(first_mini, n_mini * ssz)
            minifat = list(struct.unpack_from(f"<{len(mini_fat_bytes) // 4}I", mini_fat_bytes))
            ministream = read(root_start, min(root_size, len(data)))
            return b"".join(ministream[i * mssz:(i + 1) * mssz]
                            for i in chain(start, minifat, len(minifat)))[:size]
    return None


def _inspect_biff(data: bytes, limits: Limits) -> None:
    """Walk the BIFF records of an .xls before calamine builds its dense cell range: the
    used area of each sheet from its cell records (a 6 KB file naming cell IV65536 would
    otherwise cost a gigabyte), and FILEPASS (a password to open)."""
    import struct

    try:
        stream = _cfb_stream(data, ("Workbook", "Book"))
    except Exception:  # noqa: BLE001 - a broken container: calamine will say so
        return
    if not stream:
        return
    pos, n, sheet = 0, len(stream), -1
    max_row = max_col = 0

    def judge() -> None:
        if sheet > 0 and (max_row > limits.max_rows or max_row * max_col > limits.max_cells):
            what = (f"超过 {limits.max_rows} 行的上限" if max_row > limits.max_rows else
                    f"的使用区域为 {max_row} 行 × {max_col} 列，超过 {limits.max_cells} 个单元格的上限")
            raise ReadError("file.too_many_rows" if max_row > limits.max_rows else "file.too_many_cells",
                            f"第 {sheet} 个工作表{what}，未读取；请删除表格以外的内容后另存为 .xlsx 重新上传")

    while pos + 4 <= n:
        typ, length = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if typ == _BIFF_BOF:
            judge()
            sheet += 1
            max_row = max_col = 0
        elif typ == _BIFF_FILEPASS and sheet <= 0:
            raise ReadError("file.encrypted", ENCRYPTED_MESSAGE)
        elif typ in _BIFF_CELLS and length >= 4:
            r, c = struct.unpack_from("<HH", stream, body)
            max_row, max_col = max(max_row, r + 1), max(max_col, c + 1)
        elif typ in _BIFF_MULTI and length >= 6:
            r, = struct.unpack_from("<H", stream, body)
            last, = struct.unpack_from("<H", stream, body + length - 2)
            max_row, max_col = max(max_row, r + 1), max(max_col, last + 1)
        pos = body + length
    judge()


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
            if v[0] in "=+-@" and n_formula < MAX_FORMULA_NOTES and _EXTERNAL_FORMULA_RE.search(v[:1000]):
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


def _utf16_without_bom(data: bytes) -> str:
    """'utf-16-le'/'utf-16-be' when text bytes look like UTF-16 without a BOM, else ''."""
    probe = data[:4096]
    if len(probe) < 4:
        return ""
    even, odd = probe[0::2], probe[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return ""


_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def _mixed_utf8(data: bytes, exc: UnicodeDecodeError, offset: int) -> None:
    """A file that is UTF-8 (Chinese text) up to a point and something else after it."""
    head = data[offset:exc.start].decode("utf-8", "replace")
    if len(_CJK_RE.findall(head)) >= 2:
        line = data[:exc.start].count(b"\n") + 1
        raise ReadError("file.mixed_encoding",
                        f"文件编码混杂：前面是 UTF-8 编码，从第 {line} 行起出现了不是 UTF-8 的字节"
                        f"（如 GBK 编码的汉字），无法正确读取；请用同一种编码（UTF-8）另存后重新上传")


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) for csv bytes: utf-8-sig strictly, then GBK/GB18030, then
    charset-normalizer. Raises ReadError when the bytes are not text, or are UTF-8 text
    that turns into another encoding part-way (file.mixed_encoding)."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            _mixed_utf8(data[3:], exc, 0)
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            _mixed_utf8(data, exc, 0)
    enc16 = _utf16_without_bom(data)
    if enc16:
        try:
            return data.decode(enc16), enc16
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


def _read_text(data: bytes, limits: Limits) -> Book:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")) \
            and not _utf16_without_bom(data):
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
    if csv.field_size_limit() < limits.max_file_bytes:
        # cells longer than the csv module's default (128 KB) are read, then cut
        csv.field_size_limit(limits.max_file_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list] = []
    lines: list[int] = []
    start = 1
    width = 0
    try:
        for rec in reader:
            rows.append(rec)
            lines.append(start)
            start = reader.line_num + 1
            if len(rec) > width:
                width = len(rec)
            if len(rows) > limits.max_rows:
                raise ReadError("file.too_many_rows", f"文件超过 {limits.max_rows} 行的上限，未读取；"
                                "一份报表不应有这么多行，请删除多余的行后重新上传")
            if len(rows) * width > limits.max_cells:
                raise ReadError("file.too_many_cells", f"文件的内容超过 {limits.max_cells} 个单元格的上限"
                                f"（{len(rows)} 行 × {width} 列），未读取；请删除多余的行和列后重新上传")
    except csv.Error as exc:
        raise ReadError("file.unreadable", f"CSV 文件格式有误（{exc}），请另存为 .xlsx 后重新上传") from exc
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        if len(r) < width:
            r.extend([""] * (width - len(r)))
    return Book(file_format="csv", encoding=enc, sheets=[Sheet("", rows, lines)])
