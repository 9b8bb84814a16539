"""The benchmark's readable table and ratios (pure functions; no benchmark is run)."""
from __future__ import annotations

import datetime as dt
import shutil

from huizong_dev.bench import ab_ratio, idle_seconds, max_overlap, page_timing, render, render_ab, scaling
from pipelines.review import listing
from tests.conftest import warehouse_of


def _result(scale: str, k: float, scheduler: dict | None) -> dict:
    st = lambda sec, mb: {"seconds": sec * k, "peak_mb": mb}  # noqa: E731
    r = {"scale": scale, "files": int(100 * k), "households": int(1000 * k), "floor": {"wall": 2.0 * k},
         "stages": {"discover": st(1, 100), "parse": st(2, 300), "validate": st(3, 300), "groups_total": st(5, 300),
                    "load": st(1, 200), "consolidate": st(1, 150), "summary": st(0.5, 120)},
         "dag": {"wall": 20.0 * k}, "resubmission": {"wall": 5.0 * k}, "ratio_dag_to_floor": 10.0,
         "peak_mb": 300.0 * (1 if k == 1 else 1.5)}
    if scheduler is not None:
        r["scheduler"] = scheduler
        if "seconds" in scheduler:
            r["ratio_scheduler_to_floor"] = round(scheduler["seconds"] / r["floor"]["wall"], 2)
    return r


def _sched(seconds: float) -> dict:
    return {"slots": 2, "state": "success", "seconds": seconds, "startup_seconds": 15.0, "peak_task_mb": 410.5,
            "tasks": {"plan_week": {"n": 1, "seconds": 8.0}, "process_group": {"n": 10, "seconds": 2 * seconds}}}


def test_two_scales_report_scaling_of_time_and_peak_memory():
    results = [_result("zhoukou", 1, _sched(30.0)), _result("henan", 10, _sched(240.0))]
    assert scaling(results) == [{"of": "henan", "to": "zhoukou", "factor": 10.0, "dag": 10.0, "peak_mb": 1.5,
                                 "scheduler": 8.0}]
    md = render(results, cpus=2, when="2026-11-28T12:00:00")
    assert "机器：2 核；时间：2026-11-28T12:00:00" in md
    header = next(line for line in md.splitlines() if line.startswith("| scale | files"))
    assert "| DAG end-to-end s | DAG/floor | scheduler (2 slots) s | scheduler/floor |" in header
    rows = [line for line in md.splitlines() if line.startswith("| zhoukou |") or line.startswith("| henan |")]
    assert len(rows) == 4  # main table + per-task table
    assert rows[0].count("|") == header.count("|")
    assert "| 30.0 | 15.0 |" in rows[0]  # scheduler seconds, scheduler/floor (30 / 2)
    assert "scaling time(10×)/time(1×) (henan/zhoukou): DAG end-to-end = 10.00; scheduler (2 slots) = 8.00" in md
    assert "peak memory(10×)/peak(1×) (henan/zhoukou, max stage peak) = 1.50" in md
    assert "| zhoukou | 8 | 60 (n=10) | 30 | — | 15 |" in md


def test_without_or_failed_scheduler_run_the_columns_stay_and_show_a_dash():
    md = render([_result("0.05", 1, None), _result("0.5", 10, {"error": "boom"})], cpus=2, when="x")
    assert "scheduler (2 slots)" not in scaling([_result("0.05", 1, None), _result("0.5", 10, None)])[0]
    assert "DAG end-to-end = 10.00\n" in md and "; scheduler (2 slots) =" not in md
    assert "| failed | — |" in md
    assert "task seconds summed per task_id" not in md


def test_task_seconds_of_the_full_and_resubmission_runs_are_tabled():
    full, resub = _result("zhoukou", 1, None), _result("henan", 10, None)
    full["dag"]["tasks"] = {"plan_week": 2.0, "process_group": 40.5, "publish": 6.0}
    full["resubmission"]["tasks"] = {"plan_week": 2.0, "process_group": 9.0, "publish": 6.5}
    md = render([full, resub], cpus=2, when="x")
    assert "| scale | run | plan_week | process_group | publish | tasks total |" in md
    assert "| zhoukou | full week | 2.0 | 40.5 | 6.0 | 48.5 |" in md
    assert "| zhoukou | resubmission | 2.0 | 9.0 | 6.5 | 17.5 |" in md
    assert "| henan |" not in md.split("tasks total |")[1]  # no task times recorded there: no row


def test_scheduler_rerun_and_resubmission_are_tabled_against_the_full_run():
    sched = _sched(30.0)
    sched["rerun"] = {"seconds": 6.0, "idle_seconds": 2.5, "tasks": {"plan_week": {"n": 1, "seconds": 0.5},
                                                "process_group": {"n": 10, "seconds": 3.0}}}
    sched["resubmission"] = {"seconds": 12.0, "tasks": {"plan_week": {"n": 1, "seconds": 0.5},
                                                        "process_group": {"n": 10, "seconds": 7.5}}}
    md = render([_result("zhoukou", 1, sched)], cpus=2, when="x")
    assert "scheduler resubmission/full (zhoukou) = 12 s / 30 s = 40.00%" in md
    assert "scheduler unchanged re-run/full (zhoukou) = 6 s / 30 s = 20.00%" in md
    assert "| zhoukou re-run, unchanged | 0.5 | 3 (n=10) | 6 | 2.5 | — |" in md
    assert "| zhoukou resubmission | 0.5 | 7.5 (n=10) | 12 | — | — |" in md  # not measured: a dash


