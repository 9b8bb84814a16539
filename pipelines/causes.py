"""Causes and echoes: which finding is the source fault and which only see it again.

One wrong number is found by several checks and again at every level above that copies
or sums it. Every finding gets a ``cause_id``: its own ``finding_id`` when it is a cause,
else the id of the finding of the source fault. All links are within one week:

1. **One row**: the stock-and-flow figures of one report row are tied by the balance, so
   the findings on them (balance, village against ledger, people against households …)
   are one fault; on other columns, the same cell found by two checks (合计 against its
   rows, in intake and in consolidation) is one fault. The cause is the most direct check
   (``RANK``). Continuity (against last week's 期末) is a group of its own.
2. **Seen again above**: a row group is an echo of a group below it (a row about a unit
   lower in the same county, or about the same unit but reported by that unit itself)
   that shows the same figure off by the same amount (people against households: the
   same flow). A group holding a wrong 合计 is a cause itself.
3. **One ID in two villages**: the finding in each village is one fault.
4. **Sent but refused**: a unit's form that is missing or not loaded because its file
   was refused (wrong week, unreadable) is an echo of that file's finding.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms

FLOW_HEADERS = {c.header: c.name for cols in (forms.VILLAGE_REPORT, forms.TOWNSHIP_REPORT, forms.COUNTY_REPORT)
                for c in cols if c.name in forms.FLOW_NAMES}
# The most direct check first: within one row group the lowest rank is the cause.
RANK = {"balance.households": 0, "balance.people": 0, "total.mismatch": 1, "xlevel.total_vs_rows": 2,
        "xlevel.balance": 2, "xlevel.village_vs_ledger": 3, "xlevel.township_vs_village": 4,
        "xlevel.county_vs_township": 5, "people.lt_households": 6, "xlevel.continuity": 7,
        "xlevel.township_total_vs_villages": 8, "xlevel.county_total_vs_townships": 9}
WRONG_TOTAL = ("total.mismatch", "xlevel.total_vs_rows")
PEOPLE_RULE = "people.lt_households"
DUPLICATE_ID = "id_number.duplicate"
NOT_LOADED = ("submission.missing", "submission.not_loaded")
CONTINUITY = "xlevel.continuity"
CHAIN_STEPS = 8  # village row → township row → township 合计 → county row → county 合计, and back weeks


def cause_ids(f: pd.DataFrame, amount: pd.Series | None = None) -> pd.Series:
    """``cause_id`` of each finding of one week (aligned with ``f``, which has
    ``finding_id``); ``amount``: the size of a cross-level difference (NaN when the
    finding has none)."""
    cause = pd.Series(f["finding_id"].to_numpy(object), index=f.index)
    if f.empty:
        return cause
    amount = pd.Series(np.nan, index=f.index) if amount is None else amount.reindex(f.index)
    cause = _row_groups(f, cause)
    cause = _seen_above(f, cause, amount)
    cause = _duplicate_ids(f, cause)
    return _refused_files(f, cause)


def _row_groups(f: pd.DataFrame, cause: pd.Series) -> pd.Series:
    figure = f["rule"].isin(RANK.keys()) & (f["row"] > 0) & (f["submission_id"] != "")
    g = f[figure]
    family = g["column"].where(~g["column"].isin(FLOW_HEADERS.keys()), "flows")
    family = family.where(g["rule"] != CONTINUITY, "continuity")  # against last week: a fault of its own
    key = g["submission_id"] + "|" + g["sheet"] + "|" + g["row"].astype(str) + "|" + family
    order = pd.DataFrame({"key": key, "rank": g["rule"].map(RANK), "id": g["finding_id"]})
    first = order.sort_values(["key", "rank", "id"]).drop_duplicates("key").set_index("key")["id"]
    out = cause.copy()
    out[g.index] = key.map(first).to_numpy(object)
    return out


def _signatures(f: pd.DataFrame, cause: pd.Series, amount: pd.Series) -> pd.DataFrame:
    """Per row-group member: the group, its subject unit, reporter and what it shows off:
    ``exact`` (figure and amount) or ``flow`` (people against households: the flow only)."""
    g = f[f["rule"].isin(RANK.keys()) & (f["row"] > 0)]
    subject = g["record_key"].where(g["record_key"].str.fullmatch(r"\d{6,12}"), g["unit_code"])
    metric = g["column"].map(FLOW_HEADERS).fillna(g["column"])
    flow = metric.str.replace(r"^(hh|pp)_", "", regex=True)
    amt = amount[g.index]
    return pd.DataFrame({"group": cause[g.index], "subject": subject, "reporter": g["unit_code"], "rule": g["rule"],
                         "exact": np.where(amt.notna(), metric + ":" + amt.round(4).astype(str), ""),
                         "flow": np.where(g["column"].isin(FLOW_HEADERS.keys()), "flow:" + flow, ""),
                         "people": g["rule"].eq(PEOPLE_RULE)})


def _seen_above(f: pd.DataFrame, cause: pd.Series, amount: pd.Series) -> pd.Series:
    s = _signatures(f, cause, amount)
    if s.empty:
        return cause
    total_groups = set(s.loc[s["rule"].isin(WRONG_TOTAL), "group"])
    mine = pd.concat([s.loc[s["exact"] != "", ["group", "subject", "reporter", "exact"]].rename(columns={"exact": "sig"}),
                      s.loc[s["people"], ["group", "subject", "reporter", "flow"]].rename(columns={"flow": "sig"})])
    mine = mine[~mine["group"].isin(total_groups)]
    theirs = pd.concat([s.loc[s["exact"] != "", ["group", "subject", "reporter", "exact"]].rename(columns={"exact": "sig"}),
                        s.loc[s["flow"] != "", ["group", "subject", "reporter", "flow"]].rename(columns={"flow": "sig"})])
    for df in (mine, theirs):
        df["county"] = df["subject"].str[:6]
    m = mine.drop_duplicates().merge(theirs.drop_duplicates(), on=["sig", "county"], suffixes=("", "_below"))
    below = np.char.startswith(m["subject_below"].to_numpy(str), m["subject"].to_numpy(str)) & (
        (m["subject_below"].str.len() > m["subject"].str.len())
        | ((m["subject_below"] == m["subject"]) & (m["reporter_below"].str.len() > m["reporter"].str.len())))
    m = m[below & (m["group"] != m["group_below"])]
    if m.empty:
        return cause
    m = m.assign(depth=m["subject_below"].str.len() * 100 + m["reporter_below"].str.len())
    link = m.sort_values(["group", "depth", "group_below"], ascending=[True, False, True]) \
        .drop_duplicates("group").set_index("group")["group_below"]
    for _ in range(CHAIN_STEPS):  # follow chains: the level below's own cause
        nxt = link.map(link).fillna(link)
        if nxt.equals(link):
            break
        link = nxt
    return cause.map(link).fillna(cause)


def _duplicate_ids(f: pd.DataFrame, cause: pd.Series) -> pd.Series:
    """The findings of one ID number registered in several households are one fault: the
    first (by unit and row) is the cause."""
    g = f[(f["rule"] == DUPLICATE_ID) & (f["value"] != "")]
    if g.empty:
        return cause
    lead = g.sort_values(["unit_code", "row", "finding_id"]).drop_duplicates("value").set_index("value")["finding_id"]
    out = cause.copy()
    out[g.index] = g["value"].map(lead).to_numpy(object)
    return out


def _refused_files(f: pd.DataFrame, cause: pd.Series) -> pd.Series:
    refused = f[(f["severity"] == "error") & (f["row"] == 0)].sort_values(["sheet", "finding_id"])
    keyed = refused[refused["record_key"] != ""]
    by_key = keyed.drop_duplicates("record_key").set_index("record_key")["finding_id"]
    by_file = refused[refused["submission_id"] != ""].drop_duplicates("submission_id").set_index("submission_id")["finding_id"]
    missing = f["rule"].isin(NOT_LOADED)
    lead = f.loc[missing, "submission_id"].map(by_file).fillna(f.loc[missing, "record_key"].map(by_key))
    out = cause.copy()
    out[missing] = lead.fillna(cause[missing]).to_numpy(object)
    return out
