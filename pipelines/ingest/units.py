"""Money units a header states: a column in 元 where the form counts 万元, or the reverse.

Money is in 万元 unless a header says 元 (docs/FORMS.md), and a ledger's 投入资金(元) may
be written 投入资金（万元）. Headers are matched without their brackets
(pipelines.ingest.headers); ``to_form_units`` reads the unit each money column states
(its header as written, else a units row right under the header, else a units line
above the table such as 单位：户、人、元), converts the column's values to the form's
unit (vectorised) and adds a warning that says so, which the file's receipt lists.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipelines import forms, labels
from pipelines.findings import WARNING, finding
from pipelines.ingest.frames import Columns
from pipelines.ingest.headers import SPECS, Layout
from pipelines.ingest.traditional import to_simplified

if TYPE_CHECKING:
    from pipelines.ingest.parsed_file import ParsedFile

_IN_BRACKETS = re.compile(r"\(([^()]*)(?:\)|$)")
_AFTER_SLASH = re.compile(r"/(万元|元)$")
_BRACKET_OR_TEXT = re.compile(r"\(.*")
# a cell of a units row under the header: (户) （人） 元 …; a units line: 单位：户、人、万元
_UNIT_WORD_RE = re.compile(r"^\(?(户|人|万元|元|个|次|人次|期|名|岁|年|%)\)?$")
_UNITS_LINE_RE = re.compile(r"^\s*(?:计量)?单位\s*[:：](.*)$", re.S)

# (unit written, form's unit) -> the values are divided by 10,000 (元 to 万元) or multiplied
_DIVIDE = {(labels.YUAN, labels.WAN): True, (labels.WAN, labels.YUAN): False}


def money_unit(header: str) -> str | None:
    """万元 or 元 when a bracket of ``header`` says so (（元/年）, (单位：万元)) or it ends
    in a slash and the unit (资金/元), else None."""
    text = to_simplified(forms.normalize_header(header)).replace("／", "/")
    for inside in _IN_BRACKETS.findall(text) + _AFTER_SLASH.findall(text):
        if labels.WAN in inside:
            return labels.WAN
        if labels.YUAN in inside:
            return labels.YUAN
    return None


def _one_money_unit(words: str) -> str | None:
    """万元 or 元 when ``words`` name exactly one of them."""
    has_wan = labels.WAN in words
    has_yuan = labels.YUAN in words.replace(labels.WAN, "")
    return labels.WAN if has_wan and not has_yuan else labels.YUAN if has_yuan and not has_wan else None


def _units_row(layout: Layout) -> list | None:
    """The row right under the header when it names units ((户) (人) (元)), else None."""
    below = layout.header_row + layout.n_header_rows
    row = layout.sheet.rows[below] if below < len(layout.sheet.rows) else []
    cells = [v for v in row if v not in ("", None)]
    if cells and all(type(v) is str and _UNIT_WORD_RE.match(forms.normalize_header(v)) for v in cells):
        return row
    return None


def _units_line(layout: Layout) -> str | None:
    """The money unit a units line above the table names (单位：户、人、元), else None."""
    for row in layout.sheet.rows[:layout.header_row]:
        for v in row:
            if type(v) is str and (m := _UNITS_LINE_RE.match(to_simplified(v))):
                return _one_money_unit(m.group(1))
    return None


def _stated(layout: Layout, j: int, row: list | None, line: str | None) -> tuple[str | None, str]:
    """The money unit column ``j`` states, and where: its header, else the units row under
    the header, else a units line above the table."""
    unit = money_unit(layout.written[j])
    if unit:
        return unit, "表头单位"
    cell = row[j] if row is not None and j < len(row) else ""
    unit = _one_money_unit(to_simplified(cell)) if type(cell) is str else None
    if unit:
        return unit, "表头下单位行所注单位"
    return line, "表上方所注单位"


def stated_units(layout: Layout) -> dict[str, str]:
    """The money unit each money column of ``layout`` states, where it states one: what a
    cell's own unit (2760元) is checked against before the column is converted."""
    row, line = _units_row(layout), _units_line(layout)
    out = {}
    for name, j in layout.mapping.items():
        if SPECS[layout.table][name].dtype == "float" and (unit := _stated(layout, j, row, line)[0]):
            out[name] = unit
    return out


def to_form_units(pf: ParsedFile, layout: Layout, parts: list[Columns]) -> None:
    """Convert the money columns of ``parts`` (one table's data and 合计 rows) whose header
    (or units row, or units line) states another unit than the form's; one warning per
    column converted."""
    row, line = _units_row(layout), _units_line(layout)
    for name, j in layout.mapping.items():
        col = SPECS[layout.table][name]
        if col.dtype != "float":
            continue
        written, where = _stated(layout, j, row, line)
        want = money_unit(col.header)
        divide = _DIVIDE.get((written, want))
        if divide is None:
            continue
        for part in parts:
            arr = part.typed[name]
            part.typed[name] = arr / 10_000 if divide else arr * 10_000
        label = _BRACKET_OR_TEXT.sub("", to_simplified(forms.normalize_header(col.header)))
        pf.problems.append(finding(
            file=pf.name, sheet=layout.sheet.name, column=layout.written[j], value=written,
            rule="column.unit_converted", severity=WARNING, dimension="ledger",
            message=f"「{label}」按{where}「{written}」填写，已换算为{want}"
                    f"（{'除以' if divide else '乘以'} 10000）"))