def test_max_overlap_counts_slots_in_use():
    t = lambda m: dt.datetime(2026, 11, 28, 12, m)  # noqa: E731
    assert max_overlap([]) == 0
    assert max_overlap([(t(0), t(2)), (t(1), t(3)), (t(2), t(4)), (t(3), t(5))]) == 2
    assert max_overlap([(t(0), t(1)), (t(1), t(2))]) == 1


def test_idle_seconds_is_the_run_time_no_task_covers():
    t = lambda sec: dt.datetime(2026, 11, 28, 12, 0, sec)  # noqa: E731
    # run 0..20 s; tasks 1..5, 4..8 (overlapping), 10..12, and one clipped at the run's end
    spans = [(t(4), t(8)), (t(1), t(5)), (t(10), t(12)), (t(18), t(25))]
    assert idle_seconds(spans, t(0), t(20)) == 1 + 2 + 6 + 0
    assert idle_seconds([], t(0), t(20)) == 20
    assert idle_seconds([(t(0), t(20))], t(0), t(20)) == 0


def test_baseline_ratio_is_of_the_medians_and_the_noise_is_each_trees_spread():
    r = ab_ratio([10.0, 12.0, 11.0], [20.0, 21.0, 25.0])
    assert r == {"current": 11.0, "baseline": 21.0, "ratio": round(11 / 21, 3), "spread_current": 1.2,
                 "spread_baseline": 1.25, "within_noise": False}
    # 5% slower, but the baseline's own rounds differ by 10%: within noise
    r = ab_ratio([10.5, 10.5, 10.5], [10.0, 11.0, 10.0])
    assert (r["ratio"], r["spread_current"], r["spread_baseline"], r["within_noise"]) == (1.05, 1.0, 1.1, True)
    assert ab_ratio([9.0], [10.0])["within_noise"] is False  # one round each: no noise measured, any change counts
    assert ab_ratio([10.0], [10.0])["within_noise"] is True


def test_baseline_table_has_a_row_per_scale_and_measure():
    result = {"scale": "0.05", "rounds": 3, "measures": {"dag": ab_ratio([10.0, 11.0, 12.0], [10.0, 10.0, 10.0])}}
    md = render_ab([result], "835bd0a", cpus=2, when="x")
    assert "| scale | measure | current s | baseline s | current/baseline | spread current | spread baseline " in md
    assert "| 0.05 | dag | 11 | 10 | 1.100 | 1.200 | 1.000 | yes |" in md
    assert "medians of 3 rounds" in md


def test_the_pages_stage_times_the_review_pages_on_a_grown_week(faulty_world, home, airflow_db):
    """The stage on a small world: its week's findings grown to about 600, the three pages timed
    (the pages read the week's re-run state from Airflow's metadata DB)."""
    home.mkdir(parents=True)
    shutil.copy(faulty_world["home"] / "warehouse.duckdb", home / "warehouse.duckdb")
    shutil.copytree(faulty_world["home"] / "lake", home / "lake")
    week = faulty_world["weeks"][0]
    wh = warehouse_of(home)
    try:
        before = listing.page(listing.Query(week), wh)[1]
    finally:
        wh.dispose()
    out = page_timing(week, findings=600)
    assert before < 600 and abs(out["findings"] - 600) <= before / 2 + 1
    assert set(out["filter"]) == {"rule", "county"} and all(out["filter"].values())
    for key in ("first_page", "filtered_page", "finding_page"):
        assert 0 < out[f"{key}_seconds"] < 30
    assert out["targets"] == {"first_page": 1.0, "filtered_page": 1.0, "finding_page": 0.5}
    assert out["within_target"] == all(out[f"{k}_seconds"] < t for k, t in out["targets"].items())


def test_the_benchmarks_table_reports_the_page_times_against_their_targets():
    r = _result("zhoukou", 1, None)
    r["pages"] = {"findings": 10_012, "filter": {"rule": "id.invalid", "county": "411622"}, "first_page_seconds": 0.31,
                  "filtered_page_seconds": 0.22, "finding_page_seconds": 0.08, "within_target": True,
                  "targets": {"first_page": 1.0, "filtered_page": 1.0, "finding_page": 0.5}}
    md = render([r], cpus=2, when="x")
    assert ("审核页面 / review pages (zhoukou, 10012 条问题，服务器端): 问题清单首页 0.31 s（目标 < 1 s），"
            "筛选页 0.22 s（目标 < 1 s），问题详情页 0.08 s（目标 < 0.5 s）") in md
