"""What a file in which no form was recognised holds, in a clerk's words: the sentence
the file.not_a_form finding adds, so that the clerk can see what went wrong (a text file
whose rows are one cell each, separated by something else than a comma; a sheet whose
first row is not the template's headers)."""
from __future__ import annotations

from collections import Counter

from pipelines.ingest import values as V
from pipelines.ingest.readers.book import Book

# Characters that separate cells when someone types or exports text by hand.
_SEPARATORS = "，;；|｜、\t:："
_NAMES = {"\t": "制表符", "，": "中文逗号「，」", "；": "中文分号「；」", "｜": "全角竖线「｜」",
          "、": "顿号「、」", "：": "中文冒号「：」"}
_SHOWN_CELLS = 5
_SHOWN_CHARS = 40


def what_was_seen(book: Book) -> str:
    """One sentence on the structure read ('' when the book holds no filled row)."""
    if book.file_format == "csv":
        rows = _filled(book.sheets[0].rows) if book.sheets else []
        if not rows:
            return ""
        if max(len([v for v in r if v != ""]) for r in rows) == 1:
            guess = _separator([next(v for v in r if v != "") for r in rows[:40]])
            sep = f"，分隔符可能是{_NAMES.get(guess, f'「{guess}」')}（应为英文逗号「,」）" if guess else ""
            return f"文件每行只有一列{sep}；第一行为「{_cut(rows[0])}」"
        return f"文件按「{_NAMES.get(book.delimiter, book.delimiter)}」分列，第一行为「{_cut(rows[0])}」"
    parts = []
    for sheet in book.sheets[:3]:
        rows = _filled(sheet.rows)
        if rows:
            parts.append(f"工作表「{sheet.name}」第一行为「{_cut(rows[0])}」")
    return "；".join(parts)


def _filled(rows: list[list]) -> list[list]:
    return [r for r in rows[:100] if any(v != "" and v is not None for v in r)]


def _separator(lines: list) -> str:
    """The separator character most lines hold, and most often ('' if none)."""
    texts = [V.cell_text(v) for v in lines]
    per_line = Counter(c for t in texts for c in set(t) if c in _SEPARATORS)
    if not per_line:
        return ""
    best, n_lines = per_line.most_common(1)[0]
    return best if n_lines * 2 >= len(texts) else ""


def _cut(row: list) -> str:
    cells = [V.cell_text(v).strip() for v in row if v != "" and v is not None][:_SHOWN_CELLS]
    text = " | ".join(cells)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
