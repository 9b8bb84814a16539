"""Column converters: one column of cells (pipelines.ingest.values) to a typed pandas array.

``convert_column`` returns the array and a list of bad cells (row position, kind) for
the caller to turn into findings.

A number may be written with its column's own unit after it (38户 in a 户数 column,
2014年 in a year, 15人次, 2760元 in a 元 column, 12.5万元 in a 万元 column): it is read
as the number. A number with another unit (38人 in a 户数 column, 5元 in a 万元 column)
is not read (UNIT_MISMATCH): the clerk meant something else than the column counts.
A code column of a known length (``digits``) accepts a number of 16 digits that Excel
cannot have truncated (see values.parse_code). It takes fast paths when a column is already
homogeneous (all floats from Excel, plain digit strings), and falls back to a per-cell
parse only for the cells that need one; data blocks are small (tens to a few hundred
rows), where this beats pandas string methods by far.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.ingest import values as V

_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()
_YES_NO_SET = frozenset({"是", "否"})

BAD_NUMBER = "not_number"
BAD_INTEGER = "not_integer"
BAD_DATE = "not_date"
BAD_YESNO = "not_yesno"
SCIENTIFIC = "scientific"
UNIT_MISMATCH = "unit_mismatch"


def convert_column(values: list, dtype: str, zero_fill: bool = True, unit: str = "",
                   digits: int | None = None):
    """One column of cells -> (pandas array, [(position, kind), ...] of bad cells).

    ``unit``: the numeric column's unit (labels.column_unit); ``digits``: a code's length."""
    if dtype == "int" or dtype == "float":
        return _convert_number(values, dtype, zero_fill, unit)
    if dtype == "code" or dtype == "id18":
        return _convert_code(values, digits)
    if dtype == "date":
        return _convert_date(values)
    if dtype == "yesno":
        return _convert_yesno(values)
    return _convert_str(values)


def _convert_number(values: list, dtype: str, zero_fill: bool, unit: str):
    if set(map(type, values)) == {float}:
        return _convert_floats(values, dtype)
    n = len(values)
    if n <= 8:
        return _convert_small_number(values, dtype, zero_fill, unit)
    bad: list[tuple[int, str]] = []
    # (python lists filled per cell, then one array each: cheaper than setting
    # numpy elements one by one)
    out_l = [0.0] * n
    mask_l = [False] * n
    for i, v in enumerate(values):
        if type(v) is float and v == v:
            out_l[i] = v
            continue
        f, ok = V.parse_number(v, zero_fill)
        if not ok:
            f, kind = _with_unit(v, unit, zero_fill)
        if f is None:
            mask_l[i] = True
            if not ok:
                bad.append((i, kind))
        else:
            out_l[i] = f
    out = np.array(out_l, dtype="float64")
    mask = np.array(mask_l, dtype=bool)
    if dtype == "int":
        frac = ~mask & ((out != np.floor(out)) | (np.abs(out) >= V.INT_LIMIT))
        if frac.any():
            for i in np.flatnonzero(frac):
                bad.append((int(i), BAD_INTEGER))
            mask |= frac
        return pd.arrays.IntegerArray(np.where(mask, 0, out).astype("int64"), mask), bad
    return pd.arrays.FloatingArray(out, mask), bad


def _convert_floats(values: list, dtype: str):
    """A numeric column of Excel numbers only (all floats)."""
    bad: list[tuple[int, str]] = []
    arr = np.array(values, dtype="float64")
    finite = np.isfinite(arr)
    mask = ~finite
    if dtype == "int":
        ok = finite & (np.abs(np.where(finite, arr, 0)) < V.INT_LIMIT) & (
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


def _with_unit(v, unit: str, zero_fill: bool) -> tuple[float | None, str]:
    """A cell parse_number refused: the number before the column's own unit, or the kind
    of bad cell it is."""
    if not unit or type(v) is not str:
        return None, BAD_NUMBER
    f, status = V.number_with_unit(v, unit, zero_fill)
    return f, (UNIT_MISMATCH if status == "unit_mismatch" else BAD_NUMBER)


def _convert_code(values: list, digits: int | None):
    bad: list[tuple[int, str]] = []
    joined = "".join(values) if types_all_str(values) else None
    if joined is not None and joined.isascii() and (
            joined.isdigit() or not joined
            or (joined.isalnum() and "e" not in joined and "E" not in joined
                and "x" not in joined)):
        # plain digit strings (the usual case): kept as they are
        out_o = np.array(values, dtype=object)
        if "" in values:
            out_o[out_o == ""] = pd.NA
        return V.string_array(out_o), bad
    out_o = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        s, status = V.parse_code(v, digits)
        out_o[i] = s if s is not None else pd.NA
        if status == "scientific":
            bad.append((i, SCIENTIFIC))
    return V.string_array(out_o), bad


def _convert_date(values: list):
    n = len(values)
    if n and types_all_str(values):
        return _convert_date_texts(values)
    bad: list[tuple[int, str]] = []
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
            hit = cache[key] = V.parse_date(v)
        d, ok = hit
        if d is None:
            mask[i] = True
            if not ok:
                bad.append((i, BAD_DATE))
        else:
            days[i] = d.toordinal()
    out_d = (days - _ORDINAL_1970).astype("datetime64[D]").astype(V.DATE_DTYPE)
    out_d[mask] = np.datetime64("NaT")
    return out_d, bad


def _convert_yesno(values: list):
    """Each distinct cell parsed once (a column holds a handful: 是, 否, √, blank)."""
    seen = set(values)
    if seen <= _YES_NO_SET:
        return V.string_array(np.array(values, dtype=object)), []
    # (True == 1 == 1.0 share a key: they mean the same)
    meaning = {v: V.parse_yesno(v) for v in seen}
    out_o = np.empty(len(values), dtype=object)
    out_o[:] = [_NA if (m := meaning[v][0]) is None else m for v in values]
    bad: list[tuple[int, str]] = []
    if not all(ok for _m, ok in meaning.values()):
        bad = [(i, BAD_YESNO) for i, v in enumerate(values) if not meaning[v][1]]
    return V.string_array(out_o), bad


def _convert_str(values: list):
    if types_all_str(values):
        stripped = list(map(str.strip, values))
        joined = "".join(stripped)
        if joined.isascii() or ("\u3000" not in joined and "\u00a0" not in joined):
            if "" in stripped:
                stripped = [s or _NA for s in stripped]
            return V.string_array(np.array(stripped, dtype=object)), []
    out_o = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        s = V.clean_text(v)
        out_o[i] = s if s else pd.NA
    return V.string_array(out_o), []


_NA = pd.NA
_NAT = np.datetime64("NaT")


def _convert_date_texts(values: list):
    """convert_column for a date column of texts: each distinct text parsed once."""
    info = {}
    failed = False
    for v in set(values):
        d, ok = V.date_text(v)
        info[v] = d.toordinal() if d is not None else None
        if not ok:
            failed = True
    bad: list[tuple[int, str]] = []
    if failed:
        for i, v in enumerate(values):
            if info[v] is None and not V.date_text(v)[1]:
                bad.append((i, BAD_DATE))
    days = [info[v] for v in values]
    nulls = None in days
    if nulls:
        mask = np.array([d is None for d in days], dtype=bool)
        days = [0 if d is None else d for d in days]
    out_d = (np.array(days, dtype="int64") - _ORDINAL_1970).astype("datetime64[D]").astype(V.DATE_DTYPE)
    if nulls:
        out_d[mask] = _NAT
    return out_d, bad


def _convert_small_number(values: list, dtype: str, zero_fill: bool, unit: str):
    """convert_column for a handful of cells (Form B's single row): plain Python."""
    bad: list[tuple[int, str]] = []
    out: list = []
    mask: list = []
    is_int = dtype == "int"
    for i, v in enumerate(values):
        f, ok = V.parse_number(v, zero_fill)
        if not ok:
            f, kind = _with_unit(v, unit, zero_fill)
        if f is None:
            out.append(0)
            mask.append(True)
            if not ok:
                bad.append((i, kind))
        elif is_int and (abs(f) >= V.INT_LIMIT or f != int(f)):
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
    """V.cell_text for a whole column, with fast paths for all-str and all-float columns."""
    types = set(map(type, values))
    if types == {str} or not values:
        return values
    if types == {float}:
        arr = np.array(values, dtype="float64")
        if np.isfinite(arr).all() and (np.abs(arr) < 1e15).all() and (arr == np.floor(arr)).all():
            return list(map(str, arr.astype("int64").tolist()))
    return [v if type(v) is str else V.cell_text(v) for v in values]
