"""CLI command functions: findings, waive, send-back, receipts (called from pipelines.cli)."""
from __future__ import annotations

import argparse
import unicodedata

from pipelines.review import lifecycle, queries
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _clip(text: str, n: int) -> str:
    out = ""
    for ch in text:
        if _width(out + ch) > n - 1:
            return out + "…"
        out += ch
    return out


def table_text(headers: list[str], rows: list[list[str]], limits: dict[int, int] | None = None) -> str:
    limits = limits or {}
    rows = [[_clip(str(v), limits[j]) if j in limits else str(v) for j, v in enumerate(r)] for r in rows]
    widths = [max([_width(h)] + [_width(r[j]) for r in rows]) for j, h in enumerate(headers)]
    line = lambda vals: "  ".join(_pad(v, w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def cmd_findings(args: argparse.Namespace) -> int:
    wh = Warehouse(get_settings().warehouse_url)
    df = queries.findings(args.week, wh, folded=True, county=args.county, status=args.status, severity=args.severity,
                          level=args.level, dimension=args.dimension)
    if df.empty:
        print(f"{args.week}：没有符合条件的问题")
        return 0
    headers = ["问题编号", "状态", "级别", "县", "单位", "文件", "工作表", "行", "列", "填报值", "八个准", "说明"]
    rows = [[r.finding_id, r.status_label, r.severity_label, r.county_name, r.unit_code,
             r.file.rsplit("/", 1)[-1], r.sheet, str(r.row or ""), r.column, r.value, r.dimension_label,
             r.message + ("（" + r.echo_note + "）" if r.echo_note else "")]
            for r in df.itertuples(index=False)]
    print(table_text(headers, rows, {5: 28, 9: 20, 11: 60}))
    print(f"\n共 {len(df)} 个问题（错误 {int((df['severity'] == 'error').sum())}，"
          f"警告 {int((df['severity'] == 'warning').sum())}；另有关联问题 {int(df['echoes'].sum())} 条，折叠在其源头问题下）")
    return 0


def _action(fn, args: argparse.Namespace, **kw) -> int:
    try:
        res = fn(args.finding_id, by=args.by, **kw)
    except lifecycle.LifecycleError as e:
        print(f"操作失败：{e}")
        return 2
    print(f"问题 {res['finding_id']}：{lifecycle.STATUS_LABEL[res['before']]} → "
          f"{lifecycle.STATUS_LABEL[res['status']]}（操作人 {res['by']}）")
    if res.get("echoes"):
        print(f"另有 {res['echoes']} 条关联问题随之{lifecycle.STATUS_LABEL[res['status']]}")
    return 0


def cmd_waive(args: argparse.Namespace) -> int:
    return _action(lifecycle.waive, args, reason=args.reason)


def cmd_send_back(args: argparse.Namespace) -> int:
    return _action(lifecycle.send_back, args, reason=args.reason or "")


def cmd_receipts(args: argparse.Namespace) -> int:
    from pipelines.review.receipts import write_receipts

    paths = write_receipts(args.week)
    n_html = sum(p.suffix == ".html" for p in paths)
    n_xlsx = sum(p.suffix == ".xlsx" for p in paths)
    print(f"{args.week}：共 {n_html} 份回执（html），其中 {n_xlsx} 份附问题清单（xlsx）→ {get_settings().outbox_dir / args.week}")
    return 0


def add_parsers(sub) -> None:
    """Register the review subcommands on the huizong parser."""
    f = sub.add_parser("findings", help="列出某周的问题（可按县、状态等筛选）")
    f.add_argument("--week", required=True, help="如 2026-W47")
    f.add_argument("--county", help="县级6位代码，如 411622")
    f.add_argument("--status", choices=list(lifecycle.STATUSES), help="open/waived/sent_back/resolved")
    f.add_argument("--severity", choices=["error", "warning"])
    f.add_argument("--level", help="村/乡镇/县")
    f.add_argument("--dimension", help="八个准的键，如 identification")
    f.set_defaults(func=cmd_findings)

    w = sub.add_parser("waive", help="豁免一个问题（必须填写理由）")
    w.add_argument("finding_id")
    w.add_argument("--reason", required=True, help="豁免理由")
    w.add_argument("--by", required=True, help="操作人")
    w.set_defaults(func=cmd_waive)

    s = sub.add_parser("send-back", help="退回报送单位重新报送")
    s.add_argument("finding_id")
    s.add_argument("--by", required=True, help="操作人")
    s.add_argument("--reason", default="", help="退回说明（可选）")
    s.set_defaults(func=cmd_send_back)

    r = sub.add_parser("receipts", help="生成某周各报送文件的回执")
    r.add_argument("--week", required=True)
    r.set_defaults(func=cmd_receipts)
