"""Generated files read back: calibration, balance, continuity, faults where the manifest says."""
import json
import os
from pathlib import Path

import pytest

from pipelines import forms
from pipelines.register import read_register
from pipelines.synth import generate
from pipelines.weeks import deadline

from . import readback as rb

WEEKS = ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]


@pytest.fixture(scope="module")
def clean_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    res = generate(out=out, weeks="2026-W45..2026-W48", scale="0.02", faults="none", seed=42)
    return out, res


@pytest.fixture(scope="module")
def faulty_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty")
    res = generate(out=out, weeks="2026-W47..2026-W48", scale="0.02", faults="default", seed=9)
    return out, res


def _ledger_poor(path: Path) -> tuple[int, int]:
    rows = rb.table_rows(rb.grid(path, forms.SHEET_PLAN), forms.LEDGER_PLAN)
    poor = [r for r in rows if r["state"] == "贫困"]
    return len(poor), int(sum(rb.num(r["household_size"]) for r in poor))


@pytest.mark.slow
def test_calibration_zhoukou_first_week_read_back(tmp_path):
    res = generate(out=tmp_path, weeks="2026-W47", scale="zhoukou", faults="none", seed=7)
    reg = read_register((tmp_path / "区划名录.csv").read_bytes())
    assert (reg.level == "县").sum() == 10
    villages = reg[reg.level == "村"]
    assert villages.is_poor_village.sum() == 630
    hh = pp = n_a = 0
    for p in (tmp_path / "2026-W47").rglob("*.xls*"):
        if forms.SHEET_PLAN in rb.sheet_names(p):
            h, q = _ledger_poor(p)
            hh, pp, n_a = hh + h, pp + q, n_a + 1
    assert n_a == len(villages)
    assert (hh, pp) == (148_900, 496_100)
    exp = res.expected["2026-W47"]
    assert exp["world"]["poor_households"] == 148_900 and exp["rows"]["poor_people"] == 496_100
    assert res.files == exp["files"] == 2 * len(villages) + (reg.level == "乡镇").sum() + 10 \
        + exp["files_superseded"]


def _reports(week_dir: Path):
    """Newest B/C/D per unit, parsed: {(form, code): rows}."""
    out = {}
    for p in rb.newest_files(week_dir):
        if p.suffix in (".xlsx", ".xls") and forms.SHEET_PLAN in rb.sheet_names(p):
            out[("A", p)] = _ledger_poor(p)
            continue
        g = rb.grid(p)
        code = rb.header_code(g)
        form = {12: "B", 9: "C", 6: "D"}[len(code)]
        cols = {"B": forms.VILLAGE_REPORT, "C": forms.TOWNSHIP_REPORT, "D": forms.COUNTY_REPORT}[form]
        out[(form, code)] = rb.table_rows(g, cols)  # newest file wins
    return out


def test_balance_continuity_and_levels_clean_world(clean_world):
    out, res = clean_world
    assert res.weeks == WEEKS
    prev = None
    for week in WEEKS:
        assert json.loads((res.truth_dir / week / "manifest.json").read_text("utf-8")) == []
        rep = _reports(out / week)
        ledger = {}
        for (form, key), v in rep.items():
            if form == "A":
                first_id = rb.table_rows(rb.grid(key, forms.SHEET_PLAN), forms.LEDGER_PLAN)[0]["household_id"]
                ledger[str(first_id)[:12]] = v
        b = {k[1]: r[0] for k, r in rep.items() if k[0] == "B"}
        assert len(b) == len(ledger) > 0
        for code, r in b.items():
            f = {n: rb.num(r[n]) for n in forms.FLOW_NAMES}
            for p in ("hh", "pp"):
                assert f[f"{p}_close"] == f[f"{p}_open"] + f[f"{p}_new"] + f[f"{p}_return"] - f[f"{p}_exit"] - f[f"{p}_cancel"]
            assert (f["hh_close"], f["pp_close"]) == ledger[code]
            if prev is not None:
                assert (f["hh_open"], f["pp_open"]) == prev[("B", code)]
        cur = {("B", c): (rb.num(r["hh_close"]), rb.num(r["pp_close"])) for c, r in b.items()}
        for (form, code), rows in rep.items():
            if form not in ("C", "D"):
                continue
            body = [r for r in rows if not r["_total"]]
            total = [r for r in rows if r["_total"]]
            assert len(total) == 1
            for n in forms.FLOW_NAMES + ("microcredit_wan",):
                assert abs(sum(rb.num(r[n]) for r in body) - rb.num(total[0][n])) < 1e-6
            for r in body:
                if form == "C":
                    own = b[str(r["village_code"])]
                    assert all(rb.num(r[n]) == rb.num(own[n]) for n in forms.FLOW_NAMES)
                else:
                    own = [x for x in rep[("C", str(r["township_code"]))] if x["_total"]][0]
                    assert all(rb.num(r[n]) == rb.num(own[n]) for n in forms.FLOW_NAMES)
                for p in ("hh", "pp"):
                    assert rb.num(r[f"{p}_close"]) == sum(rb.num(r[f"{p}_{k}"]) * s for k, s in
                                                          (("open", 1), ("new", 1), ("return", 1), ("exit", -1), ("cancel", -1)))
            key = (form, code)
            cur[key] = (rb.num(total[0]["hh_close"]), rb.num(total[0]["pp_close"]))
            if prev is not None:
                assert (rb.num(total[0]["hh_open"]), rb.num(total[0]["pp_open"])) == prev[key]
        prev = cur


