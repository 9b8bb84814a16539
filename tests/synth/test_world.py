"""The world itself: register, IDs, ledgers rules, money figures (no files needed)."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric

from pipelines.register import read_register, write_register
from pipelines.synth.figures import village_figures
from pipelines.synth.world import EXIT, POOR, build_world, evolve, id_check_chars, village_flows

START = dt.date(2026, 11, 16)


@pytest.fixture(scope="module")
def world():
    return build_world(11, 1.0, START)


def test_register_real_units_and_sizes(world):
    reg = read_register(write_register(world.register))
    counties = reg[reg.level == "县"]
    assert dict(zip(counties.code, counties.name)) == {
        "411602": "川汇区", "411621": "扶沟县", "411622": "西华县", "411623": "商水县", "411624": "沈丘县",
        "411625": "郸城县", "411626": "淮阳县", "411627": "太康县", "411628": "鹿邑县", "411681": "项城市"}
    assert set(counties[~counties.is_key_county].code) == {"411602", "411681"}
    towns = reg[reg.level == "乡镇"]
    villages = reg[reg.level == "村"]
    assert 180 <= len(towns) <= 200
    assert 4500 <= len(villages) <= 4700
    assert villages.is_poor_village.sum() == 630
    assert towns.name.str.endswith(("镇", "乡")).all()
    assert villages.name.str.endswith("村").all()
    assert not villages.duplicated(["parent_code", "name"]).any()
    assert not towns.duplicated(["parent_code", "name"]).any()
    assert (towns.code.str.len() == 9).all() and (towns.code.str[:6] == towns.parent_code).all()
    assert (villages.code.str.len() == 12).all() and (villages.code.str[:9] == villages.parent_code).all()
    names = dict(zip(reg.code, reg.name))
    assert names["411622107"] == "逍遥镇" and names["411622107201"] == "焦东村"
    full = {names[c[:6]] + names[c[:9]] + n for c, n in zip(villages.code, villages.name)}
    assert {"淮阳县白楼镇大部村", "太康县老家镇刘寨村", "西华县逍遥镇焦东村"} <= full
    assert "胡集乡" in set(towns[towns.parent_code == "411625"].name)


def test_calibration_in_memory(world):
    poor = world.hh["state"] == POOR
    assert poor.sum() == 148_900
    assert world.hh["size"][poor].astype(int).sum() == 496_100
    # poor households live in every village, concentrated in poor villages
    per_v = np.bincount(world.hh["village"][poor], minlength=len(world.villages))
    assert (per_v > 0).all()
    pv = world.villages["is_poor_village"].to_numpy()
    assert per_v[pv].mean() > 2.5 * per_v[~pv].mean()


def test_resident_ids_valid_unique_and_local(world):
    ids = world.hh["id_number"]
    assert len(set(ids)) == len(ids)
    for s in np.random.default_rng(0).choice(ids, 400, replace=False):
        # stdnum's calc_check_digit takes the full number and ignores its last character;
        # its birth-place table lacks these Zhoukou codes, so only checksum and date are checked.
        assert ric.calc_check_digit(s) == s[17], s
        assert dt.date(1935, 1, 1) <= ric.get_birth_date(s) <= dt.date(2005, 12, 31)
    county = world.villages["code"].str[:6].to_numpy()[world.hh["village"]]
    assert (pd.Series(ids).str[:6].to_numpy() == county).all()
    years = pd.Series(ids).str[6:10].astype(int)
    assert years.between(1935, 2005).all()
    assert id_check_chars(np.array(["41162219720915524"], dtype=object))[0] == ric.calc_check_digit("41162219720915524?")


def test_measures_and_helpers_cover_every_poor_household(world):
    poor = np.flatnonzero(world.hh["state"] == POOR)
    assert np.isin(poor, world.measures["hh"]).all()
    assert np.isin(poor, world.helpers["hh"]).all()
    phones = pd.Series(world.helpers["phone"])
    assert phones.str.fullmatch(r"1[3-9]\d{9}").all()


def test_evolution_rules_and_stable_ids():
    w = build_world(5, 0.05, START)
    before = dict(zip(w.hh["hh_id"], w.hh["id_number"]))
    for i in range(1, 4):
        evolve(w, i, START + dt.timedelta(weeks=i), 3000.0)
        ch = w.hh["change"]
        ex = ch == EXIT
        assert ex.any()
        assert (w.hh["income"][ex] >= 3000).all()
        assert all((w.hh[f"sec{k}"][ex]).all() for k in range(5))
        assert (ch == 1).any()  # new identification keeps happening
        flows = village_flows(w)
        for p in ("hh", "pp"):
            bal = flows[f"{p}_open"] + flows[f"{p}_new"] + flows[f"{p}_return"] - flows[f"{p}_exit"] - flows[f"{p}_cancel"]
            assert (bal == flows[f"{p}_close"]).all()
    after = dict(zip(w.hh["hh_id"], w.hh["id_number"]))
    assert all(after[k] == v for k, v in before.items())
    assert len(set(w.hh["hh_id"])) == w.n
    assert pd.Series(w.hh["hh_id"]).str.len().eq(16).all()


def test_key_counties_near_monthly_microcredit_target(world):
    demo = pd.Series(0, index=world.villages["parent_code"].unique())
    monthly = []
    for i in range(4):
        b, _ = village_figures(world, i, demo)
        monthly.append(b.groupby(world.villages["county_code"])["microcredit_wan"].sum())
    per_month = sum(monthly) * (30.4 / 7) / 4
    keys = [c for c, k in zip(world.register.code, world.register.is_key_county) if k]
    kv = per_month[keys]
    assert kv.between(500, 1800).all(), kv
    assert (kv > 1000).any() and (kv < 1000).any()
    assert per_month.drop(keys).max() < 1000
