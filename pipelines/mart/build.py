"""Building the mart (周汇总、月总结) from core, in SQL that runs on DuckDB and PostgreSQL.

Every refresh is idempotent: the week's (or month's) rows are deleted and inserted again in
one transaction. Identifiers only come from this code; values (weeks, codes, labels,
targets) are bound parameters.

Entry points:
- ``refresh_weekly_mart(week)`` — after a week is consolidated: dimensions, the week's
  weekly_summary and weekly_accuracy rows, and the month-to-date monthly_conclusion of its month;
- ``refresh_monthly_mart(month)`` — the month's monthly_conclusion rows (from the weekly mart);
- ``refresh_month(month)`` — every loaded week of the month, then the month (what the DAG runs).
"""
from __future__ import annotations

import time

import pandas as pd
import sqlalchemy as sa

from pipelines import forms, labels
from pipelines.checkpoints import checkpoint
from pipelines.mart.calendar import month_bounds, month_row, months_to_date, week_row, weeks_of_month, weeks_of_years
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse, _ident
from pipelines.weeks import month_of_week, week_end, week_start

LV_CITY, LV_COUNTY, LV_TOWNSHIP, LV_VILLAGE = forms.LEVEL_CITY, forms.LEVEL_COUNTY, forms.LEVEL_TOWNSHIP, forms.LEVEL_VILLAGE
FLOWS = list(forms.FLOW_NAMES)  # hh_open, pp_open, ... hh_close, pp_close
DIMENSIONS = list(forms.EIGHT_ACCURACIES)
EXITED = "已脱贫"

WEEKLY_COLUMNS = [
    "week", "month", "region_code", "region_name", "level", "parent_code", "county_code", "township_code",
    "is_key_county", "is_poor_village", "villages", "poor_villages", "data_source", "verified", "villages_unverified",
    *FLOWS, "microcredit_wan", "funds_to_village_wan", "fiscal_funds_wan", "training_persons", "base_driven_hh",
    "demo_bases_cum", "demo_driven_hh", "demo_driven_pp", "poor_with_helper", "poor_with_measure",
    "helper_coverage", "measure_coverage", "planned_exit_this_year", "planned_exit_done",
    "reports_expected", "reports_received", "reports_on_time", "reports_late", "reports_missing",
    "reporting_rate", "on_time_rate", "findings_errors", "findings_warnings", "findings_open",
    "discrepancies", "discrepancy_abs_hh", "discrepancy_abs_pp", "discrepancy_abs_wan", "refreshed_at",
    "week_start", "week_end",
]
STOCK = ["hh_open", "pp_open", "hh_close", "pp_close"]
MONTH_FLOWS = [c for c in FLOWS if c not in STOCK]
ACC_COLUMNS = [f"acc_{d}" for d in DIMENSIONS]
# Weekly stocks a month reports as of its last week (besides the flows' hh_close, pp_close).
MONTH_END_COUNTS = ["villages", "poor_with_helper", "poor_with_measure", "base_driven_hh"]
MONTHLY_COLUMNS = [
    "month", "region_code", "region_name", "level", "parent_code", "county_code", "is_key_county",
    "weeks_in_month", "weeks_loaded", "first_week", "last_week", "poor_villages", *FLOWS,
    "exits_ytd_hh", "exits_ytd_pp", "planned_exit_this_year", "planned_exit_done", "exit_plan_rate",
    "microcredit_wan", "microcredit_target_wan", "microcredit_rate", "microcredit_met",
    "funds_to_village_wan", "fiscal_funds_wan", "training_persons", "demo_bases_cum", "demo_driven_hh",
    "demo_driven_pp", "helper_coverage", "measure_coverage", "reports_expected", "reports_received",
    "reports_on_time", "reporting_rate", "on_time_rate", *ACC_COLUMNS, "accuracy_overall",
    "findings_errors", "findings_warnings", "findings_open_month_end", "discrepancies", "discrepancy_abs_hh",
    "discrepancy_abs_wan", "score", "rank_in_parent", "refreshed_at", "township_code", "month_start", "month_end",
    "reports_late", "reports_missing", "discrepancy_abs_pp", *MONTH_END_COUNTS,
]


# ---------------------------------------------------------------- small SQL helpers
def _cols(names: list[str]) -> str:
    return ", ".join(_ident(n) for n in names)


