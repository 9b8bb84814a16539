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
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
