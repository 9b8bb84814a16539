"""The findings lifecycle: open → waived / sent_back → resolved, with an append-only audit.

State lives in ``core.finding_status`` (one row per finding_id; the id is stable across
runs and resubmissions of a week, see ``pipelines.findings.finding_ids``). Every
change appends one row to ``core.finding_audit``; nothing here (or anywhere) updates or
deletes audit rows.

- ``sync_lifecycle(week)`` runs after each publish/consolidation: new ids → open;
  open/sent_back ids no longer present → resolved (by 'system'); a finding resolved by the
  system that comes back is reopened; waived findings stay waived.
- ``waive`` / ``send_back`` / ``close`` are the steward's actions, ``unwaive`` undoes a
  waiver (the finding is open again); ``act_many`` applies one of them, with one reason,
  to many findings in one transaction (the review page's bulk action).
- ``waived_finding_ids`` tells publish which error findings no longer quarantine rows.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Callable, TypeVar

import pandas as pd
import sqlalchemy as sa

from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)

OPEN, WAIVED, SENT_BACK, RESOLVED = "open", "waived", "sent_back", "resolved"
STATUSES = (OPEN, WAIVED, SENT_BACK, RESOLVED)
STATUS_LABEL = {OPEN: "待处理", WAIVED: "已豁免", SENT_BACK: "已退回重报", RESOLVED: "已解决"}
ACTION_LABEL = {"open": "发现", "reopen": "再次出现", "waive": "豁免", "send_back": "退回重报",
                "close": "关闭", "resolve": "重报后已消除", "unwaive": "撤销豁免"}
SYSTEM = "system"

# Which actions a steward may take from which state.
ALLOWED = {
    "waive": {OPEN, SENT_BACK},
    "send_back": {OPEN, WAIVED},
    "close": {OPEN, WAIVED, SENT_BACK},
    "unwaive": {WAIVED},
}
TARGET = {"waive": WAIVED, "send_back": SENT_BACK, "close": RESOLVED, "unwaive": OPEN}
# A steward's decision on a cause applies to its echoes (core.findings.cause_id).
CARRIED = ("waive", "close", "unwaive")

T = TypeVar("T")


class LifecycleError(ValueError):
    """A steward action that cannot be applied (unknown id, missing reason, wrong state)."""


def _wh(wh: Warehouse | None) -> Warehouse:
    if wh is not None:
        return wh
    from pipelines.settings import get_settings

    return Warehouse(get_settings().warehouse_url)


def with_retry(fn: Callable[[], T], attempts: int | None = None, delay: float = 0.2) -> T:
    """Run fn, retrying briefly while another process holds the DuckDB file (single writer)."""
    attempts = attempts or int(os.environ.get("HUIZONG_DB_RETRIES", "25"))
    for i in range(attempts):
        try:
            return fn()
        except (sa.exc.OperationalError, sa.exc.DBAPIError) as e:  # lock held by a writer
            text = str(e).lower()
            if i == attempts - 1 or not ("lock" in text or "conflict" in text or "being used" in text):
                raise
            time.sleep(delay * (1 + i / 5))
    raise RuntimeError("unreachable")


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _audit_id() -> str:
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _audit(conn, finding_id: str, week: str, by: str, action: str, before: str | None, after: str,
           reason: str | None, at: pd.Timestamp) -> None:
    conn.execute(sa.text(
        'INSERT INTO core.finding_audit (audit_id, finding_id, week, "at", "by", action, before_status, '
        "after_status, reason) VALUES (:a, :f, :w, :at, :by, :act, :b, :af, :r)"),
        {"a": _audit_id(), "f": finding_id, "w": week, "at": at.to_pydatetime(), "by": by, "act": action,
         "b": before, "af": after, "r": reason})


def tables_exist(wh: Warehouse) -> bool:
    try:
        n = wh.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'core' "
                      "AND table_name IN ('finding_status', 'finding_audit')")
    except sa.exc.SQLAlchemyError:
        return False
    return int(n or 0) == 2


def ensure_schema(wh: Warehouse) -> None:
    if not tables_exist(wh):
        with_retry(wh.apply_schema)


# ---- after each run -----------------------------------------------------------------------
def sync_lifecycle(week: str, wh: Warehouse | None = None, run_id: str = "") -> dict:
    """Bring core.finding_status in line with core.findings for `week`; return counts."""
    wh = _wh(wh)
    ensure_schema(wh)

    def run() -> dict:
        # Set-based: a week holds tens of thousands of findings at a province's scale, and a
        # statement per finding made this step grow with them (minutes at 10x Zhoukou).
        now = _now()
        with wh.transaction() as conn:
            res = conn.execute(sa.text("SELECT DISTINCT finding_id FROM core.findings WHERE week = :w"), {"w": week})
            current = {r[0] for r in res.fetchall() if r[0]}
            res = conn.execute(sa.text(
                "SELECT finding_id, status, updated_by FROM core.finding_status WHERE week = :w"), {"w": week})
            known = {r[0]: (r[1], r[2]) for r in res.fetchall()}
            opened = sorted(current - known.keys())
            kept = sorted(current & known.keys())
            reopened = [f for f in kept if known[f] == (RESOLVED, SYSTEM)]
            resolved = [f for f in sorted(known.keys() - current) if known[f][0] in (OPEN, SENT_BACK)]
            if opened:
                wh.insert(conn, "core.finding_status", pd.DataFrame({
                    "finding_id": opened, "week": week, "status": OPEN, "reason": None, "updated_by": SYSTEM,
                    "updated_at": now, "first_seen_week": week, "first_seen_run": run_id, "first_seen_at": now,
                    "last_seen_week": week, "last_seen_run": run_id, "last_seen_at": now}))
            reopen_reason, resolve_reason = "重新报送后问题再次出现", "最新报送中已不再出现该问题"
            for ids, status, reason in ((reopened, OPEN, reopen_reason), (resolved, RESOLVED, resolve_reason)):
                if ids:
                    wh.update(conn, "core.finding_status", pd.DataFrame({
                        "finding_id": ids, "status": status, "reason": reason, "updated_by": SYSTEM,
                        "updated_at": now}), key="finding_id")
            if kept:
                conn.execute(sa.text(
                    "UPDATE core.finding_status SET last_seen_week = :w, last_seen_run = :run, last_seen_at = :t "
                    "WHERE week = :w AND finding_id IN (SELECT finding_id FROM core.findings WHERE week = :w)"),
                    {"w": week, "run": run_id, "t": now.to_pydatetime()})
            audit = [(opened, "open", None, OPEN, None), (reopened, "reopen", RESOLVED, OPEN, reopen_reason),
                     (resolved, "resolve", [known[f][0] for f in resolved], RESOLVED, resolve_reason)]
            frames = [pd.DataFrame({"finding_id": ids, "action": action, "before_status": before,
                                    "after_status": after, "reason": reason})
                      for ids, action, before, after, reason in audit if ids]
            if frames:
                rows = pd.concat(frames, ignore_index=True)
                wh.insert(conn, "core.finding_audit", rows.assign(
                    audit_id=[_audit_id() for _ in range(len(rows))], week=week, at=now, by=SYSTEM))
        return {"opened": len(opened), "reopened": len(reopened), "resolved": len(resolved),
                "kept": len(kept) - len(reopened)}

    out = with_retry(run)
    log.info("lifecycle %s: %s", week, out)
    return {"week": week, **out}


# ---- steward actions ---------------------------------------------------------------------
def _act(action: str, finding_id: str, by: str, reason: str | None, wh: Warehouse | None) -> dict:
    wh = _wh(wh)
    ensure_schema(wh)
    by = (by or "").strip()
    if not by:
        raise LifecycleError("必须注明操作人")
    reason = (reason or "").strip()
    if action in ("waive", "close") and not reason:
        raise LifecycleError("豁免或关闭问题必须填写理由")

    def run() -> dict:
        now = _now()
        with wh.transaction() as conn:
            row = conn.execute(sa.text(
                "SELECT status, week FROM core.finding_status WHERE finding_id = :f"), {"f": finding_id}).fetchone()
            if row is None:
                # Known to core.findings but never synced (e.g. the run did not call sync): adopt it.
                week = conn.execute(sa.text(
                    "SELECT MIN(week) FROM core.findings WHERE finding_id = :f"), {"f": finding_id}).scalar()
                if not week:
                    raise LifecycleError(f"找不到问题编号 {finding_id}")
                conn.execute(sa.text(
                    "INSERT INTO core.finding_status (finding_id, week, status, reason, updated_by, updated_at, "
                    "first_seen_week, first_seen_run, first_seen_at, last_seen_week, last_seen_run, last_seen_at) "
                    "VALUES (:f, :w, :s, NULL, :by, :t, :w, '', :t, :w, '', :t)"),
                    {"f": finding_id, "w": week, "s": OPEN, "by": SYSTEM, "t": now.to_pydatetime()})
                _audit(conn, finding_id, week, SYSTEM, "open", None, OPEN, None, now)
                before = OPEN
            else:
                before, week = row[0], row[1]
            if before not in ALLOWED[action]:
                raise LifecycleError(
                    f"问题 {finding_id} 当前状态为「{STATUS_LABEL.get(before, before)}」，不能执行「{ACTION_LABEL[action]}」")
            after = TARGET[action]
            conn.execute(sa.text(
                "UPDATE core.finding_status SET status = :s, reason = :r, updated_by = :by, updated_at = :t "
                "WHERE finding_id = :f"),
                {"s": after, "r": reason or None, "by": by, "t": now.to_pydatetime(), "f": finding_id})
            _audit(conn, finding_id, week, by, action, before, after, reason or None, now)
            echoes = _carry(wh, conn, action, [finding_id], week, by, reason, now) if action in CARRIED else 0
            return {"finding_id": finding_id, "week": week, "before": before, "status": after,
                    "by": by, "reason": reason, "echoes": echoes}

    return with_retry(run)


def _adopt(wh: Warehouse, conn, ids: pd.Series, week: str, now: pd.Timestamp) -> None:
    """Findings of ``week`` never synced yet (e.g. the run did not call sync): open, audited,
    before a steward's action applies to them, as a single action adopts one."""
    if ids.empty:
        return
    wh.insert(conn, "core.finding_status", pd.DataFrame({
        "finding_id": ids, "week": week, "status": OPEN, "reason": None, "updated_by": SYSTEM,
        "updated_at": now, "first_seen_week": week, "first_seen_run": "", "first_seen_at": now,
        "last_seen_week": week, "last_seen_run": "", "last_seen_at": now}))
    wh.insert(conn, "core.finding_audit", pd.DataFrame({
        "audit_id": [_audit_id() for _ in range(len(ids))], "finding_id": ids.to_numpy(object), "week": week,
        "at": now, "by": SYSTEM, "action": "open", "before_status": None, "after_status": OPEN, "reason": None}))


