"""Receipts (回执): one per submission of a week, in Chinese: HTML, plus an xlsx list of the
findings where there are any.

Written to ``<outbox>/<week>/<unit_code or 未识别>/``. A receipt names the file, the
unit, the week and what became of the submission, and lists every finding with sheet,
row, column, value and what to do. Values come from submitted files and are untrusted:
a cell that starts with = + - @ (or tab / CR) is prefixed with ' so no spreadsheet
treats it as a formula, xlsx cells are always written as strings, and HTML is escaped.
Re-running writes the same files, and only those whose content changed or that are missing.
"""
from __future__ import annotations

import datetime as dt
import html
import io
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import storage, vectors
from pipelines.review.counted import counted_notes
from pipelines.review.lifecycle import STATUS_LABEL, tables_exist, with_retry
from pipelines.labels import FORM_NAMES
from pipelines.review.queries import SEVERITY_LABEL, _names, table_exists, with_echoes
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
RECEIPT_LAYOUT = "6"
HEADERS = ["序号", "工作表", "行号", "列名", "填报值", "问题类型", "处理状态", "问题说明及处理要求", "问题编号"]


def neutralise(value) -> str:
    """Text safe for a spreadsheet cell: never starts with a formula trigger."""
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _safe_name(text: str) -> str:
    text = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", text).strip(" .")
    return text[:80] or "文件"


def _write_atomic(path: str | Path, data: bytes) -> None:
    """Readers see the file whole or not at all. (Plain strings and the process id name
    the temporary file: Path objects and a uuid per file were a tenth of a week's receipts.)"""
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _summary(sub: dict, n_err: int, n_warn: int, counted: str, missing: str = "") -> str:
    """What became of the file (``counted``: which file counts, when not plainly this one),
    and which forms the unit still owes this week (``missing``: their names, or empty)."""
    text = _file_summary(sub, n_err, n_warn, bool(missing)) + counted
    return text + (f"另：本单位本周应报的{missing}尚未收到，请尽快补报。" if missing else "")


def _file_summary(sub: dict, n_err: int, n_warn: int, owes: bool) -> str:
    status = sub.get("status") or "received"
    if status == "superseded":
        return "该文件不再入库："  # counted_notes says which file counts instead
    if status == "rejected":
        return f"该文件未能入库，共发现 {n_err} 个错误，请按下列要求修改后重新报送。"
    if n_err == 0 and n_warn == 0:
        return "本文件已受理，文件内容未发现问题。" if owes else ACCEPTED + "。"
    if status == "partial":
        return (f"该文件部分入库：{int(sub.get('rows_loaded') or 0)} 行已入库，{int(sub.get('rows_quarantined') or 0)} 行"
                f"因错误暂未入库（共 {n_err} 个错误、{n_warn} 个警告），请修改后重新报送。")
    if n_err == 0:
        return f"已受理并入库，发现 {n_warn} 个警告，请核对；如确有误请更正后重新报送。"
    return f"已入库，共 {n_err} 个错误（已由市扶贫办审核处理）、{n_warn} 个警告。"


def _folded(fnd: pd.DataFrame) -> pd.DataFrame:
    """The findings a receipt lists: causes (with their echo count), and echoes whose cause
    is in another unit's file (a township's row that repeats a village's error is still
    the township's to correct); an echo within the same file is folded under its cause."""
    fnd = with_echoes(fnd)
    file_of = dict(zip(fnd["finding_id"], fnd["submission_id"]))
    elsewhere = fnd["cause_id"].map(file_of).fillna("") != fnd["submission_id"]
    return fnd[fnd["is_cause"] | elsewhere.to_numpy(bool)].copy()


