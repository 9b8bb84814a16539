import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pipelines.ingest.schedule import run_date_for_week, week_for_run
from pipelines.weeks import deadline, month_of_week, reporting_week, shift_week, week_end, week_range, week_start


def test_week_bounds_and_range():
    assert week_start("2026-W47") == dt.date(2026, 11, 16)
    assert week_end("2026-W47") == dt.date(2026, 11, 22)
    assert week_range("2026-W45..2026-W48") == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert week_range("2026-W52..2027-W01") == ["2026-W52", "2026-W53", "2027-W01"]
    assert shift_week("2027-W01", -1) == "2026-W53"
    with pytest.raises(ValueError):
        week_range("2026-W48..2026-W45")
    with pytest.raises(ValueError):
        week_range("2026-47")


def test_deadline_is_next_monday_ten_shanghai():
    d = deadline("2026-W47")
    assert d == dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_week_being_reported_changes_at_the_monday_deadline():
    sh = ZoneInfo("Asia/Shanghai")
    assert reporting_week(dt.datetime(2026, 11, 19, 15, 0, tzinfo=sh)) == "2026-W47"  # Thursday of W47
    assert reporting_week(dt.datetime(2026, 11, 23, 9, 59, tzinfo=sh)) == "2026-W47"  # Monday before 10:00
    assert reporting_week(dt.datetime(2026, 11, 23, 10, 0, tzinfo=sh)) == "2026-W48"
    # 01:30 UTC on Monday is 09:30 in Shanghai: still the week just ended
    assert reporting_week(dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.timezone.utc)) == "2026-W47"


def test_month_holding_four_days():
    assert month_of_week("2026-W44") == "2026-10"  # Oct 26 - Nov 1: Thursday Oct 29
    assert month_of_week("2026-W45") == "2026-11"


def test_scheduled_run_processes_the_week_just_ended():
    run = run_date_for_week("2026-W47")
    assert run == dt.datetime(2026, 11, 23, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert week_for_run("", run) == "2026-W47"
    # A logical date given in UTC (04:00 UTC = 12:00 Shanghai) maps the same way.
    assert week_for_run(None, run.astimezone(dt.timezone.utc)) == "2026-W47"
    assert week_for_run("2026-W40", run) == "2026-W40"
