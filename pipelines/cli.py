"""The `huizong` command line. Heavy modules are imported inside each command."""
from __future__ import annotations

import argparse
import os
import sys


def _cmd_synth(args: argparse.Namespace) -> int:
    from pipelines.synth import generate

    result = generate(
        out=args.out,
        weeks=args.weeks,
        scale=args.scale,
        faults=args.faults,
        seed=args.seed,
    )
    print(result.summary_text())
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.orchestrate import run_week
    from pipelines.weeks import week_range

    failed = []
    for week in week_range(args.weeks):
        dr = run_week(week)
        state = str(getattr(dr, "state", "unknown"))
        print(f"weekly_ingest {week}: {state}")
        if "success" not in state:
            failed.append(week)
    print(week_summary_text(week_range(args.weeks)))
    return 1 if failed else 0


def week_summary_text(weeks: list[str]) -> str:
    from pipelines.report import week_overview

    return week_overview(weeks)


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipelines.settings import get_settings
    from pipelines.synth import generate

    settings = get_settings()
    landing = Path(settings.landing_url)
    print(f"[1/2] 生成合成数据：{args.weeks}，规模 {args.scale}，错误注入 {args.faults} → {landing}")
    result = generate(out=str(landing), weeks=args.weeks, scale=args.scale, faults=args.faults, seed=args.seed)
    print(result.summary_text())
    print("[2/3] 通过 Airflow 运行 weekly_ingest（SQLite 元数据库，DuckDB 仓库）")
    rc = _cmd_ingest(args)
    _cmd_score(argparse.Namespace(weeks=args.weeks, truth=str(result.truth_dir)))
    from pipelines.weeks import month_of_week, week_range

    months = sorted({month_of_week(w) for w in week_range(args.weeks)})
    for month in months:
        print(f"[3/3] 通过 Airflow 运行 monthly_conclusion：{month}")
        rc = max(rc, _cmd_report(argparse.Namespace(month=month)))
    print()
    print("结果位置：")
    print(f"  仓库（DuckDB）：{settings.warehouse_url}")
    print(f"  数据湖（Parquet）：{settings.lake_url}")
    print(f"  原始文件存档：{settings.archive_url}")
    print(f"  回执（outbox）：{settings.outbox_dir}")
    print(f"  Airflow 元数据与日志：{settings.home / 'airflow'}")
    print("  数据审核页面：.venv/bin/huizong ui，然后打开 http://127.0.0.1:8080/huizong/findings")
    return rc


def _cmd_score(args: argparse.Namespace) -> int:
    """Recall per injected fault kind, and primary findings per fault, against a synthetic
    world's ground truth."""
    from pathlib import Path

    from pipelines.settings import get_settings
    from pipelines.synth.score import score_text
    from pipelines.warehouse import Warehouse
    from pipelines.weeks import week_range

    settings = get_settings()
    truth = Path(args.truth) if args.truth else Path(settings.landing_url) / "_synth_truth"
    print("合成数据错误发现情况（与注入的错误清单对照）：")
    print(score_text(truth, week_range(args.weeks), Warehouse(settings.warehouse_url)))
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    import json

    from pipelines.orchestrate import prepare_airflow, ui_environ

    prepare_airflow()
    env, passwords = ui_environ(args.port)
    users = json.loads(passwords.read_text())
    print(f"Airflow 界面：http://127.0.0.1:{args.port}/   数据审核：http://127.0.0.1:{args.port}/huizong/findings")
    for user, password in users.items():
        print(f"登录用户：{user}  密码：{password}（保存在 {passwords}）")
    os.environ.update(env)
    os.execvp(sys.executable, [sys.executable, "-m", "airflow", "api-server", "--port", str(args.port)])
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """monthly_conclusion through Airflow for one month; prints where the reports are."""
    from pipelines.mart.calendar import parse_month
    from pipelines.orchestrate import run_month
    from pipelines.report.monthly import report_dir

    parse_month(args.month)
    dr = run_month(args.month)
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    print(f"monthly_conclusion {args.month}: {dr.state}")
    if "skipped" in states.get("check_month", ""):
        print(f"{args.month} 尚有周次未入库，未生成月总结（见 core.loads）")
        return 1
    ok = "success" in str(dr.state) and all("success" in s for s in states.values())
    out = report_dir(args.month)
    if ok:
        print(f"月总结报告：{out}")
        for p in sorted(out.glob("*")):
            print(f"  {p.name}")
    return 0 if ok else 1


def _cmd_migrate(args) -> int:
    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    wh = Warehouse(get_settings().warehouse_url)
    if wh.rewrite_for_older_clients():
        print("内置数据仓库已改写为 DuckDB 1.0 存储格式（DuckDB 1.0 及以后的客户端均可打开）")
    revisions = wh.apply_schema()
    if revisions is None:
        print("数据仓库结构已是当前版本，无需升级")
    else:
        before, after = revisions
        print(f"已新建数据仓库，结构版本 {after}" if before is None else f"数据仓库结构已升级：版本 {before} → {after}")
    wh.dispose()
    return 0


