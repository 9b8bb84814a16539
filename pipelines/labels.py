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
YUAN, YEAR = "元", "年"  # a money header may say 元 where the form counts 万元 (pipelines.ingest.units)


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

# Why a file is the one a unit's week counts (receipts; docs/supersession.md).
COUNTED_WHY = {"latest": "最后收到", "parts": "分册，户编号互不重复，一并入库"}


# ---- rules of the intake and of consolidation, by the code a finding stores ---------------
# What a finding is, in a few words (a list's rule facet and a finding's title); the
# finding's message says the rest. Cross-level rules are stored as "xlevel.<RULE_TEXT key>".
RULE_NAMES = {
    "household_id.missing": "户编号未填写",
    "household_id.format": "户编号格式错误",
    "household_id.village": "户编号与填报村不符",
    "household_id.duplicate": "户编号重复",
    "household_id.unknown": "户不在计划进度账中",
    "household_id.scientific": "户编号被转为科学计数法",
    "id_number.format": "身份证号格式错误",
    "id_number.birth_date": "身份证号出生日期无效",
    "id_number.checksum": "身份证号校验位错误",
    "id_number.duplicate": "同一身份证号登记在多户",
    "id_number.scientific": "身份证号被转为科学计数法",
    "household_size.range": "家庭人口数超出范围",
    "income.range": "人均纯收入超出范围",
    "poverty_type.enum": "贫困户属性不是规定选项",
    "main_cause.enum": "主要致贫原因不是规定选项",
    "state.missing": "当前状态未填写",
    "state.enum": "当前状态不是规定选项",
    "week_change.missing": "本周变动未填写",
    "week_change.enum": "本周变动不是规定选项",
    "week_change.state": "当前状态与本周变动不符",
    "week_change.unrecorded": "状态变化未登记变动",
    "week_change.new_existing": "已在台账中的户再次新识别",
    "week_change.prev_state": "本周变动与上周状态不符",
    "years.order": "计划脱贫年度早于识别年度",
    "identified_year.plausible": "识别年度不合理",
    "planned_exit_year.plausible": "计划脱贫年度不合理",
    "exit.income": "脱贫户收入未达贫困线",
    "exit.security": "脱贫户未实现两不愁三保障",
    "measures.missing": "贫困户没有帮扶措施",
    "helpers.missing": "贫困户没有帮扶责任人",
    "measure_category.enum": "措施类别不是规定选项",
    "measure_status.enum": "措施状态不是规定选项",
    "measure_funds_yuan.negative": "投入资金为负数",
    "measure_date.future": "实施日期晚于本周",
    "helper_org_level.enum": "帮扶单位层级不是规定选项",
    "helper_phone.format": "联系电话格式错误",
    "helper_phone.scientific": "联系电话被转为科学计数法",
    "paired_date.future": "结对日期晚于本周",
    "count.negative": "数量为负数",
    "money.negative": "金额为负数",
    "balance.households": "期末户数不平衡",
    "balance.people": "期末人数不平衡",
    "people.lt_households": "人数少于户数",
    "total.mismatch": "合计行与各行之和不符",
    "village_code.missing": "村代码未填写",
    "village_code.format": "村代码格式错误",
    "village_code.township": "村代码不属于填报乡镇",
    "village_code.duplicate": "村代码重复",
    "village_code.scientific": "村代码被转为科学计数法",
    "township_code.missing": "乡镇代码未填写",
    "township_code.format": "乡镇代码格式错误",
    "township_code.county": "乡镇代码不属于填报县",
    "township_code.duplicate": "乡镇代码重复",
    "township_code.scientific": "乡镇代码被转为科学计数法",
    "value.not_date": "日期无法识别",
    "value.not_integer": "应为整数",
    "value.not_number": "不是有效数字",
    "report.extra_rows": "周报有多余的行",
    "unit.not_found": "填报单位无法识别",
    "unit.level_mismatch": "单位层级与报表不符",
    "unit.unknown": "单位代码不在区划名录中",
    "unit.name_mismatch": "单位名称与代码不符",
    "unit_code.bad_length": "单位代码位数错误",
    "unit_code.mismatch": "单位代码与文件不符",
    "unit_code.missing": "单位代码未填写",
    "week.mismatch": "周次与文件夹不符",
    "week.unreadable": "周次无法识别",
    "submission.late": "迟报",
    "submission.missing": "未报送",
    "submission.not_loaded": "已报送未入库",
    "history.jump": "与上周相比变化异常",
    "file.parse_error": "文件无法解析",
    "file.internal_error": "文件处理出错",
    "file.unreadable": "文件无法读取",
    "file.empty": "空文件",
    "file.encrypted": "文件已加密",
    "file.macro": "文件含宏",
    "file.not_a_form": "不是规定的报表",
    "file.no_rows": "报表没有数据行",
    "file.missing_sheet": "缺少工作表",
    "file.missing_columns": "缺少规定的列",
    "file.unknown_columns": "有无法识别的列",
    "file.duplicate_column": "列名重复",
    "file.mixed_encoding": "文件编码混杂",
    "file.too_large": "文件过大",
    "file.too_large_uncompressed": "文件解压后过大",
    "file.too_many_cells": "单元格过多",
    "file.too_many_rows": "行数过多",
    "file.week_sheet_missing": "缺少本周工作表",
    "file_name.unsafe": "文件名含不安全字符",
    "file_name.not_utf8": "文件名编码无法识别",
    "cell.external_formula": "单元格含调用外部程序或链接的公式",
    "cell.formula_no_value": "公式没有计算结果",
    "cell.too_long": "单元格内容过长",
    "xlevel.balance_unreadable": "无法核对期末数（缺少期初或变动数）",
    **{f"xlevel.{code}": text for code, text in RULE_TEXT.items()},
}


def rule_name(code: str) -> str:
    """The Chinese name of a rule code; an unknown code reads as a generic check, never as
    the code itself."""
    return RULE_NAMES.get(code or "", "数据校验问题")


# ---- re-running a week from the data review (重新汇总): why a run waits, and its banner ------------
RERUN_WAIT_PAUSED = "{dag} 目前处于暂停状态：在 Airflow 中取消暂停后运行才会开始。"
RERUN_WAIT_NO_SCHEDULER = ("没有正在运行的 Airflow 调度器（{last}）：调度器启动后运行才会开始"
                           "（单机环境 huizong ui 只启动界面、不启动调度器，可在命令行运行 huizong ingest --weeks 周次）。")
RERUN_LAST_HEARTBEAT = "最后一次心跳在 {at}"
RERUN_NO_HEARTBEAT = "从未收到调度器心跳"
RERUN_WAIT_OTHER_RUN = "{dag} 的另一次运行（{week}，{run_id}）正在进行，一次只运行一次：本次将在其结束后开始。"

# ---- the data review's 403 page: whom a user who is not a steward asks ----------------------------
STEWARD_CONTACT_DEFAULT = "市扶贫办数据管理员"
NOT_STEWARD = "用户 {user} 不是数据审核员，无权使用数据审核。如需使用，请联系{contact}，申请加为数据审核员。"

# The original file of a finding (the review page's download, from the raw archive).
ORIGINAL_FILE_LINK = "下载原始文件（含明文身份证号，下载将被记录）"
ORIGINAL_FILE_NONE = "该问题没有对应的报送文件"
ORIGINAL_FILE_MISSING = "原始文件不在归档中"
