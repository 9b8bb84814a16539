"""Fault planning: which cells, rows and files of a week carry which real-world error.

The plan also carries the reported figures of Forms B, C, D (after faults) because the
cross-level faults change what the level above copies:
- Form C village rows copy the village's own Form B (as reported), except for a village
  whose Form B has a balance_broken fault: the township row keeps the ledger figures.
- Form D township rows copy the township's own 合计 (as reported).
- 合计 rows are the sums of the rows above them unless a wrong_total fault says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.synth import names as nm
from pipelines.synth.figures import C_SUM, D_SUM, build_c, build_d, totals
from pipelines.synth.world import EXIT, EXITED, NONE, POOR, World

KINDS = (
    "id_invalid_checksum", "id_scientific", "id_duplicate_across_villages", "household_size_out_of_range",
    "unknown_cause", "unknown_state", "state_change_contradiction", "exit_below_income_line",
    "exit_without_guarantees", "poor_without_helper", "poor_without_measure", "balance_broken",
    "village_vs_ledger", "township_vs_village", "wrong_total", "county_inflated", "missing_submission",
    "late_submission", "unknown_unit", "wrong_week",
)
# Rate per eligible item (ledger row, village, 合计 row, file ...); at least one per week.
RATES = {
    "id_invalid_checksum": 0.0002, "id_scientific": 0.0002, "id_duplicate_across_villages": 0.0001,
    "household_size_out_of_range": 0.0001, "unknown_cause": 0.0002, "unknown_state": 0.0001,
    "state_change_contradiction": 0.0001, "exit_below_income_line": 0.02, "exit_without_guarantees": 0.02,
    "poor_without_helper": 0.0001, "poor_without_measure": 0.0001, "balance_broken": 0.002,
    "village_vs_ledger": 0.002, "township_vs_village": 0.002, "wrong_total": 0.02, "county_inflated": 0.01,
    "missing_submission": 0.001, "late_submission": 0.01, "unknown_unit": 0.1, "wrong_week": 0.001,
}
RATE_BASIS = {
    "id_invalid_checksum": "每条计划进度账记录", "id_scientific": "每条计划进度账记录",
    "id_duplicate_across_villages": "每条计划进度账记录", "household_size_out_of_range": "每条计划进度账记录",
    "unknown_cause": "每条计划进度账记录", "unknown_state": "每条计划进度账记录",
    "state_change_contradiction": "每条计划进度账记录", "exit_below_income_line": "每户本周脱贫户",
    "exit_without_guarantees": "每户本周脱贫户", "poor_without_helper": "每户贫困户",
    "poor_without_measure": "每户贫困户", "balance_broken": "每份村级周报", "village_vs_ledger": "每份村级周报",
    "township_vs_village": "每条乡镇周报村行", "wrong_total": "每个合计行", "county_inflated": "每条县级周报乡镇行",
    "missing_submission": "每份应报文件", "late_submission": "每份应报文件", "unknown_unit": "每个县",
    "wrong_week": "每份村/乡/县周报",
}
BAD_CAUSES = ("因懒", "不详", "其他原因", "好吃懒做", "因婚")
BAD_STATES = ("待定", "脱贫中", "正常", "已销号", "待核实")
SECURITY = ("food_secure", "clothing_secure", "education_secure", "medical_secure", "housing_secure")


@dataclass
class Plan:
    b: pd.DataFrame
    c: pd.DataFrame
    c_tot: pd.DataFrame
    d: pd.DataFrame
    d_tot: pd.DataFrame
    entries: list = field(default_factory=list)              # manifest entries (completed at render)
    cell_entry: dict = field(default_factory=dict)           # (form, unit, row_key, canonical) -> (entry, role)
    ledger_marks: dict = field(default_factory=dict)         # vi -> {(g, canonical): value}
    drops: dict = field(default_factory=dict)                # vi -> {(sheet, g)}
    b_marks: dict = field(default_factory=dict)              # vi -> {("row", canonical): value}
    c_marks: dict = field(default_factory=dict)              # township -> {(row_key, canonical): value}
    d_marks: dict = field(default_factory=dict)              # county -> {(row_key, canonical): value}
    file_faults: dict = field(default_factory=dict)          # (form, unit) -> {kind: entry}
    unknown_units: list = field(default_factory=list)        # dicts: township, code, name, entry
    resubmit: set = field(default_factory=set)               # (form, unit)
    b_for_c: pd.DataFrame | None = None


def _count(rng, n, rate):
    return max(1, int(rng.binomial(max(n, 0), rate))) if n > 0 else 0


def plan_week(world: World, week: str, week_index: int, is_last: bool, b: pd.DataFrame, extra: pd.DataFrame,
              enabled: bool, line: float, size_max: int) -> Plan:
    """The week's faults level by level, in the order the RNG draws them (which keeps worlds reproducible)."""
    rng = np.random.default_rng([world.seed, 4, week_index])
    v = world.villages
    vcodes = v["code"].to_numpy()
    towns = sorted(set(v["parent_code"]))
    counties = [c for c, *_ in nm.COUNTIES]
    b_rep = b.copy()
    plan = Plan(b_rep, None, None, None, None)
    used_units: set = set()          # (form, unit) with any fault
    cont = [] if is_last else ["continuity_next_week"]

    def entry(kind, form, unit, level, **kw):
        e = dict(kind=kind, week=week, unit_code=unit, level=level, file="", form=form, sheet=None, row=None,
                 column=None, value=None)
        e.update(kw)
        plan.entries.append(e)
        return e

    if enabled:
        _plan_missing(plan, rng, vcodes, towns, counties, used_units, entry)
    missing = {u for u, f in plan.file_faults.items() if "missing" in f}
    if enabled:
        _plan_ledger(plan, world, rng, missing, used_units, entry, line, size_max)
        _plan_village_reports(plan, rng, b_rep, vcodes, missing, used_units, entry, cont)
    # Form C village rows copy Form B as reported (balance_broken villages: ledger figures)
    b_for_c = b_rep.copy()
    for vi, mk in plan.b_marks.items():
        e = plan.cell_entry.get(("B", vcodes[vi], "row", next(iter(mk))[1]))
        if e and e[0]["kind"] == "balance_broken":
            b_for_c.loc[vi] = b.loc[vi]
    c = build_c(world, b_for_c)
    if enabled:
        _plan_township_rows(plan, rng, c, v, vcodes, missing, used_units, entry, cont)
    c_tot = totals(c, "township_code", C_SUM)
    n_wrong = _count(rng, len(towns) + len(counties), RATES["wrong_total"]) if enabled else 0
    wrong_c = (n_wrong + 1) // 2
    if enabled:
        _plan_township_totals(plan, rng, c_tot, towns, wrong_c, missing, used_units, entry)
    d_rows = build_d(world, c_tot, b_rep, extra)
    if enabled:
        _plan_county_rows(plan, rng, d_rows, missing, used_units, entry, cont)
    d_tot = totals(d_rows, "county_code", D_SUM)
    if enabled:
        _plan_county_totals(plan, rng, d_tot, counties, n_wrong - wrong_c, missing, used_units, entry)
        _plan_files(plan, rng, week, vcodes, towns, counties, missing, used_units, entry, v)
    _plan_resubmissions(plan, world, week_index, vcodes, towns, missing, used_units)
    plan.b, plan.c, plan.c_tot, plan.d, plan.d_tot = b_rep, c, c_tot, d_rows, d_tot
    return plan


