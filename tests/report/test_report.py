"""The monthly report (月总结报告): files, figures, characters, and rendering in chromium."""
from __future__ import annotations

import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from pipelines.mart import refresh_month
from pipelines.report import week_overview  # the CLI's overview still lives in the package
from pipelines.report.data import five_charts
from pipelines.report.html import num
from pipelines.report.monthly import write_monthly_reports
from pipelines.report.svg import allowed_char, plain
from pipelines.warehouse import Warehouse
from tests.mart.helpers import month_world
from tests.report.render import read_png, screenshot, section_page

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MONTH = "2026-11"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    world = month_world(str(tmp_path_factory.getbasetemp() / "worlds"))
    home = tmp_path_factory.mktemp("report-home")
    shutil.copy(world["home"] / "warehouse.duckdb", home / "warehouse.duckdb")
    mp = pytest.MonkeyPatch()
    mp.setenv("HUIZONG_HOME", str(home))
    mp.delenv("HUIZONG_WAREHOUSE_URL", raising=False)
    wh = Warehouse(f"duckdb:///{home / 'warehouse.duckdb'}")
    refresh_month(MONTH, wh)
    village = wh.scalar("SELECT MIN(region_code) FROM mart.dim_region WHERE is_poor_village")
    paths = write_monthly_reports(MONTH, wh, villages=[village])
    yield {"home": home, "wh": wh, "paths": paths, "village": village, "world": world}
    mp.undo()


def _city(wh):
    return wh.query("SELECT * FROM mart.monthly_conclusion WHERE month = :m AND level = '市'", {"m": MONTH}).iloc[0]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.parts.append(data)


def test_city_and_county_files_exist(reports):
    out = reports["home"] / "reports" / MONTH
    names = {p.name for p in reports["paths"]}
    assert all(p.parent == out and p.stat().st_size > 2000 for p in reports["paths"])
    assert {"2026-11_周口市_月总结.html", "2026-11_周口市_月总结.xlsx"} <= names
    counties = reports["wh"].query("SELECT region_name FROM mart.dim_region WHERE level = '县'")["region_name"]
    assert len(counties) == 10
    for name in counties:
        assert f"2026-11_{name}_月总结.html" in names and f"2026-11_{name}_月总结.xlsx" in names


def test_city_html_carries_the_headline_figures(reports):
    wh = reports["wh"]
    c = _city(wh)
    html = (reports["home"] / "reports" / MONTH / "2026-11_周口市_月总结.html").read_text(encoding="utf-8")
    assert "周口市精准扶贫月总结报告（2026年11月）" in html
    for v in (c["hh_close"], c["pp_close"], c["hh_exit"], c["findings_open_month_end"]):
        assert num(v) in html
    assert f"{num(c['poor_villages'])}个" in html
    assert f"{num(c['microcredit_wan'], 1)}万元" in html
    assert f"{num(c['microcredit_target_wan'])}万元" in html
    # Every county ranked, the first first.
    counties = wh.query("SELECT region_name, rank_in_parent FROM mart.monthly_conclusion WHERE month = :m "
                        "AND level = '县' ORDER BY rank_in_parent", {"m": MONTH})
    pos = [html.index(f'<td class="l">{n}') for n in counties["region_name"]]
    assert pos == sorted(pos)
    for title in ("贫困对象分布图", "任务进度分解图", "致贫原因反映图", "计划措施细则图", "年度进出动态图"):
        assert title in html
    assert html.count("<svg") >= 5 + 4 + 4   # five charts, trends, ranking/credit, quality
    for w in ("2026-W45", "2026-W46", "2026-W47", "2026-W48"):
        assert w in html


def test_html_is_self_contained_and_every_character_has_a_cjk_glyph(reports):
    for path in (p for p in reports["paths"] if p.suffix == ".html"):
        html = path.read_text(encoding="utf-8")
        parser = _Text()
        parser.feed(html)
        text = "".join(parser.parts)
        bad = sorted({ch for ch in text if not allowed_char(ch)})
        assert not bad, (path.name, bad)
        assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
        for tag, attrs in parser.tags:
            for k in ("src", "href"):
                assert not attrs.get(k, "").startswith(("http:", "https:", "//")), (path.name, tag, attrs)
        assert re.search(r"[\u4e00-\u9fff]{4}", text)


def test_plain_maps_typographic_marks():
    assert plain("当前状态“脱贫”—注") == "当前状态「脱贫」－注"
    assert all(allowed_char(ch) for ch in plain("≥ × · … é ①"))


def test_county_report_has_its_five_charts_and_rank(reports):
    wh = reports["wh"]
    row = wh.query("SELECT * FROM mart.monthly_conclusion WHERE month = :m AND level = '县' AND rank_in_parent = 1",
                   {"m": MONTH}).iloc[0]
    html = (reports["home"] / "reports" / MONTH / f"2026-11_{row['region_name']}_月总结.html").read_text(encoding="utf-8")
    assert "综合得分全市第 1 名" in html
    assert num(row["hh_close"]) in html
    assert f"{row['region_name']}贫困对象分布图（按乡镇）" in html
    # The requested poor village's charts sit in its county's report.
    village = reports["village"]
    vname, vcounty = wh.query("SELECT region_name, county_name FROM mart.dim_region WHERE region_code = :c",
                              {"c": village}).iloc[0]
    vhtml = (reports["home"] / "reports" / MONTH / f"2026-11_{vcounty}_月总结.html").read_text(encoding="utf-8")
    assert f"贫困村五张图：{vname}" in vhtml and f"{vname}致贫原因反映图" in vhtml