def _in_list(prefix: str, values: list[str]) -> tuple[str, dict]:
    """'(:p0, :p1, ...)' and its bindings; an impossible list when empty."""
    if not values:
        return "(NULL)", {}
    return "(" + ", ".join(f":{prefix}{i}" for i in range(len(values))) + ")", \
        {f"{prefix}{i}": v for i, v in enumerate(values)}


def _ratio(num: str, den: str) -> str:
    """num / den as a double, NULL when den is 0 or NULL (same on both engines)."""
    return f"CASE WHEN {den} > 0 THEN CAST({num} AS DOUBLE PRECISION) / {den} END"


def _level_params() -> dict:
    return {"lv_city": LV_CITY, "lv_county": LV_COUNTY, "lv_town": LV_TOWNSHIP, "lv_village": LV_VILLAGE,
            "city": forms.CITY_CODE, "city_name": forms.CITY_NAME}


# Every region's ancestors, itself and the city included, from the register of week :rw.
_REG_ANC = """
reg AS (
    SELECT code, name, level, parent_code, county_code, township_code, is_poor_village, is_key_county
    FROM core.regions WHERE week = :rw
),
anc AS (
    SELECT code AS unit_code, code AS ancestor FROM reg
    UNION ALL SELECT code, township_code FROM reg WHERE level = :lv_village
    UNION ALL SELECT code, county_code FROM reg WHERE level IN (:lv_village, :lv_town)
    UNION ALL SELECT code, :city FROM reg
)"""


# ---------------------------------------------------------------- dimensions
def refresh_dimensions(wh: Warehouse, conn: sa.Connection) -> None:
    """dim_region (latest register), dim_week and dim_month (calendars of the years touched),
    dim_accuracy and dim_metric (from the label table)."""
    conn.execute(sa.text("DELETE FROM mart.dim_region"))
    conn.execute(sa.text("""
        INSERT INTO mart.dim_region (region_code, region_name, level, level_order, parent_code, county_code,
                                     county_name, township_code, township_name, is_poor_village, is_key_county,
                                     register_week)
        WITH ranked AS (
            SELECT r.*, ROW_NUMBER() OVER (PARTITION BY code ORDER BY week DESC) AS rn FROM core.regions r
        ), latest AS (SELECT * FROM ranked WHERE rn = 1)
        SELECT l.code, l.name, l.level,
               CASE l.level WHEN :lv_county THEN 2 WHEN :lv_town THEN 3 ELSE 4 END,
               CASE WHEN l.level = :lv_county THEN :city ELSE l.parent_code END,
               l.county_code, c.name,
               CASE WHEN l.level = :lv_county THEN NULL ELSE l.township_code END,
               CASE WHEN l.level = :lv_county THEN NULL ELSE t.name END,
               CASE WHEN l.level = :lv_village THEN l.is_poor_village END,
               c.is_key_county, l.week
        FROM latest l
        LEFT JOIN latest c ON c.code = l.county_code
        LEFT JOIN latest t ON t.code = l.township_code
        UNION ALL
        SELECT :city, :city_name, :lv_city, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               (SELECT MAX(week) FROM core.regions)
    """), _level_params())

    loads = wh_query(conn, "SELECT week, MAX(loaded_at) AS loaded_at FROM core.loads GROUP BY week")
    seen = set(loads["week"]) | set(wh_query(conn, "SELECT DISTINCT week FROM mart.weekly_summary")["week"])
    # Calendars, not lists of what was loaded: every ISO week and month of the years touched
    # (a week's month may fall in the next ISO year: 2026-W53 belongs to 2027-01).
    weeks = weeks_of_years([int(w[:4]) for w in seen])
    loaded_at = dict(zip(loads["week"], loads["loaded_at"]))
    dim = pd.DataFrame([week_row(w) for w in weeks],
                       columns=["week", "week_start", "week_end", "month", "iso_year", "iso_week", "days_in_month"])
    dim["loaded"] = dim["week"].isin(loaded_at.keys())
    dim["loaded_at"] = pd.to_datetime(dim["week"].map(loaded_at), utc=True)
    wh.replace(conn, "mart.dim_week", dim)
    months = pd.DataFrame([month_row(m) for m in sorted(set(dim["month"]))],
                          columns=["month", "month_start", "month_end", "year", "month_of_year", "first_week",
                                   "last_week", "weeks_in_month"])
    months["weeks_loaded"] = months["month"].map(dim[dim["loaded"]].groupby("month").size()).fillna(0).astype("int64")
    wh.replace(conn, "mart.dim_month", months)
    acc = pd.DataFrame({"dimension": DIMENSIONS, "dimension_label": [forms.EIGHT_ACCURACIES[d] for d in DIMENSIONS],
                        "ordinal": range(1, len(DIMENSIONS) + 1)})
    wh.replace(conn, "mart.dim_accuracy", acc)
    metrics = pd.DataFrame([(code, name, unit) for code, (name, unit) in labels.METRICS.items()],
                           columns=["metric", "metric_name", "unit"])
    metrics["ordinal"] = range(1, len(metrics) + 1)
    wh.replace(conn, "mart.dim_metric", metrics)


