"""The steward's findings list, answered by the warehouse: filters, search, sort, paging,
facets and the counties overview of a week, each one SQL statement (DuckDB or PostgreSQL),
so a week of ten thousand findings never travels to Python whole.

The list shows causes only (echoes are counted under them, as ``queries.findings(folded=True)``
does) and one row per finding id. Column names and sort expressions come from this module
only; every value is bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipelines import forms, labels
from pipelines.review.lifecycle import OPEN, SENT_BACK, STATUS_LABEL, WAIVED, tables_exist, with_retry
from pipelines.review.queries import SEVERITY_LABEL, table_exists
from pipelines.warehouse import Warehouse

FILTERS = ("county", "township", "level", "severity", "status", "dimension", "rule", "file")
FACET_LABEL = {"county": "县（市、区）", "township": "乡镇", "level": "层级", "severity": "严重程度",
               "status": "处理状态", "dimension": "八个准", "rule": "问题类型", "file": "文件"}
FACET_LIMIT = 30  # values shown per facet (the most frequent); the file facet of a county has hundreds
PAGE_SIZES = (20, 50, 100, 200, 500)
PAGE_SIZE = 100
# Sort key → SQL expression over the list's columns.
SORTS = {"status": "status", "severity": "severity", "county": "county_name", "township": "township_name",
         "unit": "unit_code", "file": "file", "sheet": "sheet", "row": '"row"', "column": '"column"',
         "value": "value", "dimension": "dimension", "rule": "rule", "message": "message"}
DEFAULT_ORDER = 'severity, county, unit_code, file, sheet, "row", finding_id'
SORT_LABEL = {"status": "状态", "severity": "级别", "county": "县", "township": "乡镇", "unit": "单位",
              "file": "文件", "sheet": "工作表", "row": "行", "column": "列", "value": "填报值", "dimension": "八个准",
              "rule": "问题类型", "message": "问题说明"}

_NO_STATUS = ("(SELECT CAST(NULL AS VARCHAR) AS finding_id, CAST(NULL AS VARCHAR) AS status, "
              "CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS VARCHAR) AS updated_by, "
              "CAST(NULL AS TIMESTAMP) AS updated_at WHERE 1 = 0)")
_NO_REGIONS = "(SELECT CAST(NULL AS VARCHAR) AS code, CAST(NULL AS VARCHAR) AS name WHERE 1 = 0)"


@dataclass
class Query:
    """What the steward asked for: the week, facet filters, a search text, the order, the page."""
    week: str
    filters: dict[str, str] = field(default_factory=dict)
    q: str = ""
    sort: str = ""
    desc: bool = False
    page: int = 1
    size: int = PAGE_SIZE

    def __post_init__(self):
        self.filters = {k: str(v) for k, v in self.filters.items() if k in FILTERS and v}
        self.q = (self.q or "").strip()
        self.sort = self.sort if self.sort in SORTS else ""
        self.size = self.size if self.size in PAGE_SIZES else PAGE_SIZE
        self.page = max(1, int(self.page or 1))


def _base(wh: Warehouse, week: str) -> tuple[str, dict]:
    """The CTE ``base``: the week's causes, one row per finding id, with status, county,
    township, names and echo count; and its parameters."""
    status = "core.finding_status" if tables_exist(wh) else _NO_STATUS
    regions, rweek = _NO_REGIONS, week
    if table_exists(wh, "core.regions"):
        regions = "(SELECT code, name FROM core.regions WHERE week = :rw)"
        if not wh.scalar("SELECT COUNT(*) FROM core.regions WHERE week = :w", {"w": week}):
            rweek = wh.scalar("SELECT MAX(week) FROM core.regions") or week  # the register as last known
    sql = f"""