def _week_frames(week: str, wh: Warehouse, unit_code: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(heads, listed): per submission of the week (of one unit, with ``unit_code``), what
    its receipt shows above the list (one row each, in landing-path order), and the
    findings listed, sorted by submission (vectorised: one sort and one grouping of the
    week's findings, not a filter per submission)."""
    unit = " AND unit_code = :u" if unit_code is not None else ""
    p = {"w": week, "u": unit_code}

    def run():
        subs = wh.query(f"SELECT * FROM core.submissions WHERE week = :w{unit} ORDER BY landing_path", p)
        of_unit = (" AND f.submission_id IN (SELECT submission_id FROM core.submissions WHERE week = :w"
                   f"{unit})") if unit else ""
        if tables_exist(wh):
            fnd = wh.query("SELECT f.*, s.status AS fstatus FROM core.findings f LEFT JOIN core.finding_status s "
                           f"ON s.finding_id = f.finding_id WHERE f.week = :w{of_unit}", p)
        else:
            fnd = wh.query(f"SELECT * FROM core.findings f WHERE f.week = :w{of_unit}", p).assign(fstatus=None)
        owed = (wh.query(f"SELECT unit_code, form FROM core.reporting_status WHERE week = :w AND missing{unit} "
                         "ORDER BY unit_code, form", p)
                if table_exists(wh, "core.reporting_status") else pd.DataFrame(columns=["unit_code", "form"]))
        return subs, fnd, _names(wh, week), owed

    subs, fnd, names, owed = with_retry(run)
    # Per unit, the names of the forms it owes this week and did not send.
    missing = owed.assign(name=owed["form"].map(lambda f: FORM_NAMES.get(f, f))).groupby("unit_code")["name"].agg("、".join)
    # NULL texts (a unit never identified) come back as NaN, which is truthy: "" instead.
    text_cols = ["unit_code", "unit_name", "status", "superseded_by"]
    subs[text_cols] = subs[text_cols].astype(object).where(subs[text_cols].notna(), "")
    tz = get_settings().tz
    fnd = _folded(fnd)
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
        "message": (fnd["message"] + np.where(fnd["echo_note"] != "", "（" + fnd["echo_note"] + "）", "")).to_numpy(object),
        "finding_id": fnd["finding_id"].to_numpy(object),
    })
    n_err = fnd.loc[fnd["severity"] == "error", "submission_id"].value_counts()
    n_warn = fnd.loc[fnd["severity"] == "warning", "submission_id"].value_counts()
    sid = subs["submission_id"].astype(str)
    unit = subs["unit_code"].astype(str)
    e = sid.map(n_err).fillna(0).astype("int64")
    w = sid.map(n_warn).fillna(0).astype("int64")
    used = ["status", "rows_loaded", "rows_quarantined"]
    owes = unit.map(missing).fillna("")
    summary = [_summary(sub, a, b, n, m) for sub, a, b, n, m in
               zip(subs[used].to_dict("records"), e.tolist(), w.tolist(), counted_notes(subs).tolist(),
                   owes.tolist())]
    heads = pd.DataFrame({
        "submission_id": sid.to_numpy(object), "week": week, "file": subs["original_name"].to_numpy(object),
        "path": subs["landing_path"].to_numpy(object),
        "unit_code": unit.where(unit != "", UNKNOWN_UNIT).to_numpy(object),
        "unit_name": subs["unit_name"].where(subs["unit_name"] != "", unit.map(names)).fillna("")
        .replace("", UNKNOWN_UNIT).to_numpy(object),
        "received_at": pd.to_datetime(subs["received_at"], utc=True, errors="coerce").dt.tz_convert(tz)
        .dt.strftime("%Y-%m-%d %H:%M").fillna("").to_numpy(object),
        "status": subs["status"].map(lambda v: SUBMISSION_STATUS.get(v or "received", v)).to_numpy(object),
        "summary": summary, "missing_forms": owes.to_numpy(object), "n_errors": e.to_numpy(),
        "n_warnings": w.to_numpy()})
    return heads, listed


def _records(heads: pd.DataFrame, listed: pd.DataFrame) -> list[dict]:
    """The receipts of ``heads``' submissions, each with its findings."""
    fields = [c for c in listed.columns if c != "submission_id"]
    listed = listed[vectors.member(listed["submission_id"], heads["submission_id"])]
    per_sub: dict[str, list[dict]] = {}
    for sid, rec in zip(listed["submission_id"].tolist(), listed[fields].to_dict("records")):
        per_sub.setdefault(sid, []).append(rec)
    out = heads.to_dict("records")
    for rec in out:
        rec["n_errors"], rec["n_warnings"] = int(rec["n_errors"]), int(rec["n_warnings"])
        rec["findings"] = per_sub.get(rec["submission_id"], [])
    return out


