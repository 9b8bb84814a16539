"""Cell value parsers: what village clerks type, turned into typed values.

Every parser takes one cell as python-calamine returns it (str, float, int, bool,
datetime.date, datetime.datetime, datetime.time, timedelta; '' for an empty cell) or as
the csv reader returns it (str), and never raises.

Whole columns are converted by pipelines.ingest.converters.

Typed output (the contract with validate.py and the warehouse):
- code / str / id18 -> pandas StringDtype (python storage; == "string"), NA when empty
- int -> "Int64", float -> "Float64"
- date -> "datetime64[ns]" (midnight), NaT when empty/unparseable
- yesno -> StringDtype, "是"/"否", NA when empty. Besides 是/否 a cell may hold one of
  the clear equivalents below (full-width forms and any letter case alike, and the
  booleans and numbers 1/0 Excel stores); anything else is not a yes/no (a finding on
  the cell, the value not stored):
    是: √ ✓ ✔ ☑ 有 对 是的 Y YES TRUE 1
    否: × ✗ ✘ X 无 没有 不是 N NO FALSE 0
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re

import numpy as np
import pandas as pd

STRING_DTYPE = pd.StringDtype("python")
DATE_DTYPE = "datetime64[ns]"

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII, ideographic space -> space, plus the
# dashes and separators clerks use.
_HALF = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALF[0x3000] = 0x20
_HALF[0x00A0] = 0x20
_HALFWIDTH = str.maketrans(_HALF)

# Placeholders for "zero / none" in a numeric cell.
ZERO_PLACEHOLDERS = frozenset({
    "", "-", "--", "—", "——", "－", "/", "／", "–", "―", "─", "\\", "、",
})

_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
# Thousands separators: 1,234 or 1,234,567.89 (only well-formed groups)
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_SCI_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_INT_TEXT_RE = re.compile(r"^\d+\.0*$")
_DATE_RE = re.compile(
    r"^(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?"
    r"(?:\s*[T ]?\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DATE8_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_WEEK_RE = re.compile(r"(\d{4})\s*年?\s*[第]\s*(\d{1,2})\s*周")
_WEEK_ISO_RE = re.compile(r"(\d{4})\s*-?\s*W(\d{1,2})\b", re.IGNORECASE)

_EXCEL_EPOCH = dt.date(1899, 12, 30)
# Serial numbers accepted as dates: 1950-01-01 .. 2100-12-31 (other numbers in a date
# column are much more likely something else, e.g. a year or an amount).
_SERIAL_MIN = (dt.date(1950, 1, 1) - _EXCEL_EPOCH).days
_SERIAL_MAX = (dt.date(2100, 12, 31) - _EXCEL_EPOCH).days

# What a yes/no cell may hold besides 是/否 (in the order a message lists them).
YES_EQUIVALENTS = ("√", "✓", "✔", "☑", "有", "对", "是的", "Y", "YES", "TRUE", "1")
NO_EQUIVALENTS = ("×", "✗", "✘", "X", "无", "没有", "不是", "N", "NO", "FALSE", "0")
YES_WORDS = frozenset({"是", *YES_EQUIVALENTS})
NO_WORDS = frozenset({"否", *NO_EQUIVALENTS})

# Integer columns hold counts; anything this large is not one (and would overflow int64).
INT_LIMIT = 2.0 ** 53

# Floats at or above this lost digits in Excel (15 significant digits are exact).
FLOAT_SAFE_LIMIT = 1e15


def string_array(values: np.ndarray):
    """A pandas string array (python storage) over an object ndarray of str / pd.NA
    (None and NaN become pd.NA; the array is not copied).

    The dtype must be given: pandas 3.1's bare StringArray(...) claims pyarrow storage
    and then breaks .str methods.
    """
    return pd.arrays.StringArray(values, dtype=STRING_DTYPE)


def halfwidth(s: str) -> str:
    return s.translate(_HALFWIDTH)


def _float_text(x: float) -> str:
    if math.isfinite(x) and x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def cell_text(v: object) -> str:
    """The cell's value as text, the way the user sees it ('' for empty)."""
    t = type(v)
    if t is str:
        return v
    if v is None:
        return ""
    if t is float:
        return _float_text(v)
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int:
        return str(v)
    if t is dt.datetime:
        return v.isoformat(sep=" ") if (v.hour or v.minute or v.second) else v.date().isoformat()
    if t is dt.date:
        return v.isoformat()
    if isinstance(v, float):  # numpy floats and the like
        return _float_text(float(v))
    return str(v)


