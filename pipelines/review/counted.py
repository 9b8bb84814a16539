"""Which file of a unit's form counted this week, and why: the sentence each receipt adds
(docs/supersession.md). Worked out from the week's core.submissions rows alone."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.labels import COUNTED_WHY

CURRENT = ("loaded", "partial")


def counted_notes(subs: pd.DataFrame) -> pd.Series:
    """Per row of ``subs`` (one week's submissions: submission_id, original_name, status,
    superseded_by, unit_code, detected_form), '' or what counted instead of or beside it:
    a file that replaced others names them, a superseded file names the one that counts,
    parts of one ledger name each other."""
    if subs.empty:  # a unit with no file this week
        return pd.Series([], index=subs.index, dtype=object)
    sid = subs["submission_id"].astype(str)
    name = pd.Series(subs["original_name"].astype(str).to_numpy(object), index=sid.to_numpy(object))
    status = subs["status"].fillna("").astype(str)
    by = subs["superseded_by"].fillna("").astype(str)
    newer = by.map(name).fillna("同一单位后收到的文件")  # (the same bytes first registered in another week)
    replaced = subs.loc[(by != "").to_numpy(bool)]
    older = replaced["original_name"].astype(str).groupby(replaced["superseded_by"].astype(str).to_numpy(object)) \
        .agg("、".join)
    olders = sid.map(older).fillna("")
    current = status.isin(CURRENT)
    ledgers = subs[current.to_numpy(bool) & (subs["detected_form"].fillna("") == forms.FORM_A).to_numpy(bool)]
    n_parts = ledgers["unit_code"].value_counts()
    part_names = ledgers["original_name"].astype(str).groupby(ledgers["unit_code"].to_numpy(object)).agg("、".join)
    is_part = current & (subs["detected_form"].fillna("") == forms.FORM_A) \
        & (subs["unit_code"].map(n_parts).fillna(0) > 1)
    own = subs["original_name"].astype(str)
    latest = np.where(current & (olders != ""),
                      "本周以 " + own + "（" + COUNTED_WHY["latest"] + "）为准；" + olders + " 已被替代。", "")
    parts = np.where(is_part, "本周三本账以 " + subs["unit_code"].map(part_names).fillna("") + " 为准（"
                     + COUNTED_WHY["parts"] + "）。", "")
    instead = np.where(status == "superseded",
                       "本周以 " + newer + "（" + COUNTED_WHY["latest"] + "）为准，本文件已被其替代。", "")
    return pd.Series(pd.Series(instead).str.cat([pd.Series(latest), pd.Series(parts)]).to_numpy(object),
                     index=subs.index, dtype=object)
