"""The synthetic Zhoukou world: unit register, household ledgers and their weekly evolution.

Everything here is vectorised with numpy/pandas; no per-household Python loops.
State codes: 0 贫困, 1 已脱贫, 2 注销. Change codes: index into forms.CHANGES
(0 无, 1 新识别, 2 脱贫, 3 返贫, 4 注销).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines import forms
from pipelines.synth import names as nm

POOR, EXITED, CANCELLED = 0, 1, 2
NONE, NEW, EXIT, RETURN, CANCEL = 0, 1, 2, 3, 4
_EPOCH = np.datetime64("1970-01-01", "D")


def parse_scale(scale: str | float) -> float:
    if isinstance(scale, (int, float)):
        return float(scale)
    s = str(scale).strip().lower()
    if s == "zhoukou":
        return 1.0
    if s == "henan":
        return 10.0
    value = float(s)
    if value <= 0:
        raise ValueError(f"规模必须为正数：{scale!r}")
    return value


@dataclass
class Targets:
    """The seed figures scaled: what the first week's ledgers hold exactly."""
    scale: float
    villages: int
    poor_villages: int
    poor_households: int
    poor_people: int

    @classmethod
    def for_scale(cls, scale: float, n_townships: int) -> "Targets":
        villages = max(round(nm.VILLAGES_AT_SCALE_1 * scale), 2 * n_townships)
        poor_villages = min(villages, max(1, round(nm.POOR_VILLAGES_AT_SCALE_1 * scale)))
        hh = max(villages, round(nm.POOR_HH_AT_SCALE_1 * scale))
        pp = max(hh, round(nm.POOR_PP_AT_SCALE_1 * scale))
        return cls(scale, villages, poor_villages, hh, pp)


# ------------------------------------------------------------------ the register
def build_register(rng: np.random.Generator, scale: float) -> tuple[pd.DataFrame, Targets]:
    """Counties, townships and villages with codes, names and flags (register columns)."""
    rows = []
    township_rows = []
    for code, name, key, n_town in nm.COUNTIES:
        rows.append(dict(code=code, name=name, level=forms.LEVEL_COUNTY, parent_code="",
                         is_poor_village=False, is_key_county=key))
        n = max(1, round(n_town * scale))
        tnames = nm.township_names(rng, code, n)
        fixed = {nme: c for nme, c in nm.SEED_TOWNSHIPS.get(code, ()) if c}
        used = set(fixed.values())
        nxt = 101
        for tn in tnames:
            if tn in fixed:
                tcode = fixed[tn]
            else:
                while nxt in used:
                    nxt += 1
                tcode = nxt
                used.add(nxt)
            township_rows.append(dict(code=f"{code}{tcode:03d}", name=tn, level=forms.LEVEL_TOWNSHIP,
                                      parent_code=code, is_poor_village=False, is_key_county=False,
                                      county=code))
    targets = Targets.for_scale(scale, len(township_rows))
    n_t = len(township_rows)
    weights = rng.gamma(6.0, 1.0, n_t)
    extra = rng.multinomial(targets.villages - 2 * n_t, weights / weights.sum())
    counts = extra + 2
    vrows = []
    for trow, nv in zip(township_rows, counts):
        fixed = nm.SEED_VILLAGES.get((trow["county"], trow["name"]), ())
        fixed_names = tuple(n for n, _ in fixed)[:nv]
        vnames = nm.village_names(rng, int(nv), fixed_names)
        for i, vn in enumerate(vnames):
            vrows.append(dict(code=f"{trow['code']}{201 + i:03d}", name=vn, level=forms.LEVEL_VILLAGE,
                              parent_code=trow["code"], is_poor_village=False, is_key_county=False))
    villages = pd.DataFrame(vrows)
    # Exactly `poor_villages` poor villages, mostly in key counties; seed villages are poor.
    county = villages["code"].str[:6]
    key = county.map({c: k for c, _, k, _ in nm.COUNTIES})
    w = np.where(key, 1.0, np.where(county == "411681", 0.35, 0.08))
    forced = villages["name"].isin(["焦东村", "后营村", "小集村", "大部村", "刘寨村"]) & (
        villages["code"].str[:9].isin(["411622107"]) | villages["name"].isin(["大部村", "刘寨村"]))
    forced = forced.to_numpy()
    n_forced = int(min(forced.sum(), targets.poor_villages))
    poor = np.zeros(len(villages), bool)
    poor[np.flatnonzero(forced)[:n_forced]] = True
    rest = targets.poor_villages - n_forced
    if rest > 0:
        cand = np.flatnonzero(~poor)
        p = w[cand] / w[cand].sum()
        poor[rng.choice(cand, rest, replace=False, p=p)] = True
    villages["is_poor_village"] = poor
    towns = pd.DataFrame(township_rows).drop(columns="county")
    counties = pd.DataFrame(rows)
    reg = pd.concat([counties, towns, villages], ignore_index=True)
    order = reg["code"].str.ljust(12, "0") + reg["code"].str.len().astype(str)
    reg = reg.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    return reg, targets