def clean_text(v: object) -> str:
    """Text with surrounding whitespace (incl. full-width spaces) removed."""
    return cell_text(v).strip().strip("\u3000\u00a0").strip()


# ---- numbers -------------------------------------------------------------------------

def parse_number(v: object, zero_fill: bool = True) -> tuple[float | None, bool]:
    """(value, ok). Empty/placeholder -> (0.0, True) if zero_fill else (None, True).

    Unparseable text -> (None, False). Thousands separators, full-width digits and
    numbers stored as text are accepted.
    """
    t = type(v)
    if t is float:
        return (v, True) if math.isfinite(v) else (None, False)
    if t is int:
        return float(v), True
    if t is bool:
        return None, False
    if t is not str:
        if v is None:
            return (0.0 if zero_fill else None), True
        if isinstance(v, (dt.date, dt.time, dt.timedelta)):
            return None, False
        try:
            f = float(v)  # numpy numbers
        except (TypeError, ValueError):
            return None, False
        return (f, True) if math.isfinite(f) else (None, False)
    return _number_text(v, zero_fill)


@functools.lru_cache(maxsize=16384)
def _number_text(v: str, zero_fill: bool) -> tuple[float | None, bool]:
    # the same few texts ('0', '—', '23', '2,760') recur across thousands of files
    s = v.strip()
    if not s.isascii():
        s = halfwidth(s).strip()
    if s in ZERO_PLACEHOLDERS:
        return (0.0 if zero_fill else None), True
    s = s.replace(" ", "")
    if "," in s:
        if not _THOUSANDS_RE.match(s):
            return None, False
        s = s.replace(",", "")
    if not _NUM_RE.match(s):
        return None, False
    f = float(s)
    return (f, True) if math.isfinite(f) else (None, False)


# Units a count or an amount is written with after its number (38户, 2014年, 12.5万元);
# longest first, so 万元 is not read as 元 nor 人次 as 次.
NUMBER_UNITS = ("万元", "人次", "户", "人", "年", "元", "次", "期", "个")


def split_unit(v: str) -> tuple[str, str]:
    """(the text before the unit, the unit) when the text ends with one of NUMBER_UNITS,
    else (the text, '')."""
    s = halfwidth(v).strip()
    for u in NUMBER_UNITS:
        if s.endswith(u):
            return s[:-len(u)], u
    return s, ""


def number_with_unit(v: str, unit: str, zero_fill: bool = True) -> tuple[float | None, str]:
    """A number text that parse_number refused, read again with a trailing unit:
    (value, "ok") when the unit is ``unit`` (the column's own) and the rest is a number,
    (None, "unit_mismatch") for a number with another unit, else (None, "not_number")."""
    rest, u = split_unit(v)
    if not u:
        return None, "not_number"
    f, ok = _number_text(rest, zero_fill)
    if not ok or not rest.strip():
        return None, "not_number"
    if u != unit:
        return None, "unit_mismatch"
    return f, "ok"


def parse_int(v: object, zero_fill: bool = True) -> tuple[int | None, bool]:
    """(value, ok) for an integer column; a non-integral number is not ok."""
    f, ok = parse_number(v, zero_fill)
    if f is None:
        return None, ok
    if abs(f) >= INT_LIMIT or f != int(f):
        return None, False
    return int(f), True


# ---- dates ---------------------------------------------------------------------------

def excel_serial_to_date(n: float) -> dt.date | None:
    if not (_SERIAL_MIN <= n <= _SERIAL_MAX):
        return None
    return _EXCEL_EPOCH + dt.timedelta(days=int(n))


