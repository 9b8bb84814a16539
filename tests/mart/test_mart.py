"""The mart built from the session's synthetic worlds (DuckDB), in private copies."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines import forms, labels
from pipelines.mart import refresh_all, refresh_monthly_mart, refresh_weekly_mart
from pipelines.mart.build import FLOWS, MONTH_END_COUNTS, MONTH_FLOWS, month_status
from pipelines.mart.dictionary import TABLES, columns_of
from tests.mart.helpers import duckdb_copy

ADDITIVE = [*FLOWS, "microcredit_wan", "funds_to_village_wan", "training_persons", "base_driven_hh",
            "poor_with_helper", "poor_with_measure", "planned_exit_this_year", "planned_exit_done",
            "villages", "poor_villages", "villages_unverified"]
COUNTY_REPORT = ["fiscal_funds_wan", "demo_bases_cum", "demo_driven_hh", "demo_driven_pp"]
# Every weekly measure that adds up over a month's weeks.
SUMMED = [*MONTH_FLOWS, "microcredit_wan", "funds_to_village_wan", "fiscal_funds_wan", "training_persons",
          "reports_expected", "reports_received", "reports_on_time", "reports_late", "reports_missing",
          "findings_errors", "findings_warnings", "discrepancies", "discrepancy_abs_hh", "discrepancy_abs_pp",
          "discrepancy_abs_wan"]
MONEY = ["microcredit_wan", "funds_to_village_wan", "fiscal_funds_wan", "discrepancy_abs_wan"]
LEVELS = [(forms.LEVEL_TOWNSHIP, forms.LEVEL_VILLAGE), (forms.LEVEL_COUNTY, forms.LEVEL_TOWNSHIP),
          (forms.LEVEL_CITY, forms.LEVEL_COUNTY)]


@pytest.fixture(scope="module")
def faulty_mart(faulty_world, tmp_path_factory):
    wh = duckdb_copy(faulty_world["home"], tmp_path_factory.mktemp("faulty-mart"))
    refresh_all(wh)
    return wh


@pytest.fixture(scope="module")
def clean_mart(clean_world, tmp_path_factory):
    wh = duckdb_copy(clean_world["home"], tmp_path_factory.mktemp("clean-mart"))
    refresh_all(wh)
    return wh


def _parent_sums(ws: pd.DataFrame, parent_level: str, child_level: str, cols: list[str]):
    parents = ws[ws["level"] == parent_level].set_index(["week", "region_code"])[cols].astype(float).fillna(0)
    kids = ws[ws["level"] == child_level].copy()
    if parent_level == forms.LEVEL_CITY:
        kids["parent_code"] = forms.CITY_CODE
    sums = kids.groupby(["week", "parent_code"])[cols].sum(min_count=1).astype(float).fillna(0)
    sums.index.names = ["week", "region_code"]
    return parents, sums.reindex(parents.index).fillna(0)


@pytest.mark.parametrize("parent_level, child_level", LEVELS)
def test_weekly_summary_every_level_equals_the_sum_of_the_level_below(faulty_mart, parent_level, child_level):
    ws = faulty_mart.query("SELECT * FROM mart.weekly_summary")
    parents, sums = _parent_sums(ws, parent_level, child_level, ADDITIVE)
    assert len(parents) > 0
    assert parents["hh_close"].sum() > 0
    pd.testing.assert_frame_equal(parents, sums, check_exact=False, rtol=1e-9, check_names=False)
    if child_level != forms.LEVEL_VILLAGE:   # county-report figures start at the township row
        p, s = _parent_sums(ws, parent_level, child_level, COUNTY_REPORT)
        pd.testing.assert_frame_equal(p, s, check_exact=False, rtol=1e-9, check_names=False)


@pytest.mark.parametrize("parent_level, child_level", LEVELS)
def test_reporting_and_findings_roll_up_own_plus_below(faulty_mart, parent_level, child_level):
    """Reports and findings of a unit's own forms count at the unit and at every level above."""
    ws = faulty_mart.query("SELECT * FROM mart.weekly_summary")
    rs = faulty_mart.query("SELECT week, unit_code, COUNT(*) AS n, SUM(CASE WHEN received THEN 1 ELSE 0 END) AS r "
                           "FROM core.reporting_status GROUP BY week, unit_code")
    cols = ["reports_expected", "reports_received"]
    parents, sums = _parent_sums(ws, parent_level, child_level, cols)
    own = rs.set_index(["week", "unit_code"]).rename(columns={"n": "reports_expected", "r": "reports_received"})
    own.index.names = ["week", "region_code"]
    own = own.reindex(parents.index).fillna(0).astype(float)
    pd.testing.assert_frame_equal(parents, sums + own, check_names=False)
    city = ws[ws["level"] == forms.LEVEL_CITY].set_index("week")
    total = faulty_mart.query("SELECT week, COUNT(*) AS n, SUM(CASE WHEN severity = 'error' THEN 1 ELSE 0 END) AS e "
                              "FROM core.findings GROUP BY week").set_index("week")
    assert (city["findings_errors"] + city["findings_warnings"]).to_dict() == total["n"].to_dict()
    assert city["findings_errors"].to_dict() == total["e"].to_dict()
    assert (city["findings_errors"] > 0).all()  # the faulty world has errors
    disc = faulty_mart.query("SELECT week, COUNT(*) AS n FROM core.discrepancies GROUP BY week").set_index("week")
    assert city["discrepancies"].to_dict() == disc["n"].to_dict()