def _plan_missing(plan: Plan, rng, vcodes, towns, counties, used_units, entry):
    """Missing submissions first: those units send nothing."""
    expected = ([("A", c) for c in vcodes] + [("B", c) for c in vcodes] + [("C", t) for t in towns]
                + [("D", c) for c in counties])
    k = _count(rng, len(expected), RATES["missing_submission"])
    w = np.array([1.0 if f in "AB" else 0.5 if f == "C" else 0.05 for f, _ in expected])
    for i in rng.choice(len(expected), k, replace=False, p=w / w.sum()):
        form, unit = expected[i]
        level = forms.FORM_LEVEL[form]
        e = entry("missing_submission", form, unit, level)
        plan.file_faults.setdefault((form, unit), {})["missing"] = e
        used_units.add((form, unit))


def _plan_village_reports(plan: Plan, rng, b_rep, vcodes, missing, used_units, entry, cont):
    """Form B: a broken balance, or a 期末 that is not the ledger's."""
    nv = len(vcodes)
    ok_b = [i for i in range(nv) if ("B", vcodes[i]) not in missing]
    pick = list(rng.permutation(ok_b))
    for _ in range(_count(rng, nv, RATES["balance_broken"])):
        if not pick:
            break
        vi = int(pick.pop())
        col = str(rng.choice(["hh_exit", "pp_exit", "hh_new", "pp_new"]))
        d = int(rng.integers(1, 4))
        new_val = int(b_rep.at[vi, col]) + d
        b_rep.at[vi, col] = new_val
        metric = "hh_close" if col.startswith("hh") else "pp_close"
        p = metric[:2]
        exp_close = (b_rep.at[vi, f"{p}_open"] + b_rep.at[vi, f"{p}_new"] + b_rep.at[vi, f"{p}_return"]
                     - b_rep.at[vi, f"{p}_exit"] - b_rep.at[vi, f"{p}_cancel"])
        rep = int(b_rep.at[vi, metric])
        e = entry("balance_broken", "B", vcodes[vi], forms.LEVEL_VILLAGE, metric=metric, reported=rep,
                  expected=int(exp_close), amount=int(rep - exp_close), changed=col,
                  also=["township_vs_village"])
        plan.b_marks.setdefault(vi, {})[("row", col)] = new_val
        plan.cell_entry[("B", vcodes[vi], "row", col)] = (e, "main")
        used_units.add(("B", vcodes[vi]))
    for _ in range(_count(rng, nv, RATES["village_vs_ledger"])):
        if not pick:
            break
        vi = int(pick.pop())
        d = int(rng.integers(1, 4))
        true_close = int(b_rep.at[vi, "hh_close"])
        b_rep.at[vi, "hh_close"] = true_close + d
        b_rep.at[vi, "hh_new"] = int(b_rep.at[vi, "hh_new"]) + d
        e = entry("village_vs_ledger", "B", vcodes[vi], forms.LEVEL_VILLAGE, metric="hh_close",
                  reported=true_close + d, expected=true_close, amount=d, also=list(cont), cells=[])
        plan.b_marks.setdefault(vi, {})[("row", "hh_close")] = true_close + d
        plan.b_marks[vi][("row", "hh_new")] = int(b_rep.at[vi, "hh_new"])
        plan.cell_entry[("B", vcodes[vi], "row", "hh_close")] = (e, "main")
        plan.cell_entry[("B", vcodes[vi], "row", "hh_new")] = (e, "companion")
        used_units.add(("B", vcodes[vi]))


