"""Validation of parsed submissions with Great Expectations (GX Core, pandas batches).

One call validates all rows of one form for one county (many files concatenated): the
frames get derived check columns computed in pandas (vectorised,
``pipelines.ingest.check_columns``), then each table is
validated against its committed GX suite (``expectations/gx/expectations/<suite>.json``,
see ``pipelines.ingest.rules``) with result_format COMPLETE; the failing rows come back
through ``unexpected_index_column_names`` and become findings (Chinese messages naming
the row, the column's header and the submitted value; ``pipelines.ingest.rule_findings``). A few cross-row rules (合计 equals
the sum of rows, city-wide duplicate ID numbers) are computed in pandas directly.

The GX file context (``pipelines.ingest.gx_runtime``) is the repository's
``expectations/`` folder, *copied* once per process to a temporary directory: suites load by name from the copy, the runtime
datasource lives in the copy, and validation results / Data Docs go under settings.home,
so validating never writes into the repository.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.findings import ERROR, FINDING_COLUMNS, findings_frame
from pipelines.ingest import check_columns as K
from pipelines.ingest.data_docs_offline import make_offline
from pipelines.ingest import rule_findings as F
from pipelines.ingest import rules as R
from pipelines.ingest.gx_runtime import get_runtime, result_name
from pipelines.settings import get_settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

class ValidationSetupError(RuntimeError):
    """A suite could not be evaluated (broken suite or frame): a bug, never data."""


@dataclass
class ValidationResult:
    findings: pd.DataFrame = field(default_factory=findings_frame)
    error_rows: dict[str, pd.Index] = field(default_factory=dict)
    gx_results: list = field(default_factory=list)


# ---- settings -> suite parameters --------------------------------------------------------
def suite_parameters(settings=None) -> dict:
    """Values for the suites' $PARAMETER placeholders (and message texts)."""
    s = settings or get_settings()
    extra = getattr(s, "extra", None) or {}
    return {
        "poverty_line_yuan": float(s.poverty_line_yuan),
        "income_max_yuan": float(s.income_max_yuan),
        "household_size_min": int(s.household_size_min),
        "household_size_max": int(s.household_size_max),
        "tolerance_count": int(s.tolerance_count),
        "tolerance_money_wan": float(s.tolerance_money_wan),
        "year_min": int(extra.get("plausible_year_min", R.PLAUSIBLE_YEAR_MIN)),
        "exit_years_ahead": int(extra.get("plausible_exit_years_ahead",
                                          R.PLAUSIBLE_EXIT_YEARS_AHEAD)),
    }


# ---- public API ---------------------------------------------------------------------------
def validate_tables(form: str, tables: dict[str, pd.DataFrame], raw: dict[str, pd.DataFrame],
                    *, prev_plan: pd.DataFrame | None = None,
                    totals: dict[str, pd.DataFrame] | None = None, settings=None,
                    run_id: str = "", keep_results: bool = False,
                    build_docs: bool = False, unread: dict[str, list[str]] | None = None) -> ValidationResult:
    """Validate one form's tables (rows of many files concatenated) against the GX suites.

    Returns the findings (findings_frame shape), the index labels of the rows with at
    least one error per table (to quarantine), and the GX suite validation results.

    ``keep_results`` saves each suite's result, scrubbed of submitted values
    (``scrub_result``), in the validation results store under $HUIZONG_HOME/gx/validations
    with run name ``run_id``; ``build_data_docs()`` renders them later. ``build_docs``
    does the same and rebuilds the Data Docs site right away. ``unread``: sheet -> the
    submissions whose sheet was found but not read (no finding per household for it).
    """
    settings = settings or get_settings()
    params = suite_parameters(settings)
    runtime = get_runtime(settings)
    raw = raw or {}
    rows: list[dict] = []
    gx_results = []
    error_rows: dict[str, pd.Index] = {}
    store = {"store": keep_results or build_docs, "run_id": run_id,
             "run_time": dt.datetime.now(dt.timezone.utc)}  # one run time for this call's suites
    for key, df in tables.items():
        table = forms.REGISTRY.get((form, key))
        if table is None or df is None:
            continue
        f = K.prepare(df, form, key)
        if key == "plan":
            K.derive_plan(f, tables, prev_plan, params, unread)
        elif key in ("measures", "helpers"):
            K.derive_sheet(f, tables, "measure_date" if key == "measures" else "paired_date")
        else:
            K.derive_report(f, form)
        error_rows[key] = df.index[:0]
        if not len(f):
            continue
        result = runtime.validate(table.suite, f, {k: params[k] for k in _GX_PARAMETERS}, **store)
        gx_results.append(result)
        rows += _result_findings(result, table, f, df, raw.get(key), params)
    if form in ("C", "D") and totals and totals.get("report") is not None:
        rows += F.total_findings(form, tables.get("report"), totals["report"], params)
    if build_docs:
        make_offline(runtime.build_docs())
    for key in error_rows:
        pos = sorted({r["_pos"] for r in rows if r.get("_table") == key and r["severity"] == ERROR})
        error_rows[key] = tables[key].index[np.asarray(pos, dtype=np.int64)]
    findings = findings_frame([{k: r[k] for k in FINDING_COLUMNS} for r in rows])
    return ValidationResult(findings=findings, error_rows=error_rows, gx_results=gx_results)