def wh_query(conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params or {})
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


# ---------------------------------------------------------------- weekly
_WEEKLY_SQL = f"""
INSERT INTO mart.weekly_summary ({_cols(WEEKLY_COLUMNS)})
WITH {_REG_ANC},
vil AS (
    SELECT a.ancestor, COUNT(*) AS villages,
           SUM(CASE WHEN r.is_poor_village THEN 1 ELSE 0 END) AS poor_villages
    FROM reg r JOIN anc a ON a.unit_code = r.code
    WHERE r.level = :lv_village GROUP BY a.ancestor
),
dem AS (
    SELECT a.ancestor, SUM(c.demo_bases_cum) AS demo_bases_cum, SUM(c.base_driven_hh) AS demo_driven_hh,
           SUM(c.base_driven_pp) AS demo_driven_pp, SUM(c.fiscal_funds_wan) AS fiscal_funds_wan
    FROM core.county_reports c JOIN anc a ON a.unit_code = c.township_code
    WHERE c.week = :w AND NOT c.is_total GROUP BY a.ancestor
),
led AS (
    SELECT a.ancestor, SUM(CASE WHEN h.state = :exited AND h.planned_exit_year = :y THEN 1 ELSE 0 END) AS done
    FROM core.ledger_households h JOIN anc a ON a.unit_code = h.unit_code
    WHERE h.week = :w GROUP BY a.ancestor
),
rep AS (
    SELECT a.ancestor, COUNT(*) AS expected,
           SUM(CASE WHEN s.received THEN 1 ELSE 0 END) AS received,
           SUM(CASE WHEN s.on_time THEN 1 ELSE 0 END) AS on_time,
           SUM(CASE WHEN s.late THEN 1 ELSE 0 END) AS late,
           SUM(CASE WHEN s.missing THEN 1 ELSE 0 END) AS missing
    FROM core.reporting_status s JOIN anc a ON a.unit_code = s.unit_code
    WHERE s.week = :w AND s.expected GROUP BY a.ancestor
),
fnd AS (
    SELECT COALESCE(a.ancestor, :city) AS ancestor,
           SUM(CASE WHEN f.severity = 'error' THEN 1 ELSE 0 END) AS errors,
           SUM(CASE WHEN f.severity = 'warning' THEN 1 ELSE 0 END) AS warnings,
           SUM(CASE WHEN COALESCE(fs.status, 'open') = 'open' THEN 1 ELSE 0 END) AS open_
    FROM core.findings f
    LEFT JOIN core.finding_status fs ON fs.finding_id = f.finding_id
    LEFT JOIN anc a ON a.unit_code = f.unit_code
    WHERE f.week = :w GROUP BY COALESCE(a.ancestor, :city)
),
dis AS (
    SELECT COALESCE(a.ancestor, :city) AS ancestor, COUNT(*) AS n,
           CAST(ROUND(SUM(CASE WHEN d.metric LIKE 'hh%' THEN abs(d.difference) ELSE 0 END)) AS BIGINT) AS abs_hh,
           CAST(ROUND(SUM(CASE WHEN d.metric LIKE 'pp%' THEN abs(d.difference) ELSE 0 END)) AS BIGINT) AS abs_pp,
           SUM(CASE WHEN d.metric LIKE '%wan' THEN abs(d.difference) ELSE 0 END) AS abs_wan
    FROM core.discrepancies d LEFT JOIN anc a ON a.unit_code = d.unit_code
    WHERE d.week = :w GROUP BY COALESCE(a.ancestor, :city)
)
SELECT :w, :m, c.unit_code, COALESCE(r.name, :city_name), c.level,
       CASE WHEN c.level = :lv_city THEN NULL ELSE c.parent_code END,
       CASE WHEN c.level = :lv_city THEN NULL ELSE c.county_code END,
       CASE WHEN c.level IN (:lv_town, :lv_village) THEN r.township_code END,
       k.is_key_county,
       CASE WHEN c.level = :lv_village THEN r.is_poor_village END,
       COALESCE(vil.villages, 0), COALESCE(vil.poor_villages, 0),
       c.source, c.verified, c.villages_unverified,
       {", ".join(f"c.{f}" for f in FLOWS)},
       c.microcredit_wan, c.funds_to_village_wan, dem.fiscal_funds_wan, c.training_persons, c.base_driven_hh,
       dem.demo_bases_cum, dem.demo_driven_hh, dem.demo_driven_pp,
       c.poor_with_helper, c.poor_with_measure,
       {_ratio("c.poor_with_helper", "c.hh_close")}, {_ratio("c.poor_with_measure", "c.hh_close")},
       c.planned_exit_this_year, COALESCE(led.done, 0),
       COALESCE(rep.expected, 0), COALESCE(rep.received, 0), COALESCE(rep.on_time, 0),
       COALESCE(rep.late, 0), COALESCE(rep.missing, 0),
       {_ratio("rep.received", "rep.expected")}, {_ratio("rep.on_time", "rep.expected")},
       COALESCE(fnd.errors, 0), COALESCE(fnd.warnings, 0), COALESCE(fnd.open_, 0),
       COALESCE(dis.n, 0), COALESCE(dis.abs_hh, 0), COALESCE(dis.abs_pp, 0), COALESCE(dis.abs_wan, 0),
       CURRENT_TIMESTAMP, :ws, :we
FROM core.consolidated c
LEFT JOIN reg r ON r.code = c.unit_code
LEFT JOIN reg k ON k.code = c.county_code AND k.level = :lv_county
LEFT JOIN vil ON vil.ancestor = c.unit_code
LEFT JOIN dem ON dem.ancestor = c.unit_code
LEFT JOIN led ON led.ancestor = c.unit_code
LEFT JOIN rep ON rep.ancestor = c.unit_code
LEFT JOIN fnd ON fnd.ancestor = c.unit_code
LEFT JOIN dis ON dis.ancestor = c.unit_code
WHERE c.week = :w
"""

