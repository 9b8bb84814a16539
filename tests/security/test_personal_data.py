"""Personal data: no resident ID number or phone number in clear outside the raw archive.

Scans every core and mart table and view, every Parquet file of the lake and every
receipt of a generated world (with faults, so IDs also appear in findings)."""
from __future__ import annotations

import re

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import warehouse_of

pytestmark = pytest.mark.slow

ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
SCI_RE = re.compile(r"[1-9]\.[0-9]{9,}[eE]\+?1[5-7]")


def _hits(values: pd.Series) -> list[str]:
    out = []
    for v in values.dropna().astype(str).unique():
        if ID_RE.search(v) or PHONE_RE.search(v) or SCI_RE.search(v):
            out.append(v)
    return out


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
        text = p.read_text(encoding="utf-8")
        if ID_RE.search(text) or PHONE_RE.search(text) or SCI_RE.search(text):
            bad.append(str(p))
    assert bad == []
    # The scanner itself finds a clear ID (it is not vacuous).
    assert _hits(pd.Series(["户主 411622197209155240 x"])) and _hits(pd.Series(["4.116221985041398e+17"]))


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