# The suite parameters GX fills in (the others only appear in message texts).
_GX_PARAMETERS = ("poverty_line_yuan", "income_max_yuan", "household_size_min", "household_size_max",
                  "tolerance_count")


def _result_findings(result, table: forms.Table, f: pd.DataFrame, df: pd.DataFrame,
                     raw: pd.DataFrame | None, params: dict) -> list[dict]:
    """The findings of one suite's validation result; raises ValidationSetupError when an
    expectation could not run."""
    record_col = table.keys[0] if table.keys else "unit_code"
    by_key = F.rules_by_key()[table.suite]
    rows: list[dict] = []
    for er in result.results:
        meta = er.expectation_config.meta or {}
        problem = F.raised(er)
        if problem:
            raise ValidationSetupError(
                f"{table.suite}: {er.expectation_config.type} on {meta.get('column')} "
                f"failed to run: {problem}")
        if er.success:
            continue
        rule = by_key[(meta["rule"], meta["column"])]
        pos = F.unexpected_positions(er)
        rows += F.findings_for(rule, f, df, raw, pos, record_col, params, table.sheet)
    return rows


def duplicate_ids(plan: pd.DataFrame, *, cross_county_only: bool = False) -> pd.DataFrame:
    """Findings for ID numbers registered under more than one household (rule
    id_number.duplicate). Call it city-wide on all counties' plan rows; with
    ``cross_county_only`` only IDs whose households lie in different counties are reported
    (validate_tables already reported those within one call's frame)."""
    if plan is None or not len(plan):
        return findings_frame()
    f = K.prepare(plan, "A", "plan")
    idn = f["id_number"].str.strip().str.upper()
    county = forms.CODE_LENGTH["D"]
    group = f["household_id"].str.strip().str[:county] if cross_county_only else None
    mask = K.id_dup_mask(f, idn, group).to_numpy(bool)
    pos = np.flatnonzero(mask)
    rule = F.rules_by_key()[forms.REGISTRY[("A", "plan")].suite][("id_number.duplicate", "id_number")]
    f["_id_unique_ok"] = K.flag(~pd.Series(mask), idn.notna())
    rows = F.findings_for(rule, f, plan, None, pos, "household_id", suite_parameters(), "plan")
    return findings_frame([{k: r[k] for k in FINDING_COLUMNS} for r in rows])


def build_data_docs(settings=None, week: str | None = None) -> Path:
    """Build the Data Docs site (settings.data_docs_dir) from the scrubbed validation
    results stored by ``validate_tables(..., keep_results=True)``; returns its index.html.
    With ``week`` only that week's new result pages (run name = week) are rendered: the
    pages already rendered are listed in the site's ``.rendered.json``, and when every
    stored result of the week has its page, GX is not even imported (a resubmission
    re-validates one group; the other groups' results are unchanged). The pages are then
    rewritten to load nothing from the internet (``data_docs_offline``)."""
    import json

    s = settings or get_settings()
    docs = Path(s.data_docs_dir)
    marker = docs / ".rendered.json"
    index = docs / "index.html"
    rendered = frozenset(json.loads(marker.read_text(encoding="utf-8"))) \
        if marker.is_file() and index.is_file() else frozenset()
    results_dir = Path(s.home) / "gx" / "validations"
    stored = {result_name(p.relative_to(results_dir).with_suffix("").parts)
              for p in (results_dir.rglob("*.json") if results_dir.is_dir() else [])
              if week is None or p.relative_to(results_dir).parts[1:2] == (week,)}
    if week is not None and index.is_file() and stored <= rendered:
        return index
    get_runtime(s).build_docs(week, skip=rendered if week is not None else frozenset())
    make_offline(docs)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(rendered | stored), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, marker)
    return index