# ------------------------------------------------------------------ resident IDs
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = np.array(list("10X98765432"), dtype=object)


def id_check_chars(body17: np.ndarray) -> np.ndarray:
    """GB 11643 check characters for an array of 17-digit strings (vectorised)."""
    if len(body17) == 0:
        return np.array([], dtype=object)
    raw = np.frombuffer("".join(body17).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
    return _CHECK[(raw.astype(np.int64) @ _ID_WEIGHTS) % 11]


def make_ids(rng: np.random.Generator, county: np.ndarray, birth_days: np.ndarray, taken: set[str]) -> np.ndarray:
    """Unique 18-character IDs: county prefix + birth date + sequence + check."""
    ymd = np.char.replace(np.datetime_as_string(birth_days.astype("datetime64[D]"), unit="D"), "-", "")
    df = pd.DataFrame({"c": county, "d": ymd})
    cc = df.groupby(["c", "d"], sort=False).cumcount().to_numpy()
    salt = rng.integers(0, 1000)
    key = (pd.util.hash_pandas_object(df, index=False).to_numpy() % 1000).astype(np.int64)
    seq = (key + salt + cc * 53) % 1000
    body = (df["c"] + df["d"] + pd.Series(seq).map("{:03d}".format)).to_numpy(dtype=object)
    ids = body + id_check_chars(body)
    # Resolve the (rare) collisions with IDs already in the world.
    dup = np.flatnonzero(pd.Series(ids).isin(taken).to_numpy() | pd.Series(ids).duplicated().to_numpy())
    for i in dup:
        s = int(seq[i])
        while True:
            s = (s + 1) % 1000
            b = f"{county[i]}{ymd[i]}{s:03d}"
            cand = b + id_check_chars(np.array([b], dtype=object))[0]
            if cand not in taken and cand not in set(ids):
                ids[i] = cand
                break
    taken.update(ids.tolist())
    return ids


# ------------------------------------------------------------------ households
HH_COLUMNS = ("village", "seq", "hh_id", "head_name", "id_number", "size", "ptype", "cause",
              "ident_year", "plan_year", "state", "change", "income", "sec0", "sec1", "sec2", "sec3",
              "sec4", "note")


@dataclass
class World:
    seed: int
    scale: float
    register: pd.DataFrame
    targets: Targets
    villages: pd.DataFrame            # register rows of level 村, with per-village attributes
    hh: dict[str, np.ndarray]         # append-only household arrays
    measures: dict[str, np.ndarray]   # append-only measure arrays (hh = global household index)
    helpers: dict[str, np.ndarray]    # one helper per household (hh = global index)
    ids_taken: set[str] = field(default_factory=set)
    next_seq: np.ndarray | None = None  # per village

    @property
    def n(self) -> int:
        return len(self.hh["village"])


def _size_draw(rng, n):
    sizes = np.arange(1, 11)
    p = np.array([0.10, 0.20, 0.22, 0.22, 0.13, 0.07, 0.03, 0.015, 0.01, 0.005])
    return rng.choice(sizes, n, p=p / p.sum()).astype(np.int16)


def _fix_sum(rng, sizes, target, lo=1, hi=12):
    sizes = sizes.copy()
    while True:
        diff = int(target - sizes.sum())
        if diff == 0:
            return sizes
        cand = np.flatnonzero(sizes < hi) if diff > 0 else np.flatnonzero(sizes > lo)
        k = min(abs(diff), len(cand))
        pick = rng.choice(cand, k, replace=False)
        sizes[pick] += 1 if diff > 0 else -1


def _alloc(rng, total, weights, minimum):
    n = len(weights)
    base = np.full(n, minimum, dtype=np.int64)
    rest = total - base.sum()
    return base + rng.multinomial(rest, weights / weights.sum())


def _new_households(rng, world_villages, village_idx, state, first_week_start, ids_taken):
    """Attributes for new household rows in the given villages and states (no seq/ids)."""
    n = len(village_idx)
    vcounty = world_villages["code"].str[:6].to_numpy()[village_idx]
    ages = rng.integers(22 * 365, 88 * 365, n)
    birth = np.datetime64(first_week_start, "D") - ages
    ids = make_ids(rng, vcounty, birth, ids_taken)
    ptype = rng.choice(3, n, p=[0.6, 0.3, 0.1]).astype(np.int8)
    cause = rng.choice(len(forms.CAUSES), n, p=[.35, .15, .08, .04, .05, .01, .10, .10, .08, .01, .03]).astype(np.int8)
    ident = rng.choice([2014, 2015, 2016], n, p=[.35, .35, .30]).astype(np.int16)
    sec = rng.random((5, n)) >= 0.08
    poor = state == POOR
    income = np.where(rng.random(n) < 0.7, rng.integers(1200, 2990, n), rng.integers(3000, 3900, n))
    exited = state == EXITED
    income = np.where(exited, rng.integers(3000, 8000, n), income)
    sec[:, exited] = True
    exit_year = rng.integers(2016, 2026, n)
    plan = np.where(poor, rng.integers(2026, 2029, n), np.maximum(exit_year, ident)).astype(np.int16)
    return dict(village=village_idx.astype(np.int32), head_name=nm.person_names(rng, n), id_number=ids,
                size=_size_draw(rng, n), ptype=ptype, cause=cause, ident_year=ident, plan_year=plan,
                state=state.astype(np.int8), change=np.zeros(n, np.int8), income=income.astype(np.int32),
                sec0=sec[0], sec1=sec[1], sec2=sec[2], sec3=sec[3], sec4=sec[4],
                note=rng.integers(0, len(nm.PROGRESS_NOTES), n).astype(np.int8))


def _measures_for(rng, hh_index, latest_day):
    k = rng.choice([1, 2, 3], len(hh_index), p=[0.5, 0.35, 0.15])
    hh = np.repeat(hh_index, k)
    m = len(hh)
    cats = np.array(forms.MEASURE_CATEGORIES, dtype=object)
    cat = rng.choice(len(cats), m, p=[.22, .12, .14, .08, .14, .02, .08, .06, .10, .04]).astype(np.int8)
    content = np.empty(m, dtype=object)
    for ci, cname in enumerate(forms.MEASURE_CATEGORIES):
        sel = cat == ci
        pool = np.array(nm.MEASURE_CONTENT[cname], dtype=object)
        content[sel] = pool[rng.integers(0, len(pool), int(sel.sum()))]
    funds = rng.choice([0, 500, 1000, 2000, 3000, 5000, 10000, 30000, 50000], m).astype(np.int32)
    start = (np.datetime64("2026-01-01") - _EPOCH).astype(int)
    end = (np.datetime64(latest_day) - _EPOCH).astype(int)
    day = rng.integers(start, max(start + 1, end), m).astype(np.int32)
    status = rng.choice(3, m, p=[.2, .35, .45]).astype(np.int8)
    return dict(hh=hh.astype(np.int64), cat=cat, content=content, funds=funds, day=day, status=status)


def _helpers_for(rng, world_villages, register, hh_index, village_idx, county_names, town_names):
    n = len(hh_index)
    county = world_villages["code"].str[:6].to_numpy()[village_idx]
    level = rng.choice(6, n, p=[.02, .05, .10, .35, .30, .18]).astype(np.int8)
    # 中直 units only pair in 沈丘县 and 淮阳县 (seed).
    level = np.where((level == 0) & ~np.isin(county, ["411624", "411626"]), 3, level).astype(np.int8)
    vname = world_villages["name"].to_numpy(dtype=object)[village_idx]
    tname = town_names[village_idx]
    cname = county_names[village_idx]
    org = np.empty(n, dtype=object)
    pools = {0: nm.OFFICES_CENTRAL, 1: nm.OFFICES_PROVINCE, 2: nm.OFFICES_CITY}
    for lv, pool in pools.items():
        sel = level == lv
        org[sel] = np.array(pool, dtype=object)[rng.integers(0, len(pool), int(sel.sum()))]
    sel = level == 3
    org[sel] = cname[sel] + np.array(nm.OFFICES_COUNTY, dtype=object)[rng.integers(0, len(nm.OFFICES_COUNTY), int(sel.sum()))]
    sel = level == 4
    org[sel] = tname[sel] + "人民政府"
    sel = level == 5
    org[sel] = vname[sel] + "委会"
    prefix = np.array(["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                       "155", "156", "157", "158", "159", "176", "177", "182", "183", "185", "186", "187",
                       "188", "189"], dtype=object)
    phone = prefix[rng.integers(0, len(prefix), n)] + pd.Series(rng.integers(0, 10**8, n)).map("{:08d}".format).to_numpy(dtype=object)
    start = (np.datetime64("2016-01-04") - _EPOCH).astype(int)
    day = (start + rng.integers(0, 360, n)).astype(np.int32)
    return dict(hh=np.asarray(hh_index, np.int64), name=nm.person_names(rng, n), org=org, level=level,
                phone=phone, day=day)


def build_world(seed: int, scale: float, first_week_start: dt.date) -> World:
    rng = np.random.default_rng([seed, 1])
    register, targets = build_register(rng, scale)
    villages = register[register["level"] == forms.LEVEL_VILLAGE].reset_index(drop=True).copy()
    nv = len(villages)
    poor_v = villages["is_poor_village"].to_numpy()
    noise = rng.lognormal(0.0, 0.35, nv)
    w_poor = np.where(poor_v, 4.5, 1.0) * noise
    n_poor = _alloc(rng, targets.poor_households, w_poor, 1 if targets.poor_households >= nv else 0)
    n_exit = _alloc(rng, round(targets.poor_households * 0.4), np.where(poor_v, 3.0, 1.0) * noise, 0)
    n_canc = _alloc(rng, max(1, round(targets.poor_households * 0.025)), w_poor, 0)
    vidx = np.concatenate([np.repeat(np.arange(nv), n_poor), np.repeat(np.arange(nv), n_exit),
                           np.repeat(np.arange(nv), n_canc)])
    state = np.concatenate([np.full(n_poor.sum(), POOR), np.full(n_exit.sum(), EXITED),
                            np.full(n_canc.sum(), CANCELLED)]).astype(np.int8)
    # Shuffle within villages so that states interleave in the ledger, then sequence.
    order = np.lexsort((rng.random(len(vidx)), vidx))
    vidx, state = vidx[order], state[order]
    taken: set[str] = set()
    hh = _new_households(rng, villages, vidx, state, first_week_start, taken)
    poor = state == POOR
    hh["size"][poor] = _fix_sum(rng, hh["size"][poor], targets.poor_people)
    seq = pd.Series(vidx).groupby(vidx).cumcount().to_numpy() + 1
    hh["seq"] = seq.astype(np.int32)
    hh["hh_id"] = (villages["code"].to_numpy(dtype=object)[vidx]
                   + pd.Series(seq).map("{:04d}".format).to_numpy(dtype=object))
    # Week-one changes (the calibration state is the end of the first week).
    r = rng.random(len(vidx))
    ch = hh["change"]
    ch[poor & (r < 0.0009)] = NEW
    hh["ident_year"][ch == NEW] = 2026
    hh["plan_year"][ch == NEW] = rng.integers(2026, 2028, int((ch == NEW).sum()))
    ch[poor & (r >= 0.0009) & (r < 0.0013)] = RETURN
    ex = state == EXITED
    ch[ex & (r < 0.008)] = EXIT
    if (ch == EXIT).sum() < 2:  # tiny worlds still see exits in their first week
        cand = np.flatnonzero(ex & (ch == NONE))
        ch[cand[:2 - int((ch == EXIT).sum())]] = EXIT
    hh["plan_year"][ch == EXIT] = 2026
    ch[(state == CANCELLED) & (r < 0.01)] = CANCEL
    towns = register.set_index("code")["name"]
    town_names = villages["parent_code"].map(towns).to_numpy(dtype=object)
    county_names = villages["code"].str[:6].map(towns).to_numpy(dtype=object)
    villages["town_name"] = town_names
    villages["county_name"] = county_names
    villages["county_code"] = villages["code"].str[:6]
    # Per-village constants for Form B.
    villages["first_secretary"] = np.where(poor_v | (rng.random(nv) < 0.3), nm.person_names(rng, nv), "")
    villages["team_size"] = np.where(poor_v, rng.choice([3, 3, 4, 4, 5], nv), (rng.random(nv) < 0.12).astype(int))
    villages["base_hh"] = np.where(rng.random(nv) < 0.35, rng.integers(1, 30, nv), 0)
    cf = {c: (rng.uniform(0.8, 1.3) if k else rng.uniform(0.15, 0.45)) for c, _, k, _ in nm.COUNTIES}
    per_county = villages.groupby("county_code")["code"].transform("size").to_numpy()
    # Expected weekly micro-credit per village (万元): a key county lends about 1000万元 a month.
    weekly_county = 1000.0 / (30.4 / 7)
    villages["credit_mean_wan"] = villages["county_code"].map(cf).to_numpy() * weekly_county * scale / per_county
    world = World(seed, scale, register, targets, villages, hh, {}, {}, taken)
    world.next_seq = np.bincount(vidx, minlength=nv).astype(np.int64) + 1
    n = world.n
    world.measures = _measures_for(rng, np.arange(n), first_week_start)
    world.helpers = _helpers_for(rng, villages, register, np.arange(n), vidx, county_names, town_names)
    return world


def evolve(world: World, week_index: int, week_start: dt.date, line: float) -> None:
    """Advance the ledgers by one week (in place): exits, returns, cancellations, new ones."""
    rng = np.random.default_rng([world.seed, 2, week_index])
    hh = world.hh
    n = world.n
    state, ch = hh["state"], hh["change"]
    ch[:] = NONE
    allsec = hh["sec0"] & hh["sec1"] & hh["sec2"] & hh["sec3"] & hh["sec4"]
    r = rng.random(n)
    ready = (state == POOR) & (hh["income"] >= line) & allsec
    ex = ready & (r < 0.015)
    if ex.sum() < 2:  # tiny worlds still see exits every week
        ex[np.flatnonzero(ready & ~ex)[:2 - int(ex.sum())]] = True
    state[ex] = EXITED
    ch[ex] = EXIT
    hh["plan_year"][ex] = np.maximum(hh["ident_year"][ex], 2026)
    ret = (state == EXITED) & (ch == NONE) & (r > 1 - 0.0008)
    state[ret] = POOR
    ch[ret] = RETURN
    hh["income"][ret] = rng.integers(1500, 2900, int(ret.sum()))
    hh["plan_year"][ret] = np.maximum(hh["plan_year"][ret], 2027)
    canc = (state == POOR) & (ch == NONE) & (r > 0.5) & (r < 0.5003)
    state[canc] = CANCELLED
    ch[canc] = CANCEL
    prog = (state == POOR) & (ch == NONE) & (hh["income"] < line) & (r > 0.3) & (r < 0.312)
    hh["income"][prog] = rng.integers(3000, 3800, int(prog.sum()))
    for k in range(5):
        hh[f"sec{k}"][prog] = True
    # New identification: appended rows with the next sequence numbers of their villages.
    poor_per_v = np.bincount(hh["village"][state == POOR], minlength=len(world.villages))
    n_new = rng.poisson(0.0008 * poor_per_v.sum())
    if n_new:
        vidx = np.sort(rng.choice(len(poor_per_v), n_new, p=(poor_per_v + 0.2) / (poor_per_v + 0.2).sum()))
        new = _new_households(rng, world.villages, vidx, np.full(n_new, POOR, np.int8), week_start, world.ids_taken)
        new["change"][:] = NEW
        new["ident_year"][:] = 2026
        new["plan_year"][:] = rng.integers(2026, 2028, n_new)
        rank = pd.Series(vidx).groupby(vidx).cumcount().to_numpy()
        seq = world.next_seq[vidx] + rank
        np.add.at(world.next_seq, vidx, 1)
        new["seq"] = seq.astype(np.int32)
        new["hh_id"] = (world.villages["code"].to_numpy(dtype=object)[vidx]
                        + pd.Series(seq).map("{:04d}".format).to_numpy(dtype=object))
        for k in HH_COLUMNS:
            hh[k] = np.concatenate([hh[k], new[k]])
        gidx = np.arange(n, n + n_new)
        m = _measures_for(rng, gidx, week_start + dt.timedelta(days=6))
        for k in world.measures:
            world.measures[k] = np.concatenate([world.measures[k], m[k]])
        h = _helpers_for(rng, world.villages, world.register, gidx, vidx,
                         world.villages["county_name"].to_numpy(dtype=object),
                         world.villages["town_name"].to_numpy(dtype=object))
        h["day"][:] = (np.datetime64(week_start) - _EPOCH).astype(int) + rng.integers(0, 7, n_new)
        for k in world.helpers:
            world.helpers[k] = np.concatenate([world.helpers[k], h[k]])


def village_flows(world: World) -> pd.DataFrame:
    """Per-village stock and flow figures implied by the ledgers (canonical FLOW_NAMES)."""
    hh = world.hh
    nv = len(world.villages)
    v, s, c, size = hh["village"], hh["state"], hh["change"], hh["size"].astype(np.int64)

    def cnt(mask):
        return np.bincount(v[mask], minlength=nv), np.bincount(v[mask], weights=size[mask], minlength=nv).astype(np.int64)

    out = {}
    out["hh_close"], out["pp_close"] = cnt(s == POOR)
    out["hh_new"], out["pp_new"] = cnt(c == NEW)
    out["hh_return"], out["pp_return"] = cnt(c == RETURN)
    out["hh_exit"], out["pp_exit"] = cnt(c == EXIT)
    out["hh_cancel"], out["pp_cancel"] = cnt(c == CANCEL)
    for p in ("hh", "pp"):
        out[f"{p}_open"] = out[f"{p}_close"] - out[f"{p}_new"] - out[f"{p}_return"] + out[f"{p}_exit"] + out[f"{p}_cancel"]
    return pd.DataFrame({k: out[k] for k in forms.FLOW_NAMES})
