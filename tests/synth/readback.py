"""Independent read-back of generated files (python-calamine for xlsx/xls, csv module for csv)."""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from python_calamine import CalamineWorkbook

from pipelines import forms

FW = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
CODE_RE = re.compile(r"代码[:：](\d{6,12})")


def grid(path: Path, sheet: str | None = None) -> list[list]:
    if path.suffix == ".csv":
        raw = path.read_bytes()
        for enc in ("utf-8-sig", "gbk", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        return [list(r) for r in csv.reader(io.StringIO(text))]
    wb = CalamineWorkbook.from_path(str(path))
    name = sheet if sheet else wb.sheet_names[0]
    return wb.get_sheet_by_name(name).to_python(skip_empty_area=False)


def sheet_names(path: Path) -> list[str]:
    return CalamineWorkbook.from_path(str(path)).sheet_names


def num(v) -> float:
    if v is None:
        return 0.0
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).translate(FW).replace(",", "").strip()
    if s in ("", "—", "-", "/"):
        return 0.0
    return float(s)


def _text(v) -> str:
    return "" if v is None else str(v)


def find_table(g: list[list], columns) -> tuple[int, dict[str, int]]:
    """(index of the first data row, canonical -> column index)."""
    look = forms.header_lookup(columns)
    for i, row in enumerate(g):
        found = {}
        for j, v in enumerate(row):
            n = look.get(forms.normalize_header(_text(v)))
            if n:
                found.setdefault(n, j)
        if len(found) >= 2 or (i + 1 < len(g) and _two_row(g, i)):
            if i + 1 < len(g) and _two_row(g, i):
                top, sub = g[i], g[i + 1]
                carry, joined = "", {}
                for j in range(max(len(top), len(sub))):
                    t = _text(top[j]) if j < len(top) else ""
                    s = _text(sub[j]) if j < len(sub) else ""
                    if t:
                        carry = t
                    h = (carry + s) if s else t
                    n = look.get(forms.normalize_header(h))
                    if n:
                        joined.setdefault(n, j)
                if len(joined) >= 3:
                    return i + 2, joined
            if len(found) >= 3:
                return i + 1, found
    raise AssertionError("table header not found")


def _two_row(g, i) -> bool:
    nxt = [_text(v) for v in g[i + 1]]
    return any(v in ("户数", "贫困户数") for v in nxt) and any(_text(v) == "期初" for v in g[i])


def table_rows(g, columns) -> list[dict]:
    start, idx = find_table(g, columns)
    out = []
    for row in g[start:]:
        vals = {n: (row[j] if j < len(row) else None) for n, j in idx.items()}
        first = [_text(v) for v in row if _text(v)]
        if not first:
            break
        if any(t.startswith(("填表人", "审核人")) for t in first):
            break
        vals["_total"] = forms.TOTAL_LABEL in first[:2]
        out.append(vals)
    return out


def header_code(g) -> str | None:
    for row in g[:8]:
        for v in row:
            m = CODE_RE.search(_text(v))
            if m:
                return m.group(1)
    return None


def newest_files(week_dir: Path) -> list[Path]:
    """All files under a week folder, newest last (superseded first files come earlier)."""
    files = [p for p in week_dir.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: (os.stat(p).st_mtime, str(p)))


def classify(path: Path) -> str:
    """Form of a file, from its content."""
    if path.suffix in (".xlsx", ".xls") and forms.SHEET_PLAN in sheet_names(path):
        return "A"
    g = grid(path)
    code = header_code(g)
    return {12: "B", 9: "C", 6: "D"}[len(code)]
