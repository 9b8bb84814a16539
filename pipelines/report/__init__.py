"""Plain-text overviews of what the warehouse holds (CLI output, in Chinese)."""
from __future__ import annotations

from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse


def week_overview(weeks: list[str], wh: Warehouse | None = None) -> str:
    """周汇总概览: what each week loaded, what was found, and the city's consolidated figures."""
    wh = wh or Warehouse(get_settings().warehouse_url)
    lines = ["周次        文件  入库行数  隔离行数  错误  警告  核对差异  报送率   及时率   全市贫困户  全市贫困人口"]
    for week in weeks:
        load = wh.query("SELECT * FROM core.loads WHERE week = :w", {"w": week})
        if load.empty:
            lines.append(f"{week}  （未入库）")
            continue
        r = load.iloc[0]
        f = wh.query("SELECT severity, COUNT(*) AS n FROM core.findings WHERE week = :w GROUP BY severity",
                     {"w": week}).set_index("severity")["n"]
        city = wh.query("SELECT hh_close, pp_close FROM core.consolidated WHERE week = :w AND level = '市'", {"w": week})
        rs = wh.query("SELECT AVG(CASE WHEN received THEN 1.0 ELSE 0 END) AS rr, "
                      "AVG(CASE WHEN on_time THEN 1.0 ELSE 0 END) AS ot FROM core.reporting_status WHERE week = :w",
                      {"w": week})
        nd = wh.scalar("SELECT COUNT(*) FROM core.discrepancies WHERE week = :w", {"w": week}) or 0
        hh = int(city["hh_close"].iat[0]) if len(city) else 0
        pp = int(city["pp_close"].iat[0]) if len(city) else 0
        rr = float(rs["rr"].iat[0] or 0) if len(rs) else 0.0
        ot = float(rs["ot"].iat[0] or 0) if len(rs) else 0.0
        lines.append(f"{week}  {int(r.files):>5}  {int(r.rows_loaded):>8}  {int(r.rows_quarantined):>8}  "
                     f"{int(f.get('error', 0)):>4}  {int(f.get('warning', 0)):>4}  {int(nd):>8}  {rr:>7.2%}  {ot:>7.2%}  "
                     f"{hh:>10}  {pp:>12}")
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
