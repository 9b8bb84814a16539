"""Receipts (回执): one per submission of a week, in Chinese: HTML, plus an xlsx list of the
findings where there are any.

Written to ``<outbox>/<week>/<unit_code or 未识别>/``. A receipt names the file, the
unit, the week and what became of the submission, and lists every finding with sheet,
row, column, value and what to do. Values come from submitted files and are untrusted:
a cell that starts with = + - @ (or tab / CR) is prefixed with ' so no spreadsheet
treats it as a formula, xlsx cells are always written as strings, and HTML is escaped.
Re-running rewrites the same files.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import io
import os
import re
import uuid
from pathlib import Path

import pandas as pd

from pipelines.review.lifecycle import STATUS_LABEL, tables_exist, with_retry
from pipelines.review.queries import SEVERITY_LABEL, _names
from pipelines.settings import Settings, get_settings
from pipelines.warehouse import Warehouse

SUBMISSION_STATUS = {
    "loaded": "已入库",
    "partial": "部分入库",
    "rejected": "退回",
    "superseded": "已被更正件替代",
    "received": "已接收，待处理",
}
UNKNOWN_UNIT = "未识别"
ACCEPTED = "已受理，未发现问题"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Bump when the receipt layout changes: unchanged receipts are otherwise not rewritten.
RECEIPT_LAYOUT = "3"
HEADERS = ["序号", "工作表", "行号", "列名", "填报值", "问题类型", "处理状态", "问题说明及处理要求", "问题编号"]


def neutralise(value) -> str:
    """Text safe for a spreadsheet cell: never starts with a formula trigger."""
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _safe_name(text: str) -> str:
    text = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", text).strip(" .")
    return text[:80] or "文件"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _summary(sub: dict, n_err: int, n_warn: int, newer: str) -> str:
    status = sub.get("status") or "received"
    if status == "superseded":
        return f"该文件已被同一单位后报送的更正件替代（{newer}），以更正件为准，本文件不再入库。"
    if status == "rejected":
        return f"该文件未能入库，共发现 {n_err} 个错误，请按下列要求修改后重新报送。"
    if n_err == 0 and n_warn == 0:
        return ACCEPTED + "。"
    if status == "partial":
        return (f"该文件部分入库：{int(sub.get('rows_loaded') or 0)} 行已入库，{int(sub.get('rows_quarantined') or 0)} 行"
                f"因错误暂未入库（共 {n_err} 个错误、{n_warn} 个警告），请修改后重新报送。")
    if n_err == 0:
        return f"已受理并入库，发现 {n_warn} 个警告，请核对；如确有误请更正后重新报送。"
    return f"已入库，共 {n_err} 个错误（已由市扶贫办审核处理）、{n_warn} 个警告。"


def receipt_data(week: str, wh: Warehouse) -> list[dict]:
    """Everything a receipt shows, per submission of the week (vectorised: one sort and
    one grouping of the week's findings, not a filter per submission)."""
    def run():
        subs = wh.query("SELECT * FROM core.submissions WHERE week = :w ORDER BY landing_path", {"w": week})
        if tables_exist(wh):
            fnd = wh.query("SELECT f.*, s.status AS fstatus FROM core.findings f LEFT JOIN core.finding_status s "
                           "ON s.finding_id = f.finding_id WHERE f.week = :w", {"w": week})
        else:
            fnd = wh.query("SELECT * FROM core.findings WHERE week = :w", {"w": week}).assign(fstatus=None)
        return subs, fnd, _names(wh, week)

    subs, fnd, names = with_retry(run)
    # NULL texts (a unit never identified) come back as NaN, which is truthy: "" instead.
    text_cols = ["unit_code", "unit_name", "status", "superseded_by"]
    subs[text_cols] = subs[text_cols].astype(object).where(subs[text_cols].notna(), "")
    by_id = dict(zip(subs["submission_id"], subs["original_name"]))
    tz = get_settings().tz
    fnd = fnd.copy()
    fnd["row"] = pd.to_numeric(fnd["row"], errors="coerce").fillna(0).astype(int)
    fnd = (fnd.sort_values(["submission_id", "severity", "sheet", "row", "column"], kind="stable")
           .drop_duplicates(["submission_id", "finding_id", "sheet", "row", "column"]))
    listed = pd.DataFrame({
        "submission_id": fnd["submission_id"].to_numpy(object),
        "sheet": fnd["sheet"].fillna("").replace("", "（整个文件）").to_numpy(object),
        "row": [r or "" for r in fnd["row"].tolist()],
        "column": fnd["column"].fillna("").to_numpy(object),
        "value": fnd["value"].fillna("").to_numpy(object),
        "severity": fnd["severity"].map(lambda v: SEVERITY_LABEL.get(v, v)).to_numpy(object),
        "status": fnd["fstatus"].fillna("open").map(lambda v: STATUS_LABEL.get(v, v)).to_numpy(object),
        "message": fnd["message"].to_numpy(object),
        "finding_id": fnd["finding_id"].to_numpy(object),
    })
    fields = [c for c in listed.columns if c != "submission_id"]
    per_sub: dict[str, list[dict]] = {}
    n_err = fnd.loc[fnd["severity"] == "error", "submission_id"].value_counts().to_dict()
    n_warn = fnd.loc[fnd["severity"] == "warning", "submission_id"].value_counts().to_dict()
    records = listed[fields].to_dict("records")
    for sid, rec in zip(listed["submission_id"].tolist(), records):
        per_sub.setdefault(sid, []).append(rec)
    received = pd.to_datetime(subs["received_at"], utc=True, errors="coerce").dt.tz_convert(tz) \
        .dt.strftime("%Y-%m-%d %H:%M").fillna("").tolist()
    out = []
    used = ["submission_id", "original_name", "landing_path", "unit_code", "unit_name", "status", "superseded_by",
            "rows_loaded", "rows_quarantined"]
    for sub, at in zip(subs[used].to_dict("records"), received):  # one per file, not per row
        sid = sub["submission_id"]
        unit = sub.get("unit_code") or ""
        newer = by_id.get(sub.get("superseded_by") or "", "")
        e, w = int(n_err.get(sid, 0)), int(n_warn.get(sid, 0))
        out.append({
            "submission_id": sid, "week": week, "file": sub["original_name"], "path": sub["landing_path"],
            "unit_code": unit or UNKNOWN_UNIT, "unit_name": sub.get("unit_name") or names.get(unit, "") or UNKNOWN_UNIT,
            "received_at": at,
            "status": SUBMISSION_STATUS.get(sub.get("status") or "received", sub.get("status")),
            "summary": _summary(sub, e, w, newer), "n_errors": e, "n_warnings": w,
            "findings": per_sub.get(sid, []),
        })
    return out


def _digest(rec: dict) -> str:
    """Fingerprint of everything a receipt shows (and of this module's layout)."""
    payload = json.dumps(rec, ensure_ascii=False, sort_keys=True, default=str) + RECEIPT_LAYOUT
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def _xlsx(rec: dict) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    # Strings never become formulas or links, whatever they start with.
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    # A fixed creation date (the week's Monday) keeps re-runs byte-identical.
    wb.set_properties({"title": f"报送回执 {rec['file']}", "created": dt.datetime.strptime(rec["week"] + "-1", "%G-W%V-%u")})
    ws = wb.add_worksheet("回执")
    bold = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    cell = wb.add_format({"border": 1, "text_wrap": True, "valign": "top"})
    ws.write_string(0, 0, neutralise(f"周口市扶贫周报报送回执（{rec['week']}）"), bold)
    info = [("文件名", rec["file"]), ("报送单位", f"{rec['unit_name']}（{rec['unit_code']}）"), ("周次", rec["week"]),
            ("收到时间", rec["received_at"]), ("处理结果", rec["status"]), ("说明", rec["summary"]),
            ("文件编号", rec["submission_id"])]
    for i, (k, v) in enumerate(info, start=2):
        ws.write_string(i, 0, k, head)
        ws.write_string(i, 1, neutralise(v), cell)
    start = len(info) + 3
    if not rec["findings"]:
        ws.write_string(start, 0, ACCEPTED, bold)
    else:
        for j, h in enumerate(HEADERS):
            ws.write_string(start, j, h, head)
        for i, f in enumerate(rec["findings"], start=1):
            vals = [str(i), f["sheet"], str(f["row"]), f["column"], f["value"], f["severity"], f["status"],
                    f["message"], f["finding_id"]]
            for j, v in enumerate(vals):
                ws.write_string(start + i, j, neutralise(v), cell)
    for j, w in enumerate([12, 40, 8, 16, 24, 10, 12, 70, 18]):
        ws.set_column(j, j, w)
    wb.close()
    return buf.getvalue()


def _html(rec: dict, digest: str = "") -> bytes:
    e = lambda v: html.escape(neutralise(v), quote=True)  # noqa: E731
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(f['sheet'])}</td><td>{e(f['row'])}</td><td>{e(f['column'])}</td>"
        f"<td><code>{e(f['value'])}</code></td><td>{e(f['severity'])}</td><td>{e(f['status'])}</td>"
        f"<td>{e(f['message'])}</td></tr>"
        for i, f in enumerate(rec["findings"], start=1))
    table = (f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in HEADERS[:-1])}</tr></thead>"
             f"<tbody>{rows}</tbody></table>") if rec["findings"] else f"<p class=ok>{ACCEPTED}</p>"
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="huizong-receipt" content="{digest}"><title>报送回执 {e(rec['file'])}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;vertical-align:top}}th{{background:#ddebf7}}.ok{{color:#070;font-size:1.3em}}</style>
</head><body>
<h1>周口市扶贫周报报送回执（{e(rec['week'])}）</h1>
<dl><dt>文件名</dt><dd>{e(rec['file'])}</dd><dt>报送单位</dt><dd>{e(rec['unit_name'])}（{e(rec['unit_code'])}）</dd>
<dt>周次</dt><dd>{e(rec['week'])}</dd><dt>收到时间</dt><dd>{e(rec['received_at'])}</dd>
<dt>处理结果</dt><dd><strong>{e(rec['status'])}</strong></dd><dt>说明</dt><dd>{e(rec['summary'])}</dd></dl>
{table}
</body></html>
"""
    return page.encode("utf-8")


def receipt_dir(settings: Settings, week: str, unit_code: str) -> Path:
    return Path(settings.outbox_dir) / week / _safe_name(unit_code or UNKNOWN_UNIT)


def _unchanged(html_path: str, xlsx_path: str | None, digest: str) -> bool:
    """The receipt on disk already shows exactly this (its HTML carries the digest)."""
    if xlsx_path is not None and not os.path.isfile(xlsx_path):
        return False
    try:
        with open(html_path, "rb") as fh:
            head = fh.read(400)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False
    return f'content="{digest}"'.encode() in head


def write_receipts(week: str, wh: Warehouse | None = None, settings: Settings | None = None) -> list[Path]:
    """Write the week's receipts; return their paths.

    Every submission gets an HTML receipt; one with findings also gets the findings as
    an xlsx list to work through (an accepted file's receipt is one sentence). A receipt
    whose content did not change since it was last written is left as it is, so a late
    file re-writes only the receipts it affects.

    (One process. Writing them from forked worker processes was tried: inside an Airflow 3
    task process a multiprocessing pool's workers vanished and the task hung.)"""
    settings = settings or get_settings()
    wh = wh or Warehouse(settings.warehouse_url)
    paths: list[Path] = []
    made: set[str] = set()
    folders: dict[str, str] = {}  # unit -> folder, built once per unit
    for rec in receipt_data(week, wh):
        folder = folders.get(rec["unit_code"])
        if folder is None:
            folder = folders[rec["unit_code"]] = str(receipt_dir(settings, week, rec["unit_code"]))
        stem = f"{folder}/回执_{_safe_name(Path(rec['file']).stem)}_{rec['submission_id'][:8]}"
        html_path, xlsx_path = stem + ".html", (stem + ".xlsx" if rec["findings"] else None)
        digest = _digest(rec)
        if not _unchanged(html_path, xlsx_path, digest):
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            if xlsx_path is not None:
                _write_atomic(Path(xlsx_path), _xlsx(rec))
            else:  # findings gone (e.g. after a waiver's re-run): no stale list
                try:
                    os.unlink(stem + ".xlsx")
                except FileNotFoundError:
                    pass
            _write_atomic(Path(html_path), _html(rec, digest))  # last: it marks the receipt as complete
        paths += [Path(p) for p in (xlsx_path, html_path) if p is not None]
    return paths
