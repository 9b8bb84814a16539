"""Which ISO week a run processes."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from pipelines.settings import get_settings
from pipelines.weeks import parse_week, week_of, week_start


def week_for_run(param_week: str | None, logical_date: dt.datetime | None,
                 interval_end: dt.datetime | None = None) -> str:
    """An explicit week wins; otherwise the week that ended before the run's date
    (a Monday-noon run processes the Monday-to-Sunday week just ended)."""
    if param_week:
        parse_week(param_week)
        return param_week.strip()
    when = logical_date or interval_end
    if when is None:
        raise ValueError("无法确定周次：既没有指定 week 参数，也没有逻辑日期")
    local = when.astimezone(ZoneInfo(get_settings().tz))
    return week_of(local.date() - dt.timedelta(days=1))


def run_date_for_week(week: str, tz: str = "Asia/Shanghai") -> dt.datetime:
    """The scheduled run (Monday 12:00 local) that processes `week`."""
    monday = week_start(week) + dt.timedelta(days=7)
    return dt.datetime.combine(monday, dt.time(12), tzinfo=ZoneInfo(tz))