_ACCURACY_SQL = f"""
INSERT INTO mart.weekly_accuracy (week, month, region_code, level, dimension, dimension_label, records,
                                  error_records, accuracy, refreshed_at, region_name, week_start, week_end,
                                  county_code, township_code)
WITH {_REG_ANC},
rec AS (
    SELECT COALESCE(a.ancestor, :city) AS ancestor,
           SUM(COALESCE(s.rows_loaded, 0) + COALESCE(s.rows_quarantined, 0)) AS records
    FROM core.submissions s LEFT JOIN anc a ON a.unit_code = s.unit_code
    WHERE s.week = :w AND s.status IN ('loaded', 'partial') GROUP BY COALESCE(a.ancestor, :city)
),
err AS (
    SELECT COALESCE(a.ancestor, :city) AS ancestor, f.dimension,
           COUNT(DISTINCT f.submission_id || ':' || CAST(f."row" AS VARCHAR)) AS n
    FROM core.findings f LEFT JOIN anc a ON a.unit_code = f.unit_code
    WHERE f.week = :w AND f.severity = 'error' AND f.submission_id <> ''
    GROUP BY COALESCE(a.ancestor, :city), f.dimension
)
SELECT :w, :m, c.unit_code, c.level, d.dimension, d.dimension_label,
       COALESCE(rec.records, 0), COALESCE(err.n, 0),
       CASE WHEN rec.records > 0
            THEN GREATEST(0.0, 1.0 - CAST(COALESCE(err.n, 0) AS DOUBLE PRECISION) / rec.records) END,
       CURRENT_TIMESTAMP, COALESCE(r.name, :city_name), :ws, :we,
       CASE WHEN c.level = :lv_city THEN NULL ELSE c.county_code END,
       CASE WHEN c.level IN (:lv_town, :lv_village) THEN r.township_code END
FROM core.consolidated c
LEFT JOIN reg r ON r.code = c.unit_code
CROSS JOIN mart.dim_accuracy d
LEFT JOIN rec ON rec.ancestor = c.unit_code
LEFT JOIN err ON err.ancestor = c.unit_code AND err.dimension = d.dimension
WHERE c.week = :w
"""


