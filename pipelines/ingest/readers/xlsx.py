"""Guards for zip workbooks (xlsx / xlsm / xlsb / ods), checked before calamine opens them.

The zip's central directory is read first: encrypted members and declared uncompressed
sizes above the limit are ReadErrors before anything is inflated. Macro-enabled
workbooks become a note. Each worksheet's XML is streamed (at most its declared size)
for its row count and used area, formulas without a saved value and formulas calling
out (DDE, HYPERLINK, ...), so calamine never builds an oversized dense range.
"""
from __future__ import annotations

import html
import io
import re
import zipfile

from pipelines.ingest.readers.book import (
    ENCRYPTED_MESSAGE,
    EXTERNAL_FORMULA_RE,
    MACRO_MESSAGE,
    MAX_FORMULA_NOTES,
    NOT_CAUGHT,
    Limits,
    Note,
    ReadError,
    size_text,
)

_MACRO_PARTS = ("vbaproject.bin", "vbaprojectsignature.bin")
_ROW_R_RE = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{1,10})\"")
_CELL_RE = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_COL_RE = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"([A-Za-z]{1,3})\d")
_CELL_ROW_RE = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"[A-Za-z]{1,3}(\d{1,10})\"")
_ROW_BLOCK_RE = re.compile(rb"<(?:\w+:)?row\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_R_ATTR_RE = re.compile(rb"\sr=\"([A-Za-z]{1,3})(\d{1,10})\"")
_VALUE_RE = re.compile(rb"<(?:\w+:)?v>\s*[^<\s]")
_CELL_END_RE = re.compile(rb"</(?:\w+:)?c>")
_SHEET_TAG_RE = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_REL_TAG_RE = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTR_RE = re.compile(rb"([\w:]+)\s*=\s*\"([^\"]*)\"")
CHUNK = 1 << 20


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


def inspect_zip(data: bytes, fmt: str, name: str, limits: Limits, notes: list[Note]) -> None:
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
                        f"文件解压后有 {size_text(total)}（其中「{biggest.filename}」{size_text(biggest.file_size)}），"
                        f"超过 {size_text(limits.max_uncompressed_bytes)} 的上限（可能是“压缩炸弹”或含大量无用内容），未读取；"
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
        if text and EXTERNAL_FORMULA_RE.search(text) and len(out["external"]) < MAX_FORMULA_NOTES:
            out["external"].append((ref, "=" + text))

