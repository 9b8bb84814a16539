"""The pre-check's stage of `make bench`: a village ledger of 60 households pre-checked by
the portal's code (check_file), its seconds in the benchmark's table."""
from __future__ import annotations

from tests.pipelines.test_bench import _result


def test_the_precheck_stage_times_check_file_on_a_60_household_ledger(home):
    from huizong_dev.bench import precheck_timing

    out = precheck_timing()
    assert out["households"] == 60
    assert out["findings"] == 1  # the example's one error (an ID in scientific notation): the added rows are clean
    assert 0 < out["precheck_seconds"] and out["within_target"] == (out["precheck_seconds"] < 2.0)


def test_the_benchmarks_table_reports_the_precheck_time():
    from huizong_dev.bench import render

    r = _result("zhoukou", 1, None)
    r["precheck"] = {"households": 60, "findings": 1, "precheck_seconds": 0.35, "target_seconds": 2.0,
                     "within_target": True}
    md = render([r], cpus=2, when="2026-12-04T12:00:00")
    assert "报送平台预审 / portal pre-check (zhoukou, 60 户三本账): 0.35 s（目标 < 2 s）" in md
