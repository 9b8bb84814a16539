"""Weekly report figures (Forms B, C, D) computed from the ledgers, before any fault."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.synth.world import World, village_flows

B_COLS = [c.name for c in forms.VILLAGE_REPORT]
C_COLS = [c.name for c in forms.TOWNSHIP_REPORT]
D_COLS = [c.name for c in forms.COUNTY_REPORT]
C_SUM = [c.name for c in forms.TOWNSHIP_REPORT if c.dtype in ("int", "float")]
D_SUM = [c.name for c in forms.COUNTY_REPORT if c.dtype in ("int", "float")]


@dataclass
class Figures:
    b: pd.DataFrame       # one row per village (index = village index), canonical names
    c: pd.DataFrame       # one row per village as the township reports it, + township_code
    c_tot: pd.DataFrame   # per township code
    d: pd.DataFrame       # per township as the county reports it, + county_code
    d_tot: pd.DataFrame   # per county code


def village_figures(world: World, week_index: int, demo_bases: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Form B rows for every village (clean), plus township-level extras."""
    rng = np.random.default_rng([world.seed, 3, week_index])
    v = world.villages
    nv = len(v)
    flows = village_flows(world)
    b = pd.DataFrame(index=pd.RangeIndex(nv))
    b["is_poor_village"] = np.where(v["is_poor_village"].to_numpy(), "是", "否")
    b["first_secretary"] = v["first_secretary"].to_numpy()
    b["work_team_size"] = v["team_size"].to_numpy()
    for k in forms.FLOW_NAMES:
        b[k] = flows[k].to_numpy()
    funds = np.where(rng.random(nv) < 0.2, np.round(rng.uniform(1, 30, nv), 1), 0.0)
    b["funds_to_village_wan"] = funds
    loans = rng.poisson(v["credit_mean_wan"].to_numpy() / 4.6)
    credit = loans * 5.0 - np.where((loans > 0) & (rng.random(nv) < 0.25), 2.0, 0.0)
    b["microcredit_wan"] = credit
    b["base_driven_hh"] = v["base_hh"].to_numpy()
    b["training_persons"] = np.where(rng.random(nv) < 0.12, rng.integers(8, 46, nv), 0)
    b["training_sessions"] = np.where(b["training_persons"] > 0, np.where(b["training_persons"] > 30, 2, 1), 0)
    towns = pd.DataFrame({"township_code": v["parent_code"].to_numpy()})
    extra = pd.DataFrame({
        "township_code": sorted(set(towns["township_code"])),
    })
    extra["inspections"] = rng.choice([0, 0, 1, 1, 2, 3], len(extra))
    extra["fiscal_extra"] = np.where(rng.random(len(extra)) < 0.3, np.round(rng.uniform(5, 80, len(extra)), 1), 0.0)
    extra["demo_bases_cum"] = demo_bases.reindex(extra["township_code"]).fillna(0).astype(int).to_numpy()
    return b, extra.set_index("township_code")


def build_c(world: World, b_for_c: pd.DataFrame) -> pd.DataFrame:
    v = world.villages
    c = pd.DataFrame({
        "village_code": v["code"].to_numpy(),
        "village_name": v["name"].to_numpy(),
        "is_poor_village": b_for_c["is_poor_village"].to_numpy(),
    })
    for k in forms.FLOW_NAMES:
        c[k] = b_for_c[k].to_numpy()
    c["microcredit_wan"] = b_for_c["microcredit_wan"].to_numpy()
    c["training_sessions"] = b_for_c["training_sessions"].to_numpy()
    c["training_persons"] = b_for_c["training_persons"].to_numpy()
    c["township_code"] = v["parent_code"].to_numpy()
    return c


def totals(df: pd.DataFrame, by: str, cols: list[str]) -> pd.DataFrame:
    t = df.groupby(by, sort=True)[cols].sum()
    for col in cols:
        if df[col].dtype.kind == "f":
            t[col] = t[col].round(2)
    return t


def build_d(world: World, c_tot: pd.DataFrame, b: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    reg = world.register
    towns = reg[reg["level"] == forms.LEVEL_TOWNSHIP].set_index("code")
    v = world.villages
    codes = c_tot.index.to_numpy()
    d = pd.DataFrame({"township_code": codes, "township_name": towns.loc[codes, "name"].to_numpy()})
    pv = v.groupby("parent_code")["is_poor_village"].sum()
    d["poor_village_count"] = pv.reindex(codes).fillna(0).astype(int).to_numpy()
    for k in forms.FLOW_NAMES:
        d[k] = c_tot.loc[codes, k].to_numpy()
    d["microcredit_wan"] = c_tot.loc[codes, "microcredit_wan"].to_numpy()
    d["demo_bases_cum"] = extra.loc[codes, "demo_bases_cum"].to_numpy()
    by_town = pd.DataFrame({"t": v["parent_code"].to_numpy(), "hh": b["base_driven_hh"].to_numpy(),
                            "funds": b["funds_to_village_wan"].to_numpy(), "team": b["work_team_size"].to_numpy()})
    agg = by_town.groupby("t").sum().reindex(codes)
    d["base_driven_hh"] = agg["hh"].to_numpy().astype(int)
    d["base_driven_pp"] = np.round(agg["hh"].to_numpy() * 3.89).astype(int)
    d["fiscal_funds_wan"] = np.round(agg["funds"].to_numpy() + extra.loc[codes, "fiscal_extra"].to_numpy(), 2)
    d["team_members"] = agg["team"].to_numpy().astype(int)
    d["inspections"] = extra.loc[codes, "inspections"].to_numpy()
    d["county_code"] = [c[:6] for c in codes]
    return d
