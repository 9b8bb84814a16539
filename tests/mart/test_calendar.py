"""Week-to-month assignment (the month holding four or more of the week's days)."""
from __future__ import annotations

import datetime as dt

import pytest

from pipelines.mart.calendar import days_in_month, months_to_date, parse_month, week_row, weeks_of_month
from pipelines.weeks import month_of_week, week_label


@pytest.mark.parametrize("week, month, days", [
    ("2026-W44", "2026-10", 6),   # Mon 26 Oct – Sun 1 Nov: six days in October
    ("2026-W45", "2026-11", 7),
    ("2026-W48", "2026-11", 7),   # 23–29 Nov
    ("2026-W49", "2026-12", 6),   # Mon 30 Nov – Sun 6 Dec: six days in December
    ("2026-W53", "2026-12", 4),   # Mon 28 Dec 2026 – Sun 3 Jan 2027: four days in December
    ("2027-W01", "2027-01", 7),   # starts Mon 4 Jan 2027
    ("2025-W01", "2025-01", 5),   # Mon 30 Dec 2024 – Sun 5 Jan 2025: the week of 2025-01
    ("2020-W53", "2020-12", 4),   # Mon 28 Dec 2020 – Sun 3 Jan 2021
    ("2026-W18", "2026-04", 4),   # Mon 27 Apr – Sun 3 May 2026: Thursday 30 Apr, four days in April
    ("2026-W40", "2026-10", 4),   # Mon 28 Sep – Sun 4 Oct 2026: Thursday 1 Oct, four days in October
    ("2026-W09", "2026-02", 6),   # Mon 23 Feb – Sun 1 Mar 2026
])
def test_week_belongs_to_the_month_holding_four_or_more_days(week, month, days):
    assert month_of_week(week) == month
    assert days_in_month(week) == days
    assert week_row(week)["month"] == month


def test_weeks_of_november_2026():
    assert weeks_of_month("2026-11") == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert weeks_of_month("2026-10") == ["2026-W40", "2026-W41", "2026-W42", "2026-W43", "2026-W44"]
    assert weeks_of_month("2026-12") == ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"]
    assert weeks_of_month("2025-01")[0] == "2025-W01"
    assert weeks_of_month("2024-12")[-1] == "2024-W52"


def test_every_week_falls_in_exactly_one_month():
    for year in range(2020, 2029):
        months = [f"{year}-{m:02d}" for m in range(1, 13)]
        assigned = [w for m in months for w in weeks_of_month(m)]
        n = dt.date(year, 12, 28).isocalendar().week
        assert assigned == [week_label(year, i) for i in range(1, n + 1)], year
        assert all(4 <= len(weeks_of_month(m)) <= 5 for m in months)


def test_month_parsing_and_year_to_date():
    assert parse_month("2026-11") == (2026, 11)
    with pytest.raises(ValueError):
        parse_month("2026-13")
    with pytest.raises(ValueError):
        parse_month("11/2026")
    assert months_to_date("2026-03") == ["2026-01", "2026-02", "2026-03"]
