"""Money units a header states: a column in 元 where the form counts 万元, or the reverse.

Money is in 万元 unless a header says 元 (docs/FORMS.md), and a ledger's 投入资金(元) may
be written 投入资金（万元）. Headers are matched without their brackets
(pipelines.ingest.headers); ``to_form_units`` reads the unit each money column's header
states as written, converts the column's values to the form's unit (vectorised) and
adds a warning that says so, which the file's receipt lists.
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
    from pipelines.ingest.parse import ParsedFile

_IN_BRACKETS = re.compile(r"\(([^()]*)(?:\)|$)")
_BRACKET_OR_TEXT = re.compile(r"\(.*")

# (unit written, form's unit) -> the values are divided by 10,000 (元 to 万元) or multiplied
_DIVIDE = {(labels.YUAN, labels.WAN): True, (labels.WAN, labels.YUAN): False}


def money_unit(header: str) -> str | None:
    """万元 or 元 when a bracket of ``header`` says so (（元/年）, (单位：万元)), else None."""
    text = to_simplified(forms.normalize_header(header))
    for inside in _IN_BRACKETS.findall(text):
        if labels.WAN in inside:
            return labels.WAN
        if labels.YUAN in inside:
            return labels.YUAN
    return None


def to_form_units(pf: ParsedFile, layout: Layout, parts: list[Columns]) -> None:
    """Convert the money columns of ``parts`` (one table's data and 合计 rows) whose header
    states another unit than the form's; one warning per column converted."""
    for name, j in layout.mapping.items():
        col = SPECS[layout.table][name]
        if col.dtype != "float":
            continue
        want, written = money_unit(col.header), money_unit(layout.written[j])
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
            message=f"「{label}」按表头单位「{written}」填写，已换算为{want}"
                    f"（{'除以' if divide else '乘以'} 10000）"))
