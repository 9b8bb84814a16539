"""One table's parsed rows as columns (``Columns``) and the frames made from them.

A file's rows are kept as typed column arrays and cell texts, and made into a frame only
when read: a task joins many files' columns into one frame per table
(``pipelines.ingest.parse.join_columns``) without making a frame per file first.

Typed frame: the form's canonical columns in the order of pipelines.forms, then
source_sheet and source_row. Raw frame: the form's canonical columns, object dtype, the
cell text as submitted ('' for empty).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.ingest import values as V

_COLUMN_INDEX = {key: pd.Index([c.name for c in cols] + ["source_sheet", "source_row"])
                 for key, cols in forms.TABLES.items()}
_RAW_INDEX = {key: pd.Index([c.name for c in cols]) for key, cols in forms.TABLES.items()}
COLUMN_NAMES = {key: tuple(idx.tolist()) for key, idx in _COLUMN_INDEX.items()}


class Columns:
    """One table's rows of one file: typed column arrays (name -> array, in the frame's
    column order) and the cells' texts (one list per column of the form's spec)."""

    __slots__ = ("key", "typed", "raw", "n")

    def __init__(self, key: tuple, typed: dict, raw: list[list], n: int):
        self.key, self.typed, self.raw, self.n = key, typed, raw, n

    def frame(self) -> pd.DataFrame:
        return make_frame(self.key, self.typed, self.n)

    def raw_frame(self) -> pd.DataFrame:
        return make_raw_frame(self.key, self.raw, self.n)


def empty_columns(form: str, table: str) -> Columns:
    """A table with no rows."""
    cols = forms.TABLES[(form, table)]
    data = {c.name: na_array(c.dtype, 0) for c in cols}
    data["source_sheet"] = V.string_array(np.empty(0, dtype=object))
    data["source_row"] = np.empty(0, dtype="int64")
    return Columns((form, table), data, [[] for _ in cols], 0)


def make_frame(key: tuple, data: dict, n: int) -> pd.DataFrame:
    """The typed frame over ready-made column arrays (not copied)."""
    return pd.DataFrame({c: data[c] for c in COLUMN_NAMES[key]}, index=pd.RangeIndex(n),
                        columns=_COLUMN_INDEX[key], copy=False)


def make_raw_frame(key: tuple, cols: list[list], n: int) -> pd.DataFrame:
    """The raw text frame: object dtype, one block."""
    if n:
        block = np.array(cols, dtype=object).T
    else:
        block = np.empty((0, len(cols)), dtype=object)
    return pd.DataFrame(block, columns=_RAW_INDEX[key], dtype=object, copy=False)


def na_array(dtype: str, n: int):
    """A column of ``n`` missing values of the form's type ``dtype``."""
    if dtype == "int":
        return pd.arrays.IntegerArray(np.zeros(n, "int64"), np.ones(n, bool))
    if dtype == "float":
        return pd.arrays.FloatingArray(np.zeros(n, "float64"), np.ones(n, bool))
    if dtype == "date":
        return np.full(n, np.datetime64("NaT"), dtype=V.DATE_DTYPE)
    arr = np.empty(n, dtype=object)
    arr[:] = pd.NA
    return V.string_array(arr)
