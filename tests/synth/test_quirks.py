"""The files really carry the real-world quirks (read with openpyxl, xlrd and csv), and are reproducible."""
import csv
import io
import os
import re

import openpyxl
import pytest
import xlrd

from pipelines.synth import generate

WEEK = "2026-W47"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("quirks")
    generate(out=out, weeks=WEEK, scale="0.03", faults="none", seed=123)
    files = [p for p in (out / WEEK).rglob("*") if p.is_file()]
    return out, files


def _xlsx_cells(files):
    ledgers = 0
    for p in sorted(files):
        if p.suffix == ".xlsx":
            if "三本账" in p.name or "台账" in p.name:
                ledgers += 1
                if ledgers > 40:
                    continue
            wb = openpyxl.load_workbook(p)
            for ws in wb.worksheets:
                yield p, ws


def test_formats_and_encodings(world):
    _, files = world
    suffixes = {p.suffix for p in files}
    assert suffixes == {".xlsx", ".xls", ".csv"}
    kinds = set()
    for p in files:
        if p.suffix != ".csv":
            continue
        raw = p.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            kinds.add("bom")
            continue
        try:
            raw.decode("utf-8")
            kinds.add("utf-8")
        except UnicodeDecodeError:
            raw.decode("gbk")
            kinds.add("gbk")
    assert kinds == {"bom", "utf-8", "gbk"}


def test_xlsx_quirks_openpyxl(world):
    _, files = world
    found = set()
    for p, ws in _xlsx_cells(files):
        if ws.merged_cells.ranges:
            found.add("merged")
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if v is None:
                    continue
                if c.is_date:
                    found.add("serial_date")
                if isinstance(v, str):
                    if re.search("[０-９]", v):
                        found.add("fullwidth")
                    if re.fullmatch(r"\d+", v) and c.column > 1 and len(v) < 6:
                        found.add("text_number")
                    if v in ("—", "-", "/"):
                        found.add("dash")
                    if v == "合计":
                        found.add("total")
                    if "\n" in v:
                        found.add("line_break_header")
                    if "（万元）" in v or "（元）" in v:
                        found.add("fullwidth_bracket")
                    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", v):
                        found.add("thousands")
                    if v.startswith("单位：户、人、万元"):
                        found.add("units_line")
                    if v.startswith("填表人："):
                        found.add("footer")
                    if v.startswith("填报单位："):
                        found.add("unit_line")
                    if re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", v):
                        found.add("date_cn")
                    if re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", v):
                        found.add("date_dot")
                    if re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", v):
                        found.add("date_slash")
                    if v in ("身份证号码", "身份证号", "户主身份证号码", "户主", "贫困户编号"):
                        found.add("synonym")
            if ws.max_row and all(c.value is None for c in ws[1]):
                found.add("blank_top_row")
    expected = {"merged", "serial_date", "fullwidth", "text_number", "dash", "total", "line_break_header",
                "fullwidth_bracket", "thousands", "units_line", "footer", "unit_line", "date_cn", "date_dot",
                "date_slash", "synonym", "blank_top_row"}
    assert expected <= found, expected - found


def test_xls_quirks_xlrd(world):
    _, files = world
    found = set()
    for p in files:
        if p.suffix != ".xls":
            continue
        book = xlrd.open_workbook(str(p), formatting_info=True)
        assert book.nsheets in (1, 3)
        for sh in book.sheets():
            if sh.merged_cells:
                found.add("merged")
            for r in range(sh.nrows):
                for c in range(sh.ncols):
                    cell = sh.cell(r, c)
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        found.add("date")
                    if cell.ctype == xlrd.XL_CELL_TEXT and cell.value == "合计":
                        found.add("total")
            if book.nsheets == 3:
                found.add("ledger")
    assert {"merged", "date", "total", "ledger"} <= found


def test_csv_quirks(world):
    _, files = world
    found = set()
    for p in files:
        if p.suffix != ".csv":
            continue
        raw = p.read_bytes()
        text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else (
            raw.decode("utf-8") if _is_utf8(raw) else raw.decode("gbk"))
        rows = list(csv.reader(io.StringIO(text)))
        assert re.search(r"2026年第47周", text)
        for row in rows:
            if "合计" in row:
                found.add("total")
            if any(re.search("[０-９]", v) for v in row):
                found.add("fullwidth")
            if any(v in ("—", "-", "/") for v in row):
                found.add("dash")
        if rows and len(rows[0]) == 1 or (rows and all(v == "" for v in rows[0][1:])):
            found.add("title")
        if len({len(r) for r in rows}) > 1:
            found.add("ragged")
    assert {"total", "fullwidth", "dash", "title", "ragged"} <= found


def _is_utf8(raw):
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_names_folders_and_weeks(world):
    out, files = world
    names = [p.name for p in files]
    assert any(re.search(r"(\(更正\)|\(改\)|（更正）|_改)", n) for n in names)
    assert any("第47周" in n for n in names) and any("第47周" not in n for n in names)
    depths = {len(p.relative_to(out / WEEK).parts) for p in files}
    assert len(depths) >= 2  # some counties flatten, others nest
    for p in files:
        if p.suffix in (".xlsx",):
            wb = openpyxl.load_workbook(p, read_only=True)
            if len(wb.sheetnames) == 1:  # Forms B-D carry the week in the header block
                text = " ".join(str(c) for row in wb.worksheets[0].iter_rows(max_row=6, values_only=True)
                                for c in row if c)
                assert "2026年第47周" in text, p
            wb.close()


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(out=a, weeks="2026-W47..2026-W48", scale="0.01", faults="default", seed=5)
    generate(out=b, weeks="2026-W47..2026-W48", scale="0.01", faults="default", seed=5, workers=1)
    generate(out=c, weeks="2026-W47..2026-W48", scale="0.01", faults="default", seed=6)
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and len(fa) > 100
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        if rel.parts[0].startswith("2026-W"):  # arrival times are part of the world
            assert os.stat(a / rel).st_mtime == os.stat(b / rel).st_mtime
    fc = sorted(p.relative_to(c) for p in c.rglob("*") if p.is_file())
    assert fc != fa or any((a / r).read_bytes() != (c / r).read_bytes() for r in fa)
