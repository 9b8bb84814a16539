"""The steward's filtered findings list as an xlsx workbook: the review page's columns, in
its order, in Chinese. Personal data is as the warehouse holds it (masked ID and phone
numbers; the clear numbers exist only in the raw archive). Cells are always strings and
never start with a formula trigger (as ``receipts.neutralise`` writes them)."""
from __future__ import annotations

import io

from pipelines.review import listing
from pipelines.review.receipts import FORMULA_START
from pipelines.warehouse import Warehouse

# (header, list column, width)
COLUMNS = [("状态", "status_label", 10), ("级别", "severity_label", 8), ("县（市、区）", "county_name", 10),
           ("乡镇", "township_name", 10), ("单位", "unit_name", 12), ("单位代码", "unit_code", 14),
           ("层级", "level", 6), ("文件", "file_name", 36), ("工作表", "sheet", 12), ("行", "row", 6),
           ("列", "column", 16), ("填报值", "value", 20), ("问题类型", "rule_label", 24),
           ("八个准", "dimension_label", 14), ("问题说明", "message", 80), ("关联问题", "echo_note", 16)]


def findings_xlsx(query: listing.Query, wh: Warehouse) -> bytes:
    import xlsxwriter

    df = listing.rows(query, wh)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    wb.set_properties({"title": f"问题清单 {query.week}"})
    ws = wb.add_worksheet("问题清单")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    for j, (h, _, w) in enumerate(COLUMNS):
        ws.write_string(0, j, h, head)
        ws.set_column(j, j, w)
    if len(df):
        df = df.assign(row=df["row"].where(df["row"] > 0, "").astype(str))
        for j, (_, col, _) in enumerate(COLUMNS):
            text = df[col].fillna("").astype(str)
            ws.write_column(1, j, text.where(~text.str.startswith(FORMULA_START), "'" + text).tolist())
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(df), 1), len(COLUMNS) - 1)
    wb.close()
    return buf.getvalue()