def _carry(wh: Warehouse, conn, action: str, causes: list[str], week: str, by: str, reason: str,
           now: pd.Timestamp) -> int:
    """Apply ``action`` to the echoes of ``causes`` (findings of ``week``) that allow it
    (set-based); how many."""
    rows = conn.execute(sa.text(
        "SELECT DISTINCT f.finding_id, f.cause_id, s.status FROM core.findings f LEFT JOIN core.finding_status s "
        "ON s.finding_id = f.finding_id WHERE f.week = :w AND f.cause_id IS NOT NULL AND f.cause_id <> f.finding_id"),
        {"w": week}).fetchall()
    echoes = pd.DataFrame(rows, columns=["finding_id", "cause_id", "before_status"])
    echoes = echoes[echoes["cause_id"].isin(causes)].drop_duplicates("finding_id")
    _adopt(wh, conn, echoes.loc[echoes["before_status"].isna(), "finding_id"], week, now)
    echoes["before_status"] = echoes["before_status"].fillna(OPEN)
    echoes = echoes[echoes["before_status"].isin(ALLOWED[action])]
    if echoes.empty:
        return 0
    after = TARGET[action]
    note = f"随源头问题一并{ACTION_LABEL[action]}" + (f"：{reason}" if reason else "")
    wh.update(conn, "core.finding_status", pd.DataFrame({
        "finding_id": echoes["finding_id"], "status": after, "reason": note, "updated_by": by, "updated_at": now}),
        key="finding_id")
    wh.insert(conn, "core.finding_audit", echoes.drop(columns="cause_id").assign(
        audit_id=[_audit_id() for _ in range(len(echoes))], week=week, at=now, by=by, action=action,
        after_status=after, reason=note))
    return int(len(echoes))


