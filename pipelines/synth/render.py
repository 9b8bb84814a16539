"""Turning one unit's figures into a file the way clerks really send them.

Every choice of look (format, encoding, title rows, merged headers, header spelling,
value spelling, file name, folder) is drawn from a per-file random.Random seeded by the
file's identity, so the output does not depend on process scheduling.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from pipelines import forms
from pipelines.synth.writers import DateSerial, Sheet, csv_bytes, xls_bytes, xlsx_bytes

FULLWIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
FLOW_GROUPS = {
    "hh_open": ("期初", "贫困户数"), "pp_open": ("期初", "贫困人口数"),
    "hh_new": ("本周新识别", "户数"), "pp_new": ("本周新识别", "人数"),
    "hh_return": ("本周返贫", "户数"), "pp_return": ("本周返贫", "人数"),
    "hh_exit": ("本周脱贫", "户数"), "pp_exit": ("本周脱贫", "人数"),
    "hh_cancel": ("本周注销", "户数"), "pp_cancel": ("本周注销", "人数"),
    "hh_close": ("期末", "贫困户数"), "pp_close": ("期末", "贫困人口数"),
}
ZERO_STYLES = ("—", "-", "/", "")
DATE_STYLES = ("serial", "cn", "dot", "slash", "iso")


def file_rng(seed: int, *parts) -> random.Random:
    return random.Random("|".join([str(seed), *map(str, parts)]))


@dataclass
class Style:
    """The look of one file."""
    fmt: str = "xlsx"              # xlsx / xls / csv
    encoding: str = "utf-8"        # csv only
    csv_pad: bool = True
    lead_rows: int = 0
    lead_cols: int = 0
    titles: int = 1
    units_line: bool = False
    two_row: bool = False
    footer: bool = True
    p_text: float = 0.0
    p_fullwidth: float = 0.0
    zero_styles: tuple = (0,)
    thousands: bool = False
    date_styles: tuple = ("serial",)
    p_header: float = 0.0
    fullwidth_brackets: bool = False
    week_in_title: bool = False
    week_line: bool = True
    total_in_name_col: bool = False


def draw_style(rs: random.Random, form: str) -> Style:
    st = Style()
    if form == forms.FORM_A:
        st.fmt = "xls" if rs.random() < 0.08 else "xlsx"
    else:
        r = rs.random()
        st.fmt = "xlsx" if r < 0.6 else ("xls" if r < 0.75 else "csv")
    st.encoding = rs.choices(("utf-8", "utf-8-sig", "gbk"), (0.35, 0.3, 0.35))[0]
    st.csv_pad = rs.random() < 0.5
    st.lead_rows = rs.choices((0, 1, 2), (0.75, 0.18, 0.07))[0]
    st.lead_cols = 1 if rs.random() < 0.15 else 0
    st.titles = rs.choices((0, 1, 2), (0.15, 0.7, 0.15))[0]
    st.units_line = rs.random() < 0.5
    st.two_row = rs.random() < (0.5 if st.fmt != "csv" else 0.2)
    st.footer = rs.random() < 0.75
    st.p_text = rs.choice((0.0, 0.0, 0.1, 0.4))
    st.p_fullwidth = rs.choice((0.0, 0.0, 0.0, 0.15, 0.4))
    st.zero_styles = rs.choice(((0,), (0,), ("—",), ("-",), ("/",), ("",), (0, "—", "-", "/", "")))
    st.thousands = rs.random() < 0.35
    k = rs.choice((1, 1, 2, 3))
    st.date_styles = tuple(rs.sample(DATE_STYLES, k))
    st.p_header = rs.choice((0.0, 0.0, 0.15, 0.4))
    st.fullwidth_brackets = rs.random() < 0.5
    st.week_in_title = st.titles > 0 and rs.random() < (0.4 if form == forms.FORM_A else 0.6)
    st.week_line = (not st.week_in_title) or rs.random() < 0.5
    st.total_in_name_col = rs.random() < 0.3
    return st


# ------------------------------------------------------------------ spelling
def header_text(rs: random.Random, st: Style, col: forms.Column, text: str | None = None) -> str:
    t = text if text is not None else col.header
    r = rs.random()
    if text is None and r < st.p_header * 0.35 and col.synonyms:
        t = rs.choice(col.synonyms)
    elif r < st.p_header * 0.7 and len(t) >= 4:
        pos = t.find("(") if "(" in t else rs.randint(2, len(t) - 2)
        t = t[:pos] + ("\n" if rs.random() < 0.7 else " ") + t[pos:]
    if st.fullwidth_brackets:
        t = t.replace("(", "（").replace(")", "）")
    return t


def fmt_int(rs: random.Random, st: Style, v: int):
    if v == 0:
        return rs.choice(st.zero_styles)
    r = rs.random()
    if r < st.p_fullwidth:
        return str(v).translate(FULLWIDTH)
    if r < st.p_fullwidth + st.p_text:
        return str(v)
    return int(v)


def fmt_money(rs: random.Random, st: Style, v: float):
    v = round(float(v), 2)
    if v == 0:
        return rs.choice(st.zero_styles)
    r = rs.random()
    if st.thousands and abs(v) >= 1000:
        return f"{v:,.0f}" if v == int(v) else f"{v:,.2f}".rstrip("0").rstrip(".")
    if r < st.p_fullwidth:
        return f"{v:g}".translate(FULLWIDTH)
    if r < st.p_fullwidth + st.p_text:
        return f"{v:g}"
    return int(v) if v == int(v) and rs.random() < 0.5 else v


def fmt_date(rs: random.Random, st: Style, day: dt.date):
    s = rs.choice(st.date_styles)
    if s == "serial":
        return DateSerial.of(day)
    if s == "cn":
        return f"{day.year}年{day.month:02d}月{day.day:02d}日" if rs.random() < 0.5 else f"{day.year}年{day.month}月{day.day}日"
    if s == "dot":
        return f"{day.year}.{day.month:02d}.{day.day:02d}"
    if s == "slash":
        return f"{day.year}/{day.month:02d}/{day.day:02d}" if rs.random() < 0.5 else f"{day.year}/{day.month}/{day.day}"
    return day.isoformat()


def fmt_value(rs, st, col: forms.Column, v):
    if v is None:
        return None
    d = col.dtype
    if d == "int":
        return fmt_int(rs, st, int(v))
    if d == "float":
        return fmt_money(rs, st, float(v))
    if d == "date":
        return fmt_date(rs, st, v)
    return v


def week_text(week: str) -> str:
    y, n = week.split("-W")
    return f"{y}年第{int(n)}周"


# ------------------------------------------------------------------ grid building
class Grid:
    def __init__(self, st: Style):
        self.st = st
        self.rows: list[list] = [[] for _ in range(st.lead_rows)]
        self.merges: list[tuple[int, int, int, int]] = []

    def add(self, cells: list) -> int:
        self.rows.append([None] * self.st.lead_cols + list(cells))
        return len(self.rows) - 1

    def merge(self, r0, c0, r1, c1):
        lc = self.st.lead_cols
        self.merges.append((r0, c0 + lc, r1, c1 + lc))

    def col(self, c: int) -> int:
        return c + self.st.lead_cols


@dataclass
class Located:
    """Where a faulted cell ended up: 1-based row, header text as written, value as written."""
    row: int
    column: str
    value: object


@dataclass
class TableOut:
    row_index: dict = field(default_factory=dict)     # row_key -> 0-based grid row
    headers: dict = field(default_factory=dict)       # canonical -> header text as written
    located: dict = field(default_factory=dict)       # (row_key, canonical) -> Located


def put_table(g: Grid, rs, columns, rows, *, marks=None, two_row=False, total=None,
              total_label_col=0) -> TableOut:
    """Header (one or two rows) and data rows. rows: list of (row_key, values).

    marks: {(row_key, canonical): value} cells written raw (injected faults).
    total: optional (row_key, values) written with 合计 in column total_label_col.
    """
    st = g.st
    marks = marks or {}
    out = TableOut()
    names = [c.name for c in columns]
    if two_row:
        _two_row_header(g, rs, columns, out)
    else:
        hs = [header_text(rs, st, c) for c in columns]
        out.headers = dict(zip(names, hs))
        g.add(hs)
    for key, values in rows:
        cells = [marks[(key, c.name)] if (key, c.name) in marks else fmt_value(rs, st, c, v)
                 for c, v in zip(columns, values)]
        _put_row(g, out, key, cells, marks, names)
    if total is not None:
        key, values = total
        cells = []
        for i, (c, v) in enumerate(zip(columns, values)):
            mk = (key, c.name)
            if i == total_label_col:
                cells.append(forms.TOTAL_LABEL)
            elif mk in marks:
                cells.append(marks[mk])
            elif v is None:
                cells.append(None)
            else:
                cells.append(fmt_value(rs, st, c, v))
        _put_row(g, out, key, cells, marks, names)
    return out


def _put_row(g: Grid, out: TableOut, key, cells: list, marks: dict, names: list[str]) -> None:
    ri = g.add(cells)
    out.row_index[key] = ri
    for (k, name), val in marks.items():
        if k == key and name in names:
            out.located[(k, name)] = Located(ri + 1, out.headers[name], val)


def _two_row_header(g: Grid, rs, columns, out: TableOut) -> None:
    """期初/本周新识别/… over 户数/人数, each group label merged across its columns."""
    st = g.st
    top, sub = [], []
    for c in columns:
        if c.name in FLOW_GROUPS:
            grp, s = FLOW_GROUPS[c.name]
            top.append(grp)
            sub.append(s)
            out.headers[c.name] = grp + s
        else:
            h = header_text(rs, st, c)
            top.append(h)
            sub.append(None)
            out.headers[c.name] = h
    # The group label sits on its first column only.
    shown, prev = [], None
    for c, t in zip(columns, top):
        grp = FLOW_GROUPS.get(c.name, (None,))[0]
        shown.append(None if grp is not None and grp == prev else t)
        prev = grp
    r0 = g.add(shown)
    g.add(sub)
    i = 0
    while i < len(columns):
        c = columns[i]
        if c.name in FLOW_GROUPS:
            j = i
            while j + 1 < len(columns) and FLOW_GROUPS.get(columns[j + 1].name, (None,))[0] == FLOW_GROUPS[c.name][0]:
                j += 1
            if st.fmt != "csv" and j > i:
                g.merge(r0, i, r0, j)
            i = j + 1
        else:
            if st.fmt != "csv":
                g.merge(r0, i, r0 + 1, i)
            i += 1


def encode(st: Style, sheets: list[Sheet], created: dt.datetime) -> bytes:
    if st.fmt == "xlsx":
        return xlsx_bytes(sheets, created)
    if st.fmt == "xls":
        return xls_bytes(sheets)
    return csv_bytes(sheets[0].grid, st.encoding, st.csv_pad)


EXT = {"xlsx": ".xlsx", "xls": ".xls", "csv": ".csv"}
