"""The header block of a form: 填报单位, 行政区划代码, 填报周次, 填表人, 审核人, 填报日期 ...

These are written as ``label：value`` in the lines above and below the table (or a label
in one cell and its value in the next); ``scan_header_lines`` collects them (the first
value of a label wins) and ``interpret_header`` turns them into the file's unit name,
unit code, week and signatories.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipelines import forms
from pipelines.ingest import values as V
from pipelines.ingest.traditional import to_simplified
from pipelines.ingest.week_text import week_in

if TYPE_CHECKING:
    from pipelines.ingest.parsed_file import ParsedFile

# label as written -> the header field it gives (written as a table's column, e.g. a
# 填报周次 column beside the figures, it is not an unknown column: pipelines.ingest.headers)
LABELS = {
    "填报单位": "unit_name", "单位名称": "unit_name",
    "行政区划代码": "unit_code", "区划代码": "unit_code", "单位代码": "unit_code", "代码": "unit_code",
    "填报周次": "week", "周次": "week",
    "填报日期": "filled_date", "填表日期": "filled_date", "报送日期": "filled_date",
    "填表人": "filled_by", "填报人": "filled_by", "制表人": "filled_by",
    "审核人": "reviewed_by",
    "专职副书记": "signed_by", "专职常委": "signed_by",
}
for _k, _v in forms.HEADER_FIELDS.items():
    LABELS.setdefault(_k, _v)
_LABEL_RE = re.compile(
    "(" + "|".join(sorted(map(re.escape, LABELS), key=len, reverse=True)) + r")\s*[:：]")
_CODE_IN_BRACKETS = re.compile(r"[（(]\s*(\d{6,12})\s*[）)]")
_DIGITS_RE = re.compile(r"\d{6,12}")


def scan_header_lines(rows: list[list], header: dict) -> list[str]:
    """Read label：value pairs from header/footer rows into `header` (first wins)."""
    texts = []
    for row in rows:
        cells = [(j, v) for j, v in enumerate(row) if v != "" and v is not None]
        for pos, (j, v) in enumerate(cells):
            if type(v) is not str:
                continue
            s = v.strip()
            if not s:
                continue
            texts.append(s)
            # labels are matched in simplified characters (填報週次); values are kept as
            # written (the mapping keeps every character's position)
            matches = list(_LABEL_RE.finditer(to_simplified(s)))
            if not matches:
                bare = to_simplified("".join(s.split()))
                if bare in LABELS and pos + 1 < len(cells):
                    # a label in its own cell without a colon, the value in the next cell
                    nxt = cells[pos + 1][1]
                    if not (type(nxt) is str and (to_simplified("".join(nxt.split())) in LABELS
                                                  or _LABEL_RE.match(to_simplified(nxt.strip())))):
                        header.setdefault("raw", {}).setdefault(bare, V.cell_text(nxt).strip())
                        if header.get(LABELS[bare]) in (None, ""):
                            header[LABELS[bare]] = nxt
                continue
            for mi, m in enumerate(matches):
                end = matches[mi + 1].start() if mi + 1 < len(matches) else len(s)
                val: object = s[m.end():end].strip()
                if val == "" and mi + 1 == len(matches) and pos + 1 < len(cells):
                    nxt = cells[pos + 1][1]
                    if not (type(nxt) is str and _LABEL_RE.match(to_simplified(nxt.strip()))):
                        val = nxt
                field_ = LABELS[m.group(1)]
                header.setdefault("raw", {}).setdefault(m.group(1), V.cell_text(val).strip())
                if field_ not in header or header[field_] in ("", None):
                    header[field_] = val
    return texts


def interpret_header(pf: ParsedFile, header: dict, texts: list[str]) -> None:
    out = {"filled_by": "", "reviewed_by": "", "signed_by": "", "filled_date": None,
           "unit_name": "", "unit_code": "", "week": "", "raw": header.get("raw", {}),
           "lines": texts}
    for k in ("filled_by", "reviewed_by", "signed_by"):
        out[k] = V.clean_text(header.get(k, ""))
    if header.get("filled_date") not in (None, ""):
        d, _ = V.parse_date(header["filled_date"])
        out["filled_date"] = d
    name = V.clean_text(header.get("unit_name", ""))
    code = ""
    m = _CODE_IN_BRACKETS.search(V.halfwidth(name))
    if m:
        code = m.group(1)
        name = V.halfwidth(name)[:m.start()].strip()
    out["unit_name"] = name
    raw_code = header.get("unit_code")
    if raw_code not in (None, ""):
        c, status = V.parse_code(raw_code)
        if c:
            mm = _DIGITS_RE.search(c)
            code = mm.group(0) if mm else code
    out["unit_code"] = code
    week_text = V.cell_text(header.get("week", ""))
    week = week_in(week_text, pf.folder_week)
    src = "header" if week else ""
    if not week:
        for t in texts:
            week = week_in(t, pf.folder_week)
            if week:
                src = "title"
                break
    out["week"] = week or ""
    pf.header = out
    pf.unit_name = name
    pf.week, pf.week_source = week, src
    if code:
        pf.unit_codes["header"] = code

