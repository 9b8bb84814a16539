"""What the monthly report (月总结报告) shows, read from the mart (and, for the five charts,
from the household ledgers in core). Plain dicts and DataFrames; no rendering here."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipelines import forms, labels
from pipelines.mart.calendar import parse_month, weeks_of_month
from pipelines.warehouse import Warehouse

CAUSES = ["因病", "因残", "因学", "因灾", "缺土地", "缺水", "缺技术", "缺劳力", "缺资金", "交通条件落后", "自身发展动力不足"]
MEASURE_KINDS = ["产业扶贫", "就业扶贫", "金融扶贫", "教育扶贫", "健康扶贫", "易地扶贫搬迁", "技能培训", "危房改造", "兜底保障", "其他"]
MEASURE_STATES = ["计划", "实施中", "已完成"]
POOR, EXITED = "贫困", "已脱贫"


@dataclass
class FiveCharts:
    """The five charts (五张图) of one unit: county, city or village."""
    unit_code: str
    unit_name: str
    level: str
    part_label: str                 # what the distribution is split by (乡镇 / 县 / 贫困户属性)
    distribution: pd.DataFrame      # name, households, people
    progress: pd.DataFrame          # name, planned, done
    causes: pd.DataFrame            # cause, households
    measures: pd.DataFrame          # kind, 计划, 实施中, 已完成
    entries_exits: pd.DataFrame     # year, entries, exits
    year: int = 0


@dataclass
class MonthData:
    month: str
    region_code: str
    region_name: str
    level: str
    weeks: list[str]
    row: dict                                   # the region's monthly_conclusion row
    children: pd.DataFrame                      # counties (city) or townships (county)
    counties: pd.DataFrame                      # every county's row (ranking)
    trend: pd.DataFrame                         # weekly_summary rows of the region
    child_trend: pd.DataFrame                   # weekly hh_close by child unit
    accuracy: pd.DataFrame                      # dimension_label, accuracy, error_records, records
    issues_by_rule: pd.DataFrame                # rule_name, rule, dimension_label, severity_label, n, example
    issues_by_unit: pd.DataFrame                # unit_name, n
    charts: FiveCharts | None = None
    villages: list[FiveCharts] = field(default_factory=list)
    target_wan: float = 1000.0

    @property
    def month_label(self) -> str:
        y, m = parse_month(self.month)
        return f"{y}年{m}月"


def _region_filter(level: str) -> str:
    """SQL condition on mart.dim_region r selecting the units of the region :code."""
    if level == forms.LEVEL_CITY:
        return "1 = 1"
    if level == forms.LEVEL_COUNTY:
        return "r.county_code = :code"
    if level == forms.LEVEL_TOWNSHIP:
        return "r.township_code = :code"
    return "r.region_code = :code"


def month_data(wh: Warehouse, month: str, region_code: str, target_wan: float = 1000.0) -> MonthData:
    weeks = weeks_of_month(month)
    mc = wh.query("SELECT * FROM mart.monthly_conclusion WHERE month = :m", {"m": month})
    if mc.empty:
        raise LookupError(f"{month} 尚无月总结数据（mart.monthly_conclusion）")
    me = mc[mc["region_code"] == region_code]
    if me.empty:
        raise LookupError(f"{month} 没有单位 {region_code} 的月总结数据")
    row = me.iloc[0].to_dict()
    level = row["level"]
    child_level = forms.LEVEL_COUNTY if level == forms.LEVEL_CITY else forms.LEVEL_TOWNSHIP
    children = mc[(mc["level"] == child_level) & (mc["parent_code"] == region_code)].sort_values("region_code")
    counties = mc[mc["level"] == forms.LEVEL_COUNTY].sort_values("rank_in_parent")
    wl = ", ".join(f":w{i}" for i in range(len(weeks)))
    wp = {f"w{i}": w for i, w in enumerate(weeks)}
    trend = wh.query(f"SELECT * FROM mart.weekly_summary WHERE region_code = :code AND week IN ({wl}) ORDER BY week",
                     {"code": region_code, **wp})
    child_trend = wh.query(
        f"SELECT week, region_code, region_name, hh_close, hh_exit, microcredit_wan FROM mart.weekly_summary "
        f"WHERE parent_code = :code AND level = :lv AND week IN ({wl}) ORDER BY region_code, week",
        {"code": region_code, "lv": child_level, **wp})
    accuracy = wh.query(
        f"SELECT d.dimension, d.dimension_label, d.ordinal, SUM(a.records) AS records, "
        f"SUM(a.error_records) AS error_records FROM mart.weekly_accuracy a "
        f"JOIN mart.dim_accuracy d ON d.dimension = a.dimension "
        f"WHERE a.region_code = :code AND a.week IN ({wl}) GROUP BY d.dimension, d.dimension_label, d.ordinal "
        f"ORDER BY d.ordinal", {"code": region_code, **wp})
    accuracy["accuracy"] = 1 - accuracy["error_records"] / accuracy["records"].where(accuracy["records"] > 0)
    last = row["last_week"]
    cond = "1 = 1" if level == forms.LEVEL_CITY else (
        "f.county_code = :code" if level == forms.LEVEL_COUNTY else "f.township_code = :code")
    issues_by_rule = wh.query(
        f"SELECT f.rule, f.dimension_label, f.severity_label, COUNT(*) AS n, MIN(f.message) AS example "
        f"FROM mart.findings f WHERE f.week = :last AND f.status = 'open' AND {cond} "
        f"GROUP BY f.rule, f.dimension_label, f.severity_label ORDER BY n DESC, f.rule LIMIT 12",
        {"last": last, "code": region_code})
    unit_col = "f.county_code" if level == forms.LEVEL_CITY else "f.township_code"
    issues_by_unit = wh.query(
        f"SELECT r.region_name AS unit_name, COUNT(*) AS n FROM mart.findings f "
        f"JOIN mart.dim_region r ON r.region_code = {unit_col} "
        f"WHERE f.week = :last AND f.status = 'open' AND {cond} GROUP BY r.region_name ORDER BY n DESC LIMIT 10",
        {"last": last, "code": region_code})
    issues_by_rule.insert(0, "rule_name", issues_by_rule["rule"].map(labels.rule_name))
    return MonthData(month, region_code, row["region_name"], level, weeks, row, children, counties, trend,
                     child_trend, accuracy, issues_by_rule, issues_by_unit, target_wan=target_wan)


def five_charts(wh: Warehouse, month: str, region_code: str, last_week: str) -> FiveCharts:
    """The five charts of a city, county or village at the month's last loaded week."""
    reg = wh.query("SELECT * FROM mart.dim_region WHERE region_code = :c", {"c": region_code})
    if reg.empty:
        raise LookupError(f"区划名录中没有单位 {region_code}")
    level, name = reg.iloc[0]["level"], reg.iloc[0]["region_name"]
    year = int(last_week[:4])
    p = {"code": region_code, "w": last_week, "y": year, "poor": POOR, "exited": EXITED}
    where = _region_filter(level)
    if level in (forms.LEVEL_CITY, forms.LEVEL_COUNTY):
        child = forms.LEVEL_COUNTY if level == forms.LEVEL_CITY else forms.LEVEL_TOWNSHIP
        parts = wh.query(
            "SELECT region_name AS name, hh_close AS households, pp_close AS people, "
            "planned_exit_this_year AS planned, planned_exit_done AS done, poor_villages "
            "FROM mart.weekly_summary WHERE week = :w AND level = :lv AND parent_code = :code ORDER BY region_code",
            {**p, "lv": child})
        part_label = "县（市、区）" if level == forms.LEVEL_CITY else "乡镇"
        distribution = parts[["name", "households", "people", "poor_villages"]]
        progress = parts[["name", "planned", "done"]]
    else:   # a village: split by household type
        distribution = wh.query(
            f"SELECT h.poverty_type AS name, COUNT(*) AS households, SUM(h.household_size) AS people "
            f"FROM core.ledger_households h JOIN mart.dim_region r ON r.region_code = h.unit_code "
            f"WHERE h.week = :w AND h.state = :poor AND {where} GROUP BY h.poverty_type ORDER BY households DESC", p)
        part_label = "贫困户属性"
        progress = wh.query(
            "SELECT region_name AS name, planned_exit_this_year AS planned, planned_exit_done AS done "
            "FROM mart.weekly_summary WHERE week = :w AND region_code = :code", p)
    causes = wh.query(
        f"SELECT h.main_cause AS cause, COUNT(*) AS households FROM core.ledger_households h "
        f"JOIN mart.dim_region r ON r.region_code = h.unit_code "
        f"WHERE h.week = :w AND h.state = :poor AND {where} GROUP BY h.main_cause", p)
    order = {c: i for i, c in enumerate(CAUSES)}
    causes = causes.assign(o=causes["cause"].map(order).fillna(99)).sort_values(["households", "o"],
                                                                                  ascending=[False, True])
    causes = causes.drop(columns="o").reset_index(drop=True)
    m = wh.query(
        f"SELECT m.measure_category AS kind, m.measure_status AS status, COUNT(*) AS n FROM core.ledger_measures m "
        f"JOIN mart.dim_region r ON r.region_code = m.unit_code "
        f"WHERE m.week = :w AND {where} GROUP BY m.measure_category, m.measure_status", p)
    measures = (m.pivot_table(index="kind", columns="status", values="n", aggfunc="sum", fill_value=0)
                .reindex(columns=MEASURE_STATES, fill_value=0))
    kinds = [k for k in MEASURE_KINDS if k in measures.index] + [k for k in measures.index if k not in MEASURE_KINDS]
    measures = measures.reindex(kinds).fillna(0).astype(int).reset_index().rename(columns={"index": "kind"})
    measures.columns.name = None
    ent = wh.query(
        f"SELECT h.identified_year AS year, COUNT(*) AS entries FROM core.ledger_households h "
        f"JOIN mart.dim_region r ON r.region_code = h.unit_code WHERE h.week = :w AND {where} "
        f"GROUP BY h.identified_year", p)
    ext = wh.query(
        f"SELECT h.planned_exit_year AS year, COUNT(*) AS exits FROM core.ledger_households h "
        f"JOIN mart.dim_region r ON r.region_code = h.unit_code WHERE h.week = :w AND h.state = :exited AND {where} "
        f"GROUP BY h.planned_exit_year", p)
    ee = ent.merge(ext, on="year", how="outer").dropna(subset=["year"])
    ee = ee[(ee["year"] >= 2000) & (ee["year"] <= year)]
    if len(ee):
        years = pd.DataFrame({"year": range(int(ee["year"].min()), year + 1)})
        ee = years.merge(ee.astype({"year": int}), on="year", how="left")
    ee = ee.fillna(0).astype({"entries": int, "exits": int}) if len(ee) else pd.DataFrame(columns=["year", "entries", "exits"])
    return FiveCharts(region_code, name, level, part_label, distribution.reset_index(drop=True),
                      progress.reset_index(drop=True), causes, measures, ee.reset_index(drop=True), year)


def poor_villages_of(wh: Warehouse, county_code: str) -> list[str]:
    return wh.query("SELECT region_code FROM mart.dim_region WHERE county_code = :c AND level = :lv "
                    "AND is_poor_village ORDER BY region_code",
                    {"c": county_code, "lv": forms.LEVEL_VILLAGE})["region_code"].tolist()
