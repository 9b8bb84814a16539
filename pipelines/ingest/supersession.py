"""Which file counts: of a unit's files of one form in a week, the one (or the parts) the
week takes, and the findings that say what that cost (docs/supersession.md).

- A later file replaces an earlier one only for the same unit, form and content week, and
  only when both may count: a file whose content week is not the folder's, or that lies
  under a county folder other than its unit's own county (``misplaced``), replaces nothing
  and is replaced by nothing (its own finding rejects it).
- Two ledgers (form A) of one village that share no household are parts of one ledger:
  both count. Ledgers that share households: the newer replaces the older, and the
  households only in the older are named.
- "Later" is the order of arrival (received time, then landing path).

Everything here works on the identities of a week's files (one row per file found, the
same bytes found twice being one submission) and the household codes of each ledger.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import forms, labels, vectors
from pipelines.findings import ERROR, WARNING, finding_ids, findings_frame
from pipelines.settings import Settings

HOUSEHOLD_KEY_COLUMNS = ["submission_id", "household_id"]
# At most this many household codes are named in a finding's value (the message gives the count).
NAMED_HOUSEHOLDS = 20


def county_folder(landing_path: pd.Series) -> pd.Series:
    """The county folder each file was found under (``<week>/<county>/…``); '' for a file
    lying directly in the week's folder."""
    parts = landing_path.astype(str).str.split("/")
    return pd.Series(np.where(parts.str.len() > 2, parts.str[1], ""), index=landing_path.index, dtype=object)


def unit_county(unit_code: pd.Series, register: pd.DataFrame) -> pd.Series:
    """The register's name of each unit's county ('' where the unit has none or it is unknown)."""
    names = _names(register)
    code = unit_code.astype(str)
    return code.str[:6].where(code.str.len() >= 6, "").map(names).fillna("").astype(object)


def misplaced(ident: pd.DataFrame, register: pd.DataFrame) -> np.ndarray:
    """Each file is a registered unit's and lies under a county folder that is neither its
    unit's county's name nor its code (a code not in the register is unit.unknown's alone)."""
    folder = county_folder(ident["landing_path"])
    own = unit_county(ident["unit_code"], register)
    code = ident["unit_code"].astype(str).str[:6]
    known = vectors.member(ident["unit_code"].astype(str), set(register["code"]))
    return known & ((folder != "") & (own != "") & (folder != own) & (folder != code)).to_numpy(bool)


def _submissions(ident: pd.DataFrame) -> pd.DataFrame:
    """One row per submission: its first well-placed copy (else its first copy), ``misplaced``
    when every copy is."""
    everywhere = ident.groupby("submission_id", sort=False)["misplaced"].all()
    first = ident.sort_values(["misplaced", "received_at", "landing_path"], kind="stable").drop_duplicates("submission_id")
    return first.assign(misplaced=first["submission_id"].map(everywhere).to_numpy(bool)).reset_index(drop=True)


def candidates(ident: pd.DataFrame, week: str, accepted: set[str] = frozenset()) -> pd.DataFrame:
    """The submissions that may replace or be replaced, in order of arrival (``seq``): a
    known form and unit, the folder's week (or none written), found where the unit belongs
    (or ``accepted`` there by a steward, who waived its unit.wrong_county error)."""
    sub = _submissions(ident)
    may = (sub["form"] != "") & (sub["unit_code"] != "") & sub["content_week"].fillna("").isin([week, ""]) \
        & (~sub["misplaced"].to_numpy(bool) | vectors.member(sub["submission_id"], accepted))
    cand = sub[may.to_numpy(bool)].sort_values(["received_at", "landing_path"], kind="stable")
    return cand.assign(seq=np.arange(len(cand))).reset_index(drop=True)


def _later_pairs(cand: pd.DataFrame, households: pd.DataFrame | None) -> pd.DataFrame:
    """Every (earlier, later) pair of one unit's files of one form, with ``parts``: two
    ledgers that both list households and share none."""
    cols = ["form", "unit_code", "submission_id", "seq"]
    pairs = cand[cols].merge(cand[cols], on=["form", "unit_code"], suffixes=("", "_new"))
    pairs = pairs[pairs["seq_new"] > pairs["seq"]].reset_index(drop=True)
    ledger = (pairs["form"] == forms.FORM_A).to_numpy(bool)
    keys = household_keys(households, pd.concat([pairs.loc[ledger, "submission_id"],
                                                 pairs.loc[ledger, "submission_id_new"]]).unique())
    n = keys["submission_id"].value_counts()
    both = keys.merge(keys, on="household_id", suffixes=("", "_new"))
    shared = both.groupby(["submission_id", "submission_id_new"]).size()
    pair_key = pd.MultiIndex.from_arrays([pairs["submission_id"], pairs["submission_id_new"]])
    n_shared = pd.Series(shared.reindex(pair_key).fillna(0).to_numpy("int64"), index=pairs.index)
    pairs["parts"] = ledger & (pairs["submission_id"].map(n).fillna(0).to_numpy() > 0) \
        & (pairs["submission_id_new"].map(n).fillna(0).to_numpy() > 0) & (n_shared == 0).to_numpy(bool)
    return pairs