def _cell_matches(actual, expected) -> bool:
    if isinstance(expected, float):
        return isinstance(actual, float) and actual == expected
    if isinstance(expected, int):
        return rb.num(actual) == expected
    return str(actual) == str(expected)


def _column_index(g, row, column) -> int:
    """Find the header text (joined for two-row headers) in the rows above `row`."""
    for i in range(row - 1):
        carry = ""
        top = g[i]
        sub = g[i + 1] if i + 1 < len(g) else []
        for j in range(len(top)):
            t = "" if top[j] is None else str(top[j])
            if t == column:
                return j
            if t:
                carry = t
            s = str(sub[j]) if j < len(sub) and sub[j] not in (None, "") else ""
            if s and carry + s == column:
                return j
    raise AssertionError(f"header {column!r} not found")


def test_every_fault_kind_is_in_manifest_and_in_the_file(faulty_world):
    out, res = faulty_world
    from pipelines.synth.faults import KINDS

    reg = read_register((out / "区划名录.csv").read_bytes())
    known = set(reg.code)
    seen = set()
    for week in res.weeks:
        manifest = json.loads((res.truth_dir / week / "manifest.json").read_text("utf-8"))
        assert {e["kind"] for e in manifest} == set(KINDS)
        for e in manifest:
            seen.add(e["kind"])
            assert e["week"] == week
            if e["kind"] == "missing_submission":
                assert e["file"] == "" and e["unit_code"] in known
                continue
            path = out / e["file"]
            assert path.exists(), e
            if e["kind"] == "late_submission":
                assert os.stat(path).st_mtime > deadline(week).timestamp()
                continue
            if e["kind"] == "unknown_unit":
                assert e["unit_code"] not in known
                assert rb.header_code(rb.grid(path)) == e["unit_code"]
                continue
            g = rb.grid(path, e["sheet"] if path.suffix != ".csv" else None)
            row = g[e["row"] - 1]
            if e["kind"] == "wrong_week":
                assert e["value"] in [str(v) for v in row]
                assert week.split("-W")[1].lstrip("0") + "周" not in e["value"]
                continue
            j = _column_index(g, e["row"], e["column"])
            assert _cell_matches(row[j], e["value"]), (e, row[j])
            for extra in e.get("cells", []):
                j2 = _column_index(g, extra["row"], extra["column"])
                assert _cell_matches(g[extra["row"] - 1][j2], extra["value"])
            if e["kind"] == "id_scientific":
                assert isinstance(row[j], float) and row[j] > 1e17
            if "reported" in e:
                assert e["reported"] - e["expected"] == e["amount"] or e["kind"] == "balance_broken"
    assert seen == set(KINDS)


def test_late_files_only_where_planted(faulty_world):
    out, res = faulty_world
    for week in res.weeks:
        manifest = json.loads((res.truth_dir / week / "manifest.json").read_text("utf-8"))
        late = {e["file"] for e in manifest if e["kind"] == "late_submission"}
        dl = deadline(week).timestamp()
        for p in (out / week).rglob("*"):
            if p.is_file():
                rel = p.relative_to(out).as_posix()
                assert (os.stat(p).st_mtime > dl) == (rel in late), rel


def test_corrected_resubmission_is_newer_and_differs(faulty_world):
    out, res = faulty_world
    exp = res.expected["2026-W47"]
    assert exp["resubmissions"]
    for r in exp["resubmissions"]:
        first = out / r["superseded"]
        siblings = [p for p in first.parent.iterdir() if p != first and p.stem.startswith(first.stem)
                    and any(t in p.stem for t in ("更正", "改"))]
        assert len(siblings) == 1
        assert os.stat(siblings[0]).st_mtime > os.stat(first).st_mtime
        assert rb.grid(siblings[0]) != rb.grid(first)


def test_expected_counts_match_files(faulty_world):
    out, res = faulty_world
    exp = res.expected["2026-W47"]
    n = sum(1 for p in (out / "2026-W47").rglob("*") if p.is_file())
    assert n == exp["files"]
    assert exp["rows_clean"]["ledger_plan"] < exp["rows"]["ledger_plan"]
    assert exp["rows_clean"]["poor_households"] < exp["rows"]["poor_households"]
    assert exp["submissions"]["D"] <= 10
