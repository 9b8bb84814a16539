"""The bad-input corpus (tests/corpus/make_corpus.py), generated at test time.

1. Every corpus file is parsed on its own, timed and watched: each must finish in
   TIME_LIMIT_S and the process's resident memory may not grow by more than
   RSS_LIMIT_MB while it is parsed (sampled every few milliseconds), under the default
   limits of pipelines.settings.
2. The whole corpus lands in the same county folder as the shared examples and the week
   runs (discover -> process_group -> publish): every corpus file is registered once and
   archived unchanged, has at least one finding that names it (file = its landing path)
   in Chinese, and the examples still load (44 households, the village and the township
   report).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.week_run import stage_and_publish
from pipelines.ingest.parse import parse_file
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.corpus.make_corpus import corpus, write_corpus

WEEK = "2026-W47"
FOLDER = "西华县/坏文件"
TIME_LIMIT_S = 5.0
RSS_LIMIT_MB = 500
CJK = re.compile(r"[\u4e00-\u9fff]")
PUBLISH_RULES = {"unit.unknown", "unit.name_mismatch", "unit.level_mismatch", "week.mismatch"}
CATEGORIES = {"corrupt", "zip_bomb", "encrypted", "macro", "formula", "huge", "encoding", "empty", "structure",
              "identity", "name"}


@pytest.fixture(scope="module")
def items():
    return corpus()


def landing_path(item) -> str:
    return f"{WEEK}/{FOLDER}/{item.display}"


class PeakRSS:
    """Peak resident set size of this process while the block runs (sampled)."""

    def __init__(self, interval: float = 0.002):
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def test_corpus_is_large_deterministic_and_covers_every_category(items):
    assert len(items) >= 50
    assert {i.category for i in items} == CATEGORIES
    again = corpus()
    assert [(i.name, i.data) for i in again] == [(i.name, i.data) for i in items]
    assert any(isinstance(i.name, bytes) for i in items)


def test_every_file_parses_in_bounded_time_and_memory(items, home, tmp_path):
    s = get_settings()
    assert (s.max_file_bytes, s.max_uncompressed_bytes, s.max_rows, s.max_cells, s.max_cell_chars) == (
        50 * 2**20, 100 * 2**20, 50_000, 5_000_000, 32_767)  # the defaults are what is measured
    parse_file(items[0].data, "warm-up.xlsx")
    base = psutil.Process().memory_info().rss
    overall = PeakRSS()
    measured = []
    with overall:
        for it in items:
            with PeakRSS() as peak:
                t0 = time.perf_counter()
                pf = parse_file(it.data, landing_path(it))
                seconds = time.perf_counter() - t0
            measured.append({"file": it.display, "category": it.category, "bytes": len(it.data),
                             "seconds": round(seconds, 4), "rss_growth_mb": round(peak.growth_mb, 1),
                             "rules": sorted({p["rule"] for p in pf.problems})})
            for p in pf.problems:
                assert p["file"] == landing_path(it) and CJK.search(p["message"]), p
            if it.expect and not set(it.expect) & PUBLISH_RULES:
                # the parser reports it itself (register and week checks come at publish)
                assert set(it.expect) & {p["rule"] for p in pf.problems}, (it.display, measured[-1])
    worst_t = max(measured, key=lambda m: m["seconds"])
    worst_m = max(measured, key=lambda m: m["rss_growth_mb"])
    report = {"files": len(items), "max_seconds": worst_t["seconds"], "slowest": worst_t["file"],
              "max_rss_growth_mb": worst_m["rss_growth_mb"], "hungriest": worst_m["file"],
              "total_seconds": round(sum(m["seconds"] for m in measured), 2),
              "peak_rss_growth_mb_over_corpus": round((overall.peak - base) / 2**20, 1), "per_file": measured}
    out = Path(os.environ.get("HUIZONG_CORPUS_REPORT", tmp_path / "corpus_report.json"))
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\ncorpus: {report['files']} files, slowest {report['max_seconds']} s ({report['slowest']}), "
          f"max RSS growth {report['max_rss_growth_mb']} MB ({report['hungriest']}), "
          f"total {report['total_seconds']} s, peak growth over corpus {report['peak_rss_growth_mb_over_corpus']} MB")
    for m in measured:
        assert m["seconds"] < TIME_LIMIT_S, m
        assert m["rss_growth_mb"] < RSS_LIMIT_MB, m
    assert report["peak_rss_growth_mb_over_corpus"] < RSS_LIMIT_MB


def run_week(week: str = WEEK) -> dict:
    return stage_and_publish(week)


def test_corpus_in_the_examples_county_is_reported_file_by_file_and_the_rest_loads(examples_landing, items):
    folder = examples_landing / WEEK / FOLDER
    write_corpus(folder, items)
    # On time, and before the examples: nothing in the corpus may supersede them.
    t = dt.datetime(2026, 11, 22, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    for it in items:
        name = it.name if isinstance(it.name, bytes) else it.name.encode("utf-8")
        os.utime(os.path.join(os.fsencode(str(folder)), name), (t, t))

    t0 = time.perf_counter()
    summary = run_week()
    seconds = time.perf_counter() - t0
    print(f"\nweek with the corpus: {seconds:.1f} s, {summary['files']} files, {summary['findings']} findings")

    s = get_settings()
    wh = Warehouse(s.warehouse_url)
    # The examples still load.
    assert len(wh.query("SELECT * FROM core.ledger_households")) == 44
    vr = wh.query("SELECT unit_code FROM core.village_reports")
    assert "411622107201" in set(vr["unit_code"])
    tr = wh.query("SELECT * FROM core.township_reports WHERE unit_code = '411622107'")
    assert len(tr) == 9 and int(tr[tr["is_total"]]["hh_close"].iloc[0]) == 224
    ex = wh.query("SELECT original_name, status FROM core.submissions WHERE landing_path LIKE '%/逍遥镇/%'")
    assert sorted(ex["status"]) == ["loaded", "loaded", "partial"]

    # Every corpus file: registered once, archived unchanged, reported by name in Chinese.
    subs = wh.query("SELECT * FROM core.submissions WHERE landing_path LIKE :p", {"p": f"{WEEK}/{FOLDER}/%"})
    assert sorted(subs["landing_path"]) == sorted(landing_path(i) for i in items)
    by_path = subs.set_index("landing_path")
    for it in items:
        row = by_path.loc[landing_path(it)]
        assert (Path(s.archive_url) / row["archive_path"]).read_bytes() == it.data, it.display
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,5})?", row["archive_path"])
    f = wh.query("SELECT file, rule, severity, message FROM core.findings")
    missing, wrong = [], []
    for it in items:
        mine = f[f["file"] == landing_path(it)]
        if mine.empty:
            missing.append(it.display)
            continue
        assert all(CJK.search(m) for m in mine["message"]), it.display
        if it.expect and not set(it.expect) & set(mine["rule"]):
            wrong.append((it.display, it.expect, sorted(set(mine["rule"]))))
    assert not missing, missing
    assert not wrong, wrong
    # Nothing from the corpus loaded as facts except what a finding flags.
    assert (subs["status"] != "loaded").all() or set(subs.loc[subs["status"] == "loaded", "landing_path"]) <= set(
        f["file"])

    # Non-UTF-8 names: valid UTF-8 text in core, the raw bytes' hex in the run manifest.
    manifest = pd.read_parquet(Path(s.lake_url) / "runs" / f"week={WEEK}" / "files.parquet")
    hexes = dict(zip(manifest["landing_path"], manifest["landing_path_hex"]))
    for it in items:
        if isinstance(it.name, bytes):
            raw = f"{WEEK}/{FOLDER}/".encode() + it.name
            assert hexes[landing_path(it)] == raw.hex()
            assert "\\x" in landing_path(it)
    assert "source_path" not in manifest.columns