def household_keys(households: pd.DataFrame | None, among) -> pd.DataFrame:
    """The household codes of the ledgers ``among`` (submission ids), once each (the same
    bytes staged by two groups, blanks dropped)."""
    if households is None or not len(households):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in HOUSEHOLD_KEY_COLUMNS})
    keys = households[vectors.member(households["submission_id"], among)][HOUSEHOLD_KEY_COLUMNS].dropna().astype(str)
    return keys[keys["household_id"].str.strip() != ""].drop_duplicates().reset_index(drop=True)


def resolve_supersession(ident: pd.DataFrame, week: str, households: pd.DataFrame | None,
                         register: pd.DataFrame, accepted: set[str] = frozenset()) -> pd.DataFrame:
    """``ident`` with ``misplaced`` (the file lies in another county's folder) and
    ``superseded_by``: the file that counts instead of it, the newest later file of the same
    unit, form and week that replaces it (followed on while that one is replaced too); ''
    when it counts, or may not take part (see candidates)."""
    ident = ident.drop(columns=["superseded_by", "misplaced"], errors="ignore").copy()
    ident["misplaced"] = misplaced(ident, register)
    ident["superseded_by"] = ""
    cand = candidates(ident, week, accepted)
    if cand.empty:
        return ident
    pairs = _later_pairs(cand, households)
    replaced = pairs[~pairs["parts"].to_numpy(bool)].sort_values("seq_new")
    newest = replaced.drop_duplicates("submission_id", keep="last").set_index("submission_id")["submission_id_new"]
    while newest.isin(newest.index).any():  # a ledger replaced by one that is replaced in turn: the last counts
        newest = newest.map(newest).fillna(newest)
    ident["superseded_by"] = ident["submission_id"].map(newest).fillna("").astype(object)
    return ident


def accepted_elsewhere(ident: pd.DataFrame, register: pd.DataFrame, week: str, waived: set[str]) -> set[str]:
    """The misplaced submissions whose unit.wrong_county error a steward waived (``waived``:
    finding ids): they take part in supersession as if found in their own county's folder."""
    if not waived or not ident["misplaced"].any():
        return set()
    wrong = _wrong_county(_submissions(ident), register, week)
    if wrong.empty:
        return set()
    wrong = findings_frame(wrong)
    return set(wrong.loc[vectors.member(finding_ids(wrong), waived), "submission_id"])


def _name(path: pd.Series) -> pd.Series:
    return path.astype(str).str.rsplit("/", n=1).str[-1]


def supersession_findings(ident: pd.DataFrame, households: pd.DataFrame | None, register: pd.DataFrame,
                          week: str, settings: Settings) -> pd.DataFrame:
    """What supersession found, per file: a file in another county's folder (error: it counts
    for nothing), a ledger in parts (warning), a correction without some households of the
    file it replaced (warning, naming their codes; another rule when it lost more than
    ``settings.supersede_loss_share`` of them)."""
    if ident.empty:
        return findings_frame()
    sub = _submissions(ident)
    names = _names(register)
    return findings_frame(pd.concat([_wrong_county(sub, register, week),
                                     _parts_findings(sub, names, week),
                                     _dropped_households(sub, households, week, settings)],
                                    ignore_index=True))


def _base(rows: pd.DataFrame, week: str) -> dict:
    """Where a finding on the whole of each of ``rows``' files points."""
    return {"week": week, "submission_id": rows["submission_id"].to_numpy(object),
            "file": rows["landing_path"].to_numpy(object), "unit_code": rows["unit_code"].to_numpy(object),
            "level": rows["form"].map(forms.FORM_LEVEL).fillna("").to_numpy(object), "row": 0,
            "record_key": (rows["unit_code"] + ":" + rows["form"]).to_numpy(object)}


def _unit_label(rows: pd.DataFrame, names: pd.Series) -> pd.Series:
    """「焦东村（411622107201）」: the register's name, else the name written in the file."""
    name = rows["unit_code"].map(names).fillna(rows["unit_name"].fillna("")).astype(str)
    return name + "（" + rows["unit_code"].astype(str) + "）"


def _names(register: pd.DataFrame) -> pd.Series:
    names = pd.Series(register["name"].to_numpy(object), index=register["code"].to_numpy(object))
    return names[~names.index.duplicated()]