def _cmd_portal(args: argparse.Namespace) -> int:
    import uvicorn

    print(f"报送平台：http://{args.host}:{args.port}/   （首次使用：/activate，用 huizong accounts create 发放的激活码设置密码）")
    uvicorn.run("pipelines.portal.app:create_app", factory=True, host=args.host, port=args.port)
    return 0


def _cmd_accounts_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipelines.ingest.landing import read_landing_register
    from pipelines.portal.accounts import create_accounts, write_activation_xlsx
    from pipelines.register import read_register
    from pipelines.settings import get_settings
    from pipelines.warehouse import Warehouse

    settings = get_settings()
    register = read_register(Path(args.register).read_bytes()) if args.register else read_landing_register(settings)
    wh = Warehouse(settings.warehouse_url)
    wh.apply_schema()
    try:
        issued = create_accounts(wh, register, units=args.units or None)
    except ValueError as exc:
        print(exc)
        return 1
    finally:
        wh.dispose()
    if issued.empty:
        print("区划名录中的单位都已有账号，未发放新的激活码（补发请用 --units 指定单位代码）")
        return 0
    out = write_activation_xlsx(issued, Path(args.out), args.url, settings.tz)
    print(f"已为 {len(issued)} 个单位发放激活码：{out}（请妥善保管，分发给各单位）")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="huizong", description="汇总：扶贫周报汇总流水线")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="生成合成的周口市周报数据（含可选的错误注入）")
    s.add_argument("--out", required=True, help="落地目录（区划名录.csv 与各周文件夹）")
    s.add_argument("--weeks", default="2026-W47", help="如 2026-W45..2026-W48")
    s.add_argument("--scale", default="zhoukou", help="zhoukou、henan（约10倍）或倍数，如 0.1、3")
    s.add_argument("--faults", default="default", choices=["none", "default"])
    s.add_argument("--seed", type=int, default=20261128)
    s.set_defaults(func=_cmd_synth)

    i = sub.add_parser("ingest", help="通过 Airflow 运行 weekly_ingest（一周或多周）")
    i.add_argument("--weeks", required=True, help="如 2026-W47 或 2026-W45..2026-W48")
    i.set_defaults(func=_cmd_ingest)

    d = sub.add_parser("demo", help="生成合成数据并运行完整的周报汇总")
    d.add_argument("--weeks", default="2026-W45..2026-W48")
    d.add_argument("--scale", default="zhoukou")
    d.add_argument("--faults", default="default", choices=["none", "default"])
    d.add_argument("--seed", type=int, default=20261128)
    d.set_defaults(func=_cmd_demo)

    c = sub.add_parser("score", help="对照合成数据的错误清单：各类错误的召回率与每个错误的主要问题数")
    c.add_argument("--weeks", required=True, help="如 2026-W45..2026-W46")
    c.add_argument("--truth", default="", help="错误清单目录（默认：落地目录下的 _synth_truth）")
    c.set_defaults(func=_cmd_score)

    u = sub.add_parser("ui", help="启动 Airflow 界面（含数据审核页面），使用内置默认配置")
    u.add_argument("--port", type=int, default=8080)
    u.set_defaults(func=_cmd_ui)

    r = sub.add_parser("report", help="通过 Airflow 运行 monthly_conclusion，生成月总结（集市表与报告）")
    r.add_argument("--month", required=True, help="月份，如 2026-11")
    r.set_defaults(func=_cmd_report)

    m = sub.add_parser("migrate", help="将数据仓库结构升级到当前版本（每周入库的第一个任务也会执行）")
    m.set_defaults(func=_cmd_migrate)

    o = sub.add_parser("portal", help="启动报送平台（各单位上传报表、即时预审）")
    o.add_argument("--host", default="127.0.0.1")
    o.add_argument("--port", type=int, default=8090)
    o.set_defaults(func=_cmd_portal)

    a = sub.add_parser("accounts", help="报送平台账号")
    asub = a.add_subparsers(dest="accounts_command", required=True)
    ac = asub.add_parser("create", help="为区划名录中尚无账号的单位发放一次性激活码，写入 xlsx 供分发")
    ac.add_argument("--out", default="报送平台激活码.xlsx", help="激活码清单（xlsx）")
    ac.add_argument("--units", nargs="*", default=[], help="只为这些单位代码（重新）发放激活码，原密码失效")
    ac.add_argument("--register", default="", help="区划名录 CSV（默认：落地目录中的区划名录.csv）")
    ac.add_argument("--url", default="http://127.0.0.1:8090", help="报送平台的网址（写入清单）")
    ac.set_defaults(func=_cmd_accounts_create)

    from pipelines.review.commands import add_parsers as add_review_parsers

    add_review_parsers(sub)  # findings, waive, send-back, receipts
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