def _plan_township_rows(plan: Plan, rng, c, v, vcodes, missing, used_units, entry, cont):
    """Form C: a village row that is not the village's own report."""
    nv = len(vcodes)
    ok = [i for i in range(nv) if ("B", vcodes[i]) not in used_units and ("C", v["parent_code"][i]) not in missing]
    pick = list(rng.permutation(ok))
    for _ in range(_count(rng, nv, RATES["township_vs_village"])):
        if not pick:
            break
        vi = int(pick.pop())
        t = v["parent_code"][vi]
        d = int(rng.integers(1, 4))
        orig = int(c.at[vi, "hh_close"])
        c.at[vi, "hh_close"] = orig + d
        c.at[vi, "hh_new"] = int(c.at[vi, "hh_new"]) + d
        e = entry("township_vs_village", "C", t, forms.LEVEL_TOWNSHIP, metric="hh_close", reported=orig + d,
                  expected=orig, amount=d, village_code=vcodes[vi], also=list(cont), cells=[])
        mk = plan.c_marks.setdefault(t, {})
        mk[(vcodes[vi], "hh_close")] = orig + d
        mk[(vcodes[vi], "hh_new")] = int(c.at[vi, "hh_new"])
        plan.cell_entry[("C", t, vcodes[vi], "hh_close")] = (e, "main")
        plan.cell_entry[("C", t, vcodes[vi], "hh_new")] = (e, "companion")
        used_units.add(("C", t))


