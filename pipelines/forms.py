"""The four weekly forms (docs/FORMS.md): canonical column names, Chinese headers, types.

This module is the single contract between the synthetic generator (which writes the
Chinese headers) and the parser (which maps them back to canonical English names).
Enumerated values stay in Chinese: they are the users' own words.

Types: "str", "int", "float" (万元 or 元 as the header says), "date", "yesno" (是/否),
"id18" (resident ID kept as text), "code" (region/household code kept as text).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str          # canonical English name
    header: str        # the standard Chinese header
    dtype: str
    synonyms: tuple[str, ...] = ()
    required: bool = True


def _c(name, header, dtype, *synonyms, required=True):
    return Column(name, header, dtype, tuple(synonyms), required)


# ---- enumerations -------------------------------------------------------------------
POVERTY_TYPES = ("一般贫困户", "低保贫困户", "特困供养贫困户")
CAUSES = ("因病", "因残", "因学", "因灾", "缺土地", "缺水", "缺技术", "缺劳力", "缺资金",
          "交通条件落后", "自身发展动力不足")
STATES = ("贫困", "已脱贫", "注销")
CHANGES = ("无", "新识别", "脱贫", "返贫", "注销")
MEASURE_CATEGORIES = ("产业扶贫", "就业扶贫", "金融扶贫", "教育扶贫", "健康扶贫", "易地扶贫搬迁",
                      "技能培训", "危房改造", "兜底保障", "其他")
MEASURE_STATUSES = ("计划", "实施中", "已完成")
HELPER_ORG_LEVELS = ("中直", "省直", "市直", "县直", "乡镇", "村")
YESNO = ("是", "否")
SECURITY_COLUMNS = ("food_secure", "clothing_secure", "education_secure", "medical_secure",
                    "housing_secure")

# ---- Form A: village household ledgers (三本账), one workbook, three sheets ----------
SHEET_PLAN = "计划进度账"
SHEET_MEASURES = "措施办法账"
SHEET_HELPERS = "帮扶责任账"

LEDGER_PLAN = (
    _c("household_id", "户编号", "code", "贫困户编号", "户 编 号"),
    _c("head_name", "户主姓名", "str", "户主", "姓名"),
    _c("id_number", "户主身份证号", "id18", "身份证号码", "身份证号", "户主身份证号码"),
    _c("household_size", "家庭人口数", "int", "家庭人口", "人口数"),
    _c("poverty_type", "贫困户属性", "str", "贫困户类型"),
    _c("main_cause", "主要致贫原因", "str", "致贫原因"),
    _c("identified_year", "识别年度", "int", "识别年份"),
    _c("planned_exit_year", "计划脱贫年度", "int", "计划脱贫年份"),
    _c("state", "当前状态", "str", "状态"),
    _c("week_change", "本周变动", "str", "变动情况"),
    _c("income_per_capita_yuan", "人均纯收入(元)", "float", "人均纯收入", "人均收入(元)"),
    _c("food_secure", "不愁吃", "yesno"),
    _c("clothing_secure", "不愁穿", "yesno"),
    _c("education_secure", "义务教育有保障", "yesno"),
    _c("medical_secure", "基本医疗有保障", "yesno"),
    _c("housing_secure", "住房安全有保障", "yesno"),
    _c("progress_note", "本周进展", "str", required=False),
)
LEDGER_MEASURES = (
    _c("household_id", "户编号", "code", "贫困户编号"),
    _c("measure_category", "措施类别", "str", "措施类型"),
    _c("measure_content", "措施内容", "str", required=False),
    _c("measure_funds_yuan", "投入资金(元)", "float", "投入资金"),
    _c("measure_date", "实施日期", "date", "实施时间"),
    _c("measure_status", "落实状态", "str", "实施状态"),
)
LEDGER_HELPERS = (
    _c("household_id", "户编号", "code", "贫困户编号"),
    _c("helper_name", "帮扶责任人", "str", "帮扶人", "帮扶责任人姓名"),
    _c("helper_org", "责任人单位", "str", "帮扶单位"),
    _c("helper_org_level", "单位层级", "str"),
    _c("helper_phone", "联系电话", "str", "手机号码", "电话"),
    _c("paired_date", "结对日期", "date", "结对时间"),
)

# ---- stock and flow columns shared by Forms B, C and D -------------------------------
# Two-row headers put 期初/本周新识别/... on the first row and 户数/人数 on the second;
# the parser joins them before matching ("本周新识别" + "户数" -> "本周新识别户数").
FLOW_COLUMNS = (
    _c("hh_open", "期初贫困户数", "int"),
    _c("pp_open", "期初贫困人口数", "int", "期初贫困人数"),
    _c("hh_new", "本周新识别户数", "int"),
    _c("pp_new", "本周新识别人数", "int"),
    _c("hh_return", "本周返贫户数", "int"),
    _c("pp_return", "本周返贫人数", "int"),
    _c("hh_exit", "本周脱贫户数", "int"),
    _c("pp_exit", "本周脱贫人数", "int"),
    _c("hh_cancel", "本周注销户数", "int"),
    _c("pp_cancel", "本周注销人数", "int"),
    _c("hh_close", "期末贫困户数", "int"),
    _c("pp_close", "期末贫困人口数", "int", "期末贫困人数"),
)
FLOW_NAMES = tuple(c.name for c in FLOW_COLUMNS)
HH_FLOWS = ("hh_open", "hh_new", "hh_return", "hh_exit", "hh_cancel", "hh_close")
PP_FLOWS = ("pp_open", "pp_new", "pp_return", "pp_exit", "pp_cancel", "pp_close")

# ---- Form B: village weekly report (one data row) -----------------------------------
VILLAGE_REPORT = (
    _c("is_poor_village", "是否贫困村", "yesno"),
    _c("first_secretary", "第一书记", "str", required=False),
    _c("work_team_size", "驻村工作队人数", "int"),
    *FLOW_COLUMNS,
    _c("funds_to_village_wan", "本周到村扶贫资金(万元)", "float"),
    _c("microcredit_wan", "本周发放扶贫小额信贷(万元)", "float"),
    _c("base_driven_hh", "示范基地带动贫困户数", "int"),
    _c("training_persons", "本周技能培训人次", "int"),
)

# ---- Form C: township weekly report (one row per village, then 合计) -----------------
TOWNSHIP_REPORT = (
    _c("village_code", "村代码", "code", "村级代码", "行政区划代码"),
    _c("village_name", "村名", "str", "村名称"),
    _c("is_poor_village", "是否贫困村", "yesno"),
    *FLOW_COLUMNS,
    _c("microcredit_wan", "本周发放扶贫小额信贷(万元)", "float"),
    _c("training_sessions", "本周技能培训期数", "int"),
    _c("training_persons", "本周技能培训人次", "int"),
)

# ---- Form D: county weekly report (one row per township, then 合计) ------------------
COUNTY_REPORT = (
    _c("township_code", "乡镇代码", "code"),
    _c("township_name", "乡镇名", "str", "乡镇名称"),
    _c("poor_village_count", "贫困村数", "int"),
    *FLOW_COLUMNS,
    _c("microcredit_wan", "本周发放扶贫小额信贷(万元)", "float"),
    _c("demo_bases_cum", "示范基地数(累计)", "int", "示范基地数"),
    _c("base_driven_hh", "基地带动贫困户数", "int"),
    _c("base_driven_pp", "基地带动贫困人口数", "int"),
    _c("fiscal_funds_wan", "本周投入财政扶贫资金(万元)", "float"),
    _c("team_members", "派驻帮扶队员人数", "int"),
    _c("inspections", "本周督导暗访次数", "int"),
)

# Header block fields (Forms B–D): 填报单位, 行政区划代码/代码, 填报周次, 填表人, 审核人,
# 专职副书记 (C), 专职常委 (D), 填报日期.
HEADER_FIELDS = {
    "填报单位": "unit_name",
    "行政区划代码": "unit_code",
    "代码": "unit_code",
    "填报周次": "week",
    "填表人": "filled_by",
    "审核人": "reviewed_by",
    "专职副书记": "signed_by",
    "专职常委": "signed_by",
    "填报日期": "filled_date",
}

FORM_A, FORM_B, FORM_C, FORM_D = "A", "B", "C", "D"
FORM_LEVEL = {FORM_A: "村", FORM_B: "村", FORM_C: "乡镇", FORM_D: "县"}
FORM_TITLE = {FORM_A: "村级贫困户三本账", FORM_B: "村级周报", FORM_C: "乡镇周报", FORM_D: "县级周报"}
TOTAL_LABEL = "合计"

# Per-form table specs keyed as the parser emits them: (form, sheet key) -> columns.
TABLES = {
    ("A", "plan"): LEDGER_PLAN,
    ("A", "measures"): LEDGER_MEASURES,
    ("A", "helpers"): LEDGER_HELPERS,
    ("B", "report"): VILLAGE_REPORT,
    ("C", "report"): TOWNSHIP_REPORT,
    ("D", "report"): COUNTY_REPORT,
}
LEDGER_SHEETS = {"plan": SHEET_PLAN, "measures": SHEET_MEASURES, "helpers": SHEET_HELPERS}


@dataclass(frozen=True)
class Table:
    """One parsed table: the form and sheet it comes from, where it lands, what checks it."""
    form: str                   # "A".."D"
    sheet: str                  # sheet key as the parser emits it: plan, measures, helpers, report
    core: str                   # warehouse table, schema-qualified
    suite: str                  # Great Expectations suite (expectations/)
    keys: tuple[str, ...]       # columns that identify a row within one unit's submission (none: one row)

    @property
    def short(self) -> str:
        """The core table's name without its schema (lake folder, state columns)."""
        return self.core.split(".", 1)[1]

    @property
    def columns(self) -> tuple[Column, ...]:
        return TABLES[(self.form, self.sheet)]


