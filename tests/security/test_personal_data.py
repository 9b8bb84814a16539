"""Personal data: no resident ID number or phone number in clear outside the raw archive.

Scans every core and mart table and view, every Parquet file of the lake and every
receipt of a generated world (with faults, so IDs also appear in findings)."""
from __future__ import annotations

import re
import unicodedata

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import warehouse_of

pytestmark = pytest.mark.slow

ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
SCI_RE = re.compile(r"[1-9]\.[0-9]{9,}[eE]\+?1[5-7]")
# How a clerk may break up a number: single spaces, dashes or dots between digits (full-width too).
SEPARATED = re.compile(r"(?<=[0-9])[ \u00a0\u3000\-\u2010\u2011\u2013\u2014.\u00b7](?=[0-9Xx])")


def _clear(text: str) -> bool:
    """Whether ``text`` holds an ID or phone number in clear, however it is written."""
    if SCI_RE.search(text):
        return True
    normalized = unicodedata.normalize("NFKC", text)
    joined = SEPARATED.sub("", normalized)
    return any(ID_RE.search(t) or PHONE_RE.search(t) for t in (normalized, joined))


def _hits(values: pd.Series) -> list[str]:
    return [v for v in values.dropna().astype(str).unique() if _clear(v)]


def _scan_frame(df: pd.DataFrame, where: str) -> list[str]:
    bad = []
    for c in df.columns:
        if c.endswith("_hash") or df[c].dtype.kind in "biufcmM":
            continue
        hits = _hits(df[c])
        if hits:
            bad.append(f"{where}.{c}: {hits[:3]}")
    return bad


def test_no_clear_ids_or_phones_in_warehouse_lake_or_receipts(faulty_world):
    home = faulty_world["home"]
    wh = warehouse_of(home)
    tables = wh.query("SELECT table_schema, table_name FROM information_schema.tables "
                      "WHERE table_schema IN ('core', 'mart')")
    assert {"core", "mart"} <= set(tables["table_schema"])
    bad = []
    for r in tables.itertuples():
        bad += _scan_frame(wh.query(f'SELECT * FROM {r.table_schema}."{r.table_name}"'), f"{r.table_schema}.{r.table_name}")
    parts = list((home / "lake").rglob("*.parquet"))
    assert len(parts) > 10
    for p in parts:
        bad += _scan_frame(pq.read_table(p).to_pandas(), str(p.relative_to(home)))
    receipts = list((home / "outbox").rglob("*.html"))
    assert len(receipts) > 100
    for p in receipts:
        if _clear(p.read_text(encoding="utf-8")):
            bad.append(str(p))
    assert bad == []
    # The scanner itself finds a clear ID (it is not vacuous).
    assert _hits(pd.Series(["户主 411622197209155240 x"])) and _hits(pd.Series(["4.116221985041398e+17"]))
    assert _hits(pd.Series(["411622 19720915 5240"])) and _hits(pd.Series(["电话 137-3235-5596"]))
    assert _hits(pd.Series(["４１１６２２１９７２０９１５５２４Ｘ"])) and not _hits(pd.Series(["2026-11-23 10:00"]))


# An ID or phone number as clerks write them: grouped by spaces, dashes or dots, full-width.
FORMATTED_IDS = ["411622 19720915 524X", "411622-1946-0201-7413", "４１１６２２１９７２０９１５５３４０"]
FORMATTED_PHONES = ["136 9902 8848", "137-3235-5596", "133.0794.3922", "１３５９３６８４０３７"]


def test_formatted_ids_and_phones_are_masked_everywhere(examples_landing):
    """IDs and phone numbers written with separators or in full-width digits, in their own
    columns and in cells that fail a check (so they appear in findings), are never in clear
    in the warehouse, the lake or a receipt (HTML and xlsx)."""
    import openpyxl

    from pipelines.review.lifecycle import sync_lifecycle
    from pipelines.review.receipts import write_receipts
    from pipelines.settings import get_settings
    from tests.week_run import stage_and_publish

    home = get_settings().home
    ledger = next((examples_landing / "2026-W47").rglob("*三本账*.xlsx"))
    wb = openpyxl.load_workbook(ledger)
    plan, helpers = wb["计划进度账"], wb["帮扶责任账"]
    for i, text in enumerate(FORMATTED_IDS):
        plan.cell(4 + i, 3).value = text                   # 身份证号码
        plan.cell(8 + i, 4).value = text                   # 家庭人口数: not a number, a finding quotes it
    for i, text in enumerate(FORMATTED_PHONES):
        helpers.cell(2 + i, 5).value = text                # 联系电话
        helpers.cell(7 + i, 6).value = f"电话{text}"        # 结对日期: not a date, a finding quotes it
    wb.save(ledger)
    stage_and_publish("2026-W47")
    sync_lifecycle("2026-W47", run_id="test")
    write_receipts("2026-W47")

    wh = warehouse_of(home)
    findings = wh.query("SELECT value, message FROM core.findings")
    assert findings["value"].str.contains(r"\*{4}", regex=True).sum() >= len(FORMATTED_IDS), "the variants reach findings"
    bad = []
    for table in ("core.findings", "core.ledger_households", "core.ledger_helpers", "core.submissions"):
        bad += _scan_frame(wh.query(f"SELECT * FROM {table}"), table)
    for p in (home / "lake").rglob("*.parquet"):
        bad += _scan_frame(pq.read_table(p).to_pandas(), str(p.relative_to(home)))
    receipts = list((home / "outbox").rglob("*.html")) + list((home / "outbox").rglob("*.xlsx"))
    assert any(p.suffix == ".xlsx" for p in receipts)
    for p in receipts:
        if p.suffix == ".html":
            text = p.read_text(encoding="utf-8")
        else:
            cells = openpyxl.load_workbook(p, read_only=True).active.iter_rows(values_only=True)
            text = "\n".join(str(v) for row in cells for v in row if v is not None)
        if _clear(text):
            bad.append(str(p))
    assert bad == []


def test_ids_join_across_weeks_by_keyed_hash(faulty_world):
    wh = warehouse_of(faulty_world["home"])
    hh = wh.query("SELECT week, household_id, id_hash, id_masked FROM core.ledger_households")
    assert hh["id_hash"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert hh["id_masked"].str.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]").all()
    w45, w46 = (hh[hh["week"] == w].set_index("household_id")["id_hash"] for w in faulty_world["weeks"])
    common = w45.index.intersection(w46.index)
    assert len(common) > 1000 and (w45[common] == w46[common]).mean() > 0.99


def test_names_are_masked_in_mart(faulty_world):
    wh = warehouse_of(faulty_world["home"])
    names = set(wh.query("SELECT DISTINCT head_name FROM core.ledger_households")["head_name"].dropna())
    names |= set(wh.query("SELECT DISTINCT helper_name FROM core.ledger_helpers")["helper_name"].dropna())
    names = {n for n in names if len(n) >= 2}
    assert len(names) > 100
    tables = wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'mart'")
    for t in tables["table_name"]:
        df = wh.query(f'SELECT * FROM mart."{t}"')
        for c in df.columns:
            if df[c].dtype == object or str(df[c].dtype).startswith("str"):
                leaked = set(df[c].dropna().astype(str)) & names
                assert not leaked, f"mart.{t}.{c}: {sorted(leaked)[:3]}"
