"""The mart's data dictionary: every table and column with its Chinese label, unit and meaning.

One source for warehouse/README.md and for the database comments
(warehouse/schema/011_mart_comments.sql); ``python -m pipelines.mart.dictionary`` rewrites
both, and a test keeps them in step with this file and with the database.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pipelines.forms import EIGHT_ACCURACIES
from pipelines.labels import DIRECTIONS, METRICS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "warehouse" / "README.md"
# Questions a leader asks, as SQL that runs unchanged in psql (bi_reader) and the DuckDB CLI;
# the first line of each file is a comment with the question.
QUESTIONS = REPO / "warehouse" / "questions"
COMMENTS_SQL = REPO / "warehouse" / "schema" / "011_mart_comments.sql"

HH, PP, WAN, N, SHARE, TXT, BOOL, DATE, TS = "户", "人", "万元", "个", "比例(0–1)", "—", "是/否", "日期", "时间"

_FLOW_TEXT = {
    "hh_open": ("期初贫困户数", HH, "周（月）初的贫困户存量"),
    "pp_open": ("期初贫困人口数", PP, "周（月）初的贫困人口存量"),
    "hh_new": ("新识别户数", HH, "本期新识别为贫困户的户数"),
    "pp_new": ("新识别人数", PP, "本期新识别贫困户的人口数"),
    "hh_return": ("返贫户数", HH, "本期返贫户数"),
    "pp_return": ("返贫人数", PP, "本期返贫人口数"),
    "hh_exit": ("脱贫户数", HH, "本期脱贫户数（脱贫一个、验收一个、注销一个）"),
    "pp_exit": ("脱贫人数", PP, "本期脱贫人口数"),
    "hh_cancel": ("注销户数", HH, "本期注销户数"),
    "pp_cancel": ("注销人数", PP, "本期注销人口数"),
    "hh_close": ("期末贫困户数", HH, "周（月）末的贫困户存量 = 期初 + 新识别 + 返贫 − 脱贫 − 注销"),
    "pp_close": ("期末贫困人口数", PP, "周（月）末的贫困人口存量"),
}


def _flows(suffix: str = "") -> list[tuple]:
    return [(k, lbl, unit, text + suffix) for k, (lbl, unit, text) in _FLOW_TEXT.items()]


_REGION_KEYS = [
    ("region_code", "区划代码", TXT, "6 位县、9 位乡镇、12 位村代码；全市为 411600000000"),
    ("region_name", "区划名称", TXT, "单位名称（区划名录）"),
    ("level", "层级", TXT, "市 / 县 / 乡镇 / 村"),
    ("parent_code", "上级代码", TXT, "上一级单位代码（县的上级为全市，全市为空）"),
    ("county_code", "所属县代码", TXT, "所属县（市、区）的 6 位代码；全市为空"),
]

_ACC = [(f"acc_{k}", f"{v}（准确率）", SHARE,
         f"八个准之「{v}」：本月各周已报记录中，没有该维度错误的记录所占比例") for k, v in EIGHT_ACCURACIES.items()]

TABLES: dict[str, dict] = {
    "mart.dim_region": {
        "kind": "table", "label": "区划维表",
        "about": "最新一版区划名录中的全部单位（县、乡镇、村），加上全市一行；BI 工具按代码关联名称与层级。",
        "columns": [
            *_REGION_KEYS[:3],
            ("level_order", "层级序号", TXT, "1 市、2 县、3 乡镇、4 村，用于排序"),
            ("parent_code", "上级代码", TXT, "上一级单位代码；县的上级为全市 411600000000，全市为空"),
            ("county_code", "所属县代码", TXT, "所属县（市、区）的 6 位代码"),
            ("county_name", "所属县名称", TXT, "所属县（市、区）名称"),
            ("township_code", "所属乡镇代码", TXT, "所属乡镇的 9 位代码（县与全市为空）"),
            ("township_name", "所属乡镇名称", TXT, "所属乡镇名称"),
            ("is_poor_village", "是否贫困村", BOOL, "仅村级有值"),
            ("is_key_county", "是否扶贫开发重点县", BOOL, "所属县是否重点县（承担每月 1000 万元小额信贷任务）"),
            ("register_week", "名录周次", TXT, "取自哪一周入库时的区划名录"),
        ]},
    "mart.dim_week": {
        "kind": "table", "label": "周次维表",
        "about": "已入库各年份的全部 ISO 周（周一至周日）及其所属月份：一周归属于包含其四天或以上的月份"
                 "（即周四所在月份，与 DHIS2 相同）。主键 week。",
        "columns": [
            ("week", "周次", TXT, "ISO 周，如 2026-W47"),
            ("week_start", "周起始日", DATE, "周一"),
            ("week_end", "周结束日", DATE, "周日"),
            ("month", "所属月份", TXT, "如 2026-11；包含本周四天或以上的月份"),
            ("iso_year", "ISO 年", TXT, "ISO 周所属年份"),
            ("iso_week", "ISO 周序号", TXT, "1–53"),
            ("days_in_month", "落在所属月份的天数", "天", "4–7"),
            ("loaded", "是否已入库", BOOL, "该周是否已由 weekly_ingest 入库（core.loads）"),
            ("loaded_at", "入库时间", TS, "最近一次入库时间"),
        ]},
    "mart.dim_month": {
        "kind": "table", "label": "月份维表",
        "about": "已入库各年份的全部月份，含首末日与所属 ISO 周（一周归属于包含其四天或以上的月份）。主键 month。",
        "columns": [
            ("month", "月份", TXT, "如 2026-11"),
            ("month_start", "月初日", DATE, "当月 1 日"),
            ("month_end", "月末日", DATE, "当月最后一天"),
            ("year", "年份", TXT, "公历年"),
            ("month_of_year", "月序号", TXT, "1–12"),
            ("first_week", "首周", TXT, "归属当月的第一个 ISO 周"),
            ("last_week", "末周", TXT, "归属当月的最后一个 ISO 周"),
            ("weeks_in_month", "当月周数", "周", "归属当月的 ISO 周数（4 或 5）"),
            ("weeks_loaded", "已入库周数", "周", "其中已由 weekly_ingest 入库的周数"),
        ]},
    "mart.dim_accuracy": {
        "kind": "table", "label": "八个准维表",
        "about": "数据质量的八个维度（八个准）；问题清单中的 dimension 取其一。",
        "columns": [
            ("dimension", "维度代码", TXT, "identification、household、cause、measures、ledger、policy、entry_exit、dynamics"),
            ("dimension_label", "维度名称", TXT, "识别认定准、家庭状况掌握准等"),
            ("ordinal", "序号", TXT, "1–8"),
        ]},
    "mart.dim_metric": {
        "kind": "table", "label": "指标维表",
        "about": "逐级核对所比较的指标（mart.discrepancies 的 metric）及其中文名称与单位，取自标签表 pipelines/labels.py。"
                 "主键 metric。",
        "columns": [
            ("metric", "指标代码", TXT, "如 hh_close（各代码见 warehouse/README.md「指标代码」）"),
            ("metric_name", "指标名称", TXT, "中文名称，如 期末贫困户数"),
            ("unit", "单位", TXT, "户、人、万元、人次等"),
            ("ordinal", "序号", TXT, "报表中的顺序"),
        ]},
    "mart.weekly_summary": {
        "kind": "table", "label": "周汇总",
        "about": "每周每个单位（村、乡镇、县、全市）一行：自下而上汇总的存量与流量（户、人）、小额信贷、资金、培训、"
                 "帮扶与措施覆盖、报送情况、问题与差异。乡镇、县、全市的存量、流量与资金等于下一级之和。",
        "columns": [
            ("week", "周次", TXT, "ISO 周，如 2026-W47"),
            ("month", "所属月份", TXT, "包含本周四天或以上的月份"),
            *_REGION_KEYS[:3],
            ("parent_code", "上级代码", TXT, "上一级单位代码（县的上级为全市，全市为空）"),
            ("county_code", "所属县代码", TXT, "所属县代码（全市为空）"),
            ("township_code", "所属乡镇代码", TXT, "所属乡镇代码（乡镇与村有值）"),
            ("is_key_county", "是否重点县", BOOL, "所属县是否扶贫开发重点县（全市为空）"),
            ("is_poor_village", "是否贫困村", BOOL, "仅村级有值"),
            ("villages", "行政村数", N, "辖区内登记的村数"),
            ("poor_villages", "贫困村数", N, "辖区内登记的贫困村数"),
            ("data_source", "数据来源", TXT, "村：ledger 本村三本账 / village_report 村级周报 / township_row 乡镇报表行 / none 无；"
                                           "上级：sum 下级之和"),
            ("verified", "是否已核实", BOOL, "村数据来自本村台账或周报为是；辖区内所有村均已核实时上级为是"),
            ("villages_unverified", "未核实村数", N, "数据只能取自上级报表行的村数"),
            *_flows("（按三本账自下而上汇总）"),
            ("microcredit_wan", "发放扶贫小额信贷", WAN, "本周发放的扶贫小额信贷"),
            ("funds_to_village_wan", "到村扶贫资金", WAN, "本周到村扶贫资金（村级周报）"),
            ("fiscal_funds_wan", "投入财政扶贫资金", WAN, "本周投入财政扶贫资金（县级周报的乡镇行；村级为空）"),
            ("training_persons", "技能培训人次", "人次", "本周技能培训人次"),
            ("base_driven_hh", "示范基地带动贫困户数（村报）", HH, "村级周报填报的示范基地带动贫困户数之和"),
            ("demo_bases_cum", "示范基地数（累计）", N, "县级周报的乡镇行：累计认定的精准扶贫示范基地数（村级为空）"),
            ("demo_driven_hh", "基地带动贫困户数", HH, "县级周报的乡镇行：示范基地带动的贫困户数（村级为空）"),
            ("demo_driven_pp", "基地带动贫困人口数", PP, "县级周报的乡镇行：示范基地带动的贫困人口数（村级为空）"),
            ("poor_with_helper", "已明确帮扶责任人的贫困户数", HH, "帮扶责任账中至少有一名帮扶责任人的贫困户"),
            ("poor_with_measure", "已落实帮扶措施的贫困户数", HH, "措施办法账中至少有一项措施的贫困户"),
            ("helper_coverage", "帮扶责任人覆盖率", SHARE, "已明确帮扶责任人的贫困户数 ÷ 期末贫困户数"),
            ("measure_coverage", "帮扶措施覆盖率", SHARE, "已落实帮扶措施的贫困户数 ÷ 期末贫困户数"),
            ("planned_exit_this_year", "计划今年脱贫户数", HH, "三本账中计划脱贫年度为本年的户数"),
            ("planned_exit_done", "计划今年脱贫且已脱贫户数", HH, "其中当前状态为已脱贫的户数（已入库的台账行）"),
            ("reports_expected", "应报份数", "份", "按区划名录应报的报表份数（村：三本账与村级周报；乡镇、县：各一份），含下级"),
            ("reports_received", "实报份数", "份", "已收到并入库的报表份数"),
            ("reports_on_time", "按时报送份数", "份", "周一 10:00 截止前收到的份数"),
            ("reports_late", "迟报份数", "份", "截止后收到的份数"),
            ("reports_missing", "未报份数", "份", "应报未报的份数"),
            ("reporting_rate", "报送率", SHARE, "实报 ÷ 应报"),
            ("on_time_rate", "及时率", SHARE, "按时 ÷ 应报"),
            ("findings_errors", "错误数", "条", "本周问题清单中严重程度为错误的条数（含下级；名录外单位的问题计入全市）"),
            ("findings_warnings", "警告数", "条", "本周问题清单中严重程度为警告的条数（含下级）"),
            ("findings_open", "待处理问题数", "条", "本周问题中状态仍为待处理（未豁免、未退回、未解决）的条数"),
            ("discrepancies", "逐级核对差异数", "条", "本周上报数与下级数据不符的条数（不含水分）"),
            ("discrepancy_abs_hh", "差异绝对值合计（户）", HH, "户数类差异的绝对值之和"),
            ("discrepancy_abs_pp", "差异绝对值合计（人）", PP, "人口类差异的绝对值之和"),
            ("discrepancy_abs_wan", "差异绝对值合计（万元）", WAN, "金额类差异的绝对值之和"),
            ("refreshed_at", "刷新时间", TS, "本行生成时间"),
            ("week_start", "周起始日", DATE, "本周周一（BI 的时间轴）"),
            ("week_end", "周结束日", DATE, "本周周日"),
        ]},
    "mart.weekly_accuracy": {
        "kind": "table", "label": "周八个准",
        "about": "每周每个单位、每个维度一行：已报记录数、该维度有错误的记录数与准确率（八个准）。",
        "columns": [
            ("week", "周次", TXT, "ISO 周"),
            ("month", "所属月份", TXT, "包含本周四天或以上的月份"),
            ("region_code", "区划代码", TXT, "单位代码（含下级）"),
            ("level", "层级", TXT, "市 / 县 / 乡镇 / 村"),
            ("dimension", "维度代码", TXT, "八个准维度代码"),
            ("dimension_label", "维度名称", TXT, "八个准维度名称"),
            ("records", "已报记录数", "条", "本周入库与隔离的记录（表格行）数，含下级"),
            ("error_records", "有错误的记录数", "条", "该维度至少有一条错误的记录数"),
            ("accuracy", "准确率", SHARE, "1 − 有错误的记录数 ÷ 已报记录数"),
            ("refreshed_at", "刷新时间", TS, "本行生成时间"),
            ("region_name", "区划名称", TXT, "单位名称（区划名录）"),
            ("week_start", "周起始日", DATE, "本周周一（BI 的时间轴）"),
            ("week_end", "周结束日", DATE, "本周周日"),
            ("county_code", "所属县代码", TXT, "所属县代码（全市为空）"),
            ("township_code", "所属乡镇代码", TXT, "所属乡镇代码（乡镇与村有值）"),
        ]},
    "mart.monthly_conclusion": {
        "kind": "table", "label": "月总结",
        "about": "每月每个全市、县、乡镇一行：当月流量（所属各周之和）、月末存量（当月最后一周）、对照年度计划的脱贫进度、"
                 "重点县小额信贷任务完成情况、示范基地、报送率与及时率、八个准、月末待处理问题和县级排名。"
                 "月内周未全部入库时为月度截至目前（weeks_loaded < weeks_in_month）。",
        "columns": [
            ("month", "月份", TXT, "如 2026-11"),
            *_REGION_KEYS[:3],
            ("parent_code", "上级代码", TXT, "上一级单位代码（县的上级为全市，全市为空）"),
            ("county_code", "所属县代码", TXT, "所属县代码（全市为空）"),
            ("is_key_county", "是否重点县", BOOL, "所属县是否扶贫开发重点县（全市为空）"),
            ("weeks_in_month", "本月周数", "周", "归属本月的 ISO 周数（4 或 5）"),
            ("weeks_loaded", "已入库周数", "周", "已入库并汇总的周数"),
            ("first_week", "首周", TXT, "本月第一个已入库周"),
            ("last_week", "末周", TXT, "本月最后一个已入库周（月末存量取自该周）"),
            ("poor_villages", "贫困村数", N, "月末辖区内贫困村数"),
            ("hh_open", "月初贫困户数", HH, "本月首周的期初贫困户数"),
            ("pp_open", "月初贫困人口数", PP, "本月首周的期初贫困人口数"),
            *[(k, lbl.replace("本期", "本月"), u, t.replace("本期", "本月") + "（本月各周之和）")
              for k, lbl, u, t in _flows() if k not in ("hh_open", "pp_open", "hh_close", "pp_close")],
            ("hh_close", "月末贫困户数", HH, "本月末周的期末贫困户数"),
            ("pp_close", "月末贫困人口数", PP, "本月末周的期末贫困人口数"),
            ("exits_ytd_hh", "本年累计脱贫户数", HH, "本年已入库各周脱贫户数之和（截至本月末）"),
            ("exits_ytd_pp", "本年累计脱贫人数", PP, "本年已入库各周脱贫人数之和（截至本月末）"),
            ("planned_exit_this_year", "计划今年脱贫户数", HH, "月末三本账中计划脱贫年度为本年的户数"),
            ("planned_exit_done", "计划今年脱贫且已脱贫户数", HH, "其中月末状态为已脱贫的户数"),
            ("exit_plan_rate", "年度脱贫计划完成率", SHARE, "计划今年脱贫且已脱贫户数 ÷ 计划今年脱贫户数"),
            ("microcredit_wan", "本月发放扶贫小额信贷", WAN, "本月各周发放的扶贫小额信贷之和"),
            ("microcredit_target_wan", "小额信贷月度任务", WAN,
             "重点县每月 1000 万元（设置 HUIZONG_MICROCREDIT_TARGET_WAN）；全市为重点县任务之和；非重点县与乡镇为空"),
            ("microcredit_rate", "小额信贷任务完成率", SHARE, "本月发放 ÷ 月度任务"),
            ("microcredit_met", "小额信贷任务是否完成", BOOL, "重点县：本月发放 ≥ 任务；全市：所有重点县均完成"),
            ("funds_to_village_wan", "本月到村扶贫资金", WAN, "本月各周之和"),
            ("fiscal_funds_wan", "本月投入财政扶贫资金", WAN, "本月各周之和（县级周报）"),
            ("training_persons", "本月技能培训人次", "人次", "本月各周之和"),
            ("demo_bases_cum", "示范基地数（累计）", N, "月末累计认定的示范基地数（县级周报）"),
            ("demo_driven_hh", "基地带动贫困户数", HH, "月末示范基地带动的贫困户数"),
            ("demo_driven_pp", "基地带动贫困人口数", PP, "月末示范基地带动的贫困人口数"),
            ("helper_coverage", "帮扶责任人覆盖率", SHARE, "月末已明确帮扶责任人的贫困户所占比例"),
            ("measure_coverage", "帮扶措施覆盖率", SHARE, "月末已落实帮扶措施的贫困户所占比例"),
            ("reports_expected", "应报份数", "份", "本月各周应报份数之和（含下级）"),
            ("reports_received", "实报份数", "份", "本月各周实报份数之和"),
            ("reports_on_time", "按时报送份数", "份", "本月各周按时报送份数之和"),
            ("reporting_rate", "报送率", SHARE, "实报 ÷ 应报"),
            ("on_time_rate", "及时率", SHARE, "按时 ÷ 应报"),
            *_ACC,
            ("accuracy_overall", "八个准综合准确率", SHARE, "八个维度准确率的平均值"),
            ("findings_errors", "本月错误数", "条", "本月各周错误条数之和"),
            ("findings_warnings", "本月警告数", "条", "本月各周警告条数之和"),
            ("findings_open_month_end", "月末待处理问题数", "条", "本月末周的问题中状态仍为待处理的条数（每周报表反映当时的全部数据：前几周的问题如仍存在，末周会再次发现；已更正的不再计入）"),
            ("discrepancies", "本月逐级核对差异数", "条", "本月各周差异条数之和"),
            ("discrepancy_abs_hh", "本月差异绝对值合计（户）", HH, "户数类差异的绝对值之和"),
            ("discrepancy_abs_wan", "本月差异绝对值合计（万元）", WAN, "金额类差异的绝对值之和"),
            ("score", "综合得分", SHARE,
             "年度脱贫计划完成率（封顶 1）、小额信贷任务完成率（仅重点县，封顶 1）、及时率与八个准综合准确率的平均值"),
            ("rank_in_parent", "排名", "名", "县：在全市各县中的名次；乡镇：在本县各乡镇中的名次（按综合得分，1 为最好）"),
            ("refreshed_at", "刷新时间", TS, "本行生成时间"),
            ("township_code", "所属乡镇代码", TXT, "乡镇行为本乡镇代码，县与全市为空"),
            ("month_start", "月初日", DATE, "当月 1 日（BI 的时间轴）"),
            ("month_end", "月末日", DATE, "当月最后一天"),
            ("reports_late", "本月迟报份数", "份", "本月各周截止后收到的份数之和"),
            ("reports_missing", "本月未报份数", "份", "本月各周应报未报的份数之和"),
            ("discrepancy_abs_pp", "本月差异绝对值合计（人）", PP, "人口类差异的绝对值之和"),
            ("villages", "行政村数", N, "月末辖区内登记的村数"),
            ("poor_with_helper", "已明确帮扶责任人的贫困户数", HH, "月末帮扶责任账中至少有一名帮扶责任人的贫困户"),
            ("poor_with_measure", "已落实帮扶措施的贫困户数", HH, "月末措施办法账中至少有一项措施的贫困户"),
            ("base_driven_hh", "示范基地带动贫困户数（村报）", HH, "月末村级周报填报的示范基地带动贫困户数之和"),
        ]},
    "mart.findings": {
        "kind": "view", "label": "问题清单（视图）",
        "about": "core.findings 的 BI 视图，附单位名称、月份、八个准名称和处理状态；姓名、身份证号、电话已隐去。",
        "columns": [
            ("finding_id", "问题编号", TXT, "稳定编号（周次、单位、规则、记录、列的散列）"),
            ("week", "周次", TXT, "ISO 周"),
            ("month", "所属月份", TXT, "包含该周四天或以上的月份"),
            ("stage", "发现环节", TXT, "ingest 入库校验 / consolidate 汇总核对"),
            ("level", "层级", TXT, "报送单位层级"),
            ("region_code", "单位代码", TXT, "报送单位代码"),
            ("region_name", "单位名称", TXT, "报送单位名称"),
            ("county_code", "所属县代码", TXT, "报送单位所属县"),
            ("township_code", "所属乡镇代码", TXT, "报送单位所属乡镇"),
            ("file", "文件", TXT, "落地区中的文件路径"),
            ("sheet", "工作表", TXT, "工作表名称"),
            ("row_number", "行号", TXT, "文件中的行号（0 表示整个文件）"),
            ("column_name", "列", TXT, "表头（中文）"),
            ("value", "填报值", TXT, "单元格原值；姓名、身份证号、电话列显示为 ***，身份证号样式的数字已隐去"),
            ("rule", "规则", TXT, "规则代码，如 id_number.checksum"),
            ("severity", "严重程度", TXT, "error / warning"),
            ("severity_label", "严重程度（中文）", TXT, "错误 / 警告"),
            ("dimension", "八个准维度", TXT, "维度代码"),
            ("dimension_label", "八个准维度名称", TXT, "如 识别认定准"),
            ("message", "问题说明", TXT, "中文说明；身份证号、手机号与姓名已隐去"),
            ("record_key", "记录标识", TXT, "户编号、村代码等（不含个人信息）"),
            ("status", "处理状态", TXT, "open / waived / sent_back / resolved"),
            ("status_label", "处理状态（中文）", TXT, "待处理 / 已豁免 / 已退回 / 已解决"),
            ("status_updated_at", "状态更新时间", TS, "最近一次处理时间"),
            ("cause_id", "源头问题编号", TXT, "该问题所源自的问题的编号；本身即为源头问题时等于问题编号"),
            ("is_cause", "是否源头问题", BOOL, "是：源头问题；否：同一错误在其他核对或上级报表中的重复反映（关联问题）"),
            ("echo_count", "关联问题数", "条", "以本问题为源头的其他问题条数（折叠显示）"),
        ]},
    "mart.discrepancies": {
        "kind": "view", "label": "逐级核对差异（视图）",
        "about": "core.discrepancies 的 BI 视图：上报数与下级数据（或平衡关系）不符之处（不含水分）。",
        "columns": [
            ("week", "周次", TXT, "ISO 周"),
            ("month", "所属月份", TXT, "包含该周四天或以上的月份"),
            ("region_code", "被核对单位代码", TXT, "其数字被核对的单位"),
            ("region_name", "被核对单位名称", TXT, "单位名称"),
            ("county_code", "所属县代码", TXT, "被核对单位所属县"),
            ("township_code", "所属乡镇代码", TXT, "被核对单位所属乡镇（乡镇与村有值）"),
            ("level", "报送层级", TXT, "报出该数字的层级"),
            ("reported_by", "报送单位代码", TXT, "报出该数字的单位（如村行由乡镇报送）"),
            ("reported_by_name", "报送单位名称", TXT, "报送单位名称"),
            ("submission_id", "报送编号", TXT, "core.submissions 编号"),
            ("source_row", "行号", TXT, "文件中的行号"),
            ("metric", "指标", TXT, "指标代码，如 hh_close（mart.dim_metric，各代码见 warehouse/README.md「指标代码」）"),
            ("metric_name", "指标名称", TXT, "指标的中文名称"),
            ("unit", "单位", TXT, "本行数字的单位（户、人、万元、人次等），按单位分组后再排序或求和"),
            ("reported", "上报数", TXT, "上报的数字，单位见 unit"),
            ("consolidated", "核实数", TXT, "下级数据或平衡关系支持的数字，单位见 unit"),
            ("difference", "差额", TXT, "上报数 − 核实数，单位见 unit"),
            ("abs_difference", "差额绝对值", TXT, "|差额|，单位见 unit"),
            ("direction", "方向", TXT, " / ".join(DIRECTIONS) + "（各值见 warehouse/README.md「差异方向」）"),
            ("rule", "核对规则", TXT, "如 township_vs_village"),
        ]},
    "mart.reporting_status": {
        "kind": "view", "label": "报送情况（视图）",
        "about": "core.reporting_status 的 BI 视图：每周每个应报单位、每种报表一行（按时、迟报或未报）。",
        "columns": [
            ("week", "周次", TXT, "ISO 周"),
            ("month", "所属月份", TXT, "包含该周四天或以上的月份"),
            ("region_code", "单位代码", TXT, "应报单位"),
            ("region_name", "单位名称", TXT, "应报单位名称"),
            ("level", "层级", TXT, "县 / 乡镇 / 村"),
            ("form", "报表", TXT, "A 三本账 / B 村级周报 / C 乡镇周报 / D 县级周报"),
            ("form_label", "报表名称", TXT, "报表中文名称"),
            ("county_code", "所属县代码", TXT, "所属县"),
            ("township_code", "所属乡镇代码", TXT, "所属乡镇"),
            ("expected", "应报", BOOL, "按区划名录应报"),
            ("received", "已报", BOOL, "已收到并入库"),
            ("on_time", "按时", BOOL, "周一 10:00 截止前收到"),
            ("late", "迟报", BOOL, "截止后收到"),
            ("missing", "未报", BOOL, "未收到"),
            ("status_label", "报送状态", TXT, "按时 / 迟报 / 未报"),
            ("received_at", "收到时间", TS, "文件收到时间"),
        ]},
}


def columns_of(table: str) -> list[str]:
    return [c[0] for c in TABLES[table]["columns"]]


def _q(text: str) -> str:
    if ";" in text:
        raise ValueError(f"no semicolons in comments (the schema splitter splits on them): {text!r}")
    return "'" + text.replace("'", "''") + "'"


def comments_sql() -> str:
    out = ["-- GENERATED by `python -m pipelines.mart.dictionary` from pipelines/mart/dictionary.py: do not edit.",
           "-- Comments on the mart's tables, views and columns (DuckDB and PostgreSQL both keep them).", ""]
    for table, t in TABLES.items():
        kind = "VIEW" if t["kind"] == "view" else "TABLE"
        out.append(f"COMMENT ON {kind} {table} IS {_q(t['label'] + '：' + t['about'])};")
        for name, label, unit, meaning in t["columns"]:
            col = f'"{name}"' if name in ("row", "column", "value") else name
            text = f"{label}（{unit}）：{meaning}" if unit != TXT and not label.endswith(f"（{unit}）") \
                else f"{label}：{meaning}"
            out.append(f"COMMENT ON COLUMN {table}.{col} IS {_q(text)};")
        out.append("")
    return "\n".join(out)


def questions() -> list[tuple[str, str]]:
    """(question, SQL) of every file in warehouse/questions/, in file order."""
    out = []
    for path in sorted(QUESTIONS.glob("*.sql")):
        first, _, sql = path.read_text(encoding="utf-8").partition("\n")
        out.append((first.removeprefix("--").strip(), sql))
    return out


def _questions_section() -> list[str]:
    out = ["## 常用查询", "",
           "以下查询在 psql（以 `bi_reader` 连接 PostgreSQL 仓库）与 DuckDB 命令行客户端（打开内置仓库）中原样运行，"
           "结果相同（`warehouse/questions/`，测试用两种客户端逐一核对）。", ""]
    for title, sql in questions():
        out += [f"### {title}", "", "```sql", sql.strip(), "```", ""]
    return out


def readme() -> str:
    out = [
        "# 数据仓库 · 数据字典（Huizong warehouse）",
        "",
        "The warehouse has two schemas, the same on DuckDB (`data/warehouse.duckdb`) and PostgreSQL:",
        "",
        "- `core` — what was received and loaded (`schema/001_core.sql`, `schema/002_review.sql`);",
        "- `mart` — the BI contract for 周汇总、月总结 (`schema/010_mart.sql`): the tables and columns below "
        "change only on purpose.",
        "",
        "The mart is built by `pipelines.mart` (`refresh_weekly_mart(week)` after each weekly consolidation, "
        "`refresh_month(month)` from the `monthly_conclusion` DAG), each week or month deleted and inserted "
        "in one transaction. No resident ID number, phone number or personal name appears in `mart` in "
        "clear text. The same descriptions are stored as database comments (`schema/011_mart_comments.sql`, "
        "generated with `python -m pipelines.mart.dictionary` from `pipelines/mart/dictionary.py`).",
        "",
        "单位：户、人、万元、份、条；比例为 0–1 的小数（BI 中显示为百分比）。",
        "",
        "## 类型与键",
        "",
        "- 类型在 DuckDB 与 PostgreSQL 上相同：金额（万元）为 `DECIMAL(18, 4)`，比例为 `DECIMAL(9, 6)`，"
        "户数、人数、份数、条数为 `BIGINT`，日期为 `DATE`；求和没有浮点误差。`mart.discrepancies` 的数字为 "
        "`DECIMAL(18, 4)`，单位随指标（`unit` 列）。`core` 保留入库时的原值（双精度），`mart` 取 4 位小数。",
        "- 主键（两种数据库均声明）：`dim_region (region_code)`、`dim_week (week)`、`dim_month (month)`、"
        "`dim_accuracy (dimension)`、`dim_metric (metric)`、`weekly_summary (week, region_code)`、"
        "`weekly_accuracy (week, region_code, dimension)`、`monthly_conclusion (month, region_code)`。",
        "- 外键（仅 PostgreSQL，`schema/012_mart_foreign_keys.postgresql.sql`）：`weekly_summary`、`weekly_accuracy`、"
        "`monthly_conclusion` 的 `week` → `dim_week`、`month` → `dim_month`、`region_code` → `dim_region`，"
        "`weekly_accuracy.dimension` → `dim_accuracy`，`dim_week.month` → `dim_month`；均为 "
        "`DEFERRABLE INITIALLY DEFERRED`（刷新在同一事务中删除并重新写入维表，提交时检查），"
        "`NOT VALID`（添加时不检查已有行：由早期版本迁移的仓库在下次刷新前 `dim_month` 为空；此后写入的每一行都检查）。"
        "DuckDB 没有延迟检查的约束，且拒绝删除被外键引用的行，内置仓库因此只声明主键，按相同的列关联即可。",
        "- 一个概念一个列名：各表与视图中的单位均为 `region_code`、`region_name`，所属县、乡镇为 `county_code`、"
        "`township_code`。",
        "",
        "## 连接方式",
        "",
        "- 内置仓库 `data/warehouse.duckdb` 以 DuckDB 1.0 的存储格式写入，DuckDB 1.0 及以后的各客户端均可打开："
        "PyPI 上的命令行客户端 `duckdb-cli`（1.5.6 已验证，`make test` 安装并用它打开仓库）、DBeaver 的 DuckDB JDBC 驱动、"
        "Python 与 R 的 duckdb 包。只读打开，不影响入库：`duckdb -readonly data/warehouse.duckdb`。"
        "DuckDB 1.0 之前的客户端无法打开。早期版本建立的仓库文件（DuckDB 2 自有格式）：运行一次 `huizong migrate` 即改写为该格式。",
        "- PostgreSQL 仓库：以只读角色 `bi_reader` 连接 `huizong` 库，只能读取 `mart`；会话时区为北京时间（Asia/Shanghai），"
        "不能连接同一集群中的其他数据库。",
        "",
    ]
    out += _questions_section()
    out += ["## 指标代码", "", "`mart.discrepancies.metric` 与 `mart.dim_metric.metric` 的取值（标签表 `pipelines/labels.py`）。", "",
            "| 代码 | 指标名称 | 单位 |", "| --- | --- | --- |"]
    out += [f"| `{code}` | {name} | {unit} |" for code, (name, unit) in METRICS.items()]
    out += ["", "## 差异方向", "", "`mart.discrepancies.direction` 的取值。", "", "| 取值 | 含义 |", "| --- | --- |"]
    out += [f"| {value} | {meaning} |" for value, meaning in DIRECTIONS.items()]
    out.append("")
    for table, t in TABLES.items():
        out += [f"## `{table}` — {t['label']}", "", t["about"], "",
                "| 列 | 中文名 | 单位 | 含义 |", "| --- | --- | --- | --- |"]
        for name, label, unit, meaning in t["columns"]:
            out.append(f"| `{name}` | {label} | {unit} | {meaning} |")
        out.append("")
    return "\n".join(out)


def write() -> None:
    COMMENTS_SQL.write_text(comments_sql(), encoding="utf-8")
    README.write_text(readme(), encoding="utf-8")


if __name__ == "__main__":
    write()
    sys.stdout.write(f"wrote {README} and {COMMENTS_SQL}\n")
