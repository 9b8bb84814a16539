"""Value parsers: numbers, dates, IDs/codes, yes/no, weeks, headers; column converters."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import forms
from pipelines.ingest import converters as C
from pipelines.ingest import values as V
from pipelines.ingest.headers import LOOKUPS, norm

FULL = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


# ---- numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("cell,expected", [
    ("2,760", 2760.0), ("１２６", 126.0), ("12.5", 12.5), (" 38 ", 38.0), (38.0, 38.0),
    (7, 7.0), ("1,234,567.5", 1234567.5), ("-3", -3.0), ("３.５", 3.5),
    ("—", 0.0), ("-", 0.0), ("/", 0.0), ("－", 0.0), ("", 0.0), ("——", 0.0),
])
def test_parse_number_accepts(cell, expected):
    assert V.parse_number(cell) == (expected, True)


@pytest.mark.parametrize("cell", ["abc", "3人", "12万元", "1,2", "1.2.3", True, dt.date(2026, 1, 1),
                                  float("nan"), "1,23,4"])
def test_parse_number_rejects(cell):
    assert V.parse_number(cell) == (None, False)


@pytest.mark.parametrize("cell,unit,expected", [
    ("38户", "户", (38.0, "ok")), ("15人次", "人次", (15.0, "ok")), ("12.5万元", "万元", (12.5, "ok")),
    ("２０１４年", "年", (2014.0, "ok")), ("2,760 元", "元", (2760.0, "ok")), ("—户", "户", (0.0, "ok")),
    ("38人", "户", (None, "unit_mismatch")), ("5元", "万元", (None, "unit_mismatch")),
    ("15人次", "人", (None, "unit_mismatch")), ("户", "户", (None, "not_number")),
    ("约38户", "户", (None, "not_number")), ("38头", "户", (None, "not_number")),
])
def test_number_with_unit(cell, unit, expected):
    assert V.parse_number(cell) == (None, False)
    assert V.number_with_unit(cell, unit) == expected


def test_parse_number_empty_without_zero_fill_is_na():
    assert V.parse_number("", zero_fill=False) == (None, True)
    assert V.parse_number("—", zero_fill=False) == (None, True)


@given(st.integers(min_value=0, max_value=10**12), st.booleans(), st.booleans())
def test_number_roundtrip_with_separators_and_fullwidth(n, sep, full):
    s = f"{n:,}" if sep else str(n)
    if full:
        s = s.translate(FULL)
    assert V.parse_number(s) == (float(n), True)
    assert V.parse_int(s) == (n, True)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_number_text_roundtrip(x):
    assert V.parse_number(repr(x)) == (x, True)
    assert V.parse_number(x) == (x, True)


@given(st.text(alphabet="人户元万abc零一", min_size=1, max_size=4))
def test_number_with_letters_is_rejected(s):
    assert V.parse_number(s)[1] is False


def test_parse_int_rejects_fraction():
    assert V.parse_int("3.5") == (None, False)
    assert V.parse_int(4.0) == (4, True)


# ---- dates ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell", [
    46348, 46348.0, "46348", dt.date(2026, 11, 22), dt.datetime(2026, 11, 22, 0, 0),
    "2026年11月22日", "2026-11-22", "2026/11/22", "2026.11.22", "20261122", 20261122,
    "２０２６年１１月２２日", "2026-11-22 00:00:00", "2026 年 11 月 22 日", 46348.5,
])
def test_parse_date_styles(cell):
    assert V.parse_date(cell) == (dt.date(2026, 11, 22), True)


def test_parse_date_single_digit_day():
    assert V.parse_date("2026年11月2日") == (dt.date(2026, 11, 2), True)


@pytest.mark.parametrize("cell", ["明天", "2026-13-01", "2026年2月30日", "11/22", 12.0, "abc"])
def test_parse_date_rejects(cell):
    assert V.parse_date(cell) == (None, False)


def test_parse_date_empty_is_na_without_error():
    assert V.parse_date("") == (None, True)


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_date_roundtrip_all_styles(d):
    serial = (d - dt.date(1899, 12, 30)).days
    for cell in (serial, float(serial), str(serial), d, f"{d.year}年{d.month}月{d.day}日",
                 f"{d.year}年{d.month:02d}月{d.day:02d}日", d.strftime("%Y.%m.%d"),
                 d.strftime("%Y/%m/%d"), d.isoformat(), f"{d.year}/{d.month}/{d.day}"):
        assert V.parse_date(cell) == (d, True), cell


# ---- IDs and codes -------------------------------------------------------------------

@pytest.mark.parametrize("cell,expected", [
    ("41162219720915524x", ("41162219720915524X", "ok")),
    (" 411622 1972 0915 524X ", ("41162219720915524X", "ok")),
    ("４１１６２２１０７２０１", ("411622107201", "ok")),
    (411622107201.0, ("411622107201", "ok")),
    (411622107, ("411622107", "ok")),
    ("411622107201.0", ("411622107201", "ok")),
    (4.116221985041398e+17, (None, "scientific")),
    (4116221072010008.0, (None, "scientific")),
    ("4.11622E+17", (None, "scientific")),
    ("4.116221985041398e+17", (None, "scientific")),
    ("", (None, "empty")),
])
def test_parse_code(cell, expected):
    assert V.parse_code(cell) == expected


_DIGITS = st.text(alphabet="0123456789", min_size=17, max_size=17)


@pytest.mark.parametrize("cell,digits,expected", [
    (4116221072010001.0, 16, ("4116221072010001", "ok")),
    (4116221072010001, 16, ("4116221072010001", "ok")),
    ("4116221072010009.0", 16, ("4116221072010009", "ok")),
    (4116221072010010.0, 16, (None, "scientific")),        # ends in 0: digits may be lost
    (4116221072010001.0, 18, (None, "scientific")),        # not the code's length
    (41162210720100011.0, 17, (None, "scientific")),       # above 2**53: not exact
    (411622107201.0, 12, ("411622107201", "ok")),
])
def test_parse_code_of_a_known_length(cell, digits, expected):
    assert V.parse_code(cell, digits) == expected


@given(_DIGITS, st.sampled_from("0123456789xX"))
def test_id_text_kept_exactly(body, last):
    s, status = V.parse_code(body + last)
    assert status == "ok"
    assert s == body + last.upper()


@given(st.integers(min_value=10**15, max_value=10**18 - 1))
def test_big_float_ids_are_never_repaired(n):
    assert V.parse_code(float(n)) == (None, "scientific")
    assert V.parse_code(f"{float(n):.5E}") == (None, "scientific")


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_safe_float_codes_convert_exactly(n):
    assert V.parse_code(float(n)) == (str(n), "ok")


# ---- yes/no, text, weeks -------------------------------------------------------------

@pytest.mark.parametrize("cell,expected", [
    ("是", "是"), ("Y", "是"), ("y", "是"), ("√", "是"), ("✔", "是"), ("有", "是"), ("是的", "是"), ("对", "是"),
    ("Yes", "是"), ("ＹＥＳ", "是"), ("1", "是"), (1.0, "是"), (True, "是"), ("TRUE", "是"), (" 是\u3000", "是"),
    ("否", "否"), ("N", "否"), ("×", "否"), ("✘", "否"), ("无", "否"), ("没有", "否"), ("不是", "否"), ("No", "否"),
    ("0", "否"), (0.0, "否"), (False, "否"), ("False", "否"), ("", None), (None, None)])
def test_parse_yesno(cell, expected):
    assert V.parse_yesno(cell) == (expected, True)


@pytest.mark.parametrize("cell", ["也许", "待定", "2", 2.0, "是否", "-", "1.0", "√×"])
def test_parse_yesno_refuses_what_is_neither(cell):
    assert V.parse_yesno(cell) == (None, False)


@pytest.mark.parametrize("text,expected", [
    ("填报周次：2026年第47周", "2026-W47"), ("焦东村计划进度账（2026年第47周）", "2026-W47"),
    ("2026第47周", "2026-W47"), ("２０２６年第４７周", "2026-W47"), ("2026-W07", "2026-W07"),
    ("2026年 第 3 周", "2026-W03"), ("第47周", None), ("2026年第60周", None), ("", None),
])
def test_find_week(text, expected):
    assert V.find_week(text) == expected


@given(st.integers(2000, 2100), st.integers(1, 52))
def test_find_week_roundtrip(y, n):
    assert V.find_week(f"（{y}年第{n}周）") == f"{y}-W{n:02d}"


def test_cell_text():
    assert V.cell_text(38.0) == "38"
    assert V.cell_text(12.5) == "12.5"
    assert V.cell_text(4.116221985041398e+17) == "4.116221985041398e+17"
    assert V.cell_text(dt.date(2026, 11, 22)) == "2026-11-22"
    assert V.cell_text("") == ""


# ---- headers -------------------------------------------------------------------------

_ALL_COLUMNS = [(key, c) for key, cols in forms.TABLES.items() for c in cols]


@given(st.sampled_from(_ALL_COLUMNS), st.data())
def test_header_variants_match(item, data):
    key, col = item
    header = data.draw(st.sampled_from((col.header, *col.synonyms)))
    # insert spaces/line breaks, make brackets and colon full-width
    pos = data.draw(st.lists(st.integers(0, len(header)), max_size=3))
    s = header
    for p in sorted(pos, reverse=True):
        s = s[:p] + data.draw(st.sampled_from([" ", "\n", "\u3000", "\r\n"])) + s[p:]
    s = s.replace("(", "（").replace(")", "）")
    assert LOOKUPS[key][norm(s)] == col.name


def test_header_without_unit_bracket_matches():
    assert LOOKUPS[("B", "report")][norm("本周发放扶贫小额信贷")] == "microcredit_wan"
    assert LOOKUPS[("A", "plan")][norm("人均纯收入（元）")] == "income_per_capita_yuan"
    assert LOOKUPS[("A", "plan")][norm("家庭\n人口数")] == "household_size"


# ---- column converters ---------------------------------------------------------------

def test_convert_int_column_mixed():
    arr, bad = C.convert_column([38.0, "１２６", "—", "", "abc", "3.5", "2,000"], "int")
    assert arr.dtype == "Int64"
    assert list(arr[:4]) == [38, 126, 0, 0]
    assert pd.isna(arr[4]) and pd.isna(arr[5])
    assert arr[6] == 2000
    assert sorted(bad) == [(4, C.BAD_NUMBER), (5, C.BAD_INTEGER)]


def test_convert_int_column_all_float_fast_path():
    arr, bad = C.convert_column([1.0, 2.0, 2.5], "int")
    assert list(arr[:2]) == [1, 2] and pd.isna(arr[2]) and bad == [(2, C.BAD_INTEGER)]


def test_convert_int_no_zero_fill_keeps_na():
    arr, bad = C.convert_column(["", "—", 3.0], "int", zero_fill=False)
    assert pd.isna(arr[0]) and pd.isna(arr[1]) and arr[2] == 3 and bad == []


def test_convert_float_column():
    arr, bad = C.convert_column(["2,760", 2146.0, "x"], "float")
    assert arr.dtype == "Float64" and arr[0] == 2760.0 and arr[1] == 2146.0 and pd.isna(arr[2])
    assert bad == [(2, C.BAD_NUMBER)]


def test_convert_code_and_id_columns():
    arr, bad = C.convert_column(["4116221072010001", 411622107201.0, 4.1e17, ""], "code")
    assert arr.dtype == "string"
    assert list(arr[:2]) == ["4116221072010001", "411622107201"]
    assert pd.isna(arr[2]) and pd.isna(arr[3]) and bad == [(2, C.SCIENTIFIC)]


def test_convert_date_column():
    arr, bad = C.convert_column([46348.0, "2026.11.23", dt.date(2026, 1, 2), "", "坏日期"], "date")
    assert arr.dtype == "datetime64[ns]"
    assert list(arr[:3]) == [pd.Timestamp("2026-11-22"), pd.Timestamp("2026-11-23"),
                             pd.Timestamp("2026-01-02")]
    assert pd.isna(arr[3]) and pd.isna(arr[4]) and bad == [(4, C.BAD_DATE)]


def test_convert_str_and_yesno_columns():
    arr, _ = C.convert_column([" 郭春生 ", "", 13699028848.0, "\u3000王五"], "str")
    assert list(arr[[0, 2, 3]]) == ["郭春生", "13699028848", "王五"] and pd.isna(arr[1])
    yn, _ = C.convert_column(["是", "Y", "否", ""], "yesno")
    assert yn.dtype == "string" and list(yn[:3]) == ["是", "是", "否"] and pd.isna(yn[3])


@settings(max_examples=50)
@given(st.lists(st.one_of(st.integers(0, 10**6).map(float), st.integers(0, 10**6).map(str),
                          st.just(""), st.just("—")), min_size=1, max_size=30))
def test_convert_int_matches_scalar_parser(cells):
    arr, bad = C.convert_column(cells, "int")
    assert bad == []
    expected = [V.parse_int(c)[0] for c in cells]
    assert [None if pd.isna(x) else int(x) for x in arr] == expected
    assert np.asarray(arr.isna()).sum() == 0


@pytest.mark.parametrize("cells", [[1e300], [1e300] * 20, ["1e300"], ["1e300", 1.0] * 10])
def test_huge_numbers_in_int_columns_are_not_counts(cells):
    arr, bad = C.convert_column(cells, "int")
    assert arr.dtype == "Int64"
    assert pd.isna(arr[0]) and bad[0] == (0, C.BAD_INTEGER)


@pytest.mark.parametrize("n", [1, 5, 30])
def test_small_and_large_columns_agree(n):
    cells = (["１２", "—", "", "abc", 3.0, "2.5", "1,000"] * 5)[:n]
    arr, bad = C.convert_column(cells, "int")
    for i, c in enumerate(cells):
        v, ok = V.parse_int(c)
        assert (pd.isna(arr[i]) if v is None else arr[i] == v)
        assert ok == all(p != i for p, _ in bad)
