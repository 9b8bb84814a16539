"""A workbook kept one sheet per week (第45周, 第46周, 第47周 …): the sheet of the folder's
week is the one read.

``keep_week_sheets`` drops from a book the sheets named for another week than the one
to read; sheets whose names name no week (计划进度账, Sheet1, 说明) are kept. The week to
read is the folder's when a sheet is named for it; else (a finding when several sheets
name weeks) the latest week named up to the folder's, else the latest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.findings import WARNING, finding
from pipelines.ingest.readers.book import Book
from pipelines.ingest.week_text import week_in
from pipelines.weeks import week_words

if TYPE_CHECKING:
    from pipelines.ingest.parsed_file import ParsedFile


def keep_week_sheets(pf: ParsedFile, book: Book) -> str | None:
    """Keep the sheets of one week in ``book``; that week, or None when no sheet with
    content is named for a week."""
    named = {s.name: week_in(s.name, pf.folder_week) for s in book.sheets if s.name and _filled(s.rows)}
    named = {n: w for n, w in named.items() if w}
    if not named:
        return None
    found = set(named.values())
    folder = pf.folder_week
    if folder in found:
        target = folder
    else:
        target = max((w for w in found if folder is None or w <= folder), default=max(found))
        if folder and len(named) > 1:
            chosen = [n for n, w in named.items() if w == target]
            pf.problems.append(finding(
                file=pf.name, sheet=chosen[0], rule="file.week_sheet_missing", severity=WARNING,
                dimension="ledger", value="、".join(named),
                message=f"工作簿按周次分为多个工作表（{'、'.join(named)}），没有所在文件夹周次"
                        f"（{week_words(folder)}）的工作表；已读取工作表「{chosen[0]}」"
                        f"（{week_words(target)}），请补上{week_words(folder)}的工作表后重新报送"))
    book.sheets = [s for s in book.sheets if named.get(s.name, target) == target]
    return target


def _filled(rows: list[list]) -> bool:
    return any(any(v != "" and v is not None for v in r) for r in rows)