def _wrong_county(sub: pd.DataFrame, register: pd.DataFrame, week: str) -> pd.DataFrame:
    wrong = sub[sub["misplaced"].to_numpy(bool) & (sub["form"] != "").to_numpy(bool)]
    if wrong.empty:
        return findings_frame()
    folder = county_folder(wrong["landing_path"])
    own = unit_county(wrong["unit_code"], register)
    form = wrong["form"].map(labels.FORM_NAMES).fillna("")
    return pd.DataFrame({**_base(wrong, week), "column": "", "value": folder.to_numpy(object),
                         "rule": "unit.wrong_county", "severity": ERROR, "dimension": "identification",
                         "message": (_unit_label(wrong, _names(register)) + "的" + form + "放在了「" + folder + "」文件夹中，"
                                     "但该单位属于" + own + "：该文件不计入" + week + "，也不替代该单位在「" + own
                                     + "」文件夹中的报表。请在「" + own + "」文件夹中报送；如确应以此文件为准，"
                                     "请联系市扶贫办审核").to_numpy(object)})


def _parts_findings(sub: pd.DataFrame, names: pd.Series, week: str) -> pd.DataFrame:
    """One warning per ledger in parts, on its last part, naming every part."""
    cur = sub[(sub["form"] == forms.FORM_A).to_numpy(bool) & (sub["superseded_by"] == "").to_numpy(bool)]
    cand = cur[(cur["unit_code"] != "") & cur["content_week"].fillna("").isin([week, ""]) & ~cur["misplaced"]]
    n = cand["unit_code"].value_counts()
    several = cand[vectors.member(cand["unit_code"], n.index[n > 1])].sort_values(["received_at", "landing_path"])
    if several.empty:
        return findings_frame()
    listed = _name(several["landing_path"]).groupby(several["unit_code"].to_numpy(object)).agg("、".join)
    last = several.drop_duplicates("unit_code", keep="last")
    count = last["unit_code"].map(n).astype(str)
    return pd.DataFrame({**_base(last, week), "column": "", "value": last["unit_code"].map(listed).to_numpy(object),
                         "rule": "ledger.parts", "severity": WARNING, "dimension": "ledger",
                         "message": ("本周收到" + _unit_label(last, names) + "的 " + count + " 份三本账（"
                                     + last["unit_code"].map(listed) + "），户编号互不重复，已作为分册一并入库；"
                                     "如其中有误报或重复的文件，请告知市扶贫办").to_numpy(object)})


def _dropped_households(sub: pd.DataFrame, households: pd.DataFrame | None, week: str,
                        settings: Settings) -> pd.DataFrame:
    """Per ledger replaced by a newer one: the households only in the replaced file, named
    on the newer file's finding."""
    old = sub[(sub["form"] == forms.FORM_A).to_numpy(bool) & (sub["superseded_by"] != "").to_numpy(bool)]
    if old.empty:
        return findings_frame()
    by = old.set_index("submission_id")["superseded_by"]
    keys = household_keys(households, pd.concat([old["submission_id"], old["superseded_by"]]).unique())
    if keys.empty:
        return findings_frame()
    mine = keys[vectors.member(keys["submission_id"], by.index)]
    newer = vectors.joined(mine["submission_id"].map(by), mine["household_id"])
    lost = mine[~vectors.member(newer, vectors.joined(keys["submission_id"], keys["household_id"]))]
    if lost.empty:
        return findings_frame()
    lost = lost.sort_values(["submission_id", "household_id"])
    n_lost = lost["submission_id"].value_counts()
    n_old = mine["submission_id"].value_counts()
    named = lost.groupby("submission_id").head(NAMED_HOUSEHOLDS).groupby("submission_id")["household_id"].agg("、".join)
    rows = old[vectors.member(old["submission_id"], n_lost.index)]
    new = sub.drop_duplicates("submission_id").set_index("submission_id")
    at = rows["superseded_by"]
    target = new.loc[at.to_numpy(object)].reset_index()  # the replacing files carry the findings
    k = rows["submission_id"].map(n_lost).to_numpy("int64")
    share = k / rows["submission_id"].map(n_old).to_numpy("float64")
    large = share > settings.supersede_loss_share
    codes = rows["submission_id"].map(named).to_numpy(object)
    more = np.where(k > NAMED_HOUSEHOLDS, "等", "")
    old_name = _name(rows["landing_path"]).to_numpy(object)
    pct = pd.Series(np.round(share * 100).astype("int64")).astype(str).to_numpy(object)
    head = "本文件替代了先前报送的 " + old_name + "，但其中 " + k.astype(str) + " 户（户编号 " + codes + more + "）不在本文件中"
    message = np.where(large, head + "，占被替代文件户数的 " + pct + "%，超过 "
                       + f"{settings.supersede_loss_share:.0%}" + "：请核实是否漏报；这些户本周不计入",
                       head + "，这些户本周不计入；如为漏填，请补齐后重新报送")
    return pd.DataFrame({**_base(target, week), "column": "户编号", "value": codes,
                         "rule": np.where(large, "ledger.correction_lost_households", "ledger.households_dropped"),
                         "severity": WARNING, "dimension": "ledger", "message": message})
