"""Per village and submission, what its own ledger (表A) says: households, the week's flows
(期初, 新识别, 返贫, 脱贫, 注销, 期末, in households and people), and how many poor
households have a helper and a measure. Consolidation compares it with the village's report.

One counting rule (docs/counting.md): 期末 is the households whose 当前状态 is 贫困; a flow is
counted only where 本周变动 agrees with 当前状态 (新识别/返贫 → 贫困, 脱贫 → 已脱贫, 注销 → 注销);
期初 is the state before this week's counted change, so it equals last week's 期末 counted
the same way. A row whose change contradicts its state (贫困 with 脱贫) is counted by its
state alone, once, and its own finding (week_change.state) says what to correct."""
from __future__ import annotations

import pandas as pd

from pipelines import forms, vectors

# The 当前状态 a household has after each change of 本周变动.
AFTER_CHANGE = {"新识别": "贫困", "返贫": "贫困", "脱贫": "已脱贫", "注销": "注销"}


def ledger_summary(tables: dict[str, pd.DataFrame], current: set[str], week: str) -> pd.DataFrame:
    """Per village: what its own ledger says, over all rows it submitted (quarantined included)."""
    plan = tables.get("core.ledger_households", pd.DataFrame())
    cols = ["week", "unit_code", "submission_id", "households", *forms.FLOW_NAMES,
            "poor_with_helper", "poor_with_measure", "planned_exit_this_year"]
    if plan.empty:
        return pd.DataFrame(columns=cols)
    plan = plan[vectors.member(plan["submission_id"], current)]
    size = pd.to_numeric(plan["household_size"], errors="coerce").fillna(0).astype("int64")
    state = plan["state"].astype(str)
    change = plan["week_change"].astype(str)
    change = change.where(change.map(AFTER_CHANGE) == state, "无")  # a contradicted change is not counted
    poor = state.eq("贫困")
    key = ["unit_code", "submission_id"]

    def has(table: str) -> pd.Series:
        other = tables.get(table, pd.DataFrame())
        if other.empty:
            return pd.Series(False, index=plan.index)
        keys = vectors.joined(other["submission_id"], other["household_id"])
        mine = vectors.joined(plan["submission_id"], plan["household_id"])
        return pd.Series(vectors.member(mine, keys), index=plan.index)

    year = int(week[:4])
    frame = pd.DataFrame({
        "unit_code": plan["unit_code"], "submission_id": plan["submission_id"], "households": 1,
        "hh_close": poor.astype(int), "pp_close": size.where(poor, 0),
        **{f"hh_{k}": change.eq(v).astype(int) for k, v in (("new", "新识别"), ("return", "返贫"), ("exit", "脱贫"), ("cancel", "注销"))},
        **{f"pp_{k}": size.where(change.eq(v), 0) for k, v in (("new", "新识别"), ("return", "返贫"), ("exit", "脱贫"), ("cancel", "注销"))},
        "poor_with_helper": (poor & has("core.ledger_helpers")).astype(int),
        "poor_with_measure": (poor & has("core.ledger_measures")).astype(int),
        "planned_exit_this_year": pd.to_numeric(plan["planned_exit_year"], errors="coerce").eq(year).fillna(False).astype(int),
    })
    out = frame.groupby(key, as_index=False).sum()
    for p in ("hh", "pp"):
        out[f"{p}_open"] = out[f"{p}_close"] - out[f"{p}_new"] - out[f"{p}_return"] + out[f"{p}_exit"] + out[f"{p}_cancel"]
    out["week"] = week
    return out[cols]


def sum_ledger_summaries(summaries: list[pd.DataFrame], week: str) -> pd.DataFrame:
    """The summaries of several groups (or files) as one frame."""
    frames = [s for s in summaries if len(s)]
    if not frames:
        return summaries[0] if summaries else ledger_summary({}, set(), week)
    return pd.concat(frames, ignore_index=True)


def per_village(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per village: a ledger sent in parts (several current files whose households
    do not overlap: docs/supersession.md) adds up its parts' counts."""
    if summary.empty or not summary["unit_code"].duplicated().any():
        return summary
    counts = [c for c in summary.columns if c not in ("week", "unit_code", "submission_id")]
    numbers = summary[counts].apply(pd.to_numeric, errors="coerce")
    added = numbers.groupby(summary["unit_code"].to_numpy(object), sort=False).sum(min_count=1)
    first = summary.drop_duplicates("unit_code").set_index("unit_code")
    return first[["week", "submission_id"]].join(added).reset_index(names="unit_code")[list(summary.columns)]