def receipt_data(week: str, wh: Warehouse, unit_code: str | None = None) -> list[dict]:
    """Everything a receipt shows, per submission of the week (of one unit, with ``unit_code``)."""
    return _records(*_week_frames(week, wh, unit_code))


def unit_receipts(week: str, wh: Warehouse, unit_code: str) -> list[dict]:
    """The receipts of one unit's submissions of the week (the portal shows a unit its own)."""
    if not with_retry(lambda: wh.scalar("SELECT count(*) FROM core.submissions WHERE week = :w AND unit_code = :u",
                                        {"w": week, "u": unit_code})):
        return []
    heads, listed = _week_frames(week, wh)
    return _records(heads[heads["unit_code"] == unit_code], listed)


def _digests(heads: pd.DataFrame, listed: pd.DataFrame) -> pd.Series:
    """Per submission (aligned with ``heads``), a fingerprint of everything its receipt
    shows and of this module's layout, computed column-wise (no receipt is built)."""
    import numpy as np

    head = pd.util.hash_pandas_object(heads.astype(str), index=False).to_numpy(np.uint64)
    mixed = pd.Series(np.zeros(len(heads), dtype=np.uint64), index=heads["submission_id"].to_numpy(object))
    if len(listed):
        # each finding's hash includes its place in its submission's list; XOR per submission
        rows = listed.astype(str).assign(_pos=listed.groupby("submission_id", sort=False).cumcount().astype(str))
        h = pd.util.hash_pandas_object(rows, index=False).to_numpy(np.uint64)
        sids = listed["submission_id"].to_numpy(object)  # sorted: each submission's findings together
        starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
        per = pd.Series(np.bitwise_xor.reduceat(h, starts), index=sids[starts])
        mixed = pd.Series(heads["submission_id"].map(per).fillna(0).astype(np.uint64).to_numpy(),
                          index=heads["submission_id"].to_numpy(object))
    both = pd.DataFrame({"head": head, "findings": mixed.to_numpy(np.uint64), "layout": RECEIPT_LAYOUT})
    return pd.Series([f"{v:016x}" for v in pd.util.hash_pandas_object(both, index=False).to_numpy(np.uint64)],
                     index=heads.index, dtype=object)


def _no_findings(rec: dict) -> str:
    """What a receipt without findings says: accepted, unless the file was replaced (then its 说明)."""
    if rec["status"] == SUBMISSION_STATUS["superseded"]:
        return rec["summary"]
    return "本文件未发现问题。" if rec.get("missing_forms") else ACCEPTED


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
            ("文件编号", rec["submission_id"])] + ([("应报未收到", rec["missing_forms"])] if rec.get("missing_forms") else [])
    for i, (k, v) in enumerate(info, start=2):
        ws.write_string(i, 0, k, head)
        ws.write_string(i, 1, neutralise(v), cell)
    start = len(info) + 3
    if not rec["findings"]:
        ws.write_string(start, 0, _no_findings(rec), bold)
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


RECEIPT_CSS = (
    'body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:0;'
    "background:#f7fafc;color:#1a202c;font-size:14px}"
    ".sheet{max-width:960px;margin:24px auto;background:#fff;border:1px solid #e2e8f0;padding:24px 32px}"
    "h1{font-size:22px;text-align:center;margin:0}.week{text-align:center;color:#4a5568;margin:4px 0 16px}"
    "dl{display:grid;grid-template-columns:7em 1fr;gap:6px 12px;margin:0 0 16px}dt{color:#4a5568}dd{margin:0}"
    ".owed{color:#c53030;font-weight:bold}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #cbd5e0;padding:4px 8px;vertical-align:top;text-align:left}th{background:#ddebf7}"
    ".ok{color:#276749;font-size:1.3em}.foot{margin-top:24px;color:#718096;text-align:right}"
    "@media print{body{background:#fff}.sheet{border:0;margin:0;max-width:none}}")


