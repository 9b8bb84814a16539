"""The week a text names, with or without its year.

``week_in`` reads 2026年第47周 / 2026-W47 (pipelines.ingest.values.find_week) and, given
the week of the folder the file was found in, a week without a year (第47周, 47周): it
takes the year that puts the week nearest the folder's week (第52周 in the 2027-W01
folder is 2026-W52). A week number that contradicts the folder stays what it says, so
that the identity checks report it as a week mismatch, as with a full date.
"""
from __future__ import annotations

import datetime as dt
import re

from pipelines import weeks
from pipelines.ingest import values as V
from pipelines.ingest.traditional import to_simplified

# 第47周 anywhere; a bare 47周 only as the whole text (a 填报周次 cell, a sheet name)
_NUMBERED_RE = re.compile(r"第\s*(\d{1,2})\s*周")
_BARE_RE = re.compile(r"^\s*(\d{1,2})\s*周\s*$")


def week_in(text: str, folder_week: str | None) -> str | None:
    """'2026-W47' for a text naming a week, else None (a yearless week needs ``folder_week``)."""
    if not text:
        return None
    text = to_simplified(text)  # 第47週
    full = V.find_week(text)
    if full or not folder_week:
        return full
    s = V.halfwidth(text)
    m = _NUMBERED_RE.search(s) or _BARE_RE.match(s)
    return _nearest(int(m.group(1)), folder_week) if m else None


def _nearest(num: int, folder_week: str) -> str | None:
    """The ISO week ``num`` of the year before, of or after the folder's nearest to it."""
    year, _ = weeks.parse_week(folder_week)
    start = weeks.week_start(folder_week)
    best = None
    for y in (year - 1, year, year + 1):
        try:
            monday = dt.date.fromisocalendar(y, num, 1)
        except ValueError:
            continue
        if best is None or abs((monday - start).days) < abs((best - start).days):
            best = monday
    return weeks.week_of(best) if best else None
