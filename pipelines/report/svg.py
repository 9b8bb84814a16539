"""Hand-written SVG charts for the HTML report: no JavaScript, no fonts shipped; the text is
real text that the viewer renders with its own CJK font."""
from __future__ import annotations

import math
from html import escape

FONT = "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"
PALETTE = ["#c0392b", "#2e86c1", "#27ae60", "#f39c12", "#8e44ad", "#16a085", "#d35400", "#7f8c8d",
           "#2c3e50", "#e84393", "#6c5ce7"]

# Characters outside ASCII / CJK ideographs / CJK punctuation / full-width forms, and their
# replacements (so that any CJK font renders every glyph).
_PLAIN = str.maketrans({"\u201c": "「", "\u201d": "」", "\u2018": "『", "\u2019": "』", "\u2014": "－", "\u2013": "－",
                        "\u2212": "-", "\u00b7": "，", "\u2026": "。。。", "\u00d7": "x", "\u2265": ">=", "\u2264": "<=",
                        "\u00a0": " ", "\u2192": "->", "\u00f7": "/", "\u2022": "，"})


def allowed_char(ch: str) -> bool:
    o = ord(ch)
    return (o < 0x80 or 0x4E00 <= o <= 0x9FFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF)


def plain(text: object) -> str:
    """Text safe for any CJK font: typographic marks mapped, anything else outside the
    allowed ranges replaced by a full-width question mark."""
    s = "" if text is None else str(text)
    s = s.translate(_PLAIN)
    return "".join(ch if allowed_char(ch) else "？" for ch in s)


def _t(text: object) -> str:
    return escape(plain(text))


def fmt_num(v: float, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


def nice_max(v: float) -> float:
    if v <= 0 or math.isnan(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{_t(title)}" '
            f'font-family="{FONT}" font-size="12">'
            f'<title>{_t(title)}</title>'
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
            f'<text x="{width / 2:.0f}" y="22" text-anchor="middle" font-size="15" font-weight="bold" '
            f'fill="#222">{_t(title)}</text>' + "".join(body) + "</svg>")


def _legend(series: list[tuple], x: float, y: float) -> list[str]:
    out = []
    for i, (name, _, color) in enumerate(series):
        out.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x + 16:.0f}" y="{y:.0f}" fill="#333">{_t(name)}</text>')
        x += 28 + 13 * len(plain(name))
    return out


def bar_chart(categories: list[str], series: list[tuple], title: str, unit: str = "", width: int = 660,
              height: int = 330, stacked: bool = False, digits: int = 0, labels: bool = True) -> str:
    """Vertical bars; `series` = [(name, values, color)], grouped or stacked."""
    n = max(len(categories), 1)
    left, right, top, bottom = 64, 16, 66, 70
    pw, ph = width - left - right, height - top - bottom
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(categories))] if stacked else \
        [max([float(s[1][i] or 0) for s in series] or [0]) for i in range(len(categories))]
    top_v = nice_max(max(totals or [0]))
    body = _legend(series, left, 44)
    for k in range(5):
        v = top_v * k / 4
        y = top + ph - ph * k / 4
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{fmt_num(v, digits if top_v < 10 else 0)}</text>')
    if unit:
        body.append(f'<text x="{left - 6}" y="{top - 14}" text-anchor="end" fill="#555">{_t(unit)}</text>')
    slot = pw / n
    group = len(series) if not stacked else 1
    bw = min(48.0, slot * 0.75 / group)
    for i, cat in enumerate(categories):
        x0 = left + slot * i + (slot - bw * group) / 2
        base = 0.0
        for j, (name, values, color) in enumerate(series):
            v = float(values[i] or 0)
            h = ph * v / top_v
            x = x0 if stacked else x0 + j * bw
            y = top + ph - h - (ph * base / top_v if stacked else 0)
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{max(h, 0):.1f}" fill="{color}">'
                        f'<title>{_t(cat)} {_t(name)}：{fmt_num(v, digits)}</title></rect>')
            if labels and not stacked and h >= 0 and n * group <= 24:
                body.append(f'<text x="{x + bw / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10" '
                            f'fill="#333">{fmt_num(v, digits)}</text>')
            if stacked:
                base += v
        if stacked and labels:
            body.append(f'<text x="{x0 + bw / 2:.1f}" y="{top + ph - ph * base / top_v - 3:.1f}" text-anchor="middle" '
                        f'font-size="10" fill="#333">{fmt_num(base, digits)}</text>')
        cx = left + slot * i + slot / 2
        rot = ' transform="rotate(-35 {0:.1f} {1})"'.format(cx, top + ph + 14) if n > 6 else ""
        anchor = "end" if n > 6 else "middle"
        body.append(f'<text x="{cx:.1f}" y="{top + ph + 14}" text-anchor="{anchor}" fill="#333"{rot}>{_t(cat)}</text>')
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#888"/>')
    return _svg(width, height, title, body)


