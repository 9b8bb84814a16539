"""No SQL is built from submitted text.

1. Dynamic: submissions whose cell values, sheet names, unit name, folder and file name
   are SQL load as data: the text is stored verbatim (fact columns, core.findings,
   core.submissions) and every core table still exists with its rows, also after a re-run.
2. Static: every place in pipelines/ (and plugins/, dags/, huizong_dev/) where SQL text is combined
   with a run-time value (f-string, %, .format, +) is listed in REVIEWED with the names it
   may interpolate, all of them identifiers or placeholders from code; a new place, or a
   reviewed one that starts interpolating anything else, fails until it is reviewed.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.week_run import stage_and_publish
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse, _ident, _quote_col
from tests.corpus.make_corpus import XSheet, township_report, village_report, xlsx
from tests.security.sql_scan import sql_builds

REPO = Path(__file__).resolve().parents[2]
WEEK = "2026-W47"

DROP_FINDINGS = "'); DROP TABLE core.findings; --"
DELETE_SUBS = "1; DELETE FROM core.submissions"
OR_TRUE = '" OR 1=1 --'
DROP_REPORTS = "Robert'); DROP TABLE core.village_reports;--"
FOLDER = "'; DROP TABLE core.loads; --"
FILE_B = "x'); DROP TABLE core.submissions; --.xlsx"
FILE_C = f"{OR_TRUE}; TRUNCATE core.ledger_households.xlsx"


def core_tables(wh: Warehouse) -> set[str]:
    t = wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'core'")
    return set(t["table_name"])


def counts(wh: Warehouse, tables) -> dict[str, int]:
    return {t: int(wh.scalar(f"SELECT COUNT(*) FROM core.{_ident(t)}")) for t in sorted(tables)}


def run_week() -> None:
    stage_and_publish(WEEK)


def test_sql_in_cells_sheet_names_and_file_names_loads_as_data(examples_landing):
    folder = examples_landing / WEEK / "西华县" / FOLDER
    folder.mkdir(parents=True)
    # A village report of a registered village that loads: SQL in a text column, the
    # unit name and the sheet name.
    rows = village_report("411622107202", DROP_REPORTS, secretary=DROP_FINDINGS,
                          values=["否", DROP_FINDINGS, 3, 10, 31, 0, 0, 0, 0, 1, 3, 0, 0, 9, 28, 2.5, 0, 0, 5])
    (folder / FILE_B).write_bytes(xlsx([XSheet(DELETE_SUBS, rows)]))
    # A township report (not in the register) with SQL in a name and in a number column.
    trows = township_report("411622399", "注入镇")
    trows[3][1] = DROP_FINDINGS
    trows[4][3] = OR_TRUE
    (folder / FILE_C).write_bytes(xlsx([XSheet(DROP_REPORTS[:31], trows)]))
    t = dt.datetime(2026, 11, 22, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    for p in folder.iterdir():
        os.utime(p, (t, t))

    wh = Warehouse(get_settings().warehouse_url)
    wh.apply_schema()
    before = core_tables(wh)
    run_week()
    first = counts(wh, before)
    assert core_tables(wh) == before
    assert first["ledger_households"] == 44 and first["submissions"] == 5 and first["loads"] == 1
    assert first["findings"] > 0 and first["village_reports"] == 2 and first["regions"] == 10

    path_b = f"{WEEK}/西华县/{FOLDER}/{FILE_B}"
    path_c = f"{WEEK}/西华县/{FOLDER}/{FILE_C}"
    vr = wh.query("SELECT * FROM core.village_reports WHERE unit_code = :c", {"c": "411622107202"})
    assert list(vr["first_secretary"]) == [DROP_FINDINGS]
    assert list(vr["source_sheet"]) == [DELETE_SUBS]
    subs = wh.query("SELECT * FROM core.submissions WHERE landing_path IN (:b, :c) ORDER BY landing_path",
                    {"b": path_b, "c": path_c})
    assert len(subs) == 2 and set(subs["original_name"]) == {FILE_B, FILE_C}
    assert DROP_REPORTS in set(subs["unit_name"])
    f = wh.query("SELECT * FROM core.findings WHERE file IN (:b, :c)", {"b": path_b, "c": path_c})
    values = set(f["value"])
    assert OR_TRUE in values and DROP_REPORTS in values
    assert DROP_REPORTS[:31] in set(f["sheet"])
    bad = f[f["value"] == OR_TRUE].iloc[0]
    assert bad["file"] == path_c and bad["rule"].startswith("value.") and OR_TRUE in bad["message"]

    # A re-run deletes and inserts the week again with the same SQL-looking values about.
    run_week()
    assert core_tables(wh) == before
    assert counts(wh, before) == first


def test_identifier_helpers_reject_anything_but_plain_names():
    assert _ident("core.findings") == "core.findings"
    assert _quote_col("unit_code") == '"unit_code"'
    for bad in ["core.findings; DROP TABLE core.loads", "core.findings --", 'a"b', "x y", "Core.Findings", "a.b.c",
                "findings'", "", "1table", "core.findings/**/"]:
        with pytest.raises(ValueError):
            _ident(bad)
        with pytest.raises(ValueError):
            _quote_col(bad)


# (file, enclosing function) -> the names its SQL may interpolate, and why that is safe.
REVIEWED = {
    ("pipelines/review/listing.py", "_base"): (
        {"OPEN", "regions", "status"}, "module constants and a fixed subquery chosen by table existence; the week is bound"),
    ("pipelines/review/listing.py", "page.run"): (
        {"_order", "base", "query", "where"},
        "base from _base; where from _where (filter keys whitelisted by Query against FILTERS, values bound); "
        "_order maps query.sort through SORTS (whitelisted in Query)"),
    ("pipelines/review/listing.py", "rows.run"): ({"_order", "base", "query", "where"}, "as page.run"),
    ("pipelines/review/listing.py", "selected_ids.run"): ({"base", "where"}, "as page.run"),
    ("pipelines/review/listing.py", "overview.run"): (
        {"OPEN", "SENT_BACK", "WAIVED", "base"}, "status constants of the module; base from _base"),
    ("pipelines/review/listing.py", "facets.run"): (
        {"key", "name", "where"}, "key iterates the FILTERS constant, name from the _FACET_NAME constant; where from _where"),
    ("pipelines/review/receipts.py", "_week_frames.run"): (
        {"unit", "of_unit"}, "constant clauses with the :u placeholder, chosen by whether a unit was asked for"),
    ("huizong_dev/bench.py", "grow_findings"): (
        {"names", "select"}, "core.findings' own columns (information_schema), quoted; the bench's own warehouse copy"),
    ("pipelines/warehouse.py", "Warehouse.rewrite_for_older_clients"): (
        {"DUCKDB_STORAGE_VERSION"}, "a module constant (the storage format); the file paths are bound parameters"),
    ("pipelines/synth/score.py", "primary_findings"): (
        {"i", "join", "len", "range", "weeks"}, "placeholders :w0, :w1 … numbered by position; the weeks are bound"),
    ("pipelines/warehouse.py", "Warehouse.replace"): (
        {"table", "cond"}, "table passed through _ident (regex); cond joins _quote_col(k) = :k over the where keys"),
    ("pipelines/warehouse.py", "Warehouse.insert"): (
        {"_ident", "table", "col_sql", "view", "c", "cols", "join"},
        "table via _ident; columns are the table's own (information_schema) quoted by _quote_col; view is a "
        "constant; values go through arrow / COPY / bound parameters"),
    ("pipelines/warehouse.py", "Warehouse._copy_pg"): (
        {"target", "col_sql"},
        "target is a table that passed _ident or update's constant temporary table; columns are the table's own "
        "quoted by _quote_col; values travel in the COPY stream"),
    ("pipelines/warehouse.py", "Warehouse.delete_in"): (
        {"table", "_quote_col", "column", "cond", "source"},
        "table via _ident; column and where keys quoted by _quote_col (names from code: publish passes "
        "'submission_id'); source is a constant; the values go through a registered arrow table or a bound array"),
    ("pipelines/warehouse.py", "Warehouse.present"): (
        {"table", "col", "source"},
        "table via _ident; col is the column name quoted by _quote_col (names from code: discover passes "
        "'submission_id'); source is a constant; the values go through a registered arrow table or a bound array"),
    ("pipelines/warehouse.py", "Warehouse.update"): (
        {"table", "setters", "cond", "key", "_quote_col", "col_sql", "source", "c"},
        "table via _ident; columns (c) are the table's own (information_schema) quoted by _quote_col, key and where "
        "keys quoted by _quote_col; source is a constant; values go through arrow / COPY / bound parameters"),
    ("pipelines/warehouse.py", "insert_parquet_duckdb"): (
        {"_ident", "table", "col_sql"},
        "table via _ident; columns are the table's own (information_schema) quoted by _quote_col; the file path "
        "is a bound parameter"),
    ("pipelines/review/queries.py", "optional_table.run"): (
        {"table"}, "table is checked against a fixed tuple of two table names first"),
    ("pipelines/mart/build.py", ""): (
        {"FLOWS", "WEEKLY_COLUMNS", "_REG_ANC", "_cols", "_ratio", "f", "join"},
        "module constants: column lists from code through _cols/_ident, a constant CTE"),
    ("pipelines/mart/build.py", "_ratio"): ({"num", "den"}, "called with SQL expressions written in code only"),
    ("pipelines/mart/build.py", "_monthly_sql"): (
        {"ACC_COLUMNS", "DIMENSIONS", "FLOWS", "MONTHLY_COLUMNS", "MONTH_FLOWS", "_REG_ANC", "_cols", "_ratio",
         "acc_mean", "acc_pivot", "c", "d", "i", "join", "sums", "weeks_sql", "ytd_sql", "_ident", "MONTH_END_COUNTS"},
        "column lists and dimensions from code; weeks_sql / ytd_sql are '(:w0, :w1, ...)' placeholder lists "
        "from _in_list, the weeks themselves are bound"),
    ("pipelines/report/__init__.py", "week_overview"): (
        {"i", "join", "len", "range", "weeks"}, "':w0, :w1, ...' placeholders; the weeks are bound"),
    ("pipelines/report/data.py", "month_data"): (
        {"wl", "cond", "unit_col"}, "wl is ':w0, ...' placeholders; cond and unit_col are chosen among constants"),
    ("huizong_dev/native_airflow.py", "throwaway_database"): (
        {"name"}, "name is 'huizong_bench_' + the process id + a code constant tag + uuid hex: no outside input"),
    ("pipelines/report/data.py", "five_charts"): (
        {"where"}, "where is one of four constant conditions from _region_filter (values bound as :code)"),
}


def test_sql_is_built_only_from_code_identifiers_and_placeholders():
    builds = [b for root in ("pipelines", "plugins", "dags", "huizong_dev") if (REPO / root).exists()
              for b in sql_builds(REPO / root)]
    assert any(b.path == "pipelines/warehouse.py" for b in builds)   # the scan sees the helpers
    unreviewed = [b for b in builds if (b.path, b.function) not in REVIEWED]
    widened = [(b, sorted(b.names - REVIEWED[(b.path, b.function)][0])) for b in builds
               if (b.path, b.function) in REVIEWED and not b.names <= REVIEWED[(b.path, b.function)][0]]
    listing = "\n".join(f"{b.path}:{b.line} {b.function} {b.how} {sorted(b.names)}: {b.source[:120]}"
                        for b in unreviewed)
    assert not unreviewed, "SQL built at run time in a place nobody reviewed:\n" + listing
    assert not widened, widened


def test_the_scan_catches_values_in_sql(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "bad.py").write_text(
        "def f(conn, name, week):\n"
        "    conn.execute(f\"SELECT * FROM core.findings WHERE file = '{name}'\")\n"
        "    conn.execute(\"DELETE FROM core.loads WHERE week = '%s'\" % week)\n"
        "    conn.execute(\"SELECT * FROM t WHERE a = {}\".format(name))\n"
        "    conn.execute(\"SELECT * FROM t WHERE a = '\" + name + \"'\")\n"
        "    conn.execute(\"SELECT 1 FROM t WHERE a = :a\", {\"a\": name})\n", encoding="utf-8")
    found = sql_builds(pkg)
    assert sorted(b.how for b in found) == ["%", "+", "f-string", "format"]
    assert all(b.function == "f" and b.names & {"name", "week"} for b in found)