def _plan_township_totals(plan: Plan, rng, c_tot, towns, wrong_c, missing, used_units, entry):
    """Form C: a 合计 that is not the sum of its rows."""
    cand = [t for t in towns if ("C", t) not in missing and ("C", t) not in used_units]
    for t in rng.permutation(cand)[:wrong_c]:
        col = str(rng.choice(["training_persons", "training_sessions"]))
        true = int(c_tot.at[t, col])
        d = int(rng.choice([-1, 1, 2, 10])) if true > 1 else int(rng.integers(1, 12))
        c_tot.at[t, col] = true + d
        e = entry("wrong_total", "C", str(t), forms.LEVEL_TOWNSHIP, metric=col, reported=true + d,
                  expected=true, amount=d)
        plan.c_marks.setdefault(str(t), {})[("合计", col)] = true + d
        plan.cell_entry[("C", str(t), "合计", col)] = (e, "main")
        used_units.add(("C", str(t)))


def _plan_county_rows(plan: Plan, rng, d_rows, missing, used_units, entry, cont):
    """Form D: a township's exits inflated by its county."""
    ok = [i for i in range(len(d_rows)) if ("D", d_rows["county_code"][i]) not in missing
          and ("C", d_rows["township_code"][i]) not in missing]
    for i in rng.permutation(ok)[:_count(rng, len(d_rows), RATES["county_inflated"])]:
        i = int(i)
        cc, t = d_rows.at[i, "county_code"], d_rows.at[i, "township_code"]
        close = int(d_rows.at[i, "hh_close"])
        amt = int(rng.integers(1, 6))
        amt = min(amt, close) if close > 0 else amt
        orig_exit = int(d_rows.at[i, "hh_exit"])
        d_rows.at[i, "hh_exit"] = orig_exit + amt
        if close >= amt:
            d_rows.at[i, "hh_close"] = close - amt
        e = entry("county_inflated", "D", cc, forms.LEVEL_COUNTY, metric="hh_exit", reported=orig_exit + amt,
                  expected=orig_exit, amount=amt, township_code=t, cells=[],
                  also=list(cont) if close >= amt else [])  # 期末 unchanged: next week continues
        mk = plan.d_marks.setdefault(cc, {})
        mk[(t, "hh_exit")] = orig_exit + amt
        plan.cell_entry[("D", cc, t, "hh_exit")] = (e, "main")
        if close >= amt:
            mk[(t, "hh_close")] = close - amt
            plan.cell_entry[("D", cc, t, "hh_close")] = (e, "companion")
        used_units.add(("D", cc))


def _plan_county_totals(plan: Plan, rng, d_tot, counties, wrong_d, missing, used_units, entry):
    """Form D: a 合计 that is not the sum of its rows."""
    cand = [cc for cc in counties if ("D", cc) not in missing]
    for cc in rng.permutation(cand)[:wrong_d]:
        cc = str(cc)
        col = str(rng.choice(["fiscal_funds_wan", "team_members", "inspections", "base_driven_pp"]))
        true = d_tot.at[cc, col]
        d = round(float(rng.choice([-1, 1, 3, 10])), 2) if col == "fiscal_funds_wan" else int(rng.choice([1, 2, 5, 10]))
        rep = round(float(true) + d, 2) if col == "fiscal_funds_wan" else int(true) + d
        d_tot.at[cc, col] = rep
        e = entry("wrong_total", "D", cc, forms.LEVEL_COUNTY, metric=col, reported=rep,
                  expected=true.item() if hasattr(true, "item") else true, amount=d)
        plan.d_marks.setdefault(cc, {})[("合计", col)] = rep
        plan.cell_entry[("D", cc, "合计", col)] = (e, "main")
        used_units.add(("D", cc))


