"""Render each form for one unit into (file name, bytes, located faults, row counts)."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np

from pipelines import forms
from pipelines.synth import names as nm
from pipelines.synth.render import (EXT, Grid, Style, draw_style, encode, file_rng, fmt_date,
                                    put_table, week_text)
from pipelines.synth.writers import Sheet
from pipelines.synth.world import CANCEL, EXIT, NEW, POOR, RETURN

_CHANGE_NOTES = {
    NEW: ("经民主评议新识别纳入", "新识别纳入", "经评议公示纳入"),
    EXIT: ("种植食用菌增收，验收达标", "务工增收，验收达标", "验收达标，脱贫", "产业增收，达到脱贫标准"),
    RETURN: ("因病返贫", "因灾返贫", "因残返贫"),
    CANCEL: ("死亡注销", "迁出注销", "识别不准清退"),
}
_EPOCH = dt.date(1970, 1, 1)


def _day(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(n))


def _person(rs: random.Random) -> str:
    return rs.choice(nm.SURNAMES) + rs.choice(nm.GIVEN_NAMES)


def _clerk_date(rs: random.Random, week: str, week_end: dt.date) -> dt.date:
    return week_end + dt.timedelta(days=rs.choice((0, 0, 1)))


# ------------------------------------------------------------------ Form A
def render_a(ctx, vi: int, st: Style, rs: random.Random, marks: dict, drops: set):
    """Form A workbook for village vi. marks: {(g, canonical): value}; drops: {(sheet, g)}."""
    counts = dict(plan=0, measures=0, helpers=0, poor_hh=0, poor_pp=0, plan_clean=0, measures_clean=0,
                  helpers_clean=0, poor_hh_clean=0, poor_pp_clean=0)
    faulted_g = {g for g, _ in marks} | {g for _, g in drops}
    plan, located = _plan_sheet(ctx, vi, st, rs, marks, drops, counts, faulted_g)
    st2 = Style(**{**st.__dict__, "lead_rows": 0, "two_row": False, "titles": 1 if rs.random() < 0.3 else 0})
    measures = _measures_sheet(ctx, vi, st2, rs, drops, counts, faulted_g)
    helpers = _helpers_sheet(ctx, vi, Style(**{**st2.__dict__, "titles": 1 if rs.random() < 0.3 else 0}),
                             rs, drops, counts, faulted_g)
    return [plan, measures, helpers], located, counts


def _plan_sheet(ctx, vi, st, rs, marks, drops, counts, faulted_g):
    """计划进度账: title, unit line, one row per household, the signatures."""
    v = ctx.villages
    code, vname = v.code[vi], v.name[vi]
    full = f"{v.county_name[vi]}{v.town_name[vi]}{vname}"
    hh = ctx.hh
    gs = ctx.order[ctx.vstart[vi]:ctx.vstart[vi + 1]]
    filled = _clerk_date(rs, ctx.week, ctx.week_end)
    located = {}
    g_ = Grid(st)
    ncol = len(forms.LEDGER_PLAN)
    if st.titles:
        title = f"{vname}贫困户脱贫计划进度账" + (f"（{week_text(ctx.week)}）" if st.week_in_title else "")
        g_.add([title] + [None] * (ncol - 1))
        if st.fmt != "csv" and rs.random() < 0.6:
            g_.merge(len(g_.rows) - 1, 0, len(g_.rows) - 1, ncol - 1)
    if st.titles == 2 or rs.random() < 0.5:
        line = [None] * ncol
        line[0] = f"填报单位：{full}（{code}）"
        line[8] = "填报日期："
        d = fmt_date(rs, st, filled)
        if isinstance(d, str):
            line[8] = "填报日期：" + d
        else:
            line[9] = d
        g_.add(line)
    rows = []
    ptypes, causes, states, changes = forms.POVERTY_TYPES, forms.CAUSES, forms.STATES, forms.CHANGES
    yn = ("否", "是")
    col = {k: hh[k][gs].tolist() for k in ("hh_id", "head_name", "id_number", "size", "ptype", "cause",
                                             "ident_year", "plan_year", "state", "change", "income",
                                             "sec0", "sec1", "sec2", "sec3", "sec4", "note")}
    notes = nm.PROGRESS_NOTES
    for i, g in enumerate(gs.tolist()):
        ch = col["change"][i]
        st_ = col["state"][i]
        size = col["size"][i]
        note = rs.choice(_CHANGE_NOTES[ch]) if ch else notes[col["note"][i]]
        rows.append((g, [col["hh_id"][i], col["head_name"][i], col["id_number"][i], size,
                         ptypes[col["ptype"][i]], causes[col["cause"][i]], col["ident_year"][i],
                         col["plan_year"][i], states[st_], changes[ch], col["income"][i],
                         yn[col["sec0"][i]], yn[col["sec1"][i]], yn[col["sec2"][i]], yn[col["sec3"][i]],
                         yn[col["sec4"][i]], note]))
        counts["plan"] += 1
        poor = st_ == POOR
        if poor:
            counts["poor_hh"] += 1
            counts["poor_pp"] += size
        if g not in faulted_g:
            counts["plan_clean"] += 1
            if poor:
                counts["poor_hh_clean"] += 1
                counts["poor_pp_clean"] += size
    plan_marks = {(g, c): val for (g, c), val in marks.items()}
    # Drops point at the household's 户编号 cell in the plan sheet.
    for sheet, g in drops:
        plan_marks[(g, "household_id")] = hh["hh_id"][g]
    t = put_table(g_, rs, forms.LEDGER_PLAN, rows, marks=plan_marks)
    for key, loc in t.located.items():
        located[key] = (forms.SHEET_PLAN, loc)
    if st.footer:
        g_.add([])
        f = [None] * ncol
        f[0] = f"填表人：{rs.choice(('', vname + '文书 '))}{_person(rs)}"
        f[4] = f"审核人：{rs.choice(('', '第一书记 ', '村支书 '))}{_person(rs)}"
        g_.add(f)
    return Sheet(forms.SHEET_PLAN, g_.rows, g_.merges), located


def _measures_sheet(ctx, vi, st2, rs, drops, counts, faulted_g):
    """措施办法账: one row per measure of the village's households."""
    hid = ctx.hh["hh_id"]
    g2 = Grid(st2)
    if st2.titles:
        g2.add([f"{ctx.villages.name[vi]}贫困户脱贫措施办法账"])
    ms = ctx.m_order[ctx.m_start[vi]:ctx.m_start[vi + 1]]
    m = ctx.measures
    mrows = []
    cats, stats = forms.MEASURE_CATEGORIES, forms.MEASURE_STATUSES
    for j, g, cat, content, funds, day, status in zip(ms.tolist(), m["hh"][ms].tolist(), m["cat"][ms].tolist(),
                                                      m["content"][ms].tolist(), m["funds"][ms].tolist(),
                                                      m["day"][ms].tolist(), m["status"][ms].tolist()):
        if ("measures", g) in drops:
            continue
        mrows.append((("m", j), [hid[g], cats[cat], content, float(funds), _day(day), stats[status]]))
        counts["measures"] += 1
        counts["measures_clean"] += g not in faulted_g
    put_table(g2, rs, forms.LEDGER_MEASURES, mrows)
    return Sheet(forms.SHEET_MEASURES, g2.rows, g2.merges)