def _warehouse(wh: Warehouse | None) -> Warehouse:
    if wh is None:
        wh = Warehouse(get_settings().warehouse_url)
    wh.apply_schema()
    return wh


def _write_week(wh: Warehouse, conn: sa.Connection, week: str) -> dict:
    month = month_of_week(week)
    p = {**_level_params(), "w": week, "rw": week, "m": month, "y": int(week[:4]), "exited": EXITED,
         "ws": week_start(week), "we": week_end(week)}
    conn.execute(sa.text("DELETE FROM mart.weekly_summary WHERE week = :w"), {"w": week})
    conn.execute(sa.text("DELETE FROM mart.weekly_accuracy WHERE week = :w"), {"w": week})
    conn.execute(sa.text(_WEEKLY_SQL), p)
    conn.execute(sa.text(_ACCURACY_SQL), p)
    n = conn.execute(sa.text("SELECT COUNT(*) FROM mart.weekly_summary WHERE week = :w"), {"w": week}).scalar()
    return {"week": week, "month": month, "weekly_rows": int(n)}


def refresh_weekly_mart(week: str, wh: Warehouse | None = None, with_month: bool = True) -> dict:
    """Rebuild the mart rows of one consolidated week (and its month to date). Idempotent."""
    t0 = time.perf_counter()
    wh = _warehouse(wh)
    with wh.transaction() as conn:
        refresh_dimensions(wh, conn)
        checkpoint("mart.dimensions")
        out = _write_week(wh, conn, week)
    if with_month:
        out["monthly"] = refresh_monthly_mart(out["month"], wh)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