WITH wf AS (
    SELECT f.*, ROW_NUMBER() OVER (PARTITION BY f.finding_id
                                   ORDER BY f.severity, f.unit_code, f.file, f.sheet, f."row") AS k
    FROM core.findings f WHERE f.week = :w
), ec AS (
    SELECT cause_id, COUNT(DISTINCT finding_id) AS echoes FROM core.findings
    WHERE week = :w AND cause_id IS NOT NULL AND cause_id <> finding_id GROUP BY cause_id
), rg AS {regions},
base AS (
    SELECT wf.finding_id, wf.week, wf.level, wf.unit_code, wf.submission_id, COALESCE(wf.file, '') AS file,
           COALESCE(wf.sheet, '') AS sheet, COALESCE(wf."row", 0) AS "row", COALESCE(wf."column", '') AS "column",
           COALESCE(wf.value, '') AS value, wf.rule, wf.severity, COALESCE(wf.dimension, '') AS dimension,
           wf.message, wf.record_key, wf.stage, wf.finding_id AS cause_id,
           COALESCE(s.status, '{OPEN}') AS status, s.reason AS status_reason, s.updated_by AS status_by,
           s.updated_at AS status_at,
           SUBSTR(COALESCE(wf.unit_code, ''), 1, 6) AS county,
           CASE WHEN LENGTH(wf.unit_code) >= 9 THEN SUBSTR(wf.unit_code, 1, 9) ELSE '' END AS township,
           COALESCE(ec.echoes, 0) AS echoes, COALESCE(u.name, '') AS unit_name,
           COALESCE(c.name, SUBSTR(COALESCE(wf.unit_code, ''), 1, 6)) AS county_name,
           COALESCE(t.name, '') AS township_name
    FROM wf
    LEFT JOIN {status} s ON s.finding_id = wf.finding_id
    LEFT JOIN ec ON ec.cause_id = wf.finding_id
    LEFT JOIN rg u ON u.code = wf.unit_code
    LEFT JOIN rg c ON c.code = SUBSTR(wf.unit_code, 1, 6)
    LEFT JOIN rg t ON t.code = SUBSTR(wf.unit_code, 1, 9) AND LENGTH(wf.unit_code) >= 9
    WHERE wf.k = 1 AND COALESCE(wf.cause_id, wf.finding_id) = wf.finding_id
)"""
    return sql, {"w": week, "rw": rweek}


def _where(query: Query, skip: str = "") -> tuple[str, dict]:
    """The WHERE clause of the filters (all but ``skip``) and the search text; its
    parameter names carry ``skip`` so the clauses of several facets bind side by side."""
    parts, params, tag = ["1 = 1"], {}, f"{skip}_" if skip else ""
    for key, value in query.filters.items():
        if key != skip:
            parts.append(f"{key} = :{tag}f_{key}")
            params[f"{tag}f_{key}"] = value
    if query.q:
        parts.append(f"(POSITION(:{tag}q IN COALESCE(unit_code, '')) > 0 OR POSITION(:{tag}q IN unit_name) > 0 "
                     f"OR POSITION(:{tag}q IN message) > 0)")
        params[f"{tag}q"] = query.q
    return " AND ".join(parts), params


def _ready(wh: Warehouse) -> bool:
    return table_exists(wh, "core.findings")


def _order(query: Query) -> str:
    return (f"{SORTS[query.sort]} {'DESC' if query.desc else 'ASC'} NULLS LAST, finding_id"
            if query.sort else DEFAULT_ORDER)


def page(query: Query, wh: Warehouse) -> tuple[pd.DataFrame, int]:
    """One page of the filtered, searched, sorted list (with Chinese labels) and how many
    findings match in all."""
    def run():
        if not _ready(wh):
            return pd.DataFrame(), 0
        base, params = _base(wh, query.week)
        where, wp = _where(query)
        df = wh.query(f"{base} SELECT *, COUNT(*) OVER () AS total FROM base WHERE {where} ORDER BY {_order(query)} "
                      "LIMIT :lim OFFSET :off",
                      {**params, **wp, "lim": query.size, "off": (query.page - 1) * query.size})
        if df.empty and query.page > 1:  # past the end: the count still answers
            total = wh.scalar(f"{base} SELECT COUNT(*) FROM base WHERE {where}", {**params, **wp})
            return df, int(total or 0)
        return df, int(df["total"].iat[0]) if len(df) else 0

    df, total = with_retry(run)
    return (label(df.drop(columns="total")) if len(df) else df), total


def rows(query: Query, wh: Warehouse) -> pd.DataFrame:
    """Every finding the filters and search select (all pages), in the list's order, labelled."""
    def run():
        if not _ready(wh):
            return pd.DataFrame()
        base, params = _base(wh, query.week)
        where, wp = _where(query)
        return wh.query(f"{base} SELECT * FROM base WHERE {where} ORDER BY {_order(query)}", {**params, **wp})

    df = with_retry(run)
    return label(df) if len(df) else df


def label(df: pd.DataFrame) -> pd.DataFrame:
    """The Chinese of a page's codes (a page is at most a few hundred rows)."""
    return df.assign(
        status_label=df["status"].map(lambda s: STATUS_LABEL.get(s, s)),
        severity_label=df["severity"].map(lambda s: SEVERITY_LABEL.get(s, s)),
        dimension_label=df["dimension"].map(lambda d: forms.EIGHT_ACCURACIES.get(d, d)),
        rule_label=df["rule"].map(labels.rule_name),
        file_name=df["file"].str.rsplit("/", n=1).str[-1],
        row=pd.to_numeric(df["row"], errors="coerce").fillna(0).astype(int),
        echoes=pd.to_numeric(df["echoes"], errors="coerce").fillna(0).astype(int),
        echo_note=df["echoes"].map(lambda n: f"另有 {int(n)} 条关联问题" if n else ""))