def act_many(action: str, week: str, finding_ids: list[str], by: str, reason: str = "",
             wh: Warehouse | None = None) -> dict:
    """``action`` on every finding of ``week`` in ``finding_ids`` whose state allows it,
    set-based in one transaction, each change audited as a single action is (echoes
    carried); the others are skipped and counted."""
    wh = _wh(wh)
    ensure_schema(wh)
    by, reason = (by or "").strip(), (reason or "").strip()
    if not by:
        raise LifecycleError("必须注明操作人")
    if action in ("waive", "close") and not reason:
        raise LifecycleError("豁免或关闭问题必须填写理由")
    ids = set(finding_ids)

    def run() -> dict:
        now = _now()
        with wh.transaction() as conn:
            rows = conn.execute(sa.text(
                "SELECT DISTINCT f.finding_id, s.status FROM core.findings f LEFT JOIN core.finding_status s "
                "ON s.finding_id = f.finding_id WHERE f.week = :w"), {"w": week}).fetchall()
            known = pd.DataFrame(rows, columns=["finding_id", "before_status"])
            known = known[known["finding_id"].isin(ids)]
            _adopt(wh, conn, known.loc[known["before_status"].isna(), "finding_id"], week, now)
            known["before_status"] = known["before_status"].fillna(OPEN)
            todo = known[known["before_status"].isin(ALLOWED[action])]
            after = TARGET[action]
            if len(todo):
                wh.update(conn, "core.finding_status", pd.DataFrame({
                    "finding_id": todo["finding_id"], "status": after, "reason": reason or None, "updated_by": by,
                    "updated_at": now}), key="finding_id")
                wh.insert(conn, "core.finding_audit", todo.assign(
                    audit_id=[_audit_id() for _ in range(len(todo))], week=week, at=now, by=by, action=action,
                    after_status=after, reason=reason or None))
            causes = todo["finding_id"].tolist()
            echoes = _carry(wh, conn, action, causes, week, by, reason, now) if action in CARRIED and causes else 0
        return {"action": action, "status": after, "done": int(len(todo)), "skipped": len(ids) - int(len(todo)),
                "echoes": int(echoes), "by": by, "reason": reason}

    return with_retry(run)


