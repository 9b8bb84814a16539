"""Issue 8, part 1 — idempotency: re-running a week, or backfilling weeks out of order,
leaves the warehouse and the lake as an in-order run leaves them; only a changed
submission changes anything, and only its own rows and the aggregates above it.

What is compared and which run-metadata columns are left out: see
``tests/reliability/world.py``. Lifecycle history in a backfill: see
``test_backfill_out_of_order_converges``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability import world as W

pytestmark = pytest.mark.slow

RELATIVE = {"rank_in_parent"}
WEEKS = ["2026-W45", "2026-W46", "2026-W47"]
WEEK_TABLES_NOT_WEEKLY = {"wh:mart.dim_region", "wh:mart.dim_week", "wh:mart.dim_accuracy",
                          "wh:mart.monthly_conclusion", "wh:core.finding_audit"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    return W.make_landing(tmp_path_factory.mktemp("idem") / "landing", weeks="2026-W45..2026-W47")


def _home_with(landing: Path, base: Path) -> Path:
    home = base / "home"
    shutil.copytree(landing, home / "landing")
    return home


def _run(monkeypatch, home: Path, weeks: list[str], run_id: str) -> list[dict]:
    monkeypatch.setenv("HUIZONG_HOME", str(home))
    monkeypatch.setenv("HUIZONG_PII_KEY", W.PII_KEY)
    return [W.run_week(w, run_id=run_id) for w in weeks]


@pytest.fixture(scope="module")
def in_order(landing, tmp_path_factory) -> dict:
    """The reference: W45, W46, W47 once each, in order."""
    home = _home_with(landing, tmp_path_factory.mktemp("inorder"))
    mp = pytest.MonkeyPatch()
    try:
        _run(mp, home, WEEKS, "in-order")
    finally:
        mp.undo()
    return {"home": home, "snap": W.snapshot(home)}


def _week_rows(snap: dict, week: str) -> dict:
    """The rows of one week in every table that has a week column."""
    out = {}
    for k, t in snap.items():
        if k in WEEK_TABLES_NOT_WEEKLY:
            continue
        if "week" in t.columns:
            out[k] = t.where(week=week)
        elif f"week={week}/" in k:
            out[k] = t
    return out


def test_reference_is_substantial(in_order):
    snap = in_order["snap"]
    for table in ("wh:core.ledger_households", "wh:core.village_reports", "wh:core.consolidated",
                  "wh:core.findings", "wh:mart.weekly_summary", "wh:mart.monthly_conclusion"):
        assert len(snap[table]) > 0, table
    assert {r[snap["wh:core.loads"].columns.index("week")] for r in snap["wh:core.loads"].rows} == set(WEEKS)
    assert any(k.startswith("lake:facts/") for k in snap)


def test_rerun_same_week_changes_nothing(in_order, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(in_order["home"], home)
    # W47 twice (the second run reuses staging), then W45 again after later weeks exist.
    runs = _run(monkeypatch, home, ["2026-W47", "2026-W47", "2026-W45"], "rerun")
    assert all(g["reused"] for g in runs[1]["groups"]), "an unchanged group was parsed again"
    after = W.snapshot(home)
    d = W.diff(in_order["snap"], after)
    assert not d, W.describe(d)
    assert runs[1]["lifecycle"]["opened"] == runs[1]["lifecycle"]["resolved"] == 0


def test_backfill_out_of_order_converges(landing, in_order, tmp_path, monkeypatch, capsys):
    """W46, W45, W47, then W45 again.

    The earliest week (W45) depends on no other week, so its rows equal the in-order
    run's at once. W46 and W47 cannot: by design they read the week before (the previous
    ledger for transitions, the previous report for continuity, earlier consolidations
    for history checks), and W46 was computed before W45 existed. After the weeks that
    follow the earliest re-run week are run again in order (W46, W47), everything equals
    the in-order run, except, where the early run raised findings that the catch-up no
    longer raises, the findings lifecycle's history: ``core.finding_audit`` is append-only
    and keeps them, and ``core.finding_status`` keeps their rows, status ``resolved`` by
    ``system`` (on this world the early W46 run only lacks a continuity finding, so none). For every finding that exists in ``core.findings`` the status row is
    identical, and no other table may differ."""
    home = _home_with(landing, tmp_path)
    _run(monkeypatch, home, ["2026-W46", "2026-W45", "2026-W47", "2026-W45"], "backfill")
    early = W.snapshot(home)
    ref = in_order["snap"]

    d45 = W.diff(_week_rows(ref, "2026-W45"), _week_rows(early, "2026-W45"))
    assert not d45, W.describe(d45)
    before_catch_up = W.diff(ref, early)
    with capsys.disabled():
        print("\nout-of-order backfill, before catch-up, differs from in-order in:\n" + W.describe(before_catch_up, 60))
    assert before_catch_up, "W46 computed without W45 should differ (continuity, transitions)"

    runs = _run(monkeypatch, home, ["2026-W46", "2026-W47"], "catch-up")
    assert not any(g["reused"] for g in runs[0]["groups"] if g["files"]), \
        "W46 staging was built without W45's ledger and must not be reused"
    final = W.snapshot(home)
    lifecycle = {"wh:core.finding_status", "wh:core.finding_audit"}
    d = W.diff(ref, final, keys=(set(ref) | set(final)) - lifecycle)
    assert not d, W.describe(d)

    # Lifecycle: identical for every current finding; the extra rows are resolved history.
    fs_ref, fs_final = ref["wh:core.finding_status"], final["wh:core.finding_status"]
    current = {r[final["wh:core.findings"].columns.index("finding_id")] for r in final["wh:core.findings"].rows}
    now = fs_final.where(finding_id=current)
    d = W.diff({"s": fs_ref}, {"s": now})
    assert not d, W.describe(d)
    extra = fs_final.rows - now.rows
    col = {c: fs_final.columns.index(c) for c in ("status", "updated_by")}
    assert all(r[col["status"]] == "resolved" and r[col["updated_by"]] == "system" for r in extra), extra
    with capsys.disabled():
        print(f"lifecycle history kept from the out-of-order run: {sum(extra.values())} resolved finding_status rows, "
              f"{len(final['wh:core.finding_audit']) - len(ref['wh:core.finding_audit'])} extra audit rows")


def test_changed_submission_changes_only_its_rows(in_order, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(in_order["home"], home)
    _run(monkeypatch, home, ["2026-W47"], "settle")  # staging signatures for this home
    before = W.snapshot(home)
    assert not W.diff(in_order["snap"], before)
    change = W.add_corrected_village_report(home / "landing")
    (run,) = _run(monkeypatch, home, ["2026-W47"], "changed")
    after = W.snapshot(home)

    county = W.COUNTIES[1]
    reprocessed = [g["group"] for g in run["groups"] if not g["reused"]]
    assert reprocessed == [county], reprocessed

    unit = change["unit_code"]
    from pipelines.forms import CITY_CODE

    allowed_units = {unit, unit[:9], unit[:6], CITY_CODE, ""}  # village, township, county, city
    subs = {change["old"], change["new"]}
    d = W.diff(before, after)
    assert d, "a changed submission must change something"
    assert "wh:core.village_reports" in d and "lake:facts/village_reports/week=2026-W47/part-0.parquet" in d
    changed_findings, relative_only = set(), set()
    for key, v in d.items():
        assert "only_a" in v, (key, v)
        others = []
        for df in (v["only_a"], v["only_b"]):
            if df.empty:
                others.append(df)
                continue
            if "week" in df.columns:
                assert set(df["week"]) <= {"2026-W47"}, (key, set(df["week"]))
            if "month" in df.columns and "week" not in df.columns:
                assert set(df["month"]) <= {"2026-11"}, (key, set(df["month"]))
            if key.endswith("core.findings") or key.startswith("lake:findings/"):
                changed_findings |= set(df["finding_id"])
            if key.endswith(("core.finding_status", "core.finding_audit")):
                others.append(df.iloc[0:0])
                continue  # checked below against the changed findings
            if key in ("wh:core.loads", "wh:mart.dim_week") or key.startswith("lake:runs/"):
                others.append(df.iloc[0:0])
                continue  # the week's totals (files, submissions, rows) and the run manifest
            cols = [c for c in ("submission_id", "unit_code", "region_code", "reported_by") if c in df.columns]
            assert cols, f"{key}: rows changed in a table without a unit: {df.head()}"
            ok = [any(c == "submission_id" and x in subs for c, x in zip(cols, r))
                  or all(x in allowed_units or x in subs or c == "submission_id" for c, x in zip(cols, r))
                  for r in df[cols].astype(str).itertuples(index=False)]
            others.append(df[[not o for o in ok]])
        # Rows of other units may differ only in a column that ranks siblings against each
        # other (a sibling county moves up when the changed county's score drops).
        a, b = (o.drop(columns=[c for c in RELATIVE if c in o.columns]) for o in others)
        assert W.diff({key: W.Table(a)}, {key: W.Table(b)}) == {}, \
            f"{key}: rows of other units changed:\n{a.head()}\n{b.head()}"
        if len(others[0]):
            relative_only.add(key)
    for key in ("wh:core.finding_status", "wh:core.finding_audit"):
        if key in d:
            for df in (d[key]["only_a"], d[key]["only_b"]):
                assert set(df["finding_id"]) <= changed_findings, key
    # The run manifest gained exactly the new file; the old one stays (superseded).
    runs = d["lake:runs/week=2026-W47/files.parquet"]
    assert len(runs["only_a"]) == 0 and len(runs["only_b"]) == 1
    assert relative_only <= {"wh:mart.monthly_conclusion"}, relative_only
    sub = after["wh:core.submissions"].where(submission_id=change["old"])
    assert [r[sub.columns.index("status")] for r in sub.rows] == ["superseded"]
