"""Findings lifecycle: open → waived / sent back → resolved, stable ids, append-only audit."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from pipelines.review import lifecycle
from tests.review.weeks import MANGLED_HH, WEEK, resubmit_ledger, run_week, valid_id, warehouse

REPO = Path(__file__).resolve().parents[2]


def _sci_finding(wh) -> str:
    f = wh.query("SELECT finding_id FROM core.findings WHERE rule = 'id_number.scientific' AND week = :w", {"w": WEEK})
    assert len(f) == 1
    return f["finding_id"].iat[0]


def _audit(wh, fid=None) -> pd.DataFrame:
    sql = 'SELECT * FROM core.finding_audit' + (" WHERE finding_id = :f" if fid else "") + " ORDER BY audit_id"
    return wh.query(sql, {"f": fid} if fid else {})


def test_new_findings_open_with_an_audit_row(examples_landing):
    s = run_week()
    wh = warehouse()
    n = wh.scalar("SELECT COUNT(DISTINCT finding_id) FROM core.findings WHERE week = :w", {"w": WEEK})
    assert s["lifecycle"]["opened"] == n and n >= 1
    st = wh.query("SELECT * FROM core.finding_status")
    assert set(st["status"]) == {"open"} and len(st) == n
    assert set(st["first_seen_run"]) == {"test"}
    a = _audit(wh)
    assert len(a) == n and set(a["action"]) == {"open"} and set(a["by"]) == {"system"}


def test_resubmission_recurring_keeps_id_and_status_then_fix_resolves_with_history(examples_landing):
    run_week()
    wh = warehouse()
    fid = _sci_finding(wh)
    lifecycle.send_back(fid, by="王科长", reason="请核对身份证号后重新报送")
    assert lifecycle.status_of(fid, wh) == "sent_back"

    # 1) A corrected file that still carries the mangled ID: same finding, same id, still sent back.
    resubmit_ledger(examples_landing, "焦东村三本账(改).xlsx", 4.116221985041398e+17, hour=8, as_text=False)
    s = run_week(run_id="second")
    assert _sci_finding(wh) == fid
    assert lifecycle.status_of(fid, wh) == "sent_back"
    assert s["lifecycle"]["resolved"] == 0
    st = wh.query("SELECT * FROM core.finding_status WHERE finding_id = :f", {"f": fid}).iloc[0]
    assert st["first_seen_run"] == "test" and st["last_seen_run"] == "second"

    # 2) A later file with a valid ID: the finding is gone from core.findings and resolved by the system.
    resubmit_ledger(examples_landing, "焦东村三本账(更正).xlsx", valid_id(), hour=9)
    s = run_week(run_id="third")
    assert wh.scalar("SELECT COUNT(*) FROM core.findings WHERE finding_id = :f", {"f": fid}) == 0
    assert lifecycle.status_of(fid, wh) == "resolved"
    assert s["lifecycle"]["resolved"] >= 1
    hist = lifecycle.history(fid, wh)
    assert list(hist["action"]) == ["open", "send_back", "resolve"]
    assert list(hist["by"]) == ["system", "王科长", "system"]
    assert list(hist["after_status"]) == ["open", "sent_back", "resolved"]
    hh = wh.query("SELECT id_hash, id_masked FROM core.ledger_households WHERE household_id = :h", {"h": MANGLED_HH})
    vid = valid_id()
    assert list(hh["id_masked"]) == [vid[:6] + "********" + vid[-4:]] and len(hh["id_hash"].iat[0]) == 32


def test_waive_then_rerun_loads_the_row_as_a_fact(examples_landing):
    run_week()
    wh = warehouse()
    assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE household_id = :h", {"h": MANGLED_HH}) == 0
    fid = _sci_finding(wh)
    res = lifecycle.waive(fid, reason="经乡镇电话核实，户主信息无误，先行入库", by="李审核")
    assert (res["before"], res["status"]) == ("open", "waived")
    s = run_week(run_id="after-waive")
    assert wh.scalar("SELECT COUNT(*) FROM core.ledger_households WHERE household_id = :h", {"h": MANGLED_HH}) == 1
    assert s["loaded"]["ledger_households"] == 45 and s["quarantined"]["ledger_households"] == 0
    # The finding itself is still recorded, still waived, and the submission is no longer partial.
    assert _sci_finding(wh) == fid and lifecycle.status_of(fid, wh) == "waived"
    sub = wh.query("SELECT status FROM core.submissions WHERE detected_form = 'A'")
    assert list(sub["status"]) == ["loaded"]
    assert fid in lifecycle.waived_finding_ids(wh, WEEK)


def test_steward_actions_validate_reason_state_and_id(examples_landing):
    run_week()
    wh = warehouse()
    fid = _sci_finding(wh)
    for bad in ("", "   "):
        with pytest.raises(lifecycle.LifecycleError, match="理由"):
            lifecycle.waive(fid, reason=bad, by="李审核")
    with pytest.raises(lifecycle.LifecycleError, match="找不到"):
        lifecycle.waive("0000000000000000", reason="x", by="李审核")
    lifecycle.waive(fid, reason="核实无误", by="李审核")
    with pytest.raises(lifecycle.LifecycleError, match="不能执行"):
        lifecycle.waive(fid, reason="再次", by="李审核")
    lifecycle.close(fid, by="李审核", reason="已线下处理")
    assert lifecycle.status_of(fid, wh) == "resolved"
    # A steward's close survives the next run (only system-resolved findings reopen).
    run_week(run_id="again")
    assert lifecycle.status_of(fid, wh) == "resolved"
    assert list(lifecycle.history(fid, wh)["action"]) == ["open", "waive", "close"]


def test_waived_ids_are_empty_before_the_review_tables_exist(home):
    from pipelines.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{home / 'empty.duckdb'}")
    assert lifecycle.waived_finding_ids(wh, WEEK) == set()


# ---- the audit table is append-only ---------------------------------------------------------
MUTATION = re.compile(r"(UPDATE\s+core\.finding_audit|DELETE\s+FROM\s+core\.finding_audit|TRUNCATE[^;]*finding_audit"
                      r"|DROP\s+TABLE[^;]*finding_audit|replace\([^)]*finding_audit)", re.I | re.S)


def test_no_code_updates_or_deletes_the_audit_table():
    files = [p for d in ("pipelines", "plugins", "dags", "warehouse") for p in (REPO / d).rglob("*")
             if p.suffix in (".py", ".sql")]
    assert any("finding_audit" in p.read_text(encoding="utf-8") for p in files)  # the grep can see the table
    offenders = [str(p.relative_to(REPO)) for p in files if MUTATION.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    # The pattern itself catches what it must.
    assert MUTATION.search('conn.execute("UPDATE core.finding_audit SET reason = 1")')
    assert MUTATION.search("DELETE FROM core.finding_audit WHERE 1=1")


def test_audit_only_grows_and_never_changes_past_rows(examples_landing):
    run_week()
    wh = warehouse()
    fid = _sci_finding(wh)
    snapshots = [_audit(wh)]
    steps = [
        lambda: lifecycle.send_back(fid, by="王科长"),
        lambda: lifecycle.waive(fid, reason="核实无误", by="李审核"),
        lambda: run_week(run_id="r2"),
        lambda: lifecycle.close(fid, by="李审核", reason="结案"),
    ]
    for step in steps:
        step()
        snapshots.append(_audit(wh))
    for before, after in zip(snapshots, snapshots[1:]):
        assert len(after) >= len(before)
        pd.testing.assert_frame_equal(after.head(len(before)).reset_index(drop=True).astype(str),
                                      before.reset_index(drop=True).astype(str))
    assert len(snapshots[-1]) == len(snapshots[0]) + 3


def test_a_system_resolved_finding_that_comes_back_is_reopened(examples_landing):
    """Resolved by the system (a corrected file), then back (the corrected file withdrawn
    from the landing area): reopened, with a reason and an audit row; the other findings
    of the week are kept, their last sighting moved to the new run."""
    run_week()
    wh = warehouse()
    fid = _sci_finding(wh)
    fixed = resubmit_ledger(examples_landing, "焦东村三本账(更正).xlsx", valid_id(), hour=9)
    assert run_week(run_id="fixed")["lifecycle"]["resolved"] >= 1
    assert lifecycle.status_of(fid, wh) == "resolved"
    Path(fixed).unlink()
    s = run_week(run_id="withdrawn")
    assert s["lifecycle"]["reopened"] == 1
    st = wh.query("SELECT * FROM core.finding_status WHERE finding_id = :f", {"f": fid}).iloc[0]
    assert (st["status"], st["updated_by"], st["reason"]) == ("open", "system", "重新报送后问题再次出现")
    assert st["last_seen_run"] == "withdrawn" and st["first_seen_run"] == "test"
    hist = lifecycle.history(fid, wh)
    assert list(hist["action"]) == ["open", "resolve", "reopen"]
    assert list(hist["before_status"].fillna("")) == ["", "open", "resolved"]
    kept = wh.query("SELECT last_seen_run FROM core.finding_status WHERE week = :w AND finding_id IN "
                    "(SELECT finding_id FROM core.findings WHERE week = :w)", {"w": WEEK})
    assert set(kept["last_seen_run"]) == {"withdrawn"} and s["lifecycle"]["kept"] == len(kept) - 1