def waive(finding_id: str, reason: str, by: str, wh: Warehouse | None = None) -> dict:
    """Accept the finding as it is (reason required): a waived error no longer quarantines its row."""
    return _act("waive", finding_id, by, reason, wh)


def send_back(finding_id: str, by: str, reason: str = "", wh: Warehouse | None = None) -> dict:
    """Ask the unit to correct and resubmit."""
    return _act("send_back", finding_id, by, reason, wh)


def unwaive(finding_id: str, by: str, reason: str = "", wh: Warehouse | None = None) -> dict:
    """Undo a waiver: the finding is open again (and its error quarantines its row on the next run)."""
    return _act("unwaive", finding_id, by, reason, wh)


def close(finding_id: str, by: str, reason: str, wh: Warehouse | None = None) -> dict:
    """Mark the finding resolved by a steward (reason required)."""
    return _act("close", finding_id, by, reason, wh)


# ---- reads ---------------------------------------------------------------------------------
def waived_finding_ids(wh: Warehouse | None, week: str) -> set[str]:
    """Ids of the week's waived findings; empty when the review tables do not exist yet."""
    try:
        wh = _wh(wh)
        if not tables_exist(wh):
            return set()
        df = with_retry(lambda: wh.query(
            "SELECT finding_id FROM core.finding_status WHERE week = :w AND status = :s", {"w": week, "s": WAIVED}))
    except sa.exc.SQLAlchemyError as e:  # never let review state break a publish
        log.warning("waived findings for %s unavailable: %s", week, e)
        return set()
    return set(df["finding_id"])


def history(finding_id: str, wh: Warehouse | None = None) -> pd.DataFrame:
    wh = _wh(wh)
    if not tables_exist(wh):
        return pd.DataFrame(columns=["audit_id", "finding_id", "week", "at", "by", "action", "before_status",
                                     "after_status", "reason"])
    return with_retry(lambda: wh.query(
        'SELECT audit_id, finding_id, week, "at", "by", action, before_status, after_status, reason '
        "FROM core.finding_audit WHERE finding_id = :f ORDER BY audit_id", {"f": finding_id}))


def status_of(finding_id: str, wh: Warehouse | None = None) -> str | None:
    wh = _wh(wh)
    if not tables_exist(wh):
        return None
    return with_retry(lambda: wh.scalar(
        "SELECT status FROM core.finding_status WHERE finding_id = :f", {"f": finding_id}))