# The one registry of the six tables; every list of tables, suites or short names derives from it.
REGISTRY: dict[tuple[str, str], Table] = {(t.form, t.sheet): t for t in (
    Table("A", "plan", "core.ledger_households", "form_a_plan", ("household_id",)),
    Table("A", "measures", "core.ledger_measures", "form_a_measures", ("household_id",)),
    Table("A", "helpers", "core.ledger_helpers", "form_a_helpers", ("household_id",)),
    Table("B", "report", "core.village_reports", "form_b_report", ()),
    Table("C", "report", "core.township_reports", "form_c_report", ("village_code",)),
    Table("D", "report", "core.county_reports", "form_d_report", ("township_code",)),
)}
# Length of the unit code that files each form (村 12, 乡镇 9, 县 6 digits).
CODE_LENGTH = {FORM_A: 12, FORM_B: 12, FORM_C: 9, FORM_D: 6}

# 八个准: data-quality dimensions every finding is tagged with.
EIGHT_ACCURACIES = {
    "identification": "识别认定准",
    "household": "家庭状况掌握准",
    "cause": "致贫原因分析准",
    "measures": "扶持计划措施准",
    "ledger": "台账进度记录准",
    "policy": "享受政策宣传准",
    "entry_exit": "进出信息录入准",
    "dynamics": "动态变化捕捉准",
}

# Region levels.
LEVEL_CITY, LEVEL_COUNTY, LEVEL_TOWNSHIP, LEVEL_VILLAGE = "市", "县", "乡镇", "村"
CITY_CODE = "411600000000"
CITY_NAME = "周口市"


def normalize_header(text: object) -> str:
    """Canonical form of a header cell: no whitespace, half-width brackets."""
    s = "" if text is None else str(text)
    s = s.translate(_HEADER_TRANS)
    return "".join(s.split())


_HEADER_TRANS = str.maketrans({"（": "(", "）": ")", "：": ":", "　": " "})


def header_lookup(columns: tuple[Column, ...]) -> dict[str, str]:
    """normalized header (standard or synonym) -> canonical name."""
    out: dict[str, str] = {}
    for col in columns:
        for h in (col.header, *col.synonyms):
            out[normalize_header(h)] = col.name
    return out