def test_city_first_week_equals_the_worlds_figures(clean_world, clean_mart):
    first = clean_world["weeks"][0]
    world = clean_world["result"].expected[first]["world"]
    city = clean_mart.query("SELECT * FROM mart.weekly_summary WHERE week = :w AND level = :lv",
                            {"w": first, "lv": forms.LEVEL_CITY})
    assert len(city) == 1
    row = city.iloc[0]
    assert row["region_code"] == forms.CITY_CODE and row["region_name"] == "周口市"
    assert int(row["hh_close"]) == world["poor_households"]
    assert int(row["pp_close"]) == world["poor_people"]
    assert int(row["poor_villages"]) == world["poor_villages"]
    assert int(row["villages"]) == world["villages"]
    # The seed's figures scaled: 148,900 households, 496,100 people, 630 poor villages.
    scale = world["scale"]
    assert abs(row["hh_close"] - 148_900 * scale) / (148_900 * scale) < 0.05
    assert abs(row["pp_close"] - 496_100 * scale) / (496_100 * scale) < 0.05
    assert row["reporting_rate"] == 1.0 and row["findings_errors"] == 0
    assert row["helper_coverage"] == 1.0 and row["measure_coverage"] == 1.0


def test_one_row_per_region_and_week_at_every_level(faulty_mart):
    ws = faulty_mart.query("SELECT week, region_code, level FROM mart.weekly_summary")
    assert not ws.duplicated(["week", "region_code"]).any()
    regions = faulty_mart.query("SELECT week, COUNT(*) AS n FROM core.regions GROUP BY week").set_index("week")["n"]
    counts = ws.groupby("week").size()
    assert (counts == regions.reindex(counts.index) + 1).all()  # + the city
    assert set(ws["level"]) == {forms.LEVEL_CITY, forms.LEVEL_COUNTY, forms.LEVEL_TOWNSHIP, forms.LEVEL_VILLAGE}


