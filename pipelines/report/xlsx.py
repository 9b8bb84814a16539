"""The monthly report as an Excel workbook with native charts (the viewer renders the text).
Text is always written as text (never as a formula)."""
from __future__ import annotations

import math
from pathlib import Path

import xlsxwriter

from pipelines import forms
from pipelines.report.data import FiveCharts, MonthData
from pipelines.report.svg import PALETTE, plain
from pipelines.weeks import week_words

FONT = "等线"


def _isnum(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


class _Book:
    def __init__(self, path: Path):
        self.wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True})
        f = self.wb.add_format
        self.title = f({"bold": True, "font_size": 16, "font_name": FONT, "font_color": "#A93226"})
        self.head = f({"bold": True, "bg_color": "#F2F3F4", "border": 1, "font_name": FONT, "align": "center",
                       "text_wrap": True, "valign": "vcenter"})
        self.text = f({"border": 1, "font_name": FONT})
        self.int = f({"border": 1, "font_name": FONT, "num_format": "#,##0"})
        self.dec = f({"border": 1, "font_name": FONT, "num_format": "#,##0.0"})
        self.pct = f({"border": 1, "font_name": FONT, "num_format": "0.0%"})
        self.pct2 = f({"border": 1, "font_name": FONT, "num_format": "0.00%"})
        self.note = f({"font_name": FONT, "font_color": "#666666", "italic": True})

    def cell(self, ws, r: int, c: int, v, kind: str = "int"):
        if _isnum(v):
            ws.write_number(r, c, float(v), getattr(self, kind))
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            ws.write_blank(r, c, None, self.text)
        elif isinstance(v, bool):
            ws.write_string(r, c, "是" if v else "否", self.text)
        else:
            ws.write_string(r, c, plain(v), self.text)

    def table(self, ws, r0: int, c0: int, headers: list[str], rows: list[list], kinds: list[str]) -> tuple[int, int]:
        for j, h in enumerate(headers):
            ws.write_string(r0, c0 + j, h, self.head)
        for i, row in enumerate(rows, start=1):
            for j, v in enumerate(row):
                self.cell(ws, r0 + i, c0 + j, v, kinds[j])
        return r0 + 1, r0 + len(rows)   # first and last data rows


def _chart(book: _Book, kind: str, title: str, sheet: str, cats: tuple, series: list[tuple], subtype: str | None = None,
           y_title: str = "", size=(620, 320)):
    opts = {"type": kind}
    if subtype:
        opts["subtype"] = subtype
    ch = book.wb.add_chart(opts)
    for name, ref, color in series:
        s = {"name": name, "categories": [sheet, *cats], "values": [sheet, *ref],
             "fill": {"color": color}, "border": {"color": color}}
        if kind == "line":
            s = {"name": name, "categories": [sheet, *cats], "values": [sheet, *ref], "line": {"color": color, "width": 2.25},
                 "marker": {"type": "circle", "size": 6, "fill": {"color": color}, "border": {"color": color}},
                 "data_labels": {"value": True, "position": "above"}}
        ch.add_series(s)
    ch.set_title({"name": title, "name_font": {"name": FONT, "size": 12}})
    ch.set_legend({"position": "top", "font": {"name": FONT}})
    ch.set_x_axis({"num_font": {"name": FONT}})
    ch.set_y_axis({"name": y_title, "name_font": {"name": FONT}, "num_font": {"name": FONT},
                   "major_gridlines": {"visible": True, "line": {"color": "#E5E5E5"}}})
    ch.set_size({"width": size[0], "height": size[1]})
    return ch