def parse_date(v: object) -> tuple[dt.date | None, bool]:
    """(date, ok). Empty -> (None, True); unparseable -> (None, False)."""
    t = type(v)
    if t is dt.date:
        return v, True
    if t is dt.datetime:
        return v.date(), True
    if t is float or t is int:
        if v != int(v):
            # a serial with a time part still names the day
            d = excel_serial_to_date(math.floor(v))
            return d, d is not None
        n = int(v)
        if 19000101 <= n <= 21001231:
            return _ymd(n // 10000, n // 100 % 100, n % 100)
        d = excel_serial_to_date(n)
        return d, d is not None
    if v is None:
        return None, True
    if t is not str:
        if isinstance(v, dt.datetime):
            return v.date(), True
        if isinstance(v, dt.date):
            return v, True
        return None, False
    return date_text(v)


@functools.lru_cache(maxsize=16384)
def date_text(v: str) -> tuple[dt.date | None, bool]:
    s = v.strip()
    if not s.isascii():
        s = halfwidth(s).strip()
    if not s:
        return None, True
    m = _DATE_RE.match(s)
    if m:
        return _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _DATE8_RE.match(s)
    if m:
        return _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if s.isdigit() or _INT_TEXT_RE.match(s):
        d = excel_serial_to_date(int(float(s)))
        return d, d is not None
    return None, False


def _ymd(y: int, m: int, d: int) -> tuple[dt.date | None, bool]:
    try:
        return dt.date(y, m, d), True
    except ValueError:
        return None, False


# ---- identifiers ---------------------------------------------------------------------

def parse_code(v: object, digits: int | None = None) -> tuple[str | None, str]:
    """A code or ID kept as text: (text, status), status in ok / empty / scientific.

    Spaces are removed, full-width digits made half-width, a trailing x upper-cased.
    An integer-valued float below 1e15 (15 significant digits, exact in a double) is
    converted to its digits; a float at or above it, or text in scientific notation
    ("4.11622E+17"), has lost digits: (None, "scientific").

    ``digits`` is the code's length (a 16-digit 户编号). Excel keeps 15 significant
    digits and fills the rest with zeros, so a number of exactly that length below 2**53
    (exact in a double) whose last digit is not 0 cannot have lost any: it is the code.
    One ending in 0 may have: still "scientific", never guessed.
    """
    t = type(v)
    if t is float or t is int:
        if t is float and not math.isfinite(v):
            return None, "scientific"
        if abs(v) >= FLOAT_SAFE_LIMIT:
            return _exact_code(v, digits)
        if v == int(v):
            return str(int(v)), "ok"
        return repr(v), "ok"
    if t is not str:
        if v is None:
            return None, "empty"
        s = cell_text(v)
    else:
        s = v
    if not s.isascii():
        s = halfwidth(s)
    s = "".join(s.split())
    if not s:
        return None, "empty"
    if _SCI_RE.match(s):
        return None, "scientific"
    if _INT_TEXT_RE.match(s) and "." in s:
        whole = s.split(".", 1)[0]
        if len(whole.lstrip("0")) > 15:
            return _exact_code(int(whole), digits)
        s = whole
    if s[-1] == "x":
        s = s[:-1] + "X"
    return s, "ok"


def _exact_code(n: float | int, digits: int | None) -> tuple[str | None, str]:
    """parse_code for a number of 16 or more digits (see there)."""
    if digits is None or n != int(n) or not 0 < n < INT_LIMIT:
        return None, "scientific"
    s = str(int(n))
    if len(s) != digits or s[-1] == "0":
        return None, "scientific"
    return s, "ok"


def parse_yesno(v: object) -> tuple[str | None, bool]:
    """(是 | 否 | None, ok). Empty -> (None, True); not a yes/no -> (None, False)."""
    s = clean_text(v)
    if not s:
        return None, True
    u = halfwidth(s).strip().upper()
    if u in YES_WORDS:
        return "是", True
    if u in NO_WORDS:
        return "否", True
    return None, False


# ---- weeks ---------------------------------------------------------------------------

def find_week(text: str) -> str | None:
    """'2026-W47' from 2026年第47周 / 2026第47周 / 2026-W47 in free text, else None.

    Returns None when the week number does not exist in that ISO year.
    """
    if not text:
        return None
    s = halfwidth(text)
    m = _WEEK_RE.search(s) or _WEEK_ISO_RE.search(s)
    if not m:
        return None
    y, n = int(m.group(1)), int(m.group(2))
    try:
        dt.date.fromisocalendar(y, n, 1)
    except ValueError:
        return None
    return f"{y}-W{n:02d}"
