"""The monthly report (月总结报告): the city's and each county's, as HTML and xlsx, written to
$HUIZONG_HOME/reports/<month>/."""
from __future__ import annotations

from pathlib import Path

from pipelines import forms
from pipelines.mart.calendar import parse_month
from pipelines.report.data import five_charts, month_data, poor_villages_of
from pipelines.report.html import render_html
from pipelines.report.xlsx import write_xlsx
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from pipelines.weeks import month_of_week


def month_for_run(param_month: str | None, event_extras: list[dict] | None = None,
                  wh: Warehouse | None = None) -> str:
    """An explicit month wins; else the month named by the newest triggering weekly-load event;
    else the month of the newest loaded week."""
    if param_month:
        parse_month(param_month)
        return param_month.strip()
    extras = [e for e in (event_extras or []) if e.get("month") or e.get("week")]
    if extras:
        newest = max(extras, key=lambda e: str(e.get("week") or ""))
        return newest.get("month") or month_of_week(newest["week"])
    wh = wh or Warehouse(get_settings().warehouse_url)
    week = wh.scalar("SELECT MAX(week) FROM core.loads")
    if not week:
        raise ValueError("无法确定月份：没有指定 month 参数，也没有已入库的周次")
    return month_of_week(week)


def report_dir(month: str) -> Path:
    parse_month(month)
    return get_settings().home / "reports" / month


def write_unit_report(month: str, region_code: str, wh: Warehouse, out_dir: Path,
                      villages: bool | list[str] = False) -> list[Path]:
    settings = get_settings()
    d = month_data(wh, month, region_code, settings.microcredit_monthly_target_wan)
    d.charts = five_charts(wh, month, region_code, d.row["last_week"])
    if villages and d.level == forms.LEVEL_COUNTY:
        codes = poor_villages_of(wh, region_code) if villages is True else \
            [c for c in villages if c.startswith(region_code)]
        d.villages = [five_charts(wh, month, c, d.row["last_week"]) for c in codes]
    stem = f"{month}_{d.region_name}_月总结"
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(render_html(d), encoding="utf-8")
    xlsx_path = write_xlsx(d, out_dir / f"{stem}.xlsx")
    return [html_path, xlsx_path]


def write_monthly_reports(month: str, wh: Warehouse | None = None, counties: list[str] | None = None,
                          villages: bool | list[str] = False) -> list[Path]:
    """The city's report and each county's (or the given counties'); with `villages`, each
    county report also carries the five charts of its poor villages (True: all of them)."""
    wh = wh or Warehouse(get_settings().warehouse_url)
    out_dir = report_dir(month)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_unit_report(month, forms.CITY_CODE, wh, out_dir)
    codes = wh.query("SELECT region_code FROM mart.monthly_conclusion WHERE month = :m AND level = :lv "
                     "ORDER BY region_code", {"m": month, "lv": forms.LEVEL_COUNTY})["region_code"].tolist()
    for code in codes if counties is None else [c for c in codes if c in counties]:
        paths += write_unit_report(month, code, wh, out_dir, villages)
    return paths