def _five_sheet(book: _Book, name: str, fc: FiveCharts) -> None:
    ws = book.wb.add_worksheet(name)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 6, 12)
    ws.write_string(0, 0, plain(f"{fc.unit_name}五张图"), book.title)
    r = 2
    blocks = []
    d = fc.distribution
    f, last = book.table(ws, r, 0, [fc.part_label, "贫困户（户）", "贫困人口（人）"],
                      d[["name", "households", "people"]].values.tolist(), ["text", "int", "int"])
    blocks.append(_chart(book, "column", f"{fc.unit_name}贫困对象分布图", name, (f, 0, last, 0),
                         [("贫困户（户）", (f, 1, last, 1), PALETTE[0]), ("贫困人口（人）", (f, 2, last, 2), PALETTE[1])], y_title="户/人"))
    r = last + 3
    p = fc.progress
    f, last = book.table(ws, r, 0, ["单位", "计划今年脱贫（户）", "其中已脱贫（户）"],
                      p[["name", "planned", "done"]].values.tolist(), ["text", "int", "int"])
    blocks.append(_chart(book, "bar", f"{fc.unit_name}任务进度分解图（{fc.year}年）", name, (f, 0, last, 0),
                         [("计划今年脱贫（户）", (f, 1, last, 1), "#AAB7B8"), ("其中已脱贫（户）", (f, 2, last, 2), PALETTE[2])]))
    r = last + 3
    c = fc.causes
    f, last = book.table(ws, r, 0, ["主要致贫原因", "贫困户（户）"], c[["cause", "households"]].values.tolist(), ["text", "int"])
    pie = book.wb.add_chart({"type": "pie"})
    pie.add_series({"name": "致贫原因", "categories": [name, f, 0, last, 0], "values": [name, f, 1, last, 1],
                    "data_labels": {"percentage": True, "category": True, "leader_lines": True,
                                    "font": {"name": FONT}},
                    "points": [{"fill": {"color": PALETTE[i % len(PALETTE)]}} for i in range(len(c))]})
    pie.set_title({"name": f"{fc.unit_name}致贫原因反映图", "name_font": {"name": FONT, "size": 12}})
    pie.set_legend({"position": "right", "font": {"name": FONT}})
    pie.set_size({"width": 620, "height": 320})
    blocks.append(pie)
    r = last + 3
    m = fc.measures
    f, last = book.table(ws, r, 0, ["措施类别", "计划", "实施中", "已完成"], m[["kind", "计划", "实施中", "已完成"]].values.tolist(),
                      ["text", "int", "int", "int"])
    blocks.append(_chart(book, "column", f"{fc.unit_name}计划措施细则图（项）", name, (f, 0, last, 0),
                         [(s, (f, j, last, j), col) for j, (s, col) in enumerate(
                             [("计划", "#F5B041"), ("实施中", PALETTE[1]), ("已完成", PALETTE[2])], start=1)],
                         subtype="stacked", y_title="项"))
    r = last + 3
    e = fc.entries_exits
    f, last = book.table(ws, r, 0, ["年度", "识别进入（户）", "脱贫退出（户）"],
                      [[str(y), a, b] for y, a, b in e[["year", "entries", "exits"]].values.tolist()], ["text", "int", "int"])
    blocks.append(_chart(book, "column", f"{fc.unit_name}年度进出动态图", name, (f, 0, last, 0),
                         [("识别进入（户）", (f, 1, last, 1), PALETTE[0]), ("脱贫退出（户）", (f, 2, last, 2), PALETTE[2])], y_title="户"))
    for i, ch in enumerate(blocks):
        ws.insert_chart(2 + 17 * i, 5, ch)


