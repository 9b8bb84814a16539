"""Consolidation across levels on synthetic worlds and the shared examples."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from pipelines.synth.score import CROSS_LEVEL, score
from tests.conftest import run_pipeline_weeks, warehouse_of

pytestmark = pytest.mark.slow


def test_every_injected_fault_is_found(faulty_world):
    wh = warehouse_of(faulty_world["home"])
    s = score(faulty_world["result"].truth_dir, faulty_world["weeks"], wh)
    print(s.to_string())
    kinds = set(s["kind"])
    # Each cross-level kind was injected and is found at the right unit, metric and amount.
    assert CROSS_LEVEL <= kinds, CROSS_LEVEL - kinds
    bad = s[s["recall"] < 1.0]
    assert bad.empty, bad.to_string()


def test_clean_world_has_no_discrepancies_and_full_reporting(clean_world):
    wh = warehouse_of(clean_world["home"])
    assert wh.scalar("SELECT COUNT(*) FROM core.discrepancies") == 0
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE severity = 'error'") == 0
    rs = wh.query("SELECT * FROM core.reporting_status")
    assert len(rs) > 0 and rs["received"].all() and rs["on_time"].all()


def test_city_figures_equal_the_ledgers_bottom_up(clean_world):
    wh = warehouse_of(clean_world["home"])
    first = clean_world["weeks"][0]
    expected = clean_world["result"].expected[first]
    city = wh.query("SELECT * FROM core.consolidated WHERE week = :w AND level = '市'", {"w": first}).iloc[0]
    assert int(city["hh_close"]) == expected["world"]["poor_households"]
    assert int(city["pp_close"]) == expected["world"]["poor_people"]
    # Every level sums the level below.
    c = wh.query("SELECT * FROM core.consolidated WHERE week = :w", {"w": first})
    for child, parent in (("村", "乡镇"), ("乡镇", "县")):
        sums = c[c["level"] == child].groupby("parent_code")["hh_close"].sum()
        par = c[c["level"] == parent].set_index("unit_code")["hh_close"]
        assert (sums.reindex(par.index).fillna(0) == par).all()
    assert int(c[c["level"] == "县"]["hh_close"].sum()) == int(city["hh_close"])


def test_examples_report_missing_villages_and_take_their_figures_from_the_township(examples_landing):
    run_pipeline_weeks(["2026-W47"])
    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    wh = Warehouse(get_settings().warehouse_url)
    rs = wh.query("SELECT * FROM core.reporting_status WHERE level = '村'")
    missing = rs[rs["missing"]]
    assert len(missing) == 14 and set(missing["form"]) == {"A", "B"}  # 7 villages × forms A and B
    assert "411622107201" not in set(missing["unit_code"])
    v = wh.query("SELECT * FROM core.consolidated WHERE level = '村'").set_index("unit_code")
    assert v.loc["411622107201", "source"] == "ledger" and bool(v.loc["411622107201", "verified"])
    assert v.loc["411622107202", "source"] == "township_row" and not bool(v.loc["411622107202", "verified"])
    assert int(v.loc["411622107202", "hh_close"]) == 16
    town = wh.query("SELECT * FROM core.consolidated WHERE level = '乡镇'").iloc[0]
    assert int(town["villages_unverified"]) == 7
    # The township's total agrees with its villages, 焦东村 with its own report and ledger.
    assert wh.scalar("SELECT COUNT(*) FROM core.discrepancies") == 0
    f = wh.query("SELECT * FROM core.findings WHERE rule = 'submission.missing'")
    assert f["message"].str.contains("未报送").all()
    assert len(f[f["level"] == "村"]) == 14 and list(f[f["level"] == "县"]["unit_code"]) == ["411622"]


def test_corrected_resubmission_clears_the_discrepancy(examples_landing):
    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    folder = examples_landing / "2026-W47" / "西华县" / "逍遥镇"
    path = folder / "逍遥镇2026年第47周扶贫周报.csv"
    original = path.read_bytes()
    arrived = path.stat().st_mtime
    text = original.decode("gbk")
    # The township inflates 焦东村 (期末 37 → 40, 新识别 1 → 4) and its 合计 alike.
    text = text.replace("411622107201,焦东村,是,38,126,1,4,0,0,2,7,0,0,37,123",
                        "411622107201,焦东村,是,38,126,4,4,0,0,2,7,0,0,40,123")
    text = text.replace("合计,,,226,717,1,4,0,0,3,10,0,0,224,711", "合计,,,226,717,4,4,0,0,3,10,0,0,227,711")
    path.write_bytes(text.encode("gbk"))
    os.utime(path, (arrived, arrived))
    run_pipeline_weeks(["2026-W47"])
    wh = Warehouse(get_settings().warehouse_url)
    d = wh.query("SELECT * FROM core.discrepancies")
    tv = d[(d["rule"] == "township_vs_village") & (d["metric"] == "hh_close")]
    assert len(tv) == 1 and tv["difference"].iloc[0] == 3 and tv["direction"].iloc[0] == "虚报"
    assert tv["unit_code"].iloc[0] == "411622107201" and tv["reported_by"].iloc[0] == "411622107"
    assert "township_total_vs_villages" in set(d["rule"])
    # The township sends a corrected file later: the discrepancies it caused are gone.
    fixed = folder / "逍遥镇第47周周报（更正）.csv"
    fixed.write_bytes(original)
    t = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(fixed, (t, t))
    run_pipeline_weeks(["2026-W47"])
    assert wh.scalar("SELECT COUNT(*) FROM core.discrepancies") == 0
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE rule LIKE 'xlevel.%'") == 0


def test_finding_ids_are_unique_within_a_week(faulty_world):
    wh = warehouse_of(faulty_world["home"])
    dup = wh.query("SELECT week, finding_id, COUNT(*) AS n FROM core.findings GROUP BY week, finding_id HAVING COUNT(*) > 1")
    assert dup.empty, dup.to_string()
    assert wh.scalar("SELECT COUNT(*) FROM core.findings") > 50