def _plan_resubmissions(plan: Plan, world: World, week_index: int, vcodes, towns, missing, used_units):
    """Corrected resubmissions, never on faulted units (their own RNG stream)."""
    rs_rng = np.random.default_rng([world.seed, 5, week_index])
    cand_b = [("B", c) for c in vcodes if ("B", c) not in used_units and ("B", c) not in missing]
    cand_c = [("C", t) for t in towns if ("C", t) not in used_units and ("C", t) not in missing]
    for pool, rate in ((cand_b, 0.004), (cand_c, 0.03)):
        k = max(1, int(rs_rng.binomial(len(pool), rate))) if pool else 0
        for i in rs_rng.choice(len(pool), min(k, len(pool)), replace=False):
            plan.resubmit.add(pool[int(i)])


def _plan_ledger(plan: Plan, world: World, rng, missing, used_units, entry, line, size_max):
    hh = world.hh
    v = world.villages
    vcodes = v["code"].to_numpy()
    ok_village = np.array([("A", c) not in missing for c in vcodes])
    village = hh["village"]
    eligible = ok_village[village]
    state, change = hh["state"], hh["change"]
    allsec = hh["sec0"] & hh["sec1"] & hh["sec2"] & hh["sec3"] & hh["sec4"]
    taken = np.zeros(len(village), bool)
    n_rows = int(eligible.sum())

    def choose(mask, k, kind):
        cand = np.flatnonzero(mask & eligible & ~taken)
        if len(cand) == 0:
            return []
        pick = rng.choice(cand, min(k, len(cand)), replace=False)
        taken[pick] = True
        for g in pick:
            used_units.add(("A", vcodes[village[g]]))
        return [int(g) for g in pick]

    def mark(kind, g, col, value, sheet=forms.SHEET_PLAN, **kw):
        vi = int(village[g])
        e = entry(kind, "A", vcodes[vi], forms.LEVEL_VILLAGE, sheet=sheet, household_id=hh["hh_id"][g], **kw)
        plan.ledger_marks.setdefault(vi, {})[(g, col)] = value
        plan.cell_entry[("A", vcodes[vi], g, col)] = (e, "main")
        return e

    n_poor = int((eligible & (state == POOR)).sum())
    n_exit = int((eligible & (change == EXIT)).sum())
    for g in choose(np.ones_like(taken), _count(rng, n_rows, RATES["id_invalid_checksum"]), ""):
        good = hh["id_number"][g]
        bad = good[:17] + rng.choice([c for c in "0123456789X" if c != good[17]])
        mark("id_invalid_checksum", g, "id_number", bad)
    no_x = np.array([s[-1] != "X" for s in hh["id_number"]])
    for g in choose(no_x, _count(rng, n_rows, RATES["id_scientific"]), ""):
        mark("id_scientific", g, "id_number", float(hh["id_number"][g]))
    k = _count(rng, n_rows, RATES["id_duplicate_across_villages"])
    for g in choose(np.ones_like(taken), k, ""):
        others = np.flatnonzero(eligible & ~taken & (village != village[g]))
        if len(others) == 0:
            continue
        src = int(rng.choice(others))
        taken[src] = True
        mark("id_duplicate_across_villages", g, "id_number", hh["id_number"][src],
             duplicate_of=dict(household_id=hh["hh_id"][src], unit_code=vcodes[village[src]]))
    stable_exited = (state == EXITED) & (change == NONE)
    for g in choose(stable_exited, _count(rng, n_rows, RATES["household_size_out_of_range"]), ""):
        mark("household_size_out_of_range", g, "household_size", int(rng.choice([0, size_max + 1, 25, 32, 99])))
    for g in choose(state == POOR, _count(rng, n_rows, RATES["unknown_cause"]), ""):
        mark("unknown_cause", g, "main_cause", str(rng.choice(BAD_CAUSES)))
    for g in choose(stable_exited, _count(rng, n_rows, RATES["unknown_state"]), ""):
        mark("unknown_state", g, "state", str(rng.choice(BAD_STATES)))
    k = _count(rng, n_rows, RATES["state_change_contradiction"])
    ready = (state == POOR) & (change == NONE) & (hh["income"] >= line) & allsec
    picks = choose(ready, k, "")
    if len(picks) < k:
        picks += choose((state == POOR) & (change == NONE), k - len(picks), "")
    for g in picks:
        also = []
        if hh["income"][g] < line:
            also.append("exit_below_income_line")
        if not allsec[g]:
            also.append("exit_without_guarantees")
        mark("state_change_contradiction", g, "week_change", "脱贫", also=also)
    for g in choose(change == EXIT, _count(rng, n_exit, RATES["exit_below_income_line"]), ""):
        mark("exit_below_income_line", g, "income_per_capita_yuan", int(rng.integers(1800, int(line) - 50)))
    for g in choose(change == EXIT, _count(rng, n_exit, RATES["exit_without_guarantees"]), ""):
        mark("exit_without_guarantees", g, str(rng.choice(SECURITY)), "否")
    for kind, sheet, sname in (("poor_without_helper", "helpers", forms.SHEET_HELPERS),
                               ("poor_without_measure", "measures", forms.SHEET_MEASURES)):
        for g in choose(state == POOR, _count(rng, n_poor, RATES[kind]), ""):
            vi = int(village[g])
            e = mark(kind, g, "household_id", hh["hh_id"][g], missing_in=sname)
            plan.drops.setdefault(vi, set()).add((sheet, g))
            e["note"] = f"该户在{sname}中没有记录；定位为计划进度账中该户的户编号单元格"