def _html(rec: dict, digest: str = "") -> bytes:
    e = lambda v: html.escape(neutralise(v), quote=True)  # noqa: E731
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(f['sheet'])}</td><td>{e(f['row'])}</td><td>{e(f['column'])}</td>"
        f"<td><code>{e(f['value'])}</code></td><td>{e(f['severity'])}</td><td>{e(f['status'])}</td>"
        f"<td>{e(f['message'])}</td></tr>"
        for i, f in enumerate(rec["findings"], start=1))
    table = (f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in HEADERS[:-1])}</tr></thead>"
             f"<tbody>{rows}</tbody></table>") if rec["findings"] else f"<p class=ok>{e(_no_findings(rec))}</p>"
    owed = (f"<dt>应报未收到</dt><dd class=owed>{e(rec['missing_forms'])}</dd>"
            if rec.get("missing_forms") else "")
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="huizong-receipt" content="{digest}"><title>报送回执 {e(rec['file'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{RECEIPT_CSS}</style>
</head><body><div class=sheet>
<h1>周口市扶贫周报报送回执</h1>
<p class=week>{e(rec['week'])}</p>
<dl><dt>文件名</dt><dd>{e(rec['file'])}</dd><dt>报送单位</dt><dd>{e(rec['unit_name'])}（{e(rec['unit_code'])}）</dd>
<dt>周次</dt><dd>{e(rec['week'])}</dd><dt>收到时间</dt><dd>{e(rec['received_at'])}</dd>
<dt>处理结果</dt><dd><strong>{e(rec['status'])}</strong></dd><dt>说明</dt><dd>{e(rec['summary'])}</dd>{owed}</dl>
{table}
<p class=foot>周口市扶贫开发办公室 · 数据审核</p>
</div></body></html>
"""
    return page.encode("utf-8")


def receipt_dir(settings: Settings, week: str, unit_code: str) -> Path:
    return Path(settings.outbox_dir) / week / _safe_name(unit_code or UNKNOWN_UNIT)


def _stem(name: str) -> str:
    """PurePath(name).stem, without building a path."""
    name = name.rsplit("/", 1)[-1]
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def index_path(settings: Settings, week: str) -> Path:
    """Where the digests of a week's receipts are kept: outside the outbox, which holds
    only what is delivered (a receipt whose files are gone from it is written again)."""
    return Path(settings.home) / "state" / "receipts" / f"{week}.parquet"


class ReceiptPaths(Sequence):
    """The week's receipt files as Paths, made when asked for (a province's week has
    ≈200,000; most callers only count them)."""

    def __init__(self, paths: list[str]):
        self._paths = paths

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, i):
        return [Path(p) for p in self._paths[i]] if isinstance(i, slice) else Path(self._paths[i])

    def __eq__(self, other) -> bool:
        return isinstance(other, (Sequence, ReceiptPaths)) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"ReceiptPaths({len(self)} files)"


def _read_index(path: str) -> tuple[dict[str, str], dict[str, int]]:
    """(submission -> digest of the receipts written last, folder -> its stamp then);
    both empty if the index is missing or unreadable."""
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path)
        digests = dict(zip(t.column("submission_id").to_pylist(), t.column("digest").to_pylist()))
        stamps = json.loads((t.schema.metadata or {}).get(_STAMPS_KEY, b"{}"))
    except (OSError, KeyError, ValueError):
        return {}, {}
    return digests, {k: int(v) for k, v in stamps.items() if v is not None}


# Kept in the index's Parquet metadata: each receipt folder's modification time (ns) when
# the receipts were last written. Creating, removing or renaming a file in a folder moves
# its time, so only folders whose time moved are listed to see which receipts are there
# (listing the whole outbox cost 1.7 s of a province's week). A time less than
# STAMP_SETTLE_NS old when taken is not kept (that folder is listed next time): a change in
# the same tick of the file system's clock would not move it.
_STAMPS_KEY = b"huizong_folder_stamps"
STAMP_SETTLE_NS = 50_000_000


def _stamps(folders) -> dict[str, int | None]:
    """folder -> modification time (ns), None if it is missing or too recent to trust."""
    out: dict[str, int | None] = {}
    for d in folders:
        try:
            out[d] = os.stat(d).st_mtime_ns
        except FileNotFoundError:
            out[d] = None
    settled = time.time_ns() - STAMP_SETTLE_NS
    return {d: (t if t is not None and t < settled else None) for d, t in out.items()}


def write_receipts(week: str, wh: Warehouse | None = None, settings: Settings | None = None) -> ReceiptPaths:
    """Write the week's receipts; return their paths.

    Every submission gets an HTML receipt; one with findings also gets the findings as
    an xlsx list to work through (an accepted file's receipt is one sentence). A receipt
    whose content did not change since it was last written, and whose files are there,
    is left as it is, so a late file re-writes only the receipts it affects: the digest
    of each receipt (``_digests``, also in the HTML's head) is kept in ``index_path``, with
    the receipt folders' times (``_stamps``): only folders changed since are listed.

    (One process. Writing them from forked worker processes was tried: inside an Airflow 3
    task process a multiprocessing pool's workers vanished and the task hung.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    settings = settings or get_settings()
    wh = wh or Warehouse(settings.warehouse_url)
    heads, listed = _week_frames(week, wh)
    digests = _digests(heads, listed)
    week_dir = f"{settings.outbox_dir}/{week}"
    folder = heads["unit_code"].map({u: f"{week_dir}/{_safe_name(u)}" for u in heads["unit_code"].unique()})
    stem = [f"{d}/回执_{_safe_name(_stem(f))}_{sid[:8]}" for d, f, sid in
            zip(folder.tolist(), heads["file"].tolist(), heads["submission_id"].tolist())]
    has_list = vectors.member(heads["submission_id"], listed["submission_id"])
    html_paths = [st + ".html" for st in stem]
    xlsx_paths = [st + ".xlsx" if has else None for st, has in zip(stem, has_list)]
    index = index_path(settings, week)
    before, stamped = _read_index(str(index))
    folders = folder.unique().tolist()
    now = _stamps(folders) if before else {}
    moved = {d for d in folders if now.get(d) is None or stamped.get(d) != now[d]}
    present = {e.path for d in moved for e in storage.walk_local(d)} if before else set()

    def there(path: str, d: str) -> bool:
        return d not in moved or path in present

    stale = [i for i, (sid, dg, d, h, x) in enumerate(zip(heads["submission_id"], digests, folder.tolist(),
                                                           html_paths, xlsx_paths))
             if before.get(sid) != dg or not there(h, d) or (x is not None and not there(x, d))]
    made: set[str] = set()
    folders_at, digests_at = folder.tolist(), digests.tolist()  # by position, not .iloc per receipt
    for i, rec in zip(stale, _records(heads.iloc[stale], listed) if stale else []):
        d = folders_at[i]
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        if xlsx_paths[i] is not None:
            _write_atomic(xlsx_paths[i], _xlsx(rec))
        else:  # findings gone (e.g. after a waiver's re-run): no stale list
            try:
                os.unlink(stem[i] + ".xlsx")
            except FileNotFoundError:
                pass
        _write_atomic(html_paths[i], _html(rec, digests_at[i]))  # last: it marks the receipt complete
    after = {**now, **_stamps(made)} if before else _stamps(folders)
    keep = {d: t for d, t in after.items() if t is not None}
    if stale or not before or keep != stamped:
        index.parent.mkdir(parents=True, exist_ok=True)
        buf = pa.BufferOutputStream()
        table = pa.table({"submission_id": heads["submission_id"].astype(str).tolist(), "digest": digests.tolist()})
        pq.write_table(table.replace_schema_metadata({_STAMPS_KEY: json.dumps(keep, ensure_ascii=False)}), buf)
        _write_atomic(index, buf.getvalue().to_pybytes())
    return ReceiptPaths([p for x, h in zip(xlsx_paths, html_paths) for p in (x, h) if p is not None])
