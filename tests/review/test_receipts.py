"""Receipts (回执): one per submission, Chinese, HTML plus an xlsx list of findings, formulas neutralised,
idempotent, unchanged receipts left alone."""
from __future__ import annotations

from pathlib import Path

import openpyxl

from pipelines.review.receipts import ACCEPTED, neutralise, write_receipts
from pipelines.settings import get_settings
from tests.review.weeks import WEEK, resubmit_ledger, run_week, warehouse

EVIL = '=HYPERLINK("http://evil.example/x?a=1","点击查看")'


def _cells(path: Path) -> list[openpyxl.cell.Cell]:
    ws = openpyxl.load_workbook(path).active
    return [c for row in ws.iter_rows() for c in row if c.value is not None]


def test_neutralise():
    assert neutralise("=1+1") == "'=1+1"
    for s in ("+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(s).startswith("'")
    assert neutralise("焦东村") == "焦东村" and neutralise(None) == "" and neutralise(3) == "3"


def test_one_receipt_per_submission_with_findings_and_accepted(examples_landing):
    run_week()
    paths = write_receipts(WEEK)
    out = get_settings().outbox_dir / WEEK
    html_paths = [p for p in paths if p.suffix == ".html"]
    assert len(html_paths) == 3, "one receipt per submission"
    # an xlsx list only where there are findings to work through
    assert {p.with_suffix(".html") for p in paths if p.suffix == ".xlsx"} < set(html_paths)
    assert all(p.is_file() and out in p.parents for p in paths)
    ledger = [p for p in paths if "三本账" in p.name and p.suffix == ".xlsx"]
    assert len(ledger) == 1 and ledger[0].parent.name == "411622107201"
    text = [str(c.value) for c in _cells(ledger[0])]
    assert "部分入库" in text  # status
    assert any("焦东村三本账2026第47周.xlsx" == t for t in text)
    assert "计划进度账" in text and "11" in text and "身份证号码" in text and "4.116*********e+17" in text and "4.116221985041398e+17" not in text
    assert any("科学计数法" in t for t in text)
    assert "西华县逍遥镇焦东村（411622107201）" in text and WEEK in text
    # The township report had no findings: its receipt says it was accepted.
    town = [p for p in paths if p.parent.name == "411622107"]
    assert [p.suffix for p in town] == [".html"], "accepted: a receipt, no findings list"
    html = town[0].read_text(encoding="utf-8")
    assert ACCEPTED in html and "已入库" in html and 'lang="zh-CN"' in html


def test_formula_in_a_submitted_cell_is_neutralised(examples_landing):
    resubmit_ledger(examples_landing, "焦东村三本账(更正).xlsx", EVIL, hour=9)
    run_week()
    wh = warehouse()
    f = wh.query("SELECT rule, value FROM core.findings WHERE value LIKE '%HYPERLINK%'")
    # Quoted as submitted: the bad ID number, and the parser's warning about a formula that calls out.
    assert set(f["value"]) == {EVIL} and "cell.external_formula" in set(f["rule"])
    paths = write_receipts(WEEK)
    xlsx = [p for p in paths if "更正" in p.name and p.suffix == ".xlsx"]
    assert len(xlsx) == 1
    cells = _cells(xlsx[0])
    hits = [c for c in cells if c.value == "'" + EVIL]
    assert len(hits) == len(f) and all(h.data_type == "s" for h in hits), "listed, neutralised, as text"
    assert not any(c.data_type == "f" or str(c.value).startswith(("=", "+", "-", "@")) for c in cells)
    html = xlsx[0].with_suffix(".html").read_text(encoding="utf-8")
    assert "<code>&#x27;=HYPERLINK(&quot;http://evil.example/x?a=1&quot;" in html
    assert '<a href="http://evil' not in html
    # The superseded first file gets its own receipt saying so.
    old = [p for p in paths if "三本账2026第47周" in p.name and p.suffix == ".html"]
    assert len(old) == 1 and "已被更正件替代" in old[0].read_text(encoding="utf-8")


def test_receipts_are_idempotent(examples_landing):
    run_week()
    first = write_receipts(WEEK)
    data = {p: p.read_bytes() for p in first}
    second = write_receipts(WEEK)
    assert first == second
    assert {p: p.read_bytes() for p in second} == data
    out = get_settings().outbox_dir / WEEK
    assert sorted(p for p in out.rglob("*") if p.is_file()) == sorted(first)


def test_unchanged_receipts_are_not_rewritten_and_changed_ones_are(examples_landing):
    run_week()
    first = write_receipts(WEEK)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    assert write_receipts(WEEK) == first
    assert {p: p.stat().st_mtime_ns for p in first} == stamps, "nothing changed, nothing rewritten"
    # A resubmission changes the ledger's receipts (old one superseded, new one listed)
    # and leaves the township's receipt alone.
    resubmit_ledger(examples_landing, "焦东村三本账(更正).xlsx", "411622198504139874", hour=9)
    run_week()
    second = write_receipts(WEEK)
    town = [p for p in second if p.parent.name == "411622107"]
    assert town and all(p.stat().st_mtime_ns == stamps[p] for p in town)
    old = [p for p in second if "三本账2026第47周" in p.name and p.suffix == ".html"]
    assert old and old[0].stat().st_mtime_ns != stamps[old[0]]
    assert "已被更正件替代" in old[0].read_text(encoding="utf-8")


def test_a_submission_without_a_known_unit_gets_its_receipt_under_unknown(examples_landing):
    """NULL unit code and name in the register (a file whose unit was never identified)."""
    from pipelines.review.receipts import UNKNOWN_UNIT

    run_week()
    wh = warehouse()
    with wh.transaction() as conn:
        conn.exec_driver_sql("UPDATE core.submissions SET unit_code = NULL, unit_name = NULL "
                             "WHERE original_name LIKE '%周报%.csv'")
    paths = write_receipts(WEEK)
    unknown = [p for p in paths if p.parent.name == UNKNOWN_UNIT]
    assert [p.suffix for p in unknown] == [".html"]
    assert f"{UNKNOWN_UNIT}（{UNKNOWN_UNIT}）" in unknown[0].read_text(encoding="utf-8")



def test_a_receipt_gone_from_the_outbox_or_a_finding_waived_is_written_again(examples_landing):
    from pipelines.review.lifecycle import waive

    run_week()
    first = write_receipts(WEEK)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    town = next(p for p in first if p.parent.name == "411622107")
    town.unlink()  # the digests say "unchanged", the file is not there: written again
    assert write_receipts(WEEK) == first and town.is_file()
    assert all(p.stat().st_mtime_ns == stamps[p] for p in first if p != town)
    # A steward's waiver changes what one receipt shows (the finding's status), and only it.
    wh = warehouse()
    fid, name = wh.query("SELECT f.finding_id, s.original_name FROM core.findings f JOIN core.submissions s "
                         "USING (submission_id) WHERE f.severity = 'error' ORDER BY f.finding_id LIMIT 1").iloc[0]
    waive(fid, reason="核实无误", by="steward")
    again = write_receipts(WEEK)
    changed = {p for p in again if p.stat().st_mtime_ns != stamps.get(p)} - {town}
    assert changed and all(Path(name).stem in p.name for p in changed), changed
    assert "已豁免" in next(p for p in changed if p.suffix == ".html").read_text(encoding="utf-8")


def test_only_receipt_folders_changed_since_the_last_write_are_listed(examples_landing, monkeypatch):
    import os
    import time

    from pipelines import storage

    run_week()
    first = write_receipts(WEEK)
    an_hour_ago = time.time() - 3600
    for d in {p.parent for p in first}:
        os.utime(d, (an_hour_ago, an_hour_ago))  # settled: written long enough ago to trust their times
    assert write_receipts(WEEK) == first
    listed: list[str] = []
    walk = storage.walk_local
    monkeypatch.setattr(storage, "walk_local", lambda d: (listed.append(d), walk(d))[1])
    assert write_receipts(WEEK) == first and listed == []  # no folder changed: none listed
    town = next(p for p in first if p.parent.name == "411622107")
    town.unlink()  # moves its folder's time: that folder alone is listed, the receipt written again
    assert write_receipts(WEEK) == first and town.is_file()
    assert listed == [str(town.parent)]


def test_a_village_that_sent_its_report_but_not_its_ledger_is_told_the_ledger_is_missing(examples_landing):
    from pipelines.consolidate import consolidate
    from tests.review.weeks import LEDGER, folder

    (folder(examples_landing) / LEDGER).unlink()
    run_week()
    consolidate(WEEK)
    paths = write_receipts(WEEK)
    village = [p for p in paths if p.parent.name == "411622107201" and p.suffix == ".html"]
    assert len(village) == 1 and "周报" in village[0].name
    html = village[0].read_text(encoding="utf-8")
    assert "应报未收到" in html and "三本账（表A）尚未收到" in html and ACCEPTED not in html
    # The township owes nothing: its receipt is the plain acceptance.
    town = [p for p in paths if p.parent.name == "411622107" and p.suffix == ".html"]
    assert ACCEPTED in town[0].read_text(encoding="utf-8") and "应报未收到" not in town[0].read_text(encoding="utf-8")