def _plan_files(plan: Plan, rng, week, vcodes, towns, counties, missing, used_units, entry, v):
    units = ([("A", c) for c in vcodes] + [("B", c) for c in vcodes] + [("C", t) for t in towns]
             + [("D", c) for c in counties])
    free = [u for u in units if u not in used_units and u not in missing]
    order = list(rng.permutation(len(free)))
    k_late = _count(rng, len(units), RATES["late_submission"])
    for i in order[:k_late]:
        form, unit = free[int(i)]
        e = entry("late_submission", form, unit, forms.FORM_LEVEL[form])
        plan.file_faults.setdefault((form, unit), {})["late"] = e
        used_units.add((form, unit))
    bcd = [u for u in free if u[0] != "A" and u not in used_units]
    k_ww = _count(rng, len(bcd), RATES["wrong_week"])
    for i in rng.permutation(len(bcd))[:k_ww]:
        form, unit = bcd[int(i)]
        e = entry("wrong_week", form, unit, forms.FORM_LEVEL[form], column="填报周次")
        plan.file_faults.setdefault((form, unit), {})["wrong_week"] = e
        used_units.add((form, unit))
    k_uu = _count(rng, len(counties), RATES["unknown_unit"])
    tlist = [t for t in towns if ("C", t) not in missing]
    for j, i in enumerate(rng.permutation(len(tlist))[:k_uu]):
        t = tlist[int(i)]
        used = {c for c in vcodes if c.startswith(t)}
        code = next(f"{t}{n:03d}" for n in range(901, 1000) if f"{t}{n:03d}" not in used)
        e = entry("unknown_unit", "B", code, forms.LEVEL_VILLAGE)
        plan.unknown_units.append(dict(township=t, code=code, entry=e))
