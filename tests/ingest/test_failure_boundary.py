"""One bad file never costs more than that file: an unexpected failure on one file's data,
at any step, is a finding on that file; its rows are held back; the rest of the week loads."""
from __future__ import annotations

import openpyxl
import pytest

from pipelines.ingest import stage
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.week_run import stage_and_publish

WEEK = "2026-W47"
LEDGER = "焦东村三本账2026第47周.xlsx"


def _ledger(landing):
    return next((landing / WEEK).rglob(LEDGER))


def _edit_plan(landing, cell: str, value) -> None:
    path = _ledger(landing)
    wb = openpyxl.load_workbook(path)
    wb["计划进度账"][cell] = value
    wb.save(path)


def _loaded(table: str) -> int:
    return int(Warehouse(get_settings().warehouse_url).scalar(f"SELECT COUNT(*) FROM {table}"))


@pytest.mark.parametrize("value", [None, "待定", "二〇二七"], ids=["blank", "pending", "text"])
def test_a_ledger_with_an_odd_planned_exit_year_loads_the_week(examples_landing, value):
    """计划脱贫年度 blank (a 新识别 household often has none yet), 待定, or not a number: the
    ledger summary used to raise and stop the city's week."""
    _edit_plan(examples_landing, "H40", value)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 1 and summary["loaded"]["township_reports"] == 9
    assert summary["loaded"]["ledger_households"] + summary["quarantined"]["ledger_households"] == 45
    wh = Warehouse(get_settings().warehouse_url)
    assert int(wh.scalar("SELECT COUNT(*) FROM core.ledger_summary")) == 1


def test_an_unexpected_failure_checking_one_file_is_a_finding_on_that_file(examples_landing, monkeypatch):
    """Fault injection: the checks raise whenever the village report is among the files
    checked. The report gets a file.internal_error finding naming the step, its row is
    quarantined; the ledger and the township report load as without the fault."""
    from pipelines.ingest import validate

    real = validate.validate_tables

    def failing(form, tables, *a, **k):
        if form == "B":
            raise RuntimeError("injected")
        return real(form, tables, *a, **k)

    monkeypatch.setattr(validate, "validate_tables", failing)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["village_reports"] == 0 and summary["quarantined"]["village_reports"] == 1
    assert summary["loaded"]["ledger_households"] == 44 and summary["loaded"]["township_reports"] == 9
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT file, unit_code, message FROM core.findings WHERE rule = 'file.internal_error'")
    assert len(f) == 1 and f["file"].iloc[0].endswith("周报(改).xlsx") and f["unit_code"].iloc[0] == "411622107201"
    assert "「校验」" in f["message"].iloc[0] and "其他文件不受影响" in f["message"].iloc[0]
    status = wh.query("SELECT original_name, status FROM core.submissions")
    assert dict(zip(status["original_name"], status["status"]))["西华县逍遥镇焦东村第47周周报(改).xlsx"] == "rejected"


def test_an_unexpected_failure_summing_one_ledger_holds_back_that_ledger_only(examples_landing, monkeypatch):
    """Fault injection in the ledger summary of one file: a finding on the ledger (step
    台账汇总), its rows quarantined, the village and township reports loaded."""
    real = stage.ledger_summary

    def failing(tables, current, week):
        if current:
            raise ValueError("injected")
        return real(tables, current, week)

    monkeypatch.setattr(stage, "ledger_summary", failing)
    summary = stage_and_publish(WEEK)
    assert summary["loaded"]["ledger_households"] == 0 and summary["quarantined"]["ledger_households"] == 45
    assert summary["loaded"]["village_reports"] == 1 and summary["loaded"]["township_reports"] == 9
    wh = Warehouse(get_settings().warehouse_url)
    f = wh.query("SELECT file, message FROM core.findings WHERE rule = 'file.internal_error'")
    assert len(f) == 1 and f["file"].iloc[0].endswith(LEDGER) and "「台账汇总」" in f["message"].iloc[0]
