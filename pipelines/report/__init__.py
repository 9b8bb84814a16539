"""Plain-text overviews of what the warehouse holds (CLI output, in Chinese)."""
from __future__ import annotations

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse


def week_overview(weeks: list[str], wh: Warehouse | None = None) -> str:
    wh = wh or Warehouse(get_settings().warehouse_url)
    lines = ["周次        文件  入库行数  隔离行数  错误  警告  贫困户(户)  贫困人口(人)"]
    for week in weeks:
        load = wh.query("SELECT * FROM core.loads WHERE week = :w", {"w": week})
        if load.empty:
            lines.append(f"{week}  （未入库）")
            continue
        r = load.iloc[0]
        poor = wh.query(
            "SELECT COUNT(*) AS hh, COALESCE(SUM(household_size), 0) AS pp FROM core.ledger_households "
            "WHERE week = :w AND state = '贫困'", {"w": week}).iloc[0]
        lines.append(f"{week}  {int(r.files):>5}  {int(r.rows_loaded):>8}  {int(r.rows_quarantined):>8}  "
                     f"{int(r.errors):>4}  {int(r.warnings):>4}  {int(poor.hh):>10}  {int(poor.pp):>12}")
    top = wh.query(
        "SELECT rule, severity, COUNT(*) AS n FROM core.findings WHERE week IN ("
        + ", ".join(f":w{i}" for i in range(len(weeks))) + ") GROUP BY rule, severity ORDER BY n DESC LIMIT 12",
        {f"w{i}": w for i, w in enumerate(weeks)}) if weeks else None
    if top is not None and len(top):
        lines.append("")
        lines.append("问题最多的规则：")
        for r in top.itertuples(index=False):
            lines.append(f"  {r.rule:<36} {('错误' if r.severity == 'error' else '警告')}  {int(r.n)}")
    return "\n".join(lines)
