"""Column-wise helpers for the hot paths of a week (hundreds of thousands of rows).

``member`` is ``isin`` as a bool array. pandas 3 keeps text in Arrow-backed ``str``
columns, and their ``isin`` builds one Arrow scalar per allowed value in Python
(≈10 µs each): testing a province's week against its ≈100,000 current submissions took
0.3–0.5 s a call, several calls a task. Here the cost follows the column, not the
allowed values: against a Python set (or dict keys), each distinct value of the column is
looked up once (a publish tests each group's rows, a few thousand submissions, against
the week's set); against an array, the allowed values become one Arrow array and Arrow's
own ``is_in`` does the rest. The same answers as ``isin``; a missing value is never a member.
"""
from __future__ import annotations

from collections.abc import Iterable, KeysView
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa


def _arrow_text(values) -> bool:
    dtype = getattr(values, "dtype", None)
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _arrow(values) -> "pa.Array":
    """One contiguous Arrow array of a Series', an Index's or an array's values."""
    import pyarrow as pa

    arr = pa.array(values.array if isinstance(values, (pd.Series, pd.Index)) else values, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def member(values: pd.Series | pd.Index | np.ndarray, allowed: Iterable) -> np.ndarray:
    """Whether each of ``values`` is in ``allowed``, as a numpy bool array (missing values
    never are)."""
    if isinstance(allowed, (set, frozenset, KeysView)):
        codes, uniques = pd.factorize(values)  # missing values: code -1
        ok = np.fromiter((u in allowed for u in uniques), dtype=bool, count=len(uniques))
        return (codes >= 0) & ok[np.maximum(codes, 0)] if len(ok) else np.zeros(len(codes), dtype=bool)
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (_arrow_text(values) or isinstance(values, pa.Array)):
        return np.asarray(pd.Series(values, copy=False).isin(_as_list(allowed)), dtype=bool)
    arr = _arrow(values)
    if _arrow_text(allowed) or isinstance(allowed, pa.Array):
        keep = _arrow(allowed)
    else:
        keep = pa.array([v for v in _as_list(allowed) if isinstance(v, str)], type=pa.string())
    if not len(keep):
        return np.zeros(len(arr), dtype=bool)
    found = pc.is_in(arr, value_set=keep.cast(arr.type), skip_nulls=True)
    return found.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _as_list(allowed: Iterable):
    if isinstance(allowed, (pd.Series, pd.Index, np.ndarray, list)):
        return allowed
    return list(allowed)


# The unit separator. A joined key is unambiguous while at most one of its parts may hold
# any text (the others: hex submission ids, row numbers), as in every key made here.
KEY_SEP = "\x1f"


def joined(*columns) -> "pa.Array":
    """One text key per row from several aligned columns (text or numbers), their values
    written as text and joined by KEY_SEP, a missing value as "". For membership tests of
    compound keys (``member(joined(a, b), joined(c, d))``) without a pandas MultiIndex,
    which turns every Arrow text column into Python objects first (seconds for a province)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [pc.fill_null(_arrow(col).cast(pa.large_string()), "") for col in columns]
    return pc.binary_join_element_wise(*parts, pa.scalar(KEY_SEP, pa.large_string()))
