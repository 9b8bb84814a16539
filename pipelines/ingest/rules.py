"""Validation rules as data: one ``Rule`` per GX expectation, grouped in one suite per
form/table, and ``build_suites()`` which writes them as GX suite JSON files into the
repository's GX file context (``expectations/gx/expectations/*.json``).

Every rule names a stable code, a severity (findings.ERROR / WARNING), an 八个准
dimension (forms.EIGHT_ACCURACIES key), the canonical column the finding points at, the
GX expectation (type and kwargs) and the Chinese text of the message. Columns starting
with ``_`` are derived in pandas by ``pipelines.ingest.validate`` (vectorised) before the
frame is handed to GX: e.g. ``_id_check_ok`` is True/False where the ID has the right
shape and NA where the check does not apply (GX ignores nulls in map expectations).

Thresholds from settings (poverty line, household size range, tolerances) are suite
parameters (``{"$PARAMETER": name}``), filled at run time from ``get_settings()``, so the
committed JSON never holds a setting's value.

Run ``python -m pipelines.ingest.rules`` to regenerate the JSON after editing the rules;
``tests/ingest/test_validate.py`` fails when the committed JSON is out of date.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import forms
from pipelines.findings import ERROR, WARNING

# Default plausibility bounds for years (not domain thresholds of FORMS.md; overridable
# through Settings.extra["plausible_year_min"] / ["plausible_exit_years_ahead"]).
PLAUSIBLE_YEAR_MIN = 1980
PLAUSIBLE_EXIT_YEARS_AHEAD = 10

# Column pointing GX back at the failing rows (positional row number of the frame).
ROW_ID = "_row"

_NS = uuid.UUID("6f1d7c52-9a0e-4d7e-8f43-5b1c0e2a9d10")  # fixed: ids stay stable


def param(name: str) -> dict:
    return {"$PARAMETER": name}


@dataclass(frozen=True)
class Rule:
    code: str          # stable rule code, e.g. "id_number.checksum"
    severity: str      # ERROR | WARNING
    dimension: str     # key of forms.EIGHT_ACCURACIES
    column: str        # canonical column the finding names (header + submitted value)
    expectation: str   # GX expectation type, e.g. "expect_column_values_to_be_in_set"
    kwargs: dict       # GX kwargs (column may be a derived "_..." column)
    problem: str       # Chinese: what is wrong; may use {r[col]} (row) and {s[name]} (params)
    action: str        # Chinese: what the submitter should do
    # Report only rows whose submitted text is blank (not-null rules: a non-blank text
    # that did not parse was already reported by the parser).
    only_blank_raw: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.column)


# ---- small builders ----------------------------------------------------------------------
def _in_set(code, sev, dim, column, values, problem, action, *, on=None) -> Rule:
    return Rule(code, sev, dim, column, "expect_column_values_to_be_in_set",
                {"column": on or column, "value_set": list(values)}, problem, action)


def _check(code, sev, dim, column, derived, problem, action) -> Rule:
    """A derived boolean column that must be True (NA = not applicable)."""
    return _in_set(code, sev, dim, column, [True], problem, action, on=derived)


def _regex(code, sev, dim, column, regex, problem, action) -> Rule:
    return Rule(code, sev, dim, column, "expect_column_values_to_match_regex",
                {"column": column, "regex": regex}, problem, action)


def _between(code, sev, dim, column, problem, action, *, on=None, min_value=None,
             max_value=None) -> Rule:
    kw = {"column": on or column}
    if min_value is not None:
        kw["min_value"] = min_value
    if max_value is not None:
        kw["max_value"] = max_value
    return Rule(code, sev, dim, column, "expect_column_values_to_be_between", kw, problem,
                action)


def _not_null(code, sev, dim, column, problem, action) -> Rule:
    return Rule(code, sev, dim, column, "expect_column_values_to_not_be_null",
                {"column": column}, problem, action, only_blank_raw=True)


def _enum(code, dim, column, values) -> Rule:
    return _in_set(code, ERROR, dim, column, values,
                   "不是规定的选项（应为 " + "/".join(values) + "）", "请按表样规定的选项填写")


# ---- Form A: household ids shared by the three sheets ---------------------------------
def _household_id_rules(*, known: bool) -> list[Rule]:
    rules = [
        _not_null("household_id.missing", ERROR, "identification", "household_id",
                  "户编号未填写", "请补填户编号"),
        _regex("household_id.format", ERROR, "identification", "household_id", r"^\d{16}$",
               "户编号应为16位数字（12位村代码加4位户序号）", "请更正户编号"),
        _check("household_id.village", ERROR, "identification", "household_id",
               "_hh_village_ok", "户编号前12位 {r[_hh_prefix]} 与填报村代码 {r[unit_code]} 不一致",
               "请核对户编号或所报的村"),
    ]
    if known:
        rules.append(_check("household_id.unknown", WARNING, "ledger", "household_id",
                            "_hh_known", "该户不在计划进度账中",
                            "请核对户编号，或在计划进度账中补录该户"))
    return rules


def plan_rules() -> list[Rule]:
    """The plan sheet's rules: a table, one rule per entry, kept in one list so a suite's
    order (and its committed JSON) reads as the rules do."""
    rules = _household_id_rules(known=False)
    rules += [
        Rule("household_id.duplicate", ERROR, "ledger", "household_id",
             "expect_column_values_to_be_unique", {"column": "household_id"},
             "户编号在台账中重复出现（{r[_dup_others]}）", "请删除重复行或更正户编号"),
        _regex("id_number.format", ERROR, "identification", "id_number", r"^\d{17}[\dXx]$",
               "身份证号应为18位，前17位为数字、末位为数字或X", "请核对身份证号"),
        _check("id_number.birth_date", ERROR, "identification", "id_number", "_id_birth_ok",
               "出生日期 {r[_id_birth]} 无效", "请核对身份证号"),
        _check("id_number.checksum", ERROR, "identification", "id_number", "_id_check_ok",
               "校验位错误（应为 {r[_id_check_expected]}）", "请核对身份证号"),
        _check("id_number.duplicate", ERROR, "identification", "id_number", "_id_unique_ok",
               "同一身份证号登记在多户（{r[_dup_others]}）", "请核实是否重复识别"),
        _between("household_size.range", ERROR, "household", "household_size",
                 "家庭人口数应在 {s[household_size_min]}–{s[household_size_max]} 之间",
                 "请核对家庭人口数",
                 min_value=param("household_size_min"), max_value=param("household_size_max")),
        _between("income.range", ERROR, "household", "income_per_capita_yuan",
                 "人均纯收入应在 0–{s[income_max_yuan]} 元之间", "请核对人均纯收入（单位为元/年）",
                 min_value=0, max_value=param("income_max_yuan")),
        _enum("poverty_type.enum", "household", "poverty_type", forms.POVERTY_TYPES),
        _enum("main_cause.enum", "cause", "main_cause", forms.CAUSES),
        _not_null("state.missing", ERROR, "entry_exit", "state", "当前状态未填写", "请补填当前状态"),
        _enum("state.enum", "entry_exit", "state", forms.STATES),
        _not_null("week_change.missing", ERROR, "dynamics", "week_change", "本周变动未填写",
                  "没有变动请填“无”"),
        _enum("week_change.enum", "dynamics", "week_change", forms.CHANGES),
        Rule("years.order", ERROR, "measures", "planned_exit_year",
             "expect_column_pair_values_a_to_be_greater_than_b",
             {"column_A": "planned_exit_year", "column_B": "identified_year", "or_equal": True,
              "ignore_row_if": "either_value_is_missing"},
             "计划脱贫年度早于识别年度 {r[identified_year]}", "请核对识别年度和计划脱贫年度"),
        _check("identified_year.plausible", WARNING, "identification", "identified_year",
               "_identified_year_ok", "识别年度不合理（应在 {s[year_min]}–{r[_week_year]} 之间）",
               "请核对识别年度"),
        _check("planned_exit_year.plausible", WARNING, "measures", "planned_exit_year",
               "_planned_exit_year_ok",
               "计划脱贫年度不合理（应在 {s[year_min]}–{r[_exit_year_max]} 之间）", "请核对计划脱贫年度"),
        _check("week_change.state", ERROR, "entry_exit", "state", "_change_state_ok",
               "与本周变动“{r[week_change]}”不符（当前状态应为 {r[_change_expected_state]}）",
               "请核对当前状态和本周变动"),
        _check("week_change.unrecorded", ERROR, "dynamics", "week_change", "_unchanged_ok",
               "上周状态为 {r[_prev_state]}、本周为 {r[state]}，状态已变化却未登记变动",
               "请填写本周变动"),
        _check("week_change.new_existing", ERROR, "dynamics", "week_change", "_new_ok",
               "该户上周已在台账中（上周状态 {r[_prev_state]}），不能再新识别", "请核对本周变动"),
        _check("week_change.prev_state", ERROR, "dynamics", "week_change", "_prev_state_ok",
               "上周状态为 {r[_prev_state]}，而“{r[week_change]}”要求上周状态为 {r[_prev_expected]}",
               "请核对本周变动和当前状态"),
        _between("exit.income", ERROR, "entry_exit", "income_per_capita_yuan",
                 "本周脱贫但人均纯收入未达到贫困线 {s[poverty_line_yuan]} 元",
                 "请核实收入，未达标的不能标注脱贫",
                 on="_exit_income", min_value=param("poverty_line_yuan")),
    ]
    for col in forms.SECURITY_COLUMNS:
        rules.append(_in_set("exit.security", ERROR, "entry_exit", col, ["是"],
                             "本周脱贫要求“两不愁三保障”全部为“是”",
                             "请核实后再标注脱贫", on=f"_exit_{col}"))
    rules += [
        _check("measures.missing", ERROR, "measures", "household_id", "_has_measure",
               "贫困户在措施办法账中没有任何帮扶措施", "请在措施办法账中补录该户的措施"),
        # A helper is the channel through which a household learns and claims its
        # policies (享受政策宣传准), hence dimension "policy" (as helper_phone.format).
        _check("helpers.missing", ERROR, "policy", "household_id", "_has_helper",
               "贫困户在帮扶责任账中没有帮扶责任人", "请在帮扶责任账中补录该户的帮扶责任人"),
    ]
    return rules


def measures_rules() -> list[Rule]:
    return _household_id_rules(known=True) + [
        _enum("measure_category.enum", "measures", "measure_category", forms.MEASURE_CATEGORIES),
        _enum("measure_status.enum", "measures", "measure_status", forms.MEASURE_STATUSES),
        _between("measure_funds_yuan.negative", ERROR, "measures", "measure_funds_yuan",
                 "投入资金不能为负数", "请更正投入资金", min_value=0),
        _check("measure_date.future", WARNING, "ledger", "measure_date", "_date_ok",
               "实施日期晚于本周最后一天 {r[_week_end]}", "请核对实施日期"),
    ]


def helpers_rules() -> list[Rule]:
    return _household_id_rules(known=True) + [
        _enum("helper_org_level.enum", "policy", "helper_org_level", forms.HELPER_ORG_LEVELS),
        _regex("helper_phone.format", WARNING, "policy", "helper_phone", r"^1\d{10}$",
               "联系电话应为以1开头的11位手机号码", "请核对联系电话"),
        _check("paired_date.future", WARNING, "ledger", "paired_date", "_date_ok",
               "结对日期晚于本周最后一天 {r[_week_end]}", "请核对结对日期"),
    ]


_HEADERS_ALL = {c.name: c.header for cols in forms.TABLES.values() for c in cols}


def _report_rules(columns: tuple[forms.Column, ...], code_col: str | None,
                  digits: int | None, parent: str | None) -> list[Rule]:
    rules: list[Rule] = []
    if code_col:
        header = _HEADERS_ALL[code_col]
        rules += [
            _not_null(f"{code_col}.missing", ERROR, "identification", code_col,
                      f"{header}未填写", f"请补填{header}"),
            _regex(f"{code_col}.format", ERROR, "identification", code_col,
                   rf"^\d{{{digits}}}$", f"{header}应为{digits}位数字", f"请更正{header}"),
            _check(f"{code_col}.{'township' if parent == '乡镇' else 'county'}", ERROR,
                   "identification", code_col, "_code_parent_ok",
                   f"{header}不属于填报{parent}（应以 {{r[unit_code]}} 开头）", f"请核对{header}"),
            Rule(f"{code_col}.duplicate", ERROR, "ledger", code_col,
                 "expect_compound_columns_to_be_unique", {"column_list": ["file", code_col]},
                 f"{header}在同一文件中重复出现", "请删除重复行"),
        ]
    for col in columns:
        if col.dtype == "int":
            rules.append(_between("count.negative", ERROR, "ledger", col.name,
                                  "数量不能为负数", "请更正", min_value=0))
        elif col.dtype == "float":
            rules.append(_between("money.negative", ERROR, "ledger", col.name,
                                  "金额不能为负数", "请更正", min_value=0))
    for kind, flows, label in (("households", forms.HH_FLOWS, "户数"),
                               ("people", forms.PP_FLOWS, "人数")):
        k = "hh" if kind == "households" else "pp"
        o, n, rt, ex, ca, cl = flows
        rules.append(_between(
            f"balance.{kind}", ERROR, "ledger", cl,
            f"期末{label}应等于 期初 {{r[{o}]}} + 新识别 {{r[{n}]}} + 返贫 {{r[{rt}]}} − 脱贫 "
            f"{{r[{ex}]}} − 注销 {{r[{ca}]}} = {{r[_balance_expect_{k}]}}，"
            f"实填 {{r[{cl}]}}（相差 {{r[_balance_diff_{k}]}}）",
            f"请核对期初、本周变动和期末{label}",
            on=f"_balance_absdiff_{k}", max_value=param("tolerance_count")))
    for hh, pp in zip(forms.HH_FLOWS, forms.PP_FLOWS):
        rules.append(_between("people.lt_households", WARNING, "household", pp,
                              f"人数少于对应的户数 {{r[{hh}]}}", "请核对户数和人数",
                              on=f"_pp_minus_{hh}", min_value=0))
    return rules


def report_rules(form: str) -> list[Rule]:
    """Forms B-D; the rows of C and D are villages and townships, coded one level below
    the filing unit."""
    table = forms.REGISTRY[(form, "report")]
    if not table.keys:
        return _report_rules(table.columns, None, None, None)
    child = {"C": "B", "D": "C"}[form]  # the form the rows' units file
    return _report_rules(table.columns, table.keys[0], forms.CODE_LENGTH[child], forms.FORM_LEVEL[form])


_SHEET_RULES = {"plan": plan_rules, "measures": measures_rules, "helpers": helpers_rules}


def suite_rules() -> dict[str, list[Rule]]:
    """Suite name -> its rules, for each table of pipelines.forms.REGISTRY. (Two rules are
    computed in pandas outside GX: total.mismatch, 合计 rows of Forms C/D, and the
    city-wide id_number.duplicate pass of validate.duplicate_ids.)"""
    return {t.suite: _SHEET_RULES[t.sheet]() if t.form == "A" else report_rules(t.form)
            for t in forms.REGISTRY.values()}


# ---- GX suite JSON -----------------------------------------------------------------------
GX_DIR = "gx"


def _header(column: str) -> str:
    return _HEADERS_ALL.get(column, column)


def _suite_dict(name: str, rules: list[Rule]) -> dict:
    exps = []
    seen: set[tuple[str, str]] = set()
    for r in rules:
        if r.key in seen:
            raise ValueError(f"duplicate rule {r.key} in suite {name}")
        seen.add(r.key)
        sev = "critical" if r.severity == ERROR else "warning"
        meta = {"rule": r.code, "severity": r.severity, "dimension": r.dimension,
                "column": r.column, "header": _header(r.column)}
        if r.only_blank_raw:
            meta["only_blank_raw"] = True
        exps.append({
            "type": r.expectation,
            "kwargs": r.kwargs,
            "meta": meta,
            "description": f"「{_header(r.column)}」{_static(r.problem)}"
                           f"（{forms.EIGHT_ACCURACIES[r.dimension]}，{'错误' if r.severity == ERROR else '警告'}）",
            "severity": sev,
            "id": str(uuid.uuid5(_NS, f"{name}:{r.code}:{r.column}")),
        })
    return {
        "name": name,
        "id": str(uuid.uuid5(_NS, name)),
        "expectations": exps,
        "meta": {"great_expectations_version": "1.24.1",
                 "generated_by": "pipelines.ingest.rules.build_suites"},
        "notes": None,
    }


def _static(problem: str) -> str:
    """The problem text without per-row placeholders, for Data Docs descriptions."""
    import re
    return re.sub(r"\s*\{[rs]\[[^\]]+\]\}\s*", "…", problem)


GX_YML = """\
# GX file context of Huizong, generated by pipelines.ingest.rules.build_suites().
# Suites live in expectations/ (one JSON per form/table, committed). At run time
# pipelines.ingest.validate copies this folder to a temporary directory and points the
# validation results store and the Data Docs site at settings.home, so validating never
# writes into the repository.
config_version: 4.0
config_variables_file_path: uncommitted/config_variables.yml
plugins_directory: plugins/
stores:
  expectations_store:
    class_name: ExpectationsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: expectations/
  validation_results_store:
    class_name: ValidationResultsStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/validations/
  checkpoint_store:
    class_name: CheckpointStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      suppress_store_backend_id: true
      base_directory: checkpoints/
  validation_definition_store:
    class_name: ValidationDefinitionStore
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: validation_definitions/
expectations_store_name: expectations_store
validation_results_store_name: validation_results_store
checkpoint_store_name: checkpoint_store
data_docs_sites:
  local_site:
    class_name: SiteBuilder
    show_how_to_buttons: false
    store_backend:
      class_name: TupleFilesystemStoreBackend
      base_directory: uncommitted/data_docs/local_site/
    site_index_builder:
      class_name: DefaultSiteIndexBuilder
analytics_enabled: false
progress_bars:
  globally: false
  metric_calculations: false
data_context_id: 6f1d7c52-9a0e-4d7e-8f43-5b1c0e2a9d10
"""


def build_suites(root: Path | str | None = None, *, write: bool = True) -> dict[str, str]:
    """(Re)generate the GX file context's committed files from the rules above.

    Returns {path relative to root: file text}; writes them under ``root`` (default:
    settings.gx_root, i.e. the repository's expectations/ folder) when ``write``.
    """
    files = {
        f"{GX_DIR}/great_expectations.yml": GX_YML,
        f"{GX_DIR}/.gitignore": "uncommitted/\n",
    }
    for name, rules in suite_rules().items():
        text = json.dumps(_suite_dict(name, rules), ensure_ascii=False, indent=2,
                          sort_keys=False) + "\n"
        files[f"{GX_DIR}/expectations/{name}.json"] = text
    if write:
        if root is None:
            from pipelines.settings import get_settings
            root = get_settings().gx_root
        root = Path(root)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return files


if __name__ == "__main__":  # pragma: no cover
    for rel in build_suites():
        print(rel)