def _facet_label(key: str, value: str, name: str) -> str:
    if key in ("county", "township"):
        return name or value or "未识别"
    if key == "rule":
        return labels.rule_name(value)
    if key == "file":
        return value.rsplit("/", 1)[-1] or "（无文件）"
    if key == "severity":
        return SEVERITY_LABEL.get(value, value)
    if key == "status":
        return STATUS_LABEL.get(value, value)
    if key == "dimension":
        return forms.EIGHT_ACCURACIES.get(value, value) or "—"
    return value or "—"


_FACET_NAME = {"county": "county_name", "township": "township_name"}


def facets(query: Query, wh: Warehouse) -> dict[str, list[tuple[str, str, int]]]:
    """Per facet, (value, label, count) of its most frequent values, each counted under the
    other filters and the search (one statement for all facets)."""
    def run():
        if not _ready(wh):
            return pd.DataFrame(columns=["facet", "value", "name", "n"])
        base, params = _base(wh, query.week)
        parts = []
        for key in FILTERS:
            where, wp = _where(query, skip=key)
            name = _FACET_NAME.get(key, "CAST('' AS VARCHAR)")
            parts.append(f"SELECT '{key}' AS facet, CAST({key} AS VARCHAR) AS value, MAX({name}) AS name, "
                         f"COUNT(*) AS n FROM base WHERE {where} GROUP BY {key}")
            params.update(wp)
        return wh.query(f"{base} " + " UNION ALL ".join(parts), params)

    df = with_retry(run)
    out: dict[str, list[tuple[str, str, int]]] = {k: [] for k in FILTERS}
    df = df.assign(value=df["value"].fillna("")).sort_values(["facet", "n", "value"], ascending=[True, False, True])
    for key, g in df.groupby("facet", sort=False):
        chosen = query.filters.get(key)
        top = g.head(FACET_LIMIT)
        if chosen and chosen not in set(top["value"]):
            top = pd.concat([top, g[g["value"] == chosen]])
        ordered = top.sort_values("value") if key not in ("file", "rule") else top
        out[key] = [(v, _facet_label(key, v, nm or ""), int(n))
                    for v, nm, n in zip(ordered["value"], ordered["name"], ordered["n"])]
    return out


def overview(week: str, wh: Warehouse) -> pd.DataFrame:
    """Counties × (errors, warnings, open, waived, sent back) of the week's list, with a
    市合计 row last."""
    def run():
        if not _ready(wh):
            return pd.DataFrame()
        base, params = _base(wh, week)
        return wh.query(
            f"{base} SELECT county, MAX(county_name) AS county_name, "
            "SUM(CASE WHEN severity = 'error' THEN 1 ELSE 0 END) AS errors, "
            "SUM(CASE WHEN severity = 'warning' THEN 1 ELSE 0 END) AS warnings, "
            f"SUM(CASE WHEN status = '{OPEN}' THEN 1 ELSE 0 END) AS open, "
            f"SUM(CASE WHEN status = '{WAIVED}' THEN 1 ELSE 0 END) AS waived, "
            f"SUM(CASE WHEN status = '{SENT_BACK}' THEN 1 ELSE 0 END) AS sent_back, COUNT(*) AS total "
            "FROM base GROUP BY county ORDER BY county", params)

    df = with_retry(run)
    if df.empty:
        return df
    counts = ["errors", "warnings", "open", "waived", "sent_back", "total"]
    df[counts] = df[counts].astype("int64")
    df["county_name"] = df["county_name"].where(df["county"] != "", "未识别单位")
    total = pd.DataFrame([{"county": "", "county_name": "全市合计", **df[counts].sum().to_dict()}])
    return pd.concat([df, total], ignore_index=True)


def selected_ids(query: Query, wh: Warehouse) -> list[str]:
    """Every finding id the filters and search select (all pages): the target of a bulk action."""
    def run():
        if not _ready(wh):
            return []
        base, params = _base(wh, query.week)
        where, wp = _where(query)
        df = wh.query(f"{base} SELECT finding_id FROM base WHERE {where} ORDER BY finding_id", {**params, **wp})
        return df["finding_id"].tolist()

    return with_retry(run)
