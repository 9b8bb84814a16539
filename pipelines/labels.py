"""The one label table: the Chinese a person reads for every code the pipeline stores.

Forms, metrics (with their units), cross-level rules, directions and levels. Pages,
receipts, reports, exports and the mart's dictionary take their words from here, so a
label is changed in one place.
"""
from __future__ import annotations

from pipelines import forms

FORM_NAMES = {forms.FORM_A: "三本账（表A）", forms.FORM_B: "村级周报（表B）",
              forms.FORM_C: "乡镇周报（表C）", forms.FORM_D: "县级周报（表D）"}

# Units a metric is counted in, from the header's wording.
HH, PP, WAN, TIMES, N = "户", "人", "万元", "人次", "个"
YUAN, YEAR = "元", "年"


def _unit(name: str, header: str) -> str:
    if name.endswith("_wan") or "万元" in header:
        return WAN
    if name.endswith("_yuan") or "(元)" in header:
        return YUAN
    if header.endswith("年度"):
        return YEAR
    if "人次" in header:
        return TIMES
    if name.startswith("hh_") or header.endswith("户数"):
        return HH
    if name.startswith("pp_") or header.endswith(("人数", "人口数")):
        return PP
    if header.endswith("期数"):
        return "期"
    if header.endswith("次数"):
        return "次"
    return N


def _metrics() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for cols in (forms.VILLAGE_REPORT, forms.TOWNSHIP_REPORT, forms.COUNTY_REPORT):
        for c in cols:
            if c.dtype in ("int", "float") and c.name not in out:
                label = c.header.split("(")[0]
                out[c.name] = (label, _unit(c.name, c.header))
    return out


# metric code -> (Chinese name without unit, unit)
METRICS: dict[str, tuple[str, str]] = _metrics()


# every numeric column of the forms (the ledger's too) -> its unit
COLUMN_UNITS: dict[str, str] = {c.name: _unit(c.name, c.header) for cols in forms.TABLES.values()
                                for c in cols if c.dtype in ("int", "float")}


def metric_name(code: str) -> str:
    return METRICS.get(code, (code, ""))[0]


def metric_unit(code: str) -> str:
    return METRICS.get(code, ("", ""))[1]


RULE_TEXT = {
    "village_vs_ledger": "村级周报与本村三本账不一致",
    "balance": "期末数不等于期初数加减本周变动",
    "continuity": "本周期初数不等于上周期末数",
    "township_vs_village": "乡镇周报中的村行与该村自报周报不一致",
    "total_vs_rows": "合计行不等于各行之和",
    "township_total_vs_villages": "乡镇合计与所辖各村自下而上汇总数不一致",
    "county_vs_township": "县级周报中的乡镇行与该乡镇自报合计不一致",
    "county_total_vs_townships": "县级合计与所辖乡镇自下而上汇总数不一致",
}

# A discrepancy's direction: reported above (虚报) or below (漏报) what the level below
# adds up to; a report that does not balance; a 期初 that is not last week's 期末.
DIRECTIONS = {"虚报": "上报数大于核实数", "漏报": "上报数小于核实数",
              "不平衡": "期末数不等于期初数加减本周变动", "不连续": "本周期初数不等于上周期末数"}
