"""The monthly report as one self-contained HTML file: inline CSS and SVG, no scripts, no
web fonts, nothing fetched: it opens offline in any browser."""
from __future__ import annotations

import datetime as dt
import math

import jinja2
from markupsafe import Markup

from pipelines import forms
from pipelines.report import svg
from pipelines.report.data import FiveCharts, MonthData
from pipelines.weeks import week_words

P = svg.PALETTE


def pct(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * float(v):.{digits}f}%"


def num(v, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):,.{digits}f}"


def yes_no(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "完成" if bool(v) else "未完成"


def five_chart_svgs(fc: FiveCharts) -> list[tuple[str, Markup]]:
    """The five charts (五张图) as (title, svg) pairs."""
    d, pr, c, m, ee = fc.distribution, fc.progress, fc.causes, fc.measures, fc.entries_exits
    name = fc.unit_name
    out = [
        ("贫困对象分布图", Markup(svg.bar_chart(
            d["name"].tolist(), [("贫困户（户）", d["households"].tolist(), P[0]), ("贫困人口（人）", d["people"].tolist(), P[1])],
            f"{name}贫困对象分布图（按{fc.part_label}）", unit="户/人"))),
        ("任务进度分解图", Markup(svg.progress_chart(
            pr["name"].tolist(), pr["planned"].tolist(), pr["done"].tolist(), f"{name}任务进度分解图（{fc.year}年脱贫计划）"))),
        ("致贫原因反映图", Markup(svg.hbar_chart(
            c["cause"].tolist(), c["households"].tolist(), f"{name}致贫原因反映图（现有贫困户）", unit="户", color=P[3]))),
        ("计划措施细则图", Markup(svg.bar_chart(
            m["kind"].tolist(), [(s, m[s].tolist(), col) for s, col in zip(["计划", "实施中", "已完成"], ["#f5b041", P[1], P[2]])],
            f"{name}计划措施细则图（措施项数，按落实状态）", unit="项", stacked=True))),
        ("年度进出动态图", Markup(svg.bar_chart(
            [str(y) for y in ee["year"].tolist()],
            [("识别进入（户）", ee["entries"].tolist(), P[0]), ("脱贫退出（户）", ee["exits"].tolist(), P[2])],
            f"{name}年度进出动态图（按识别年度与计划脱贫年度）", unit="户"))),
    ]
    return out


TEMPLATE = r"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: 'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif;
       margin: 0; background: #f4f4f4; color: #222; }
main { max-width: 1360px; margin: 0 auto; background: #fff; padding: 24px 36px 48px; }
h1 { color: #a93226; font-size: 28px; margin: 8px 0 4px; text-align: center; }
.sub { text-align: center; color: #555; margin-bottom: 18px; }
h2 { border-left: 6px solid #a93226; padding-left: 10px; font-size: 20px; margin-top: 30px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.card { border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 14px; background: #fdfefe; }
.card .k { color: #666; font-size: 13px; }
.card .v { font-size: 24px; font-weight: bold; color: #a93226; margin: 4px 0; }
.card .n { color: #444; font-size: 12px; }
.card.bad .v { color: #b03a2e; } .card.good .v { color: #1e8449; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #d5d8dc; padding: 4px 6px; text-align: right; }
th { background: #f2f3f4; text-align: center; }
td.l { text-align: left; }
.charts { display: grid; grid-template-columns: repeat(2, 1fr); gap: 12px; }
.charts svg { width: 100%; height: auto; border: 1px solid #eee; }
.miss { color: #b03a2e; font-weight: bold; } .ok { color: #1e8449; }
.note { color: #666; font-size: 12px; }
footer { color: #777; font-size: 12px; margin-top: 30px; border-top: 1px solid #ddd; padding-top: 8px; }
</style>
</head>
<body><main>
<h1>{{ title }}</h1>
<div class="sub">统计周次：{{ weeks_text }}（共 {{ r.weeks_in_month }} 周，已入库 {{ r.weeks_loaded }} 周）{% if rank_text %}　{{ rank_text }}{% endif %}</div>

<h2>一、主要指标与目标完成情况</h2>
<div class="cards">
{% for c in cards %}<div class="card {{ c.cls }}"><div class="k">{{ c.k }}</div><div class="v">{{ c.v }}</div><div class="n">{{ c.n }}</div></div>
{% endfor %}</div>

<h2>二、{{ child_title }}</h2>
<table>
<tr><th>{{ rank_col }}</th><th>单位</th><th>综合得分</th><th>月末贫困户（户）</th><th>月末贫困人口（人）</th><th>本月脱贫（户）</th>
<th>年度脱贫计划完成率</th><th>小额信贷（万元）</th><th>信贷任务（万元）</th><th>信贷任务</th><th>报送率</th><th>及时率</th><th>八个准</th><th>待处理问题</th></tr>
{% for c in ranking %}<tr><td>{{ c.rank }}</td><td class="l">{{ c.name }}{% if c.key %}（重点县）{% endif %}</td><td>{{ c.score }}</td>
<td>{{ c.hh_close }}</td><td>{{ c.pp_close }}</td><td>{{ c.hh_exit }}</td><td>{{ c.exit_rate }}</td><td>{{ c.credit }}</td>
<td>{{ c.target }}</td><td class="{{ c.met_cls }}">{{ c.met }}</td><td>{{ c.rr }}</td><td>{{ c.otr }}</td><td>{{ c.acc }}</td><td>{{ c.open }}</td></tr>
{% endfor %}</table>
<div class="charts">{{ ranking_chart }}{{ credit_chart }}</div>
<p class="note">综合得分为年度脱贫计划完成率（封顶 100%）、小额信贷任务完成率（仅重点县，封顶 100%）、及时率与八个准综合准确率的平均值。</p>

<h2>三、本月各周走势</h2>
<div class="charts">{{ trend_stock }}{{ trend_flow }}{{ trend_credit }}{{ trend_reporting }}</div>
<table>
<tr><th>周次</th><th>期初贫困户</th><th>新识别</th><th>返贫</th><th>脱贫</th><th>注销</th><th>期末贫困户</th><th>期末贫困人口</th>
<th>小额信贷（万元）</th><th>到村资金（万元）</th><th>培训（人次）</th><th>报送率</th><th>及时率</th><th>错误</th><th>警告</th><th>差异</th></tr>
{% for w in weeks %}<tr><td>{{ w.week }}</td><td>{{ w.hh_open }}</td><td>{{ w.hh_new }}</td><td>{{ w.hh_return }}</td><td>{{ w.hh_exit }}</td>
<td>{{ w.hh_cancel }}</td><td>{{ w.hh_close }}</td><td>{{ w.pp_close }}</td><td>{{ w.credit }}</td><td>{{ w.funds }}</td><td>{{ w.training }}</td>
<td>{{ w.rr }}</td><td>{{ w.otr }}</td><td>{{ w.errors }}</td><td>{{ w.warnings }}</td><td>{{ w.disc }}</td></tr>
{% endfor %}</table>

<h2>四、数据质量（八个准）与待处理问题</h2>
<div class="charts">{{ accuracy_chart }}{{ issues_chart }}</div>
<h3>月末待处理问题最多的问题类型（{{ last_week_words }}）</h3>
<table>
<tr><th>问题类型</th><th>八个准维度</th><th>严重程度</th><th>条数</th><th>示例</th></tr>
{% for i in issues %}<tr><td class="l">{{ i.rule_name }}</td><td class="l">{{ i.dimension_label }}</td><td>{{ i.severity_label }}</td><td>{{ i.n }}</td><td class="l">{{ i.example }}</td></tr>
{% else %}<tr><td colspan="5" class="l">无待处理问题。</td></tr>
{% endfor %}</table>

<!--five-->
<h2 id="five">五、五张图（{{ r.region_name }}）</h2>
<div class="charts">{% for t, s in five %}{{ s }}{% endfor %}</div>
<!--/five-->
{% for v in villages %}
<h3>贫困村五张图：{{ v.name }}</h3>
<div class="charts">{% for t, s in v.charts %}{{ s }}{% endfor %}</div>
{% endfor %}

<footer>数据来源：汇总数据仓库的月总结、周汇总、问题清单与各村三本账；待处理问题为本月末周仍待处理的问题。
一周归属于包含其四天或以上的月份。生成时间：{{ generated }}。本报告不含身份证号、电话和姓名。</footer>
</main></body></html>
"""


def _finalize(v):
    if isinstance(v, Markup):
        return v
    return svg.plain(v)


_ENV = jinja2.Environment(autoescape=True, finalize=_finalize, undefined=jinja2.StrictUndefined)


def render_html(d: MonthData) -> str:
    r = d.row
    is_city = d.level == forms.LEVEL_CITY
    key_counties = d.counties[d.counties["is_key_county"] == True]  # noqa: E712
    key_met = int((key_counties["microcredit_met"] == True).sum())  # noqa: E712
    cards = [
        {"k": "月末贫困户 / 贫困人口", "v": f"{num(r['hh_close'])}户", "n": f"{num(r['pp_close'])}人；月初 {num(r['hh_open'])}户"},
        {"k": "贫困村", "v": f"{num(r['poor_villages'])}个", "n": "区划名录中的贫困村"},
        {"k": "本月脱贫", "v": f"{num(r['hh_exit'])}户", "n": f"{num(r['pp_exit'])}人；新识别 {num(r['hh_new'])}户，返贫 {num(r['hh_return'])}户"},
        {"k": f"年度脱贫计划完成率（{str(r['last_week'])[:4]}年）", "v": pct(r["exit_plan_rate"]),
         "n": f"计划 {num(r['planned_exit_this_year'])}户，已脱贫 {num(r['planned_exit_done'])}户"},
    ]
    if is_city:
        cards.append({"k": "扶贫小额信贷（本月）", "v": f"{num(r['microcredit_wan'], 1)}万元",
                      "n": f"重点县任务 {num(r['microcredit_target_wan'])}万元；完成任务的重点县 {key_met}/{len(key_counties)}个",
                      "cls": "good" if r["microcredit_met"] else "bad"})
    elif r["microcredit_target_wan"] == r["microcredit_target_wan"] and r["microcredit_target_wan"]:
        cards.append({"k": "扶贫小额信贷（本月）", "v": f"{num(r['microcredit_wan'], 1)}万元",
                      "n": f"重点县月度任务 {num(r['microcredit_target_wan'])}万元，完成 {pct(r['microcredit_rate'])}，{yes_no(r['microcredit_met'])}",
                      "cls": "good" if r["microcredit_met"] else "bad"})
    else:
        cards.append({"k": "扶贫小额信贷（本月）", "v": f"{num(r['microcredit_wan'], 1)}万元", "n": "非重点县，无月度任务"})
    cards += [
        {"k": "精准扶贫示范基地（累计）", "v": f"{num(r['demo_bases_cum'])}个",
         "n": f"带动贫困户 {num(r['demo_driven_hh'])}户、{num(r['demo_driven_pp'])}人"},
        {"k": "报送率 / 及时率", "v": pct(r["reporting_rate"]),
         "n": f"及时率 {pct(r['on_time_rate'])}；应报 {num(r['reports_expected'])}份，实报 {num(r['reports_received'])}份"},
        {"k": "八个准综合准确率", "v": pct(r["accuracy_overall"], 2), "n": f"本月错误 {num(r['findings_errors'])}条，警告 {num(r['findings_warnings'])}条"},
        {"k": "月末待处理问题", "v": f"{num(r['findings_open_month_end'])}条", "n": "截至月末周仍未处理（未豁免、未退回、未解决）"},
        {"k": "逐级核对差异（不含水分）", "v": f"{num(r['discrepancies'])}条", "n": f"户数差异绝对值合计 {num(r['discrepancy_abs_hh'])}户"},
        {"k": "帮扶责任人覆盖率", "v": pct(r["helper_coverage"]), "n": f"帮扶措施覆盖率 {pct(r['measure_coverage'])}"},
        {"k": "本月投入资金", "v": f"{num(r['funds_to_village_wan'], 1)}万元", "n": f"到村资金；财政扶贫资金 {num(r['fiscal_funds_wan'], 1)}万元；培训 {num(r['training_persons'])}人次"},
    ]
    for c in cards:
        c.setdefault("cls", "")
    rows = d.counties if is_city else d.children.sort_values("rank_in_parent")
    ranking = [{
        "rank": num(c["rank_in_parent"]), "name": c["region_name"], "key": bool(c["is_key_county"]) if is_city else False,
        "score": f"{100 * float(c['score']):.1f}" if c["score"] == c["score"] else "-",
        "hh_close": num(c["hh_close"]), "pp_close": num(c["pp_close"]), "hh_exit": num(c["hh_exit"]),
        "exit_rate": pct(c["exit_plan_rate"]), "credit": num(c["microcredit_wan"], 1),
        "target": num(c["microcredit_target_wan"]) if c["microcredit_target_wan"] == c["microcredit_target_wan"] else "-",
        "met": yes_no(c["microcredit_met"]) if c["microcredit_target_wan"] == c["microcredit_target_wan"] else "-",
        "met_cls": ("ok" if c["microcredit_met"] else "miss") if c["microcredit_target_wan"] == c["microcredit_target_wan"] else "",
        "rr": pct(c["reporting_rate"]), "otr": pct(c["on_time_rate"]), "acc": pct(c["accuracy_overall"], 2),
        "open": num(c["findings_open_month_end"]),
    } for _, c in rows.iterrows()]
    ranking_chart = Markup(svg.hbar_chart(
        [x["name"] for x in ranking], [100 * float(c["score"] or 0) for _, c in rows.iterrows()],
        "各县综合得分排名" if is_city else "各乡镇综合得分排名", unit="分", color=P[1], digits=1, share=False))
    ch = d.counties if is_city else d.children
    credit_chart = Markup(svg.bar_chart(
        ch["region_name"].tolist(),
        [("本月发放（万元）", ch["microcredit_wan"].fillna(0).tolist(), P[0]),
         ("月度任务（万元）", ch["microcredit_target_wan"].fillna(0).tolist(), "#aab7b8")],
        "扶贫小额信贷：本月发放与重点县任务" if is_city else "各乡镇本月扶贫小额信贷", unit="万元", digits=0))
    t = d.trend
    wl = [w[-3:] for w in t["week"]]
    trend_stock = Markup(svg.line_chart(wl, [("期末贫困户（户）", t["hh_close"].tolist(), P[0])],
                                        "各周期末贫困户数", unit="户"))
    trend_flow = Markup(svg.bar_chart(wl, [("新识别", t["hh_new"].tolist(), P[3]), ("返贫", t["hh_return"].tolist(), P[4]),
                                           ("脱贫", t["hh_exit"].tolist(), P[2]), ("注销", t["hh_cancel"].tolist(), P[7])],
                                      "各周贫困户进出（户）", unit="户"))
    trend_credit = Markup(svg.bar_chart(wl, [("小额信贷（万元）", t["microcredit_wan"].tolist(), P[0]),
                                             ("到村资金（万元）", t["funds_to_village_wan"].tolist(), P[1])],
                                        "各周扶贫小额信贷与到村资金", unit="万元", digits=1))
    trend_reporting = Markup(svg.line_chart(wl, [("报送率（%）", [100 * float(v or 0) for v in t["reporting_rate"]], P[1]),
                                                 ("及时率（%）", [100 * float(v or 0) for v in t["on_time_rate"]], P[3])],
                                            "各周报送率与及时率", unit="%", digits=1))
    weeks = [{
        "week": w["week"], "hh_open": num(w["hh_open"]), "hh_new": num(w["hh_new"]), "hh_return": num(w["hh_return"]),
        "hh_exit": num(w["hh_exit"]), "hh_cancel": num(w["hh_cancel"]), "hh_close": num(w["hh_close"]),
        "pp_close": num(w["pp_close"]), "credit": num(w["microcredit_wan"], 1), "funds": num(w["funds_to_village_wan"], 1),
        "training": num(w["training_persons"]), "rr": pct(w["reporting_rate"]), "otr": pct(w["on_time_rate"]),
        "errors": num(w["findings_errors"]), "warnings": num(w["findings_warnings"]), "disc": num(w["discrepancies"]),
    } for _, w in t.iterrows()]
    a = d.accuracy
    accuracy_chart = Markup(svg.hbar_chart(a["dimension_label"].tolist(), [100 * float(v) if v == v else 0 for v in a["accuracy"]],
                                           "八个准：无错误记录所占比例", unit="%", color=P[2], digits=2, share=False))
    iu = d.issues_by_unit
    issues_chart = Markup(svg.hbar_chart(iu["unit_name"].tolist() or ["无"], iu["n"].tolist() or [0],
                                         "月末待处理问题（按" + ("县" if is_city else "乡镇") + "）", unit="条", color=P[0]))
    issues = d.issues_by_rule.to_dict("records")
    five = five_chart_svgs(d.charts) if d.charts else []
    villages = [{"name": v.unit_name, "charts": five_chart_svgs(v)} for v in d.villages]
    rank_text = ""
    if d.level == forms.LEVEL_COUNTY and r["rank_in_parent"] == r["rank_in_parent"]:
        rank_text = f"综合得分全市第 {int(r['rank_in_parent'])} 名（共 {len(d.counties)} 个县市区）"
    weeks_text = f"{week_words(d.weeks[0])} 至 {week_words(d.weeks[-1])}"
    return _ENV.from_string(TEMPLATE).render(
        title=f"{d.region_name}精准扶贫月总结报告（{d.month_label}）", r=r, weeks_text=weeks_text, rank_text=rank_text,
        cards=cards, child_title="各县（市、区）排名" if is_city else "各乡镇情况（按综合得分）",
        rank_col="名次", ranking=ranking, ranking_chart=ranking_chart, credit_chart=credit_chart,
        trend_stock=trend_stock, trend_flow=trend_flow, trend_credit=trend_credit, trend_reporting=trend_reporting,
        weeks=weeks, accuracy_chart=accuracy_chart, issues_chart=issues_chart, issues=issues, five=five,
        villages=villages, last_week_words=week_words(r["last_week"]), generated=dt.datetime.now().strftime("%Y年%m月%d日 %H:%M"))
