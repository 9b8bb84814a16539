"""weekly_ingest through Airflow for real (dag.test on the SQLite metadata DB).

dag.test() logs task failures instead of raising, so each test checks the run's state
and the rows the run produced.
"""
from __future__ import annotations


import pytest

from pipelines.orchestrate import load_dag, run_week
from pipelines.ingest.schedule import run_date_for_week
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse

pytestmark = pytest.mark.slow


def _task_states(dr) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ti in dr.get_task_instances():
        out.setdefault(ti.task_id, []).append(str(ti.state))
    return out


def test_examples_week_through_airflow(airflow_db, examples_landing):
    dr = run_week("2026-W47")
    states = _task_states(dr)
    assert "success" in str(dr.state), states
    # The week's first run goes the full way; apply_changes (a published week's small change) skips.
    assert all("success" in s for t, v in states.items() for s in v if t != "apply_changes"), states
    assert states["apply_changes"] == ["skipped"], states
    assert len(states["process_group"]) == 1  # one county folder → one mapped task
    wh = Warehouse(get_settings().warehouse_url)
    assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE week = '2026-W47'") == 44
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE severity = 'error'") == 1
    assert wh.scalar("SELECT COUNT(*) FROM core.loads WHERE week = '2026-W47'") == 1


def test_week_comes_from_the_logical_date_without_params(airflow_db, examples_landing):
    """A scheduled run (no params) on Monday 2026-11-23 12:00 processes 2026-W47."""
    from pipelines.orchestrate import prepare_airflow

    prepare_airflow()
    dag = load_dag("weekly_ingest")
    dr = dag.test(logical_date=run_date_for_week("2026-W47"))
    assert "success" in str(dr.state), _task_states(dr)
    wh = Warehouse(get_settings().warehouse_url)
    assert wh.query("SELECT week FROM core.loads")["week"].tolist() == ["2026-W47"]


def test_generated_week_through_airflow_loads_exactly_the_generated_rows(airflow_db, home, monkeypatch):
    """A clean generated week: the run succeeds and every table holds what the generator wrote."""
    from pipelines.synth import generate

    monkeypatch.setenv("HUIZONG_TASK_FILES", "1")  # a task per county folder (a real week packs ~3000 files)

    result = generate(out=str(home / "landing"), weeks="2026-W47", scale="0.03", faults="none", seed=21)
    dr = run_week("2026-W47")
    states = _task_states(dr)
    assert "success" in str(dr.state), states
    assert len(states["process_group"]) >= 10  # one mapped task per county folder
    exp = result.expected["2026-W47"]["rows"]
    wh = Warehouse(get_settings().warehouse_url)
    count = lambda sql: wh.scalar(sql)  # noqa: E731
    assert count("SELECT COUNT(*) FROM core.ledger_households") == exp["ledger_plan"]
    assert count("SELECT COUNT(*) FROM core.ledger_measures") == exp["ledger_measures"]
    assert count("SELECT COUNT(*) FROM core.ledger_helpers") == exp["ledger_helpers"]
    assert count("SELECT COUNT(*) FROM core.village_reports") == exp["village_reports"]
    assert count("SELECT COUNT(*) FROM core.township_reports WHERE NOT is_total") == exp["township_rows"]
    assert count("SELECT COUNT(*) FROM core.county_reports WHERE NOT is_total") == exp["county_rows"]
    assert count("SELECT COUNT(*) FROM core.ledger_households WHERE state = '贫困'") == exp["poor_households"]
    assert count("SELECT SUM(household_size) FROM core.ledger_households WHERE state = '贫困'") == exp["poor_people"]
    assert count("SELECT COUNT(*) FROM core.findings WHERE severity = 'error'") == 0
    assert count("SELECT COUNT(*) FROM core.discrepancies") == 0
    city = wh.query("SELECT * FROM core.consolidated WHERE level = '市'").iloc[0]
    assert int(city["hh_close"]) == exp["poor_households"]


def _asset_events(dr, task_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return [e.extra for e in session.query(AssetEvent).filter(AssetEvent.source_run_id == dr.run_id,
                                                                  AssetEvent.source_task_id == task_id)]


def test_a_corrected_report_is_applied_in_one_task_as_the_full_path_would(airflow_db, tmp_path, monkeypatch):
    """After the week's first run, one village's corrected report: the re-run goes through
    apply_changes alone (the full path's tasks skipped) and leaves the warehouse exactly as
    the full path leaves it for the same landing (HUIZONG_QUICK_FILES=0)."""
    import shutil

    from pipelines.synth import generate
    from tests.reliability.world import add_corrected_village_report, describe, diff, warehouse_snapshot

    monkeypatch.setenv("HUIZONG_PII_KEY", "test-key-quick-path")
    seed = tmp_path / "landing"
    generate(out=str(seed), weeks="2026-W47", scale="0.03", faults="default", seed=5)
    snapshots, corrections = {}, {}
    for way, quick_files in (("full", "0"), ("quick", "200")):
        h = tmp_path / way
        shutil.copytree(seed, h / "landing")  # copy2: the same times received
        monkeypatch.setenv("HUIZONG_HOME", str(h))
        monkeypatch.setenv("HUIZONG_QUICK_FILES", quick_files)
        first = run_week("2026-W47")
        assert "success" in str(first.state), _task_states(first)
        corrections[way] = add_corrected_village_report(h / "landing")
        dr = run_week("2026-W47")
        states = _task_states(dr)
        assert "success" in str(dr.state), states
        wh = Warehouse(get_settings().warehouse_url)
        if way == "quick":
            assert states["apply_changes"] == ["success"], states
            assert all(s == ["skipped"] for t, s in states.items() if t not in ("discover", "choose_path", "apply_changes")), states
            assert _asset_events(dr, "apply_changes") == [{"week": "2026-W47", "month": "2026-11"}]
        else:
            assert states["apply_changes"] == ["skipped"] and states["publish"] == ["success"], states
            assert _asset_events(dr, "weekly_summary") == [{"week": "2026-W47", "month": "2026-11"}]
        # The corrected report replaced the first one.
        fix = corrections[way]
        status = wh.query("SELECT submission_id, status FROM core.submissions WHERE submission_id IN (:a, :b)",
                          {"a": fix["old"], "b": fix["new"]}).set_index("submission_id")["status"].to_dict()
        assert status == {fix["old"]: "superseded", fix["new"]: "loaded"}, status
        wh.dispose()
        snapshots[way] = warehouse_snapshot(h)  # every core and mart table, run ids and times aside
    assert snapshots["quick"].keys() == snapshots["full"].keys()
    assert {"core.consolidated", "core.findings", "mart.weekly_summary"} <= snapshots["full"].keys()
    assert len(snapshots["full"]["core.ledger_households"]) > 1000 and len(snapshots["full"]["core.findings"])
    differences = diff(snapshots["full"], snapshots["quick"])
    assert not differences, describe(differences)
