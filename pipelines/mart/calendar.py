"""Weeks and months for the mart: a week belongs to the month holding four or more of its
days (its Thursday's month), as DHIS2 assigns weeks to months."""
from __future__ import annotations

import datetime as dt
import re

from pipelines.weeks import month_of_week, week_end, week_of, week_start

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(month: str) -> tuple[int, int]:
    m = _MONTH_RE.match(str(month).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"月份格式应为 2026-11，收到 {month!r}")
    return int(m.group(1)), int(m.group(2))


def weeks_of_month(month: str) -> list[str]:
    """The ISO weeks assigned to `month`, in order (4 or 5 of them)."""
    year, mon = parse_month(month)
    first = dt.date(year, mon, 1)
    # The first Thursday on or after the 1st is in the month; its week is the first.
    thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    out = []
    while thursday.month == mon:
        out.append(week_of(thursday))
        thursday += dt.timedelta(weeks=1)
    return out


def days_in_month(week: str) -> int:
    """How many of the week's seven days fall in the month it is assigned to."""
    month = month_of_week(week)
    start = week_start(week)
    return sum(1 for i in range(7) if f"{(start + dt.timedelta(days=i)):%Y-%m}" == month)


def week_row(week: str) -> dict:
    return {"week": week, "week_start": week_start(week), "week_end": week_end(week), "month": month_of_week(week),
            "iso_year": int(week[:4]), "iso_week": int(week[-2:]), "days_in_month": days_in_month(week)}


def weeks_of_years(years: list[int]) -> list[str]:
    """Every ISO week of the given ISO years (52 or 53 each), in order."""
    out = []
    for year in sorted(set(years)):
        last = dt.date(year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
        out += [f"{year}-W{n:02d}" for n in range(1, last + 1)]
    return out


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of `month`."""
    year, mon = parse_month(month)
    nxt = dt.date(year + mon // 12, mon % 12 + 1, 1)
    return dt.date(year, mon, 1), nxt - dt.timedelta(days=1)


def month_row(month: str) -> dict:
    year, mon = parse_month(month)
    weeks = weeks_of_month(month)
    start, end = month_bounds(month)
    return {"month": month, "month_start": start, "month_end": end, "year": year, "month_of_year": mon,
            "first_week": weeks[0], "last_week": weeks[-1], "weeks_in_month": len(weeks)}


def months_to_date(month: str) -> list[str]:
    """January of the month's year up to `month`."""
    year, mon = parse_month(month)
    return [f"{year}-{m:02d}" for m in range(1, mon + 1)]
