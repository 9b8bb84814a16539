"""Helpers: run a week without Airflow (discover → process_group → publish → lifecycle)."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl

from pipelines.review.lifecycle import sync_lifecycle
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
LEDGER = "焦东村三本账2026第47周.xlsx"
MANGLED_HH = "4116221072010008"  # its 身份证号码 was turned into 4.116221985041398e+17 by Excel


def run_week(week: str = WEEK, run_id: str = "test") -> dict:
    summary = stage_and_publish(week, run_id=run_id)
    summary["lifecycle"] = sync_lifecycle(week, run_id=run_id)
    return summary


def warehouse() -> Warehouse:
    return Warehouse(get_settings().warehouse_url)


def folder(landing: Path, week: str = WEEK) -> Path:
    return landing / week / "西华县" / "逍遥镇"


def ledger_id_cell(ws, household_id: str = MANGLED_HH):
    """The 身份证号码 cell of a household's row in the plan sheet."""
    header_row = id_col = hh_col = None
    for row in ws.iter_rows():
        for c in row:
            if isinstance(c.value, str) and c.value.replace(" ", "") in ("身份证号码", "户主身份证号"):
                header_row, id_col = c.row, c.column
            if isinstance(c.value, str) and c.value.replace(" ", "") == "户编号":
                hh_col = c.column
        if header_row:
            break
    for r in range(header_row + 1, ws.max_row + 1):
        if str(ws.cell(r, hh_col).value) == household_id:
            return ws.cell(r, id_col)
    raise LookupError(household_id)


def resubmit_ledger(landing: Path, name: str, id_value, hour: int, as_text: bool = True) -> Path:
    """A corrected ledger (newer file) with the mangled household's ID cell set to id_value."""
    src = folder(landing) / LEDGER
    wb = openpyxl.load_workbook(src)
    ws = wb["计划进度账"]
    cell = ledger_id_cell(ws)
    cell.value = id_value
    if as_text:
        cell.data_type = "s"  # a text cell, even when it starts with '=' (never a formula)
    out = folder(landing) / name
    wb.save(out)
    t = dt.datetime(2026, 11, 23, hour, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    os.utime(out, (t, t))
    return out


def valid_id(prefix17: str = "41162219850413123") -> str:
    from stdnum.cn import ric

    return prefix17 + ric.calc_check_digit(prefix17)