def test_monthly_conclusion_sums_the_months_weeks(faulty_world, faulty_mart):
    weeks = faulty_world["weeks"]            # 2026-W45, W46: both in 2026-11
    mc = faulty_mart.query("SELECT * FROM mart.monthly_conclusion WHERE month = '2026-11'")
    ws = faulty_mart.query("SELECT * FROM mart.weekly_summary")
    assert set(mc["level"]) == {forms.LEVEL_CITY, forms.LEVEL_COUNTY, forms.LEVEL_TOWNSHIP}
    assert (mc["weeks_in_month"] == 4).all() and (mc["weeks_loaded"] == len(weeks)).all()
    by = ws[ws["week"].isin(weeks)].groupby("region_code")
    m = mc.set_index("region_code")
    assert set(SUMMED) <= set(mc.columns)
    for col in SUMMED:
        np.testing.assert_allclose(m[col].astype(float), by[col].sum().reindex(m.index).astype(float), err_msg=col)
    assert m["reports_late"].sum() > 0 and m["discrepancy_abs_pp"].sum() > 0
    last = ws[ws["week"] == weeks[-1]].set_index("region_code")
    first = ws[ws["week"] == weeks[0]].set_index("region_code")
    for col in ["hh_close", *MONTH_END_COUNTS]:
        assert (m[col] == last[col].reindex(m.index)).all(), col
    assert (m["hh_open"] == first["hh_open"].reindex(m.index)).all()
    counties = m[m["level"] == forms.LEVEL_COUNTY]
    assert sorted(counties["rank_in_parent"].astype(int)) == list(range(1, len(counties) + 1))
    assert counties.sort_values("rank_in_parent")["score"].is_monotonic_decreasing
    key = counties[counties["is_key_county"] == True]  # noqa: E712
    assert len(key) > 0 and (key["microcredit_target_wan"] == 1000).all()
    assert (key["microcredit_met"] == (key["microcredit_wan"] >= 1000)).all()
    assert counties[counties["is_key_county"] == False]["microcredit_target_wan"].isna().all()  # noqa: E712
    city = m.loc[forms.CITY_CODE]
    assert city["microcredit_target_wan"] == 1000 * len(key)
    acc = [c for c in mc.columns if c.startswith("acc_")]
    assert len(acc) == 8
    assert ((mc[acc] >= 0) & (mc[acc] <= 1)).all().all()
    assert (mc[acc] < 1).any().any()   # the faulty world's errors lower some score
    # What is open at month end is the last week's open findings (each week's reports hold
    # all of the data then: an earlier week's problem still there is found again), not the
    # sum over the month's weeks.
    assert city["findings_open_month_end"] == last.loc[forms.CITY_CODE, "findings_open"] > 0
    assert city["findings_open_month_end"] < by["findings_open"].sum()[forms.CITY_CODE]


def test_refresh_is_idempotent(faulty_world, tmp_path):
    wh = duckdb_copy(faulty_world["home"], tmp_path)
    week = faulty_world["weeks"][0]
    first = refresh_weekly_mart(week, wh)
    q = "SELECT * FROM mart.weekly_summary WHERE week = :w ORDER BY region_code"
    a = wh.query(q, {"w": week}).drop(columns="refreshed_at")
    second = refresh_weekly_mart(week, wh)
    b = wh.query(q, {"w": week}).drop(columns="refreshed_at")
    pd.testing.assert_frame_equal(a, b)
    assert first["weekly_rows"] == second["weekly_rows"] == len(a) > 0
    n = refresh_monthly_mart("2026-11", wh)["rows"]
    assert n == refresh_monthly_mart("2026-11", wh)["rows"] == wh.scalar("SELECT COUNT(*) FROM mart.monthly_conclusion")


def test_open_findings_follow_the_stewards_decisions(faulty_world, tmp_path):
    """Waiving a finding (core.finding_status) takes it out of the open counts."""
    wh = duckdb_copy(faulty_world["home"], tmp_path)
    week = faulty_world["weeks"][0]
    refresh_weekly_mart(week, wh)
    before = wh.scalar("SELECT findings_open FROM mart.weekly_summary WHERE week = :w AND level = '市'", {"w": week})
    ids = wh.query("SELECT finding_id FROM core.findings WHERE week = :w LIMIT 3", {"w": week})["finding_id"]
    with wh.transaction() as conn:
        wh.replace(conn, "core.finding_status", pd.DataFrame({
            "finding_id": ids, "week": week, "status": "waived", "reason": "测试", "updated_by": "test",
            "updated_at": pd.Timestamp.now(tz="UTC"), "first_seen_week": week,
            "first_seen_at": pd.Timestamp.now(tz="UTC")}))
    refresh_weekly_mart(week, wh)
    after = wh.scalar("SELECT findings_open FROM mart.weekly_summary WHERE week = :w AND level = '市'", {"w": week})
    assert after == before - len(ids)
    assert wh.scalar("SELECT COUNT(*) FROM mart.findings WHERE status = 'waived'") == len(ids)


def test_month_status_knows_which_weeks_are_loaded(faulty_world, faulty_mart):
    st = month_status("2026-11", faulty_mart)
    assert st["weeks"] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert st["loaded"] == faulty_world["weeks"] and st["missing"] == ["2026-W47", "2026-W48"]
    assert st["complete"] is False