def test_five_charts_agree_with_the_ledgers(reports):
    wh = reports["wh"]
    county = wh.scalar("SELECT MIN(region_code) FROM mart.dim_region WHERE level = '县' AND is_key_county")
    last = "2026-W48"
    fc = five_charts(wh, MONTH, county, last)
    ws = wh.query("SELECT * FROM mart.weekly_summary WHERE week = :w AND region_code = :c", {"w": last, "c": county}).iloc[0]
    assert fc.distribution["households"].sum() == ws["hh_close"] > 0
    assert fc.progress["planned"].sum() == ws["planned_exit_this_year"]
    poor = wh.scalar("SELECT COUNT(*) FROM core.ledger_households h JOIN mart.dim_region r ON r.region_code = h.unit_code "
                     "WHERE h.week = :w AND h.state = '贫困' AND r.county_code = :c", {"w": last, "c": county})
    assert fc.causes["households"].sum() == poor > 0
    measures = wh.scalar("SELECT COUNT(*) FROM core.ledger_measures m JOIN mart.dim_region r ON r.region_code = m.unit_code "
                         "WHERE m.week = :w AND r.county_code = :c", {"w": last, "c": county})
    assert fc.measures[["计划", "实施中", "已完成"]].to_numpy().sum() == measures > 0
    assert fc.entries_exits["entries"].sum() > 0 and fc.entries_exits["exits"].sum() > 0
    assert fc.entries_exits["year"].max() == 2026


def test_workbook_has_the_figures_and_native_charts(reports):
    wh = reports["wh"]
    c = _city(wh)
    path = reports["home"] / "reports" / MONTH / "2026-11_周口市_月总结.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:5] == ["概览", "排名", "周趋势", "八个准与问题", "五张图"]
    overview = {r[0]: r[1] for r in wb["概览"].iter_rows(min_row=5, values_only=True) if r[0]}
    assert overview["月末贫困户数"] == c["hh_close"]
    assert overview["月末贫困人口数"] == c["pp_close"]
    assert overview["贫困村数"] == c["poor_villages"]
    assert overview["小额信贷月度任务"] == c["microcredit_target_wan"]
    assert abs(overview["本月发放扶贫小额信贷"] - c["microcredit_wan"]) < 1e-6
    ranked = [r[1] for r in wb["排名"].iter_rows(min_row=4, values_only=True) if r[1]]
    assert len(ranked) == 10
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) >= 2 + 2 + 1 + 5
        xml = z.read("xl/charts/chart1.xml").decode("utf-8")
        assert "<c:barChart>" in xml or "<c:lineChart>" in xml
    # Text is text: nothing became a formula.
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith("=") for v in row)


def test_city_report_renders_in_chromium(reports):
    """Headless chromium draws the report: the first screen and one county's five charts
    are not blank (saved to tests/artifacts/ for the closing note)."""
    out = reports["home"] / "reports" / MONTH
    city = screenshot(out / "2026-11_周口市_月总结.html", ARTIFACTS / "report_city_first_screen.png")
    px = read_png(city)[..., :3].astype(float)
    assert px.shape[:2] == (2000, 1400)
    assert px.std() > 20, "blank screenshot"
    top = px[:140]                      # the title band holds dark red text on white
    assert (top.std() > 5) and ((top[..., 0] > 120) & (top[..., 1] < 90)).sum() > 200
    wh = reports["wh"]
    county = wh.query("SELECT region_name FROM mart.monthly_conclusion WHERE month = :m AND level = '县' "
                      "ORDER BY hh_close DESC LIMIT 1", {"m": MONTH})["region_name"].iloc[0]
    page = section_page(out / f"2026-11_{county}_月总结.html", "<!--five-->", "<!--/five-->",
                        reports["home"] / "five.html")
    five = screenshot(page, ARTIFACTS / "report_county_five_charts.png", size="1400,1250")
    px = read_png(five)[..., :3].astype(float)
    assert px.std() > 20
    # Bars of each chart's colours are drawn (red distribution bars, green progress/exits).
    red = (px[..., 0] > 170) & (px[..., 1] < 80) & (px[..., 2] < 80)
    green = (px[..., 1] > 150) & (px[..., 0] < 80) & (px[..., 2] < 130)
    assert red.sum() > 500 and green.sum() > 500
    # Rows with ink spread over the whole page: all three rows of charts drew.
    ink = (px.std(axis=2) > 30).any(axis=1) | (px.mean(axis=2) < 120).any(axis=1)
    assert np.mean(ink[100:1200].reshape(-1, 50).any(axis=1)) > 0.7


def test_week_overview_still_exported():
    assert callable(week_overview)