# ---------------------------------------------------------------- monthly
def _monthly_sql(weeks_sql: str, ytd_sql: str) -> str:
    acc_pivot = ",\n           ".join(
        f"MAX(CASE WHEN dimension = :dim{i} THEN {_ratio('(rec - err)', 'rec')} END) AS {_ident('acc_' + d)}"
        for i, d in enumerate(DIMENSIONS))
    acc_mean = "(" + " + ".join(f"COALESCE(accp.acc_{d}, 0)" for d in DIMENSIONS) + f") / {len(DIMENSIONS)}.0"
    sums = ",\n           ".join(f"SUM({c}) AS {c}" for c in [
        *MONTH_FLOWS, "microcredit_wan", "funds_to_village_wan", "fiscal_funds_wan", "training_persons",
        "reports_expected", "reports_received", "reports_on_time", "reports_late", "reports_missing",
        "findings_errors", "findings_warnings", "discrepancies", "discrepancy_abs_hh", "discrepancy_abs_pp",
        "discrepancy_abs_wan"])
    return f"""
INSERT INTO mart.monthly_conclusion ({_cols(MONTHLY_COLUMNS)})
WITH {_REG_ANC},
ws AS (
    SELECT * FROM mart.weekly_summary WHERE week IN {weeks_sql} AND level IN (:lv_city, :lv_county, :lv_town)
),
agg AS (
    SELECT region_code, COUNT(*) AS weeks_loaded, MIN(week) AS first_week, MAX(week) AS last_week,
           {sums}
    FROM ws GROUP BY region_code
),
fst AS (SELECT ws.* FROM ws JOIN agg ON agg.region_code = ws.region_code AND ws.week = agg.first_week),
lst AS (SELECT ws.* FROM ws JOIN agg ON agg.region_code = ws.region_code AND ws.week = agg.last_week),
ytd AS (
    SELECT region_code, SUM(hh_exit) AS hh, SUM(pp_exit) AS pp
    FROM mart.weekly_summary WHERE week IN {ytd_sql} GROUP BY region_code
),
acc AS (
    SELECT region_code, dimension, SUM(records) AS rec, SUM(error_records) AS err
    FROM mart.weekly_accuracy WHERE week IN {weeks_sql} GROUP BY region_code, dimension
),
accp AS (
    SELECT region_code,
           {acc_pivot}
    FROM acc GROUP BY region_code
),
opn AS (
    SELECT COALESCE(a.ancestor, :city) AS ancestor, COUNT(*) AS n
    FROM core.findings f
    LEFT JOIN core.finding_status fs ON fs.finding_id = f.finding_id
    LEFT JOIN anc a ON a.unit_code = f.unit_code
    WHERE f.week = :lw AND COALESCE(fs.status, 'open') = 'open'
    GROUP BY COALESCE(a.ancestor, :city)
),
base AS (
    SELECT lst.region_code, lst.region_name, lst.level, lst.parent_code, lst.county_code, lst.township_code,
           lst.is_key_county,
           agg.weeks_loaded, agg.first_week, agg.last_week, lst.poor_villages,
           fst.hh_open, fst.pp_open, {", ".join(f"agg.{c}" for c in MONTH_FLOWS)}, lst.hh_close, lst.pp_close,
           COALESCE(ytd.hh, 0) AS exits_ytd_hh, COALESCE(ytd.pp, 0) AS exits_ytd_pp,
           lst.planned_exit_this_year, lst.planned_exit_done,
           {_ratio("lst.planned_exit_done", "lst.planned_exit_this_year")} AS exit_plan_rate,
           agg.microcredit_wan,
           CASE WHEN lst.level = :lv_county AND lst.is_key_county THEN :target
                WHEN lst.level = :lv_city
                THEN :target * (SELECT COUNT(*) FROM reg WHERE level = :lv_county AND is_key_county) END
               AS microcredit_target_wan,
           agg.funds_to_village_wan, agg.fiscal_funds_wan, agg.training_persons,
           lst.demo_bases_cum, lst.demo_driven_hh, lst.demo_driven_pp, lst.helper_coverage, lst.measure_coverage,
           agg.reports_expected, agg.reports_received, agg.reports_on_time, agg.reports_late, agg.reports_missing,
           {_ratio("agg.reports_received", "agg.reports_expected")} AS reporting_rate,
           {_ratio("agg.reports_on_time", "agg.reports_expected")} AS on_time_rate,
           {", ".join(f"accp.acc_{d}" for d in DIMENSIONS)},
           {acc_mean} AS accuracy_overall,
           agg.findings_errors, agg.findings_warnings, COALESCE(opn.n, 0) AS findings_open_month_end,
           agg.discrepancies, agg.discrepancy_abs_hh, agg.discrepancy_abs_pp, agg.discrepancy_abs_wan,
           {", ".join(f"lst.{c}" for c in MONTH_END_COUNTS)}
    FROM lst
    JOIN agg ON agg.region_code = lst.region_code
    LEFT JOIN fst ON fst.region_code = lst.region_code
    LEFT JOIN ytd ON ytd.region_code = lst.region_code
    LEFT JOIN accp ON accp.region_code = lst.region_code
    LEFT JOIN opn ON opn.ancestor = lst.region_code
),
scored AS (
    SELECT base.*,
           {_ratio("base.microcredit_wan", "base.microcredit_target_wan")} AS microcredit_rate,
           CASE WHEN base.level = :lv_city AND base.microcredit_target_wan > 0
                THEN (SELECT COUNT(*) FROM base b WHERE b.level = :lv_county AND b.is_key_county
                      AND COALESCE(b.microcredit_wan, 0) < :target) = 0
                WHEN base.microcredit_target_wan > 0 THEN COALESCE(base.microcredit_wan, 0) >= base.microcredit_target_wan
           END AS microcredit_met,
           CASE WHEN base.microcredit_target_wan > 0
                THEN (LEAST(COALESCE(base.exit_plan_rate, 0), 1.0)
                      + LEAST(COALESCE(base.microcredit_wan, 0) / base.microcredit_target_wan, 1.0)
                      + COALESCE(base.on_time_rate, 0) + base.accuracy_overall) / 4.0
                ELSE (LEAST(COALESCE(base.exit_plan_rate, 0), 1.0) + COALESCE(base.on_time_rate, 0)
                      + base.accuracy_overall) / 3.0
           END AS score
    FROM base
)
SELECT :m, region_code, region_name, level, parent_code, county_code, is_key_county,
       :nweeks, weeks_loaded, first_week, last_week, poor_villages,
       {", ".join(FLOWS)},
       exits_ytd_hh, exits_ytd_pp, planned_exit_this_year, planned_exit_done, exit_plan_rate,
       microcredit_wan, microcredit_target_wan, microcredit_rate, microcredit_met,
       funds_to_village_wan, fiscal_funds_wan, training_persons, demo_bases_cum, demo_driven_hh, demo_driven_pp,
       helper_coverage, measure_coverage, reports_expected, reports_received, reports_on_time,
       reporting_rate, on_time_rate, {", ".join(ACC_COLUMNS)}, accuracy_overall,
       findings_errors, findings_warnings, findings_open_month_end, discrepancies, discrepancy_abs_hh,
       discrepancy_abs_wan, score,
       CASE WHEN level IN (:lv_county, :lv_town)
            THEN RANK() OVER (PARTITION BY level, parent_code ORDER BY score DESC NULLS LAST) END,
       CURRENT_TIMESTAMP, township_code, :ms, :me, reports_late, reports_missing, discrepancy_abs_pp,
       {", ".join(MONTH_END_COUNTS)}
FROM scored
"""