def test_no_personal_data_in_the_mart(faulty_mart):
    """No ID number, phone number or name (heads of household, helpers) appears in any mart relation."""
    # core keeps IDs and phones only as keyed hash + masked display form; the hashes (join
    # keys) stay out of the mart, clear values exist nowhere (pattern check below).
    ids = set(faulty_mart.query("SELECT DISTINCT id_hash AS v FROM core.ledger_households")["v"].dropna())
    phones = set(faulty_mart.query("SELECT DISTINCT phone_hash AS v FROM core.ledger_helpers")["v"].dropna())
    names = set(faulty_mart.query("SELECT DISTINCT head_name AS v FROM core.ledger_households UNION "
                                  "SELECT DISTINCT helper_name FROM core.ledger_helpers")["v"].dropna())
    raw = faulty_mart.query("SELECT message FROM core.findings WHERE \"column\" = '户主身份证号'")
    assert len(ids) > 100 and len(phones) > 100 and len(names) > 100 and len(raw) > 0
    assert raw["message"].str.contains(r"\d{6}\*{8}|\d\.\d+\*+e\+", regex=True).any()  # masked in core
    for table in TABLES:
        df = faulty_mart.query(f"SELECT * FROM {table}")
        assert len(df) > 0, table
        text = df.select_dtypes(include="object").astype(str)
        cells = {str(x) for x in text.to_numpy().ravel()}
        assert not cells & names, (table, sorted(cells & names)[:5])
        blob = "\n".join(cells)
        assert not any(v in blob for v in ids), table
        assert not any(v in blob for v in phones), table
        assert not pd.Series(sorted(cells)).str.contains(r"(?<!\d)\d{17}[\dXx](?!\d)|\d\.\d{6,}e\+\d+", regex=True).any()


def test_every_mart_column_is_in_the_dictionary_and_commented(faulty_mart):
    for table in TABLES:
        assert faulty_mart.columns(table) == columns_of(table), table
    missing = faulty_mart.query("SELECT table_name, column_name FROM duckdb_columns() "
                                "WHERE schema_name = 'mart' AND (comment IS NULL OR comment = '')")
    assert missing.empty, missing
    tables = faulty_mart.query("SELECT table_name AS t, comment FROM duckdb_tables() WHERE schema_name = 'mart' "
                               "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'mart'")
    assert set(tables["t"]) == {t.split(".")[1] for t in TABLES}
    assert tables["comment"].str.len().gt(5).all()


def test_calendars_dates_and_keys_for_bi_tools(faulty_mart):
    """dim_week and dim_month are calendars of the years loaded; every weekly row carries its
    dates and every monthly row its month's; each grain is a declared primary key."""
    import datetime as dt

    weeks = faulty_mart.query("SELECT week, week_start, loaded FROM mart.dim_week ORDER BY week")
    assert len(weeks) == 53 and weeks["week"].iloc[0] == "2026-W01" and weeks["week"].iloc[-1] == "2026-W53"
    assert sorted(weeks.loc[weeks["loaded"], "week"]) == ["2026-W45", "2026-W46"]
    months = faulty_mart.query("SELECT * FROM mart.dim_month ORDER BY month")
    nov = months[months["month"] == "2026-11"].iloc[0]
    assert len(months) == 12 and (nov["month_start"], nov["month_end"]) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert (nov["first_week"], nov["last_week"], nov["weeks_in_month"], nov["weeks_loaded"]) == ("2026-W45", "2026-W48", 4, 2)
    bad = faulty_mart.scalar("SELECT count(*) FROM mart.weekly_summary s JOIN mart.dim_week d ON d.week = s.week "
                             "WHERE s.week_start IS DISTINCT FROM d.week_start OR s.week_end IS DISTINCT FROM d.week_end")
    assert bad == 0 and faulty_mart.scalar("SELECT count(*) FROM mart.weekly_summary WHERE week_start IS NULL") == 0
    assert faulty_mart.scalar("SELECT count(*) FROM mart.weekly_accuracy WHERE region_name IS NULL") == 0
    # The same region columns, with the same values, as the weekly summary's rows.
    assert faulty_mart.scalar(
        "SELECT count(*) FROM mart.weekly_accuracy a JOIN mart.weekly_summary s ON s.week = a.week "
        "AND s.region_code = a.region_code WHERE a.county_code IS DISTINCT FROM s.county_code "
        "OR a.township_code IS DISTINCT FROM s.township_code") == 0
    assert faulty_mart.scalar("SELECT count(*) FROM mart.weekly_accuracy WHERE township_code IS NOT NULL") > 0
    assert faulty_mart.scalar("SELECT min(month_start) FROM mart.monthly_conclusion") == dt.date(2026, 11, 1)
    assert faulty_mart.column_types("mart.weekly_summary")["discrepancy_abs_hh"].upper() == "BIGINT"
    keys = faulty_mart.query("SELECT table_name, count(*) AS n FROM information_schema.table_constraints "
                             "WHERE table_schema = 'mart' AND constraint_type = 'PRIMARY KEY' GROUP BY table_name")
    assert set(keys["table_name"]) == {"dim_region", "dim_week", "dim_month", "dim_accuracy", "dim_metric",
                                       "weekly_summary", "weekly_accuracy", "monthly_conclusion"}
    # DuckDB cannot delete a referenced row, which the refreshes do: no foreign keys there.
    assert faulty_mart.scalar("SELECT count(*) FROM information_schema.table_constraints "
                              "WHERE table_schema = 'mart' AND constraint_type = 'FOREIGN KEY'") == 0


