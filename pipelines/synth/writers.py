"""Spreadsheet writers for a cell grid: minimal xlsx (zip of XML), legacy xls (xlwt), csv.

A grid is a list of rows; a cell is None (empty), str, int, float or DateSerial (an Excel
serial day number shown with a date format). Merges are (r0, c0, r1, c1), 0-based, inclusive.
All writers are deterministic: the same grid gives the same bytes.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass

_EXCEL_EPOCH = dt.date(1899, 12, 30)


@dataclass(frozen=True)
class DateSerial:
    """An Excel date: the serial number, written with a date number format."""
    serial: int

    @classmethod
    def of(cls, day: dt.date) -> "DateSerial":
        return cls((day - _EXCEL_EPOCH).days)


@dataclass
class Sheet:
    name: str
    grid: list[list]
    merges: list[tuple[int, int, int, int]]


def excel_serial(day: dt.date) -> int:
    return (day - _EXCEL_EPOCH).days


def _col_letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


_COLS = _col_letters(200)
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet {_NS}>'
    '<fonts count="1"><font><sz val="11"/><name val="宋体"/><family val="2"/><charset val="134"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)


def _sheet_xml(sheet: Sheet) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
             f'<worksheet {_NS} {_NS_R}><sheetData>']
    cols = _COLS
    for ri, row in enumerate(sheet.grid):
        r = ri + 1
        cells = []
        for ci, v in enumerate(row):
            if v is None or v == "":
                continue
            ref = cols[ci] + str(r)
            t = type(v)
            if t is str:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{v.translate(_ESC)}</t></is></c>')
            elif t is int:
                cells.append(f'<c r="{ref}"><v>{v}</v></c>')
            elif t is float:
                cells.append(f'<c r="{ref}"><v>{v!r}</v></c>')
            elif t is DateSerial:
                cells.append(f'<c r="{ref}" s="1"><v>{v.serial}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{str(v).translate(_ESC)}</t></is></c>')
        if cells:
            parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData>")
    if sheet.merges:
        parts.append(f'<mergeCells count="{len(sheet.merges)}">')
        for r0, c0, r1, c1 in sheet.merges:
            parts.append(f'<mergeCell ref="{cols[c0]}{r0 + 1}:{cols[c1]}{r1 + 1}"/>')
        parts.append("</mergeCells>")
    parts.append("</worksheet>")
    return "".join(parts)


def xlsx_bytes(sheets: list[Sheet], created: dt.datetime, author: str = "Administrator") -> bytes:
    """A small valid xlsx workbook (inline strings, one date style, real merged cells)."""
    n = len(sheets)
    ts = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(n))
            + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '</Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            '</Relationships>'),
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dc:creator>{author.translate(_ESC)}</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{ts}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{ts}</dcterms:modified>'
            '</cp:coreProperties>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook {_NS} {_NS_R}><sheets>'
            + "".join(f'<sheet name="{s.name.translate(_ESC)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, s in enumerate(sheets))
            + '</sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>' for i in range(n))
            + f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            '</Relationships>'),
        "xl/styles.xml": _STYLES,
    }
    for i, s in enumerate(sheets):
        files[f"xl/worksheets/sheet{i + 1}.xml"] = _sheet_xml(s)
    buf = io.BytesIO()
    stamp = (max(created.year, 1980), created.month, created.day, created.hour, created.minute, created.second)
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, text.encode("utf-8"), compresslevel=1)
    return buf.getvalue()


def xls_bytes(sheets: list[Sheet]) -> bytes:
    """Legacy BIFF8 .xls via xlwt, with real merged cells and date-formatted serials."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="yyyy/m/d")
    for s in sheets:
        ws = wb.add_sheet(s.name, cell_overwrite_ok=True)
        covered = set()
        for r0, c0, r1, c1 in s.merges:
            v = s.grid[r0][c0] if c0 < len(s.grid[r0]) else None
            ws.write_merge(r0, r1, c0, c1, "" if v is None else v)
            covered.update((r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))
        for r, row in enumerate(s.grid):
            for c, v in enumerate(row):
                if v is None or v == "" or (r, c) in covered:
                    continue
                if type(v) is DateSerial:
                    ws.write(r, c, v.serial, date_style)
                else:
                    ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text_cell(v) -> str:
    if v is None:
        return ""
    if type(v) is float:
        return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.1f}"
    if type(v) is DateSerial:
        return str(v.serial)
    return str(v)


def csv_bytes(grid: list[list], encoding: str, pad: bool = True) -> bytes:
    """CSV as Excel saves it (CRLF); encoding utf-8, utf-8-sig or gbk; pad = equal widths."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    width = max((len(r) for r in grid), default=0)
    for row in grid:
        cells = [csv_text_cell(v) for v in row]
        if pad:
            cells += [""] * (width - len(cells))
        else:
            while cells and cells[-1] == "":
                cells.pop()
        w.writerow(cells)
    text = buf.getvalue()
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("gb18030" if encoding == "gbk" else "utf-8")