def loaded_weeks(wh: Warehouse) -> list[str]:
    return sorted(wh.query("SELECT DISTINCT week FROM core.loads")["week"])


def month_status(month: str, wh: Warehouse | None = None) -> dict:
    """Which of the month's weeks are loaded (core.loads) and consolidated (core.consolidated)."""
    wh = wh or Warehouse(get_settings().warehouse_url)
    weeks = weeks_of_month(month)
    loaded = set(loaded_weeks(wh)) if _has_table(wh, "core.loads") else set()
    cons = set(wh.query("SELECT DISTINCT week FROM core.consolidated")["week"]) \
        if _has_table(wh, "core.consolidated") else set()
    done = [w for w in weeks if w in loaded and w in cons]
    return {"month": month, "weeks": weeks, "loaded": done, "missing": [w for w in weeks if w not in done],
            "complete": len(done) == len(weeks)}


def _has_table(wh: Warehouse, table: str) -> bool:
    schema, name = _ident(table).split(".")
    return bool(wh.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :s AND table_name = :t",
                          {"s": schema, "t": name}))


def refresh_monthly_mart(month: str, wh: Warehouse | None = None) -> dict:
    """Rebuild mart.monthly_conclusion for `month` from the weekly mart (month to date when
    some weeks are not loaded yet: weeks_loaded < weeks_in_month). Idempotent."""
    wh = _warehouse(wh)
    weeks = weeks_of_month(month)
    have = set(wh.query("SELECT DISTINCT week FROM mart.weekly_summary")["week"])
    present = [w for w in weeks if w in have]
    ytd_months = set(months_to_date(month))
    ytd = sorted(w for w in have if month_of_week(w) in ytd_months and (not present or w <= present[-1]))
    with wh.transaction() as conn:
        conn.execute(sa.text("DELETE FROM mart.monthly_conclusion WHERE month = :m"), {"m": month})
        if not present:
            return {"month": month, "rows": 0, "weeks_loaded": 0, "weeks_in_month": len(weeks)}
        weeks_sql, wp = _in_list("wk", present)
        ytd_sql, yp = _in_list("yt", ytd)
        params = {**_level_params(), **wp, **yp, "m": month, "rw": present[-1], "lw": present[-1],
                  **dict(zip(("ms", "me"), month_bounds(month))),
                  "nweeks": len(weeks), "target": float(get_settings().microcredit_monthly_target_wan),
                  **{f"dim{i}": d for i, d in enumerate(DIMENSIONS)}}
        conn.execute(sa.text(_monthly_sql(weeks_sql, ytd_sql)), params)
        n = int(conn.execute(sa.text("SELECT COUNT(*) FROM mart.monthly_conclusion WHERE month = :m"),
                             {"m": month}).scalar())
    return {"month": month, "rows": n, "weeks_loaded": len(present), "weeks_in_month": len(weeks)}


def refresh_month(month: str, wh: Warehouse | None = None) -> dict:
    """Every consolidated week of the month, then the month's conclusion."""
    wh = _warehouse(wh)
    status = month_status(month, wh)
    weekly = [refresh_weekly_mart(w, wh, with_month=False) for w in status["loaded"]]
    monthly = refresh_monthly_mart(month, wh)
    return {**status, "weekly": weekly, "monthly": monthly}


def refresh_all(wh: Warehouse | None = None) -> list[dict]:
    """Every consolidated week and every month they touch (rebuild from scratch)."""
    wh = _warehouse(wh)
    weeks = sorted(wh.query("SELECT DISTINCT week FROM core.consolidated")["week"])
    out = [refresh_weekly_mart(w, wh, with_month=False) for w in weeks]
    for m in sorted({month_of_week(w) for w in weeks}):
        out.append(refresh_monthly_mart(m, wh))
    return out
