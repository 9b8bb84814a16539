"""History checks: a unit's week against its own recent weeks (robust z-score)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.findings import WARNING, findings_frame

METRICS = {"hh_new": "本周新识别户数", "hh_exit": "本周脱贫户数", "hh_cancel": "本周注销户数"}


def history_findings(current: pd.DataFrame, history: pd.DataFrame, week: str, settings) -> pd.DataFrame:
    """Flag sudden jumps: |x − median| ≥ min_change and robust z > threshold over the
    last `weeks` weeks (at least `min_weeks` of history)."""
    weeks = int(settings.extra.get("history_weeks", 8))
    z_max = float(settings.extra.get("history_z", 3.5))
    min_change = float(settings.extra.get("history_min_change", 5))
    min_weeks = int(settings.extra.get("history_min_weeks", 4))
    if history.empty or current.empty:
        return findings_frame()
    recent = sorted(history["week"].unique())[-weeks:]
    h = history[history["week"].isin(recent)].copy()
    for metric in METRICS:
        h[metric] = pd.to_numeric(h[metric], errors="coerce").astype("float64")
    out = []
    for metric, header in METRICS.items():
        g = h.groupby("unit_code")[metric]
        stats = pd.DataFrame({"n": g.count(), "med": g.median()})
        stats["mad"] = h.assign(_dev=(h[metric] - h["unit_code"].map(stats["med"])).abs()).groupby("unit_code")["_dev"].median()
        cur = pd.to_numeric(current.set_index("unit_code")[metric], errors="coerce").astype("float64")
        s = stats.reindex(cur.index)
        dev = cur - s["med"]
        mad = s["mad"].astype("float64")
        z = np.where(mad > 0, 0.6745 * dev / mad.replace(0, np.nan), np.inf * np.sign(dev.fillna(0)))
        flag = (s["n"] >= min_weeks) & (dev.abs() >= min_change) & (np.abs(z) > z_max)
        for code in cur.index[flag.fillna(False).values]:
            out.append({"week": week, "level": "村", "unit_code": code, "row": 0, "column": header,
                        "value": f"{cur[code]:g}", "rule": "history.jump", "severity": WARNING,
                        "dimension": "dynamics", "record_key": code,
                        "message": f"「{header}」本周为 {cur[code]:g}，近 {int(s.loc[code, 'n'])} 周中位数为 "
                                   f"{s.loc[code, 'med']:g}，变化异常，请核实是否录入有误"})
    return findings_frame(out)