def _helpers_sheet(ctx, vi, st3, rs, drops, counts, faulted_g):
    """帮扶责任账: one row per helper paired with a household."""
    hid = ctx.hh["hh_id"]
    g3 = Grid(st3)
    if g3.st.titles:
        g3.add([f"{ctx.villages.name[vi]}贫困户脱贫帮扶责任账"])
    hs = ctx.h_order[ctx.h_start[vi]:ctx.h_start[vi + 1]]
    h = ctx.helpers
    hrows = []
    levels = forms.HELPER_ORG_LEVELS
    for j, g, name, org, level, phone, day in zip(hs.tolist(), h["hh"][hs].tolist(), h["name"][hs].tolist(),
                                                  h["org"][hs].tolist(), h["level"][hs].tolist(),
                                                  h["phone"][hs].tolist(), h["day"][hs].tolist()):
        if ("helpers", g) in drops:
            continue
        hrows.append((("h", j), [hid[g], name, org, levels[level], phone, _day(day)]))
        counts["helpers"] += 1
        counts["helpers_clean"] += g not in faulted_g
    put_table(g3, rs, forms.LEDGER_HELPERS, hrows)
    return Sheet(forms.SHEET_HELPERS, g3.rows, g3.merges)


# ------------------------------------------------------------------ Forms B, C, D
def _header_block(g: Grid, rs, st: Style, ncol: int, title: str, unit: str, code: str, week_label: str,
                  code_label: str):
    """Title rows, 填报单位/代码/填报周次 line, units line. Returns the 0-based row of the week text."""
    week_row = None
    if st.titles:
        if st.titles == 2:
            g.add(["周口市脱贫攻坚领导小组办公室"] + [None] * (ncol - 1))
        t = title + (f"（{week_label}）" if st.week_in_title else "")
        r = g.add([t] + [None] * (ncol - 1))
        if st.fmt != "csv" and rs.random() < 0.7:
            g.merge(r, 0, r, ncol - 1)
        if st.week_in_title:
            week_row = (r, t)
    line = [None] * ncol
    line[0] = f"填报单位：{unit}"
    pos = min(ncol - 1, max(3, ncol // 3 - 1))
    line[pos] = f"{code_label}：{code}"
    wtext = f"填报周次：{week_label}"
    if st.week_line or not st.week_in_title:
        line[min(ncol - 1, pos + 5)] = wtext
    r = g.add(line)
    if st.week_line or not st.week_in_title:
        week_row = (r, wtext)
    if st.units_line:
        g.add(["单位：户、人、万元"] + [None] * (ncol - 1))
    return week_row


def _footer(g: Grid, rs, st: Style, ncol: int, signer_label: str | None, filled: dt.date):
    if not st.footer:
        return
    if rs.random() < 0.6:
        g.add([])
    f = [None] * ncol
    f[0] = f"填表人：{_person(rs)}"
    f[min(4, ncol - 1)] = f"审核人：{_person(rs)}" if signer_label is None else f"{signer_label}：{_person(rs)}"
    d = fmt_date(rs, st, filled)
    if isinstance(d, str) or st.fmt == "csv":
        f[min(9, ncol - 1)] = f"填报日期：{d if isinstance(d, str) else d.serial}"
    else:
        f[min(9, ncol - 1)] = "填报日期："
        f[min(10, ncol - 1)] = d
    g.add(f)


def _values(df_row, cols):
    return [None if (isinstance(x, float) and np.isnan(x)) else (x.item() if hasattr(x, "item") else x)
            for x in (df_row[c] for c in cols)]


def render_b(ctx, vi: int, st: Style, rs, brow, marks: dict, week_label: str):
    v = ctx.villages
    cols = forms.VILLAGE_REPORT
    ncol = len(cols)
    g = Grid(st)
    title = rs.choice(("周口市精准扶贫村级周报表", f"{v.name[vi]}精准扶贫周报", "村级脱贫攻坚周报表"))
    wr = _header_block(g, rs, st, ncol, title, f"{v.county_name[vi]}{v.town_name[vi]}{v.name[vi]}",
                       v.code[vi], week_label, rs.choice(("行政区划代码", "行政区划代码", "代码")))
    t = put_table(g, rs, cols, [("row", _values(brow, [c.name for c in cols]))], marks=marks, two_row=st.two_row)
    _footer(g, rs, st, ncol, None, _clerk_date(rs, ctx.week, ctx.week_end))
    counts = dict(rows=1, rows_clean=0 if marks else 1)
    return [Sheet(rs.choice(("Sheet1", "Sheet1", "村级周报", "周报")), g.rows, g.merges)], t, wr, counts


def render_c(ctx, tcode: str, st: Style, rs, crows, ctot, marks: dict, week_label: str):
    tw = ctx.towns[tcode]
    cols = forms.TOWNSHIP_REPORT
    names = [c.name for c in cols]
    ncol = len(cols)
    g = Grid(st)
    title = rs.choice((f"{tw['name']}精准扶贫周报", f"{tw['name']}脱贫攻坚周报表", "乡镇精准扶贫周报表"))
    wr = _header_block(g, rs, st, ncol, title, f"{tw['county_name']}{tw['name']}", tcode, week_label, "代码")
    rows = [(r["village_code"], _values(r, names)) for _, r in crows.iterrows()]
    tot = [None] * ncol
    for i, n in enumerate(names):
        if n in ctot.index:
            x = ctot[n]
            tot[i] = x.item() if hasattr(x, "item") else x
    t = put_table(g, rs, cols, rows, marks=marks, two_row=st.two_row, total=("合计", tot),
                  total_label_col=1 if st.total_in_name_col else 0)
    _footer(g, rs, st, ncol, "专职副书记", _clerk_date(rs, ctx.week, ctx.week_end))
    faulty = {k for k, _ in marks if k != "合计"}
    counts = dict(rows=len(rows), rows_clean=len(rows) - len(faulty))
    return [Sheet(rs.choice(("Sheet1", "乡镇周报", "汇总")), g.rows, g.merges)], t, wr, counts


def render_d(ctx, ccode: str, st: Style, rs, drows, dtot, marks: dict, week_label: str):
    cname = ctx.county_names[ccode]
    cols = forms.COUNTY_REPORT
    names = [c.name for c in cols]
    ncol = len(cols)
    g = Grid(st)
    title = rs.choice((f"{cname}精准扶贫周报", f"{cname}脱贫攻坚工作周报表", "县级精准扶贫周报表"))
    wr = _header_block(g, rs, st, ncol, title, cname, ccode, week_label, rs.choice(("代码", "行政区划代码")))
    rows = [(r["township_code"], _values(r, names)) for _, r in drows.iterrows()]
    tot = [None] * ncol
    for i, n in enumerate(names):
        if n in dtot.index:
            x = dtot[n]
            tot[i] = x.item() if hasattr(x, "item") else x
    t = put_table(g, rs, cols, rows, marks=marks, two_row=st.two_row, total=("合计", tot),
                  total_label_col=1 if st.total_in_name_col else 0)
    _footer(g, rs, st, ncol, "专职常委", _clerk_date(rs, ctx.week, ctx.week_end))
    faulty = {k for k, _ in marks if k != "合计"}
    counts = dict(rows=len(rows), rows_clean=len(rows) - len(faulty))
    return [Sheet(rs.choice(("Sheet1", "县级周报")), g.rows, g.merges)], t, wr, counts


# ------------------------------------------------------------------ names and folders
def file_name(rs: random.Random, form: str, fmt: str, *, county: str, town: str = "", village: str = "",
              year: int, wnum: int, week_end: dt.date, suffix: str = "") -> str:
    md = f"{week_end.month:02d}{week_end.day:02d}"
    if form == forms.FORM_A:
        opts = (f"{village}三本账{year}第{wnum}周", f"{town}{village}贫困户三本账", f"{village}三本账",
                f"{village}扶贫三本账（第{wnum}周）", f"{county}{town}{village}台账{md}")
    elif form == forms.FORM_B:
        opts = (f"{county}{town}{village}第{wnum}周周报", f"{village}周报{md}", f"{town}{village}村级周报表",
                f"第{wnum}周{village}周报", f"{village}{year}年第{wnum}周周报")
    elif form == forms.FORM_C:
        opts = (f"{town}{year}年第{wnum}周扶贫周报", f"{town}乡镇周报（第{wnum}周）", f"{county}{town}周报{md}",
                f"{town}脱贫攻坚周报表第{wnum}周")
    else:
        opts = (f"{county}脱贫攻坚周报{year}W{wnum}", f"{county}县级周报第{wnum}周", f"{county}精准扶贫周报{md}",
                f"{county}第{wnum}周周报汇总")
    return rs.choice(opts) + suffix + EXT[fmt]


def county_layout(seed: int, county: str) -> str:
    """How a county arranges its files (stable across weeks)."""
    rs = file_rng(seed, "layout", county)
    return rs.choices(("nested", "village_dirs", "flat"), (0.6, 0.2, 0.2))[0]


__all__ = ["render_a", "render_b", "render_c", "render_d", "file_name", "county_layout", "draw_style",
           "file_rng", "encode"]
