"""readers.read_book: formats, encodings, broken files."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
import xlwt

from pipelines.ingest.readers import read_book, sniff_format
from pipelines.ingest.readers.book import OLE_MAGIC, ReadError
from pipelines.ingest.readers.text import decode_text

CSV_TEXT = "逍遥镇精准扶贫周报（2026年第47周）\n村代码,村名\n411622107201,焦东村\n"


def _xlsx(cells: dict, sheet="Sheet1") -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for ref, v in cells.items():
        ws[ref] = v
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xls(cells: dict, sheet="Sheet1") -> bytes:
    wb = xlwt.Workbook()
    ws = wb.add_sheet(sheet)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for (r, c), v in cells.items():
        if isinstance(v, dt.date):
            ws.write(r, c, v, date_style)
        else:
            ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_rows_start_at_a1():
    book = read_book(_xlsx({"C3": "户编号", "C4": 1.5}), "x.xlsx")
    assert book.file_format == "xlsx"
    rows = book.sheets[0].rows
    assert rows[2][2] == "户编号" and rows[3][2] == 1.5  # blank rows/cols kept: row 3 is index 2


def test_xls_read_with_types():
    book = read_book(_xls({(1, 1): "村代码", (2, 1): 411622107201.0, (3, 1): dt.date(2026, 11, 22)}),
                     "a.xls")
    assert book.file_format == "xls"
    rows = book.sheets[0].rows
    assert rows[1][1] == "村代码"
    assert rows[2][1] == 411622107201.0
    assert rows[3][1] == dt.date(2026, 11, 22)


@pytest.mark.parametrize("encoding,expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk"), ("gb18030", "gbk"),
])
def test_csv_encodings(encoding, expected):
    book = read_book(CSV_TEXT.encode(encoding), "t.csv")
    assert book.file_format == "csv" and book.encoding == expected
    rows = book.sheets[0].rows
    assert rows[0][0] == "逍遥镇精准扶贫周报（2026年第47周）"  # BOM removed
    assert rows[2] == ["411622107201", "焦东村"]
    assert book.sheets[0].line_numbers == [1, 2, 3]


def test_csv_gb18030_only_characters():
    text = "村名\n𠮷村\n"   # outside GBK
    book = read_book(text.encode("gb18030"), "t.csv")
    assert book.encoding == "gb18030"
    assert book.sheets[0].rows[1] == ["𠮷村"]


def test_csv_rows_padded_and_line_numbers_follow_multiline_cells():
    data = 'a,b,c\n"多\n行",2\n3\n'.encode("utf-8")
    sheet = read_book(data, "t.csv").sheets[0]
    assert sheet.rows == [["a", "b", "c"], ["多\n行", "2", ""], ["3", "", ""]]
    assert sheet.line_numbers == [1, 2, 4]


def test_tab_separated_text_with_xls_name():
    data = "村代码\t村名\n411622107201\t焦东村\n".encode("gbk")
    book = read_book(data, "伪装.xls")
    assert book.file_format == "csv"
    assert book.sheets[0].rows[1] == ["411622107201", "焦东村"]


def test_decode_prefers_strict_utf8():
    assert decode_text("焦东村".encode("utf-8")) == ("焦东村", "utf-8")
    assert decode_text("焦东村".encode("gbk")) == ("焦东村", "gbk")


@pytest.mark.parametrize("data,rule", [
    (b"", "file.empty"),
    (b"   \r\n  \n", "file.empty"),
    (b"PK\x03\x04garbage-not-a-zip" * 3, "file.unreadable"),
    (OLE_MAGIC + b"\x00" * 600, "file.unreadable"),
    (OLE_MAGIC + b"\x00" * 100 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 100,
     "file.encrypted"),
    (bytes(range(256)) * 20, "file.unreadable"),
])
def test_unreadable_files_raise_read_error(data, rule):
    with pytest.raises(ReadError) as err:
        read_book(data, "x.xlsx")
    assert err.value.rule == rule
    assert err.value.message  # a Chinese message for the steward


def test_truncated_xlsx_is_unreadable():
    data = _xlsx({"A1": "户编号"})
    with pytest.raises(ReadError) as err:
        read_book(data[: len(data) // 2], "x.xlsx")
    assert err.value.rule == "file.unreadable"


def test_sniff_format_uses_content_not_name():
    assert sniff_format(_xlsx({"A1": 1}), "报表.csv") == "xlsx"
    assert sniff_format(b"a,b\n", "报表.xlsx") == "csv"
    assert sniff_format(OLE_MAGIC, "报表.xlsx") == "xls"


class FakePanic(BaseException):
    """pyo3_runtime.PanicException (a Rust panic in calamine) derives from BaseException."""


def test_calamine_panic_becomes_unreadable(monkeypatch):
    import python_calamine as pc

    def panic(*a, **k):
        raise FakePanic("assertion `left == right` failed")
    monkeypatch.setattr(pc.CalamineWorkbook, "from_filelike", panic)
    with pytest.raises(ReadError) as err:
        read_book(_xlsx({"A1": "户编号"}), "x.xlsx")
    assert err.value.rule == "file.unreadable"


def test_keyboard_interrupt_is_not_swallowed(monkeypatch):
    import python_calamine as pc

    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(pc.CalamineWorkbook, "from_filelike", stop)
    with pytest.raises(KeyboardInterrupt):
        read_book(_xlsx({"A1": "户编号"}), "x.xlsx")


def test_hidden_sheets_are_listed():
    wb = openpyxl.Workbook()
    wb.active["A1"] = "x"
    h = wb.create_sheet("旧")
    h["A1"] = "y"
    h.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    book = read_book(buf.getvalue(), "x.xlsx")
    assert [s.name for s in book.sheets] == ["Sheet", "旧"] and book.hidden == {"旧"}