def hbar_chart(categories: list[str], values: list[float], title: str, unit: str = "", color: str = PALETTE[0],
               width: int = 660, digits: int = 0, share: bool = True) -> str:
    """Horizontal bars with value and share labels (causes of poverty, rankings)."""
    n = max(len(categories), 1)
    left, right, top = 130, 110, 44
    row = 24
    height = top + row * n + 24
    pw = width - left - right
    vmax = nice_max(max([float(v or 0) for v in values] or [0]))
    total = sum(float(v or 0) for v in values) or 1.0
    body = []
    if unit:
        body.append(f'<text x="{width - 10}" y="{top - 8}" text-anchor="end" fill="#555">{_t(unit)}</text>')
    for i, (cat, v) in enumerate(zip(categories, values)):
        v = float(v or 0)
        y = top + row * i
        w = pw * v / vmax
        label = fmt_num(v, digits) + (f"（{100 * v / total:.1f}%）" if share else "")
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" fill="#333">{_t(cat)}</text>'
                    f'<rect x="{left}" y="{y + 4}" width="{max(w, 0):.1f}" height="{row - 8}" fill="{color}">'
                    f'<title>{_t(cat)}：{_t(label)}</title></rect>'
                    f'<text x="{left + w + 6:.1f}" y="{y + 16}" fill="#333">{_t(label)}</text>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + row * n}" stroke="#888"/>')
    return _svg(width, height, title, body)


def line_chart(x: list[str], series: list[tuple], title: str, unit: str = "", width: int = 660, height: int = 300,
               digits: int = 0, zero_based: bool = False) -> str:
    """Lines over the month's weeks; `series` = [(name, values, color)]."""
    left, right, top, bottom = 70, 24, 66, 40
    pw, ph = width - left - right, height - top - bottom
    vals = [float(v) for s in series for v in s[1] if v is not None and not math.isnan(float(v))]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if zero_based:
        lo = 0.0
    span = hi - lo
    lo, hi = (lo - max(span * 0.15, 1), hi + max(span * 0.15, 1)) if not zero_based else (0.0, nice_max(hi))
    lo = max(lo, 0.0) if min(vals or [0]) >= 0 else lo
    body = _legend(series, left, 44)
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = top + ph - ph * k / 4
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{fmt_num(v, digits)}</text>')
    if unit:
        body.append(f'<text x="{left - 6}" y="{top - 14}" text-anchor="end" fill="#555">{_t(unit)}</text>')
    n = max(len(x), 1)
    step = pw / max(n - 1, 1)
    px = [left + (step * i if n > 1 else pw / 2) for i in range(n)]
    for i, lab in enumerate(x):
        body.append(f'<text x="{px[i]:.1f}" y="{top + ph + 18}" text-anchor="middle" fill="#333">{_t(lab)}</text>')
    for name, values, color in series:
        pts = [(px[i], top + ph - ph * (float(v) - lo) / (hi - lo)) for i, v in enumerate(values) if v is not None]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="'
                        + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for (a, b), v in zip(pts, values):
            body.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="4" fill="{color}"/>'
                        f'<text x="{a:.1f}" y="{b - 8:.1f}" text-anchor="middle" font-size="11" fill="#222">'
                        f'{fmt_num(float(v), digits)}</text>')
    body.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#888"/>')
    return _svg(width, height, title, body)


def progress_chart(categories: list[str], planned: list[float], done: list[float], title: str,
                   width: int = 660) -> str:
    """Task progress: a bar per unit, the done part filled, the rate written beside it."""
    n = max(len(categories), 1)
    left, right, top, row = 130, 130, 56, 26
    height = top + row * n + 20
    pw = width - left - right
    vmax = nice_max(max([float(v or 0) for v in planned] or [0]))
    body = _legend([("计划今年脱贫户数", None, "#d5dbdb"), ("其中已脱贫", None, PALETTE[2])], left, 40)
    for i, (cat, p, d) in enumerate(zip(categories, planned, done)):
        p, d = float(p or 0), float(d or 0)
        y = top + row * i
        rate = f"{100 * d / p:.1f}%" if p > 0 else "-"
        body.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" fill="#333">{_t(cat)}</text>'
                    f'<rect x="{left}" y="{y + 5}" width="{pw * p / vmax:.1f}" height="{row - 10}" fill="#d5dbdb"/>'
                    f'<rect x="{left}" y="{y + 5}" width="{pw * d / vmax:.1f}" height="{row - 10}" fill="{PALETTE[2]}"/>'
                    f'<text x="{left + pw * p / vmax + 6:.1f}" y="{y + 17}" fill="#333">'
                    f'{fmt_num(d)}/{fmt_num(p)}户 {rate}</text>')
    return _svg(width, height, title, body)
