"""ISO weeks (Monday to Sunday) and the Monday 10:00 deadline."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[int, int]:
    m = _WEEK_RE.match(week.strip())
    if not m:
        raise ValueError(f"周次格式应为 2026-W47，收到 {week!r}")
    year, num = int(m.group(1)), int(m.group(2))
    dt.date.fromisocalendar(year, num, 1)  # validates the week number
    return year, num


def week_label(year: int, num: int) -> str:
    return f"{year}-W{num:02d}"


def week_words(week: str) -> str:
    """'2026-W47' as a person writes it: 2026年第47周."""
    year, num = parse_week(week)
    return f"{year}年第{num}周"


def week_start(week: str) -> dt.date:
    year, num = parse_week(week)
    return dt.date.fromisocalendar(year, num, 1)


def week_end(week: str) -> dt.date:
    return week_start(week) + dt.timedelta(days=6)


def week_of(day: dt.date) -> str:
    iso = day.isocalendar()
    return week_label(iso.year, iso.week)


def shift_week(week: str, n: int) -> str:
    return week_of(week_start(week) + dt.timedelta(weeks=n))


def week_range(spec: str) -> list[str]:
    """'2026-W45..2026-W48' -> the four weeks; a single week -> [week]."""
    if ".." in spec:
        first, last = spec.split("..", 1)
        start, stop = week_start(first), week_start(last)
        if stop < start:
            raise ValueError(f"周次范围颠倒：{spec}")
        return [week_of(start + dt.timedelta(weeks=i)) for i in range((stop - start).days // 7 + 1)]
    parse_week(spec)
    return [spec.strip()]


def deadline(week: str, tz: str = "Asia/Shanghai", hour: int = 10) -> dt.datetime:
    """Submissions for a week are due the following Monday at `hour` local time."""
    monday = week_start(week) + dt.timedelta(days=7)
    return dt.datetime.combine(monday, dt.time(hour), tzinfo=ZoneInfo(tz))


def reporting_week(now: dt.datetime, tz: str = "Asia/Shanghai", hour: int = 10) -> str:
    """The week units are reporting at ``now``: the one whose deadline comes next (until
    Monday ``hour`` o'clock, the week just ended)."""
    local = now.astimezone(ZoneInfo(tz)) - dt.timedelta(hours=hour)
    return week_of(local.date())


def month_of_week(week: str) -> str:
    """The month holding four or more of the week's days (its Thursday's month)."""
    thursday = week_start(week) + dt.timedelta(days=3)
    return f"{thursday.year}-{thursday.month:02d}"