def write_xlsx(d: MonthData, path: Path) -> Path:
    book = _Book(path)
    r = d.row
    is_city = d.level == forms.LEVEL_CITY
    title = f"{d.region_name}精准扶贫月总结报告（{d.month_label}）"
    # 概览
    ws = book.wb.add_worksheet("概览")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 2, 10)
    ws.set_column(3, 3, 60)
    ws.write_string(0, 0, plain(title), book.title)
    ws.write_string(1, 0, plain(f"统计周次：{d.weeks[0]} 至 {d.weeks[-1]}（共 {r['weeks_in_month']} 周，已入库 {r['weeks_loaded']} 周）"),
                    book.note)
    target = r["microcredit_target_wan"]
    head = [
        ("月末贫困户数", r["hh_close"], "户", "int", "月末周的期末贫困户数"),
        ("月末贫困人口数", r["pp_close"], "人", "int", "月末周的期末贫困人口数"),
        ("贫困村数", r["poor_villages"], "个", "int", "区划名录中的贫困村"),
        ("月初贫困户数", r["hh_open"], "户", "int", "本月首周的期初贫困户数"),
        ("本月新识别户数", r["hh_new"], "户", "int", ""),
        ("本月返贫户数", r["hh_return"], "户", "int", ""),
        ("本月脱贫户数", r["hh_exit"], "户", "int", ""),
        ("本月脱贫人数", r["pp_exit"], "人", "int", ""),
        ("本月注销户数", r["hh_cancel"], "户", "int", ""),
        ("计划今年脱贫户数", r["planned_exit_this_year"], "户", "int", "三本账中计划脱贫年度为本年"),
        ("其中已脱贫户数", r["planned_exit_done"], "户", "int", ""),
        ("年度脱贫计划完成率", r["exit_plan_rate"], "", "pct", "已脱贫 ÷ 计划"),
        ("本月发放扶贫小额信贷", r["microcredit_wan"], "万元", "dec", ""),
        ("小额信贷月度任务", target, "万元", "dec", "重点县每月 1000 万元；全市为各重点县之和"),
        ("小额信贷任务完成率", r["microcredit_rate"], "", "pct", ""),
        ("小额信贷任务是否完成", None if target != target or target is None else ("完成" if r["microcredit_met"] else "未完成"),
         "", "text", "全市：所有重点县均完成"),
        ("示范基地数（累计）", r["demo_bases_cum"], "个", "int", ""),
        ("基地带动贫困户数", r["demo_driven_hh"], "户", "int", ""),
        ("基地带动贫困人口数", r["demo_driven_pp"], "人", "int", ""),
        ("本月到村扶贫资金", r["funds_to_village_wan"], "万元", "dec", ""),
        ("本月投入财政扶贫资金", r["fiscal_funds_wan"], "万元", "dec", ""),
        ("本月技能培训人次", r["training_persons"], "人次", "int", ""),
        ("帮扶责任人覆盖率", r["helper_coverage"], "", "pct", "月末"),
        ("帮扶措施覆盖率", r["measure_coverage"], "", "pct", "月末"),
        ("报送率", r["reporting_rate"], "", "pct", "实报 ÷ 应报"),
        ("及时率", r["on_time_rate"], "", "pct", "按时 ÷ 应报"),
        ("八个准综合准确率", r["accuracy_overall"], "", "pct2", ""),
        ("本月错误数", r["findings_errors"], "条", "int", ""),
        ("本月警告数", r["findings_warnings"], "条", "int", ""),
        ("月末待处理问题数", r["findings_open_month_end"], "条", "int", ""),
        ("本月逐级核对差异数", r["discrepancies"], "条", "int", "不含水分"),
    ]
    if d.level == forms.LEVEL_COUNTY:
        head.append(("综合得分全市排名", r["rank_in_parent"], "名", "int", f"共 {len(d.counties)} 个县市区"))
    ws.write_string(3, 0, "指标", book.head)
    ws.write_string(3, 1, "数值", book.head)
    ws.write_string(3, 2, "单位", book.head)
    ws.write_string(3, 3, "说明", book.head)
    for i, (k, v, unit, kind, note) in enumerate(head, start=4):
        ws.write_string(i, 0, k, book.text)
        book.cell(ws, i, 1, v, kind)
        ws.write_string(i, 2, unit, book.text)
        ws.write_string(i, 3, note, book.text)
    # 排名
    ws = book.wb.add_worksheet("排名")
    ws.set_column(0, 1, 12)
    ws.set_column(2, 14, 11)
    rows = d.counties if is_city else d.children.sort_values("rank_in_parent")
    heads = ["名次", "单位", "重点县", "综合得分", "月末贫困户", "月末贫困人口", "本月脱贫户", "年度脱贫计划完成率",
             "小额信贷（万元）", "信贷任务（万元）", "信贷任务完成", "报送率", "及时率", "八个准", "月末待处理问题"]
    data = [[c["rank_in_parent"], c["region_name"], bool(c["is_key_county"]), c["score"], c["hh_close"], c["pp_close"],
             c["hh_exit"], c["exit_plan_rate"], c["microcredit_wan"], c["microcredit_target_wan"],
             None if c["microcredit_target_wan"] != c["microcredit_target_wan"] else bool(c["microcredit_met"]),
             c["reporting_rate"], c["on_time_rate"], c["accuracy_overall"], c["findings_open_month_end"]]
            for _, c in rows.iterrows()]
    ws.write_string(0, 0, plain("各县（市、区）排名" if is_city else "各乡镇情况"), book.title)
    f, last = book.table(ws, 2, 0, heads, data, ["int", "text", "text", "pct", "int", "int", "int", "pct", "dec", "dec", "text",
                                              "pct", "pct", "pct2", "int"])
    ws.insert_chart(last + 3, 0, _chart(book, "bar", "综合得分", "排名", (f, 1, last, 1), [("综合得分", (f, 3, last, 3), PALETTE[1])]))
    ws.insert_chart(last + 3, 8, _chart(book, "column", "扶贫小额信贷：本月发放与任务（万元）", "排名", (f, 1, last, 1),
                                     [("本月发放", (f, 8, last, 8), PALETTE[0]), ("月度任务", (f, 9, last, 9), "#AAB7B8")],
                                     y_title="万元"))
    # 周趋势
    ws = book.wb.add_worksheet("周趋势")
    ws.set_column(0, 15, 11)
    t = d.trend
    heads = ["周次", "期初贫困户", "新识别", "返贫", "脱贫", "注销", "期末贫困户", "期末贫困人口", "小额信贷（万元）",
             "到村资金（万元）", "培训（人次）", "报送率", "及时率", "错误", "警告", "差异"]
    data = [[w["week"], w["hh_open"], w["hh_new"], w["hh_return"], w["hh_exit"], w["hh_cancel"], w["hh_close"], w["pp_close"],
             w["microcredit_wan"], w["funds_to_village_wan"], w["training_persons"], w["reporting_rate"], w["on_time_rate"],
             w["findings_errors"], w["findings_warnings"], w["discrepancies"]] for _, w in t.iterrows()]
    ws.write_string(0, 0, "本月各周走势", book.title)
    f, last = book.table(ws, 2, 0, heads, data, ["text", *["int"] * 7, "dec", "dec", "int", "pct", "pct", "int", "int", "int"])
    ws.insert_chart(last + 3, 0, _chart(book, "line", "各周期末贫困户数", "周趋势", (f, 0, last, 0),
                                     [("期末贫困户", (f, 6, last, 6), PALETTE[0])], y_title="户"))
    ws.insert_chart(last + 3, 8, _chart(book, "column", "各周贫困户进出（户）", "周趋势", (f, 0, last, 0),
                                     [(n, (f, j, last, j), col) for n, j, col in
                                      [("新识别", 2, PALETTE[3]), ("返贫", 3, PALETTE[4]), ("脱贫", 4, PALETTE[2]), ("注销", 5, PALETTE[7])]],
                                     y_title="户"))
    # 八个准与问题
    ws = book.wb.add_worksheet("八个准与问题")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 3, 14)
    ws.set_column(4, 4, 90)
    a = d.accuracy
    ws.write_string(0, 0, "数据质量（八个准）", book.title)
    f, last = book.table(ws, 2, 0, ["维度", "已报记录（条）", "有错误的记录（条）", "准确率"],
                      a[["dimension_label", "records", "error_records", "accuracy"]].values.tolist(), ["text", "int", "int", "pct2"])
    ch = _chart(book, "bar", "八个准：无错误记录所占比例", "八个准与问题", (f, 0, last, 0), [("准确率", (f, 3, last, 3), PALETTE[2])])
    ch.set_x_axis({"num_format": "0.0%", "num_font": {"name": FONT}, "min": max(0.0, float(a["accuracy"].min() or 0) - 0.01)
                   if len(a) and a["accuracy"].notna().any() else 0})
    ws.insert_chart(2, 6, ch)
    r0 = last + 3
    ws.write_string(r0, 0, plain(f"月末待处理问题最多的问题类型（{week_words(r['last_week'])}）"), book.title)
    iss = d.issues_by_rule
    book.table(ws, r0 + 2, 0, ["问题类型", "八个准维度", "严重程度", "条数", "示例"],
               iss[["rule_name", "dimension_label", "severity_label", "n", "example"]].values.tolist(),
               ["text", "text", "text", "int", "text"])
    if d.charts:
        _five_sheet(book, "五张图", d.charts)
    for i, v in enumerate(d.villages, start=1):
        _five_sheet(book, f"贫困村{i:03d}", v)
    book.wb.close()
    return path
