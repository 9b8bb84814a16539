"""Orchestration: build the world, evolve it week by week, write files and ground truth."""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipelines import forms, weeks as wk
from pipelines.register import REGISTER_FILE, write_register
from pipelines.settings import get_settings
from pipelines.synth import files as fl
from pipelines.synth import names as nm
from pipelines.synth.faults import KINDS, RATE_BASIS, RATES, plan_week
from pipelines.synth.figures import village_figures
from pipelines.synth.render import draw_style, encode, file_rng, week_text
from pipelines.synth.world import build_world, evolve, parse_scale

TRUTH_DIR = "_synth_truth"
_CTX = None  # the week being written; inherited by forked workers


@dataclass
class SynthResult:
    out: Path
    truth_dir: Path
    weeks: list[str]
    files: int
    expected: dict[str, dict]
    seconds: float
    scale: float
    faults: str
    by_form_format: Counter = field(default_factory=Counter)
    manifest_counts: Counter = field(default_factory=Counter)

    def summary_text(self) -> str:
        lines = [f"合成数据已生成 / synthetic world written: {self.out}",
                 f"周次 weeks: {', '.join(self.weeks)}  规模 scale: {self.scale:g}  错误注入 faults: {self.faults}",
                 f"文件 files: {self.files}  用时 seconds: {self.seconds:.1f}"]
        forms_ = sorted({f for f, _ in self.by_form_format})
        for f in forms_:
            parts = ", ".join(f"{fmt} {n}" for (ff, fmt), n in sorted(self.by_form_format.items()) if ff == f)
            lines.append(f"  表{f} ({forms.FORM_TITLE.get(f, '')}): {parts}")
        first = self.expected[self.weeks[0]]
        lines.append(f"首周贫困户 poor households: {first['world']['poor_households']}  "
                     f"贫困人口 poor people: {first['world']['poor_people']}  "
                     f"贫困村 poor villages: {first['world']['poor_villages']}")
        if self.manifest_counts:
            lines.append("注入错误 injected faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.manifest_counts.items())))
        return "\n".join(lines)


class _Ctx:
    """Plain attributes the worker reads (set before the pool forks)."""


def _villages_view(v: pd.DataFrame):
    class V:
        pass
    o = V()
    for col in ("code", "name", "county_name", "town_name", "parent_code"):
        setattr(o, col, v[col].tolist())
    return o


def generate(out: str | os.PathLike, weeks: str = "2026-W47", scale: str | float = "zhoukou",
             faults: str = "default", seed: int = 20261128, workers: int | None = None) -> SynthResult:
    t0 = time.perf_counter()
    if faults not in ("none", "default"):
        raise ValueError(f"faults 只能是 none 或 default：{faults!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    week_list = wk.week_range(weeks)
    sc = parse_scale(scale)
    world = build_world(seed, sc, wk.week_start(week_list[0]))
    (out / REGISTER_FILE).write_bytes(write_register(world.register))
    truth = out / TRUTH_DIR
    truth.mkdir(exist_ok=True)
    rng = np.random.default_rng([seed, 6])
    towns = world.register[world.register["level"] == forms.LEVEL_TOWNSHIP]["code"].to_numpy()
    demo = pd.Series(rng.multinomial(max(1, round(112 * sc)), np.full(len(towns), 1 / len(towns))), index=towns)
    result = SynthResult(out, truth, week_list, 0, {}, 0.0, sc, faults)
    # Forked workers inherit _CTX; forking a process that already runs other threads
    # (Airflow's, a test runner's) can deadlock on a lock held at fork time, so such a
    # process writes the files itself.
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if threading.active_count() == 1 else 1
    for i, week in enumerate(week_list):
        if i > 0:
            evolve(world, i, wk.week_start(week), settings.poverty_line_yuan)
            demo = demo + rng.binomial(1, min(1.0, 2 * sc / max(len(towns), 1)), len(towns))
        b, extra = village_figures(world, i, demo)
        plan = plan_week(world, week, i, i == len(week_list) - 1, b, extra, faults == "default",
                         settings.poverty_line_yuan, settings.household_size_max)
        records, manifest = _write_week(out, world, week, i, plan, workers)
        exp = _expected(world, week, records, manifest)
        wdir = truth / week
        wdir.mkdir(parents=True, exist_ok=True)
        (wdir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1, default=_json), "utf-8")
        (wdir / "expected.json").write_text(json.dumps(exp, ensure_ascii=False, indent=1, default=_json), "utf-8")
        result.expected[week] = exp
        result.files += len(records)
        for r in records:
            result.by_form_format[(r["form"], r["fmt"] + (f"/{r['encoding']}" if r["fmt"] == "csv" else ""))] += 1
        result.manifest_counts.update(e["kind"] for e in manifest)
    (truth / "README.txt").write_text(
        "合成数据的真值：每周 manifest.json（注入的错误）与 expected.json（正确导入应得的计数）。\n"
        "Ground truth of the synthetic world; it lies outside the week folders, which are all the ingestion reads.\n", "utf-8")
    result.seconds = time.perf_counter() - t0
    return result


def _json(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


# ------------------------------------------------------------------ writing a week
def _write_week(out: Path, world, week: str, wi: int, plan, workers: int):
    global _CTX
    hh = world.hh
    nv = len(world.villages)
    ctx = _Ctx()
    ctx.seed, ctx.week, ctx.out = world.seed, week, str(out)
    ctx.week_end = wk.week_end(week)
    ctx.year, ctx.wnum = wk.parse_week(week)
    ctx.villages = _villages_view(world.villages)
    ctx.hh = hh
    ctx.order = np.lexsort((hh["seq"], hh["village"]))
    ctx.vstart = np.searchsorted(hh["village"][ctx.order], np.arange(nv + 1))
    m = world.measures
    mv = hh["village"][m["hh"]]
    ctx.measures = m
    ctx.m_order = np.lexsort((np.arange(len(mv)), hh["seq"][m["hh"]], mv))
    ctx.m_start = np.searchsorted(mv[ctx.m_order], np.arange(nv + 1))
    h = world.helpers
    hv = hh["village"][h["hh"]]
    ctx.helpers = h
    ctx.h_order = np.lexsort((np.arange(len(hv)), hh["seq"][h["hh"]], hv))
    ctx.h_start = np.searchsorted(hv[ctx.h_order], np.arange(nv + 1))
    reg = world.register
    cn = dict(zip(reg["code"], reg["name"]))
    ctx.county_names = {c: cn[c] for c, *_ in nm.COUNTIES}
    ctx.towns = {t: dict(name=cn[t], county_name=cn[t[:6]]) for t in reg.loc[reg["level"] == forms.LEVEL_TOWNSHIP, "code"]}
    ctx.plan = plan
    ctx.deadline = wk.deadline(week, get_settings().tz, get_settings().deadline_hour)
    ctx.villages_by_town = world.villages.groupby("parent_code").indices
    _CTX = ctx
    counties = [c for c, *_ in nm.COUNTIES]
    if workers > 1:
        pool = mp.get_context("fork").Pool(workers)
        try:
            parts = pool.map(_write_county, counties, chunksize=1)
        except BaseException:
            pool.terminate()
            raise
        else:
            pool.close()  # let the workers finish cleanly rather than terminating them
        finally:
            pool.join()
    else:
        parts = [_write_county(c) for c in counties]
    _CTX = None
    records, located = [], {}
    for recs, locs in parts:
        records.extend(recs)
        located.update(locs)
    manifest = []
    for k, e in enumerate(plan.entries):
        e = dict(e)
        e.update(located.get(k, {}))
        manifest.append(e)
    manifest.sort(key=lambda e: (e["kind"], e["unit_code"], e["file"], e["row"] or 0))
    records.sort(key=lambda r: r["path"])
    return records, manifest


def _mtimes(c, form: str, unit: str, late: bool) -> tuple[int, int]:
    """(arrival of the unit's final file, arrival of a superseded first file, hours earlier)."""
    rs = file_rng(c.seed, c.week, "mtime", form, unit)
    dl = c.deadline.timestamp()
    final = dl + rs.uniform(1800, 50 * 3600) if late else dl - rs.uniform(1800, 60 * 3600)
    return int(final), int(final - rs.uniform(2 * 3600, 20 * 3600))


class _Writer:
    """Writes one county's files and remembers where faults landed."""

    def __init__(self, ctx, county: str):
        self.ctx = ctx
        self.county = county
        self.layout = fl.county_layout(ctx.seed, county)
        self.records: list[dict] = []
        self.located: dict[int, dict] = {}
        self.names: set[str] = set()
        self.entry_index = {id(e): i for i, e in enumerate(ctx.plan.entries)}

    def path_for(self, form, town=None, village=None):
        c = self.ctx
        parts = [c.week, c.county_names[self.county]]
        if form in "ABC" and self.layout != "flat":
            parts.append(c.towns[town]["name"])
            if form in "AB" and self.layout == "village_dirs":
                parts.append(village)
        return parts

    def unique(self, parts, name):
        rel = "/".join(parts + [name])
        n = 2
        stem, ext = os.path.splitext(name)
        while rel in self.names:
            rel = "/".join(parts + [f"{stem}-{n}{ext}"])
            n += 1
        self.names.add(rel)
        return rel

    def write(self, rel: str, data: bytes, mtime: float):
        p = Path(self.ctx.out) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (mtime, mtime))

    def locate(self, form, unit, key_to_loc: dict, sheet_name=None, rel=""):
        plan = self.ctx.plan
        for (row_key, canonical), loc in key_to_loc.items():
            ent = plan.cell_entry.get((form, unit, row_key, canonical))
            if ent is None:
                continue
            e, role = ent
            idx = self.entry_index[id(e)]
            d = self.located.setdefault(idx, {})
            sname = loc[0] if isinstance(loc, tuple) else sheet_name
            L = loc[1] if isinstance(loc, tuple) else loc
            if role == "main":
                d.update(file=rel, sheet=sname, row=L.row, column=L.column, value=L.value)
            else:
                d.setdefault("cells", list(e.get("cells", []))).append(
                    dict(sheet=sname, row=L.row, column=L.column, value=L.value, metric=canonical))

    def emit(self, form, unit, level, st, rs, sheets, name_parts, fname, counts, status="final",
             file_faults=None, week_row=None, sheet_name=None, t=None, located_ledger=None, mtime_shift=0.0):
        c = self.ctx
        rel = self.unique(name_parts, fname)
        created = dt.datetime.combine(c.week_end, dt.time(9, 0))
        data = encode(st, sheets, created)
        ff = file_faults or {}
        final, first = _mtimes(c, form, unit, "late" in ff)
        mtime = final if status != "superseded" else first
        self.write(rel, data, mtime)
        self.records.append(dict(path=rel, form=form, unit_code=unit, level=level, fmt=st.fmt,
                                 encoding=st.encoding if st.fmt == "csv" else None,
                                 mtime=dt.datetime.fromtimestamp(mtime, ZoneInfo("Asia/Shanghai")).isoformat(),
                                 status=status, counts=counts))
        if status != "final":
            return rel
        if t is not None:
            self.locate(form, unit, t.located, sheet_name, rel)
        if located_ledger:
            self.locate(form, unit, located_ledger, None, rel)
        for kind, e in ff.items():
            idx = self.entry_index[id(e)]
            d = self.located.setdefault(idx, {})
            d["file"] = rel
            if kind == "late":
                d["mtime"] = self.records[-1]["mtime"]
                d["deadline"] = c.deadline.isoformat()
            if kind == "wrong_week" and week_row is not None:
                d.update(sheet=sheet_name, row=week_row[0] + 1, value=week_row[1])
        return rel


def _write_county(county: str):
    c = _CTX
    plan = c.plan
    w = _Writer(c, county)
    towns = sorted(t for t in c.towns if t.startswith(county))
    for t in towns:
        tname = c.towns[t]["name"]
        for vi in c.villages_by_town.get(t, []):
            vi = int(vi)
            vcode, vname = c.villages.code[vi], c.villages.name[vi]
            for form in ("A", "B"):
                ff = plan.file_faults.get((form, vcode), {})
                if "missing" in ff:
                    continue
                rs = file_rng(c.seed, c.week, form, vcode)
                st = draw_style(rs, form)
                fname_kw = dict(county=c.county_names[county] if w.layout == "flat" else "", town=tname if w.layout == "flat" else "",
                                village=vname, year=c.year, wnum=c.wnum, week_end=c.week_end)
                if form == "A":
                    sheets, located, counts = fl.render_a(c, vi, st, rs, plan.ledger_marks.get(vi, {}),
                                                         plan.drops.get(vi, set()))
                    fname = fl.file_name(rs, "A", st.fmt, **fname_kw)
                    w.emit("A", vcode, "村", st, rs, sheets, w.path_for("A", t, vname), fname, counts,
                           file_faults=ff, located_ledger=located)
                else:
                    _emit_b(w, c, vi, st, rs, ff, fname_kw, t, vname)
        ff = plan.file_faults.get(("C", t), {})
        if "missing" not in ff:
            _emit_c(w, c, t, ff)
        for uu in plan.unknown_units:
            if uu["township"] == t:
                _emit_unknown(w, c, uu, t)
    ff = plan.file_faults.get(("D", county), {})
    if "missing" not in ff:
        rs = file_rng(c.seed, c.week, "D", county)
        st = draw_style(rs, "D")
        wl = _week_label(c, rs, ff, st)
        drows = plan.d[plan.d["county_code"] == county]
        sheets, t_, wr, counts = fl.render_d(c, county, st, rs, drows, plan.d_tot.loc[county],
                                             plan.d_marks.get(county, {}), wl)
        fname = fl.file_name(rs, "D", st.fmt, county=c.county_names[county], year=c.year, wnum=c.wnum,
                             week_end=c.week_end)
        w.emit("D", county, "县", st, rs, sheets, [c.week, c.county_names[county]], fname, counts, file_faults=ff,
               week_row=wr, sheet_name=sheets[0].name, t=t_)
    return w.records, w.located


def _week_label(c, rs, ff, st):
    if "wrong_week" in ff:
        st.week_line = True
        return week_text(wk.shift_week(c.week, rs.choice((-1, -1, 1))))
    return week_text(c.week)


def _emit_b(w, c, vi, st, rs, ff, fname_kw, t, vname):
    plan = c.plan
    vcode = c.villages.code[vi]
    wl = _week_label(c, rs, ff, st)
    brow = plan.b.loc[vi]
    parts = w.path_for("B", t, vname)
    fname = fl.file_name(rs, "B", st.fmt, **fname_kw)
    if ("B", vcode) in plan.resubmit:
        first = brow.copy()
        first["hh_close"] = int(first["hh_close"]) + 1
        first["hh_new"] = int(first["hh_new"]) + 1
        rs1 = file_rng(c.seed, c.week, "B-first", vcode)
        sheets, _, _, counts = fl.render_b(c, vi, st, rs1, first, {}, wl)
        w.emit("B", vcode, "村", st, rs1, sheets, parts, fname, counts, status="superseded", mtime_shift=-6 * 3600)
        stem, ext = os.path.splitext(fname)
        fname = stem + rs.choice(("(更正)", "(改)", "（更正）", "_改")) + ext
    sheets, t_, wr, counts = fl.render_b(c, vi, st, rs, brow, plan.b_marks.get(vi, {}), wl)
    w.emit("B", vcode, "村", st, rs, sheets, parts, fname, counts, file_faults=ff, week_row=wr,
           sheet_name=sheets[0].name, t=t_, mtime_shift=0.0)


def _emit_c(w, c, t, ff):
    plan = c.plan
    rs = file_rng(c.seed, c.week, "C", t)
    st = draw_style(rs, "C")
    wl = _week_label(c, rs, ff, st)
    crows = plan.c[plan.c["township_code"] == t]
    ctot = plan.c_tot.loc[t]
    tname = c.towns[t]["name"]
    parts = w.path_for("C", t)
    kw = dict(county=c.county_names[w.county] if w.layout == "flat" else "", town=tname, year=c.year,
              wnum=c.wnum, week_end=c.week_end)
    fname = fl.file_name(rs, "C", st.fmt, **kw)
    if ("C", t) in plan.resubmit:
        first = crows.copy()
        i = first.index[0]
        first.loc[i, "training_persons"] = int(first.loc[i, "training_persons"]) + 10
        ftot = ctot.copy()
        ftot["training_persons"] = int(ftot["training_persons"]) + 10
        rs1 = file_rng(c.seed, c.week, "C-first", t)
        sheets, _, _, counts = fl.render_c(c, t, st, rs1, first, ftot, {}, wl)
        w.emit("C", t, "乡镇", st, rs1, sheets, parts, fname, counts, status="superseded", mtime_shift=-6 * 3600)
        stem, ext = os.path.splitext(fname)
        fname = stem + rs.choice(("(更正)", "(改)", "（更正）")) + ext
    sheets, t_, wr, counts = fl.render_c(c, t, st, rs, crows, ctot, plan.c_marks.get(t, {}), wl)
    w.emit("C", t, "乡镇", st, rs, sheets, parts, fname, counts, file_faults=ff, week_row=wr,
           sheet_name=sheets[0].name, t=t_)


def _emit_unknown(w, c, uu, t):
    """A Form B from a village code that is not in the register."""
    rs = file_rng(c.seed, c.week, "unknown", uu["code"])
    st = draw_style(rs, "B")
    vi = c.villages_by_town[t][0]
    brow = c.plan.b.loc[int(vi)].copy()
    name = rs.choice(nm.SURNAMES) + rs.choice(("新村", "庄新村", "社区"))

    class Shadow:
        pass
    sh = Shadow()
    sh.__dict__.update(c.__dict__)
    view = type(c.villages)()
    for col in ("code", "county_name", "town_name", "parent_code"):
        setattr(view, col, list(getattr(c.villages, col)))
    view.name = list(c.villages.name)
    view.code[int(vi)] = uu["code"]
    view.name[int(vi)] = name
    sh.villages = view
    sheets, _, wr, counts = fl.render_b(sh, int(vi), st, rs, brow, {}, week_text(c.week))
    fname = fl.file_name(rs, "B", st.fmt, county="", town="", village=name, year=c.year, wnum=c.wnum,
                         week_end=c.week_end)
    rel = w.emit("B", uu["code"], "村", st, rs, sheets, w.path_for("B", t, name), fname, counts,
                 status="unknown_unit")
    idx = w.entry_index[id(uu["entry"])]
    w.located.setdefault(idx, {}).update(file=rel, unit_name=name)


# ------------------------------------------------------------------ expected counts
def _expected(world, week, records, manifest) -> dict:
    from pipelines.synth.world import POOR

    hh = world.hh
    t = world.targets
    final = [r for r in records if r["status"] == "final"]
    wrong_week = {e["file"] for e in manifest if e["kind"] == "wrong_week"}
    per_form = Counter(r["form"] for r in final)
    files_per_form = Counter(r["form"] for r in records)
    def s(form, key, only_ok=False):
        return sum(r["counts"].get(key, 0) for r in final if r["form"] == form
                   and (not only_ok or r["path"] not in wrong_week))
    return dict(
        week=week,
        world=dict(scale=t.scale, counties=len(nm.COUNTIES),
                   townships=int((world.register["level"] == forms.LEVEL_TOWNSHIP).sum()),
                   villages=len(world.villages), poor_villages=int(world.villages["is_poor_village"].sum()),
                   poor_households=int((hh["state"] == POOR).sum()),
                   poor_people=int(hh["size"][hh["state"] == POOR].astype(np.int64).sum()),
                   households_registered=len(hh["state"]),
                   seed_targets_first_week=dict(poor_villages=t.poor_villages, poor_households=t.poor_households,
                                                poor_people=t.poor_people)),
        files=len(records),
        files_per_form=dict(sorted(files_per_form.items())),
        files_superseded=sum(r["status"] == "superseded" for r in records),
        files_unknown_unit=sum(r["status"] == "unknown_unit" for r in records),
        submissions=dict(sorted(per_form.items())),
        rows=dict(ledger_plan=s("A", "plan"), ledger_measures=s("A", "measures"), ledger_helpers=s("A", "helpers"),
                  village_reports=s("B", "rows"), township_rows=s("C", "rows"), county_rows=s("D", "rows"),
                  poor_households=s("A", "poor_hh"), poor_people=s("A", "poor_pp")),
        rows_clean=dict(ledger_plan=s("A", "plan_clean"), ledger_measures=s("A", "measures_clean"),
                        ledger_helpers=s("A", "helpers_clean"), village_reports=s("B", "rows_clean", True),
                        township_rows=s("C", "rows_clean", True), county_rows=s("D", "rows_clean", True),
                        poor_households=s("A", "poor_hh_clean"), poor_people=s("A", "poor_pp_clean")),
        faults=dict(Counter(e["kind"] for e in manifest)),
        fault_rates={k: dict(rate=RATES[k], per=RATE_BASIS[k]) for k in KINDS},
        resubmissions=[dict(unit_code=r["unit_code"], form=r["form"], superseded=r["path"]) for r in records
                       if r["status"] == "superseded"],
        notes=("submissions/rows: 每个登记单位每种表最新一份文件（含迟报与周次不符的文件，不含被更正替换的旧文件与名录外单位的文件）；"
               "rows_clean: 其中没有注入错误的行（周次不符文件的报表行不计）。"
               " submissions/rows count the newest file per registered unit and form (late and wrong-week files "
               "included; superseded files and files from unknown units excluded); rows_clean excludes rows "
               "holding an injected fault (and report rows of wrong-week files)."),
    )
