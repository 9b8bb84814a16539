"""A village weekly report (Form B) has one row of figures. A clerk who keeps last
week's row under this week's sends two: ``one_report_row`` keeps one and says so.

The row kept is the one of the file's own week (its 填报周次, else the folder's) when the
rows tell their weeks (a 填报周次 column, or a cell such as 第47周 beside the figures);
else the first. The finding names every data row and the one read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.findings import WARNING, finding
from pipelines.ingest.headers import Layout
from pipelines.ingest.week_text import week_in
from pipelines.weeks import week_words

if TYPE_CHECKING:
    from pipelines.ingest.parsed_file import ParsedFile


def one_report_row(pf: ParsedFile, layout: Layout, data_idx: list[int]) -> list[int]:
    """The one data row of a Form B sheet to read (0-based indices, as ``data_idx``)."""
    if len(data_idx) <= 1:
        return data_idx
    own = pf.week or pf.folder_week
    mapped = set(layout.mapping.values())
    weeks = {i: _row_week(layout, i, mapped, pf.folder_week) for i in data_idx}
    hits = [i for i, (w, _j) in weeks.items() if own and w == own]
    keep = hits[0] if len(hits) == 1 else data_idx[0]
    rows = "、".join(f"第{i + 1}行" for i in data_idx)
    rest = "、".join(f"第{i + 1}行" for i in data_idx if i != keep)
    column = ""
    if len(hits) == 1:
        j = weeks[keep][1]
        column = layout.written[j] if j < len(layout.written) else ""
        how = f"已读取{week_words(own)}的第{keep + 1}行"
    else:
        how = f"无法分辨哪一行是{week_words(own)}的数据，已读取第一行（第{keep + 1}行）" if own \
            else f"已读取第一行（第{keep + 1}行）"
    pf.problems.append(finding(
        file=pf.name, sheet=layout.sheet.name, row=keep + 1, column=column, value=rows,
        rule="report.extra_rows", severity=WARNING, dimension="ledger",
        message=f"村级周报应只有一行数据，表中{rows}都填有数据：{how}，{rest}未读取；"
                f"请删除其他周的行后重新报送"))
    return [keep]


def _row_week(layout: Layout, i: int, mapped: set[int], folder_week: str | None) -> tuple[str | None, int]:
    """The week a data row names outside the form's columns, and the column naming it."""
    for j, v in enumerate(layout.sheet.rows[i]):
        if j not in mapped and type(v) is str and v.strip():
            w = week_in(v, folder_week)
            if w:
                return w, j
    return None, -1
