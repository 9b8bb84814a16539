"""The review subcommands of `huizong`: findings, waive, send-back, receipts."""
from __future__ import annotations

from pipelines.cli import main
from pipelines.review import lifecycle
from pipelines.settings import get_settings
from tests.review.weeks import WEEK, run_week, warehouse


def test_cli_lists_waives_sends_back_and_writes_receipts(examples_landing, capsys):
    run_week()
    fid = warehouse().query("SELECT finding_id FROM core.findings WHERE severity = 'error'")["finding_id"].iat[0]
    assert main(["findings", "--week", WEEK, "--county", "411622", "--status", "open"]) == 0
    out = capsys.readouterr().out
    assert fid in out and "待处理" in out and "西华县" in out and "共 1 个问题（错误 1" in out
    assert main(["findings", "--week", WEEK, "--county", "411621"]) == 0
    assert "没有符合条件的问题" in capsys.readouterr().out
    assert main(["send-back", fid, "--by", "王科长"]) == 0
    assert "已退回重报" in capsys.readouterr().out
    assert main(["waive", fid, "--reason", "核实无误", "--by", "李审核"]) == 0
    assert lifecycle.status_of(fid) == "waived"
    assert main(["waive", fid, "--reason", "再次", "--by", "李审核"]) == 2
    assert "不能执行" in capsys.readouterr().out
    assert main(["findings", "--week", WEEK, "--status", "open"]) == 0
    assert fid not in capsys.readouterr().out
    assert main(["receipts", "--week", WEEK]) == 0
    out = capsys.readouterr().out
    n_xlsx = len(list((get_settings().outbox_dir / WEEK).rglob("*.xlsx")))
    assert "共 3 份回执" in out and f"其中 {n_xlsx} 份附问题清单" in out
    assert len(list((get_settings().outbox_dir / WEEK).rglob("*.html"))) == 3 and 1 <= n_xlsx < 3