def test_money_and_rates_are_decimals_that_add_up_exactly(faulty_mart):
    """万元 as DECIMAL(18, 4), rates as DECIMAL(9, 6): a sum in SQL is exact, with no float tail."""
    for table in ("mart.weekly_summary", "mart.monthly_conclusion"):
        types = faulty_mart.column_types(table)
        assert {types[c] for c in [*MONEY, "microcredit_target_wan"] if c in types} == {"decimal(18,4)"}, table
        assert {t for c, t in types.items() if c.endswith(("_rate", "_coverage")) or c.startswith("acc_")
                or c in ("score", "accuracy_overall")} == {"decimal(9,6)"}, table
    assert faulty_mart.column_types("mart.weekly_accuracy")["accuracy"] == "decimal(9,6)"
    assert faulty_mart.column_types("mart.discrepancies")["abs_difference"] == "decimal(18,4)"
    sums = faulty_mart.query("SELECT week, CAST(SUM(microcredit_wan) AS VARCHAR) AS s, "
                             "CAST(SUM(funds_to_village_wan) AS VARCHAR) AS f FROM mart.weekly_summary "
                             "WHERE level = '村' GROUP BY week")
    assert len(sums) == 2 and sums[["s", "f"]].stack().str.fullmatch(r"\d+\.\d{4}").all(), sums
    off = faulty_mart.scalar(
        "SELECT count(*) FROM mart.weekly_summary c JOIN (SELECT week, SUM(microcredit_wan) AS s FROM mart.weekly_summary "
        "WHERE level = '县' GROUP BY week) k ON k.week = c.week WHERE c.level = '市' AND c.microcredit_wan <> k.s")
    assert off == 0


def test_discrepancies_name_their_metric_and_unit(faulty_mart):
    """Each discrepancy says what it counts and in which unit, from the label table."""
    d = faulty_mart.query("SELECT * FROM mart.discrepancies")
    assert len(d) > 0 and set(d["metric"]) <= set(labels.METRICS), set(d["metric"]) - set(labels.METRICS)
    assert (d["metric_name"] == d["metric"].map(labels.metric_name)).all()
    assert (d["unit"] == d["metric"].map(labels.metric_unit)).all()
    assert set(d["direction"]) <= set(labels.DIRECTIONS) and "虚报" in set(d["direction"])
    units = dict(zip(d["metric"], d["unit"]))
    assert units.get("hh_close", "户") == "户" and {u for m, u in units.items() if m.endswith("_wan")} <= {"万元"}
    assert d.loc[d["level"].isin([forms.LEVEL_VILLAGE, forms.LEVEL_TOWNSHIP]), "township_code"].notna().all()
    assert "unit_code" not in d.columns and {"region_code", "region_name", "county_code"} <= set(d.columns)
    dim = faulty_mart.query("SELECT metric, metric_name, unit FROM mart.dim_metric ORDER BY ordinal")
    assert list(zip(dim["metric"], dim["metric_name"], dim["unit"])) == [(k, n, u) for k, (n, u) in labels.METRICS.items()]
    for view in ("mart.findings", "mart.reporting_status"):
        cols = faulty_mart.columns(view)
        assert {"region_code", "region_name", "county_code", "township_code"} <= set(cols) and "unit_code" not in cols
