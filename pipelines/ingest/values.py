"""Cell value parsers: what village clerks type, turned into typed values.

Every parser takes one cell as python-calamine returns it (str, float, int, bool,
datetime.date, datetime.datetime, datetime.time, timedelta; '' for an empty cell) or as
the csv reader returns it (str), and never raises.

Column converters (`convert_column`) turn one column of cells into a typed pandas array
plus a list of bad cells (row position, kind) for the caller to turn into findings.
They take fast paths when a column is already homogeneous (all floats from Excel), and
fall back to a per-cell parse only for the cells that need one; data blocks are small
(tens to a few hundred rows), where this beats pandas string methods by far.

Typed output (the contract with validate.py and the warehouse):
- code / str / id18 -> pandas StringDtype (python storage; == "string"), NA when empty
- int -> "Int64", float -> "Float64"
- date -> "datetime64[ns]" (midnight), NaT when empty/unparseable
- yesno -> StringDtype, "是"/"否" (Y/N, √/× and the like normalised), other text kept
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
_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()
# Serial numbers accepted as dates: 1950-01-01 .. 2100-12-31 (other numbers in a date
# column are much more likely something else, e.g. a year or an amount).
_SERIAL_MIN = (dt.date(1950, 1, 1) - _EXCEL_EPOCH).days
_SERIAL_MAX = (dt.date(2100, 12, 31) - _EXCEL_EPOCH).days

_YES_NO_SET = frozenset({"是", "否"})
YES_WORDS = frozenset({"是", "Y", "YES", "√", "✓", "✔", "☑", "有"})
NO_WORDS = frozenset({"否", "N", "NO", "×", "✗", "✘", "X", "无"})

# Integer columns hold counts; anything this large is not one (and would overflow int64).
INT_LIMIT = 2.0 ** 53

# Floats at or above this lost digits in Excel (15 significant digits are exact).
FLOAT_SAFE_LIMIT = 1e15


def string_array(values: np.ndarray):
    """A pandas string array (python storage) over an object ndarray of str / pd.NA.

    The dtype must be given: pandas 3.1's bare StringArray(...) claims pyarrow storage
    and then breaks .str methods.
    """
    if type(values) is np.ndarray and values.dtype == object and values.ndim == 1 and _SIMPLE_NEW:
        # StringArray.__init__'s own checks (only str or NA; None/NaN become pd.NA)
        # without the constructor's overhead: this runs for every text column of every file
        if len(values) and not _is_string_array(values, skipna=True):
            raise ValueError("StringArray requires a sequence of strings or pandas.NA")
        _convert_nans_to_NA(values)
        return _StringArray._simple_new(values, STRING_DTYPE)
    return pd.arrays.StringArray(values, dtype=STRING_DTYPE)


_StringArray = pd.arrays.StringArray
try:  # pandas internals; the public constructor is used when they move
    from pandas._libs.lib import convert_nans_to_NA as _convert_nans_to_NA
    from pandas._libs.lib import is_string_array as _is_string_array

    _SIMPLE_NEW = callable(getattr(_StringArray, "_simple_new", None))
except ImportError:  # pragma: no cover
    _SIMPLE_NEW = False


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
    return _date_text(v)


@functools.lru_cache(maxsize=16384)
def _date_text(v: str) -> tuple[dt.date | None, bool]:
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

def parse_code(v: object) -> tuple[str | None, str]:
    """A code or ID kept as text: (text, status), status in ok / empty / scientific.

    Spaces are removed, full-width digits made half-width, a trailing x upper-cased.
    An integer-valued float below 1e15 (15 significant digits, exact in a double) is
    converted to its digits; a float at or above it, or text in scientific notation
    ("4.11622E+17"), has lost digits: (None, "scientific").
    """
    t = type(v)
    if t is float:
        if not math.isfinite(v):
            return None, "scientific"
        if abs(v) >= FLOAT_SAFE_LIMIT:
            return None, "scientific"
        if v == int(v):
            return str(int(v)), "ok"
        return repr(v), "ok"
    if t is int:
        if abs(v) >= FLOAT_SAFE_LIMIT:
            return None, "scientific"
        return str(v), "ok"
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
        digits = s.split(".", 1)[0]
        if len(digits.lstrip("0")) <= 15:
            s = digits
        else:
            return None, "scientific"
    if s[-1] == "x":
        s = s[:-1] + "X"
    return s, "ok"


def parse_yesno(v: object) -> str | None:
    s = clean_text(v)
    if not s:
        return None
    u = halfwidth(s).upper()
    if u in YES_WORDS:
        return "是"
    if u in NO_WORDS:
        return "否"
    return s


def parse_str(v: object) -> str | None:
    s = clean_text(v)
    return s or None


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


# ---- column converters ---------------------------------------------------------------

BAD_NUMBER = "not_number"
BAD_INTEGER = "not_integer"
BAD_DATE = "not_date"
SCIENTIFIC = "scientific"


def convert_column(values: list, dtype: str, zero_fill: bool = True):
    """One column of cells -> (pandas array, [(position, kind), ...] of bad cells)."""
    n = len(values)
    bad: list[tuple[int, str]] = []
    if dtype == "int" or dtype == "float":
        types = set(map(type, values))
        if types == {float}:
            arr = np.array(values, dtype="float64")
            finite = np.isfinite(arr)
            mask = ~finite
            if dtype == "int":
                ok = finite & (np.abs(np.where(finite, arr, 0)) < INT_LIMIT) & (
                    arr == np.floor(np.where(finite, arr, 0)))
                if ok.all():
                    return pd.arrays.IntegerArray(arr.astype("int64"), ~ok), bad
                for i in np.flatnonzero(~ok & finite):
                    bad.append((int(i), BAD_INTEGER))
                for i in np.flatnonzero(~finite):
                    bad.append((int(i), BAD_NUMBER))
                mask = ~ok
                out = np.where(ok, arr, 0).astype("int64")
                return pd.arrays.IntegerArray(out, mask), bad
            if mask.any():
                for i in np.flatnonzero(mask):
                    bad.append((int(i), BAD_NUMBER))
                arr = np.where(mask, 0.0, arr)
            return pd.arrays.FloatingArray(arr, mask), bad
        if n <= 8:
            return _convert_small_number(values, dtype, zero_fill)
        # (python lists filled per cell, then one array each: cheaper than setting
        # numpy elements one by one)
        out_l = [0.0] * n
        mask_l = [False] * n
        for i, v in enumerate(values):
            if type(v) is float and v == v:
                out_l[i] = v
                continue
            f, ok = parse_number(v, zero_fill)
            if f is None:
                mask_l[i] = True
                if not ok:
                    bad.append((i, BAD_NUMBER))
            else:
                out_l[i] = f
        out = np.array(out_l, dtype="float64")
        mask = np.array(mask_l, dtype=bool)
        if dtype == "int":
            frac = ~mask & ((out != np.floor(out)) | (np.abs(out) >= INT_LIMIT))
            if frac.any():
                for i in np.flatnonzero(frac):
                    bad.append((int(i), BAD_INTEGER))
                mask |= frac
            return pd.arrays.IntegerArray(np.where(mask, 0, out).astype("int64"), mask), bad
        return pd.arrays.FloatingArray(out, mask), bad
    if dtype == "code" or dtype == "id18":
        joined = "".join(values) if types_all_str(values) else None
        if joined is not None and joined.isascii() and (
                joined.isdigit() or not joined
                or (joined.isalnum() and "e" not in joined and "E" not in joined
                    and "x" not in joined)):
            # plain digit strings (the usual case): kept as they are
            out_o = np.array(values, dtype=object)
            if "" in values:
                out_o[out_o == ""] = pd.NA
            return string_array(out_o), bad
        out_o = np.empty(n, dtype=object)
        for i, v in enumerate(values):
            s, status = parse_code(v)
            out_o[i] = s if s is not None else pd.NA
            if status == "scientific":
                bad.append((i, SCIENTIFIC))
        return string_array(out_o), bad
    if dtype == "date":
        if n and types_all_str(values):
            return _convert_date_texts(values)
        days = np.zeros(n, dtype="int64")
        mask = np.zeros(n, dtype=bool)
        cache: dict = {}
        for i, v in enumerate(values):
            if type(v) is dt.date:
                days[i] = v.toordinal()
                continue
            key = (type(v), v)
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = parse_date(v)
            d, ok = hit
            if d is None:
                mask[i] = True
                if not ok:
                    bad.append((i, BAD_DATE))
            else:
                days[i] = d.toordinal()
        out_d = (days - _ORDINAL_1970).astype("datetime64[D]").astype(DATE_DTYPE)
        out_d[mask] = np.datetime64("NaT")
        return out_d, bad
    if dtype == "yesno":
        if set(values) <= _YES_NO_SET:
            return string_array(np.array(values, dtype=object)), bad
        out_o = np.array([parse_yesno(v) for v in values] + [None], dtype=object)[:-1]
        out_o[pd.isna(out_o)] = pd.NA
        return string_array(out_o), bad
    # str
    if types_all_str(values):
        stripped = list(map(str.strip, values))
        joined = "".join(stripped)
        if joined.isascii() or ("\u3000" not in joined and "\u00a0" not in joined):
            if "" in stripped:
                stripped = [s or _NA for s in stripped]
            return string_array(np.array(stripped, dtype=object)), bad
    out_o = np.empty(n, dtype=object)
    for i, v in enumerate(values):
        s = clean_text(v)
        out_o[i] = s if s else pd.NA
    return string_array(out_o), bad


_NA = pd.NA
_NAT = np.datetime64("NaT")


def _convert_date_texts(values: list):
    """convert_column for a date column of texts: each distinct text parsed once."""
    info = {}
    failed = False
    for v in set(values):
        d, ok = _date_text(v)
        info[v] = d.toordinal() if d is not None else None
        if not ok:
            failed = True
    bad: list[tuple[int, str]] = []
    if failed:
        for i, v in enumerate(values):
            if info[v] is None and not _date_text(v)[1]:
                bad.append((i, BAD_DATE))
    days = [info[v] for v in values]
    nulls = None in days
    if nulls:
        mask = np.array([d is None for d in days], dtype=bool)
        days = [0 if d is None else d for d in days]
    out_d = (np.array(days, dtype="int64") - _ORDINAL_1970).astype("datetime64[D]").astype(DATE_DTYPE)
    if nulls:
        out_d[mask] = _NAT
    return out_d, bad


def _convert_small_number(values: list, dtype: str, zero_fill: bool):
    """convert_column for a handful of cells (Form B's single row): plain Python."""
    bad: list[tuple[int, str]] = []
    out: list = []
    mask: list = []
    is_int = dtype == "int"
    for i, v in enumerate(values):
        f, ok = parse_number(v, zero_fill)
        if f is None:
            out.append(0)
            mask.append(True)
            if not ok:
                bad.append((i, BAD_NUMBER))
        elif is_int and (abs(f) >= INT_LIMIT or f != int(f)):
            out.append(0)
            mask.append(True)
            bad.append((i, BAD_INTEGER))
        else:
            out.append(f)
            mask.append(False)
    m = np.array(mask, dtype=bool)
    if is_int:
        return pd.arrays.IntegerArray(np.array(out, dtype="float64").astype("int64"), m), bad
    return pd.arrays.FloatingArray(np.array(out, dtype="float64"), m), bad


def types_all_str(values: list) -> bool:
    return set(map(type, values)) == {str} if values else True


def raw_texts(values: list) -> list[str]:
    """cell_text for a whole column, with fast paths for all-str and all-float columns."""
    types = set(map(type, values))
    if types == {str} or not values:
        return values
    if types == {float}:
        arr = np.array(values, dtype="float64")
        if np.isfinite(arr).all() and (np.abs(arr) < 1e15).all() and (arr == np.floor(arr)).all():
            return list(map(str, arr.astype("int64").tolist()))
    return [v if type(v) is str else cell_text(v) for v in values]
