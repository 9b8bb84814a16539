"""Fuzz (issue 23): a week in which one clerk's file carries one hostile change.

The week is the examples' (ledger A with its three sheets, village report B, township
report C) and a county report D written for them. Hypothesis picks one file and one
change: a hostile value in a data cell (blank, text, negative, huge, a formula without a
saved value, a date, 5,000 characters, emoji, an invisible character inside the value),
a 合计/footer/blank row inserted among the data rows, or a merged range in the data area.
The week then runs every step after discover (pipelines.weekly, as the DAG's tasks do;
one example goes through the real Airflow DAG). What must hold:

- the run succeeds, and no step failed on a file (no file.internal_error);
- the changed file has a finding naming the changed cell (sheet, row, column), or it
  loads as the clerk meant it: its rows in the warehouse are the unchanged run's, the
  changed cell holding what it now says (an inserted blank, 合计 or footer row adds no
  row and moves the rows below it one down);
- every other file's rows in the warehouse are the unchanged run's.

One unchanged run is the baseline for every example. Hypothesis is derandomized (the same
examples on every run), bounded (HUIZONG_FUZZ_EXAMPLES, 30 by default) and does not shrink.
Yes/no cells and text cells get every hostile value, invisible characters included.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from pipelines import forms, weekly
from pipelines.ingest.data_rows import NO_ZERO_FILL
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from tests.conftest import EXAMPLES
from tests.week_run import planned_batches

WEEK = "2026-W47"
LEDGER = "焦东村三本账2026第47周.xlsx"
REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
TOWNSHIP = "逍遥镇2026年第47周扶贫周报.csv"
COUNTY = "西华县2026年第47周扶贫周报.xlsx"
TOWNSHIP_DIR = Path(WEEK) / "西华县" / "逍遥镇"
FOLDERS = {LEDGER: TOWNSHIP_DIR, REPORT: TOWNSHIP_DIR, TOWNSHIP: TOWNSHIP_DIR, COUNTY: Path(WEEK) / "西华县"}
FACT_TABLES = tuple(t.core for t in forms.REGISTRY.values())
# Warehouse columns a form column lands in (the personal data as hash and mask).
STORED = {"id_number": ("id_hash", "id_masked"), "helper_phone": ("phone_hash", "phone_masked")}


# ---- the week --------------------------------------------------------------------------------

def _county_report(path: Path) -> None:
    """西华县's Form D for the examples' week: its one township, 逍遥镇, as the township's own
    合计 says, and the county's 合计."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "县级周报"
    headers = [c.header for c in forms.COUNTY_REPORT]
    flows = [226, 717, 1, 4, 0, 0, 3, 10, 0, 0, 224, 711]
    figures = [7, *flows, 31.0, 2, 12, 40, 85.5, 24, 3]
    ws.append(["西华县精准扶贫县级周报（2026年第47周）"])
    ws.append(["填报单位：西华县", None, None, None, "行政区划代码：411622", None, None, None, "填报周次：2026年第47周"])
    ws.append(headers)
    ws.append(["411622107", "逍遥镇", *figures])
    ws.append(["合计", None, *figures])
    ws.append([])
    ws.append(["填表人：孙立新", None, None, None, "专职常委：周建国", None, None, None, "填报日期：2026/11/23"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    wb.save(path)


def _write_landing(landing: Path) -> None:
    landing.mkdir(parents=True)
    shutil.copy(EXAMPLES / "区划名录.csv", landing / "区划名录.csv")
    for name, folder in FOLDERS.items():
        (landing / folder).mkdir(parents=True, exist_ok=True)
        if name == COUNTY:
            _county_report(landing / folder / name)
        else:
            shutil.copy(EXAMPLES / name, landing / folder / name)
    for name, folder in FOLDERS.items():
        os.utime(landing / folder / name, (_RECEIVED, _RECEIVED))


# On time: Sunday evening before the Monday 10:00 deadline.
_RECEIVED = dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


# ---- where the data cells are ------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """The data rows of one sheet of one file, as the clerk sees them (1-based)."""
    file: str
    table: tuple[str, str]      # forms.REGISTRY key
    sheet: str                  # worksheet title ('' for csv)
    header_rows: tuple[int, ...]
    first: int
    last: int                   # the last data row (a 合计 row included)

    @property
    def core(self) -> str:
        return forms.REGISTRY[self.table].core


BLOCKS = (
    Block(LEDGER, ("A", "plan"), forms.SHEET_PLAN, (3,), 4, 48),
    Block(LEDGER, ("A", "measures"), forms.SHEET_MEASURES, (1,), 2, 51),
    Block(LEDGER, ("A", "helpers"), forms.SHEET_HELPERS, (1,), 2, 38),
    Block(REPORT, ("B", "report"), "Sheet1", (4, 5), 6, 6),
    Block(TOWNSHIP, ("C", "report"), "", (3,), 4, 12),
    Block(COUNTY, ("D", "report"), "县级周报", (3,), 4, 5),
)


class Grid:
    """One sheet of a landed file, cells by 1-based row and column; saved in place.
    An xlsx through openpyxl, the township's csv as text in its own encoding (GB18030,
    which writes GBK's characters as GBK does and the rest as well)."""

    def __init__(self, path: Path, sheet: str):
        self.path, self.csv = path, path.suffix == ".csv"
        if self.csv:
            self.rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
        else:
            self.wb = openpyxl.load_workbook(path)
            self.ws = self.wb[sheet]

    def get(self, r: int, c: int):
        if self.csv:
            row = self.rows[r - 1]
            return row[c - 1] if c <= len(row) else ""
        return self.ws.cell(r, c).value

    def set(self, r: int, c: int, v) -> None:
        if self.csv:
            row = self.rows[r - 1]
            row.extend([""] * (c - len(row)))
            row[c - 1] = "" if v is None else v if isinstance(v, str) else _csv_text(v)
        else:
            self.ws.cell(r, c).value = v

    def insert_row(self, r: int, values: list) -> None:
        if self.csv:
            self.rows.insert(r - 1, ["" if v is None else str(v) for v in values])
            return
        self.ws.insert_rows(r)
        for c, v in enumerate(values, 1):
            self.ws.cell(r, c).value = v

    def merge(self, r1: int, c1: int, r2: int, c2: int) -> None:
        self.ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)

    def save(self) -> None:
        if self.csv:
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(self.rows)
            self.path.write_bytes(out.getvalue().encode("gb18030"))
        else:
            self.wb.save(self.path)


def _csv_text(v) -> str:
    """A value as a csv cell holds it (what Excel writes when it saves a csv)."""
    if isinstance(v, dt.datetime):
        return f"{v.year}/{v.month}/{v.day}"
    return str(v)


def _columns(grid: Grid, block: Block) -> dict[int, forms.Column]:
    """Column number -> the form column its header names (two-row headers joined)."""
    spec = forms.TABLES[block.table]
    lookup = forms.header_lookup(spec)
    by_name = {c.name: c for c in spec}
    out, parent = {}, ""
    width = max(len(grid.rows[block.header_rows[0] - 1]) if grid.csv else grid.ws.max_column, 1)
    for c in range(1, width + 1):
        texts = [grid.get(r, c) for r in block.header_rows]
        parent = texts[0] or (parent if len(texts) > 1 and texts[1] else "")
        name = lookup.get(forms.normalize_header(parent + "".join(str(t or "") for t in texts[1:])))
        if name:
            out[c] = by_name[name]
    return out


# ---- the changes -------------------------------------------------------------------------------

NEEDS_FINDING = object()   # no reading of the cell is right: a finding must name it


@dataclass(frozen=True)
class Change:
    block: Block
    kind: str                  # value | row | merge
    what: str                  # the hostile value's class, the row's kind, or "merge"
    row: int
    col: int = 0
    value: object = None       # the value written (kind value), the inserted row's first cell (row)
    rows: int = 1              # merge: rows and columns covered
    cols: int = 1

    def __str__(self) -> str:
        where = f"{self.block.file}!{self.block.sheet or 'csv'} row {self.row}"
        if self.kind == "value":
            return f"{self.what} {self.value!r:.60} into {where} col {self.col}"
        if self.kind == "row":
            return f"{self.what} row {self.value!r} inserted at {where}"
        return f"merge {self.rows}x{self.cols} at {where} col {self.col}"


def _insert_invisible(original, char: str, at: int) -> str:
    text = "" if original is None else str(original)
    at = min(at, len(text))
    return text[:at] + char + text[at:]


HOSTILE = {
    "blank": st.just(None),
    "text": st.sampled_from(["待定", "不详", "见附表", "无", "abc"]),
    "negative": st.sampled_from([-1, -3, -2500, -0.5]),
    "huge": st.sampled_from([99_999_999, 10**12, 10**19, 1e20]),
    "formula": st.just("=SUM(D4:D5)"),
    "date": st.dates(dt.date(2010, 1, 1), dt.date(2030, 12, 31)).map(lambda d: dt.datetime(d.year, d.month, d.day)),
    "long": st.just("扶贫" * 2500),
    "emoji": st.sampled_from(["👍", "王👍", "🏠✅", "😀😀😀"]),
}
INVISIBLE = ("\u200b", "\ufeff")
ROW_KINDS = {"total": "合计：45户 133人", "footer": "填表人：孙立新", "blank": None}


@st.composite
def changes(draw) -> Change:
    block = draw(st.sampled_from(BLOCKS))
    kinds = ["value", "value", "value", "row"] + ([] if block.file == TOWNSHIP else ["merge"])
    kind = draw(st.sampled_from(kinds))
    row = draw(st.integers(block.first, block.last))
    if kind == "row":
        what = draw(st.sampled_from(sorted(ROW_KINDS)))
        # a row goes between data rows or right under the last one
        return Change(block, "row", what, draw(st.integers(block.first, block.last + 1)), value=ROW_KINDS[what])
    grid_cols = _block_columns(block)
    col = draw(st.sampled_from(sorted(grid_cols)))
    if kind == "merge":
        rows = draw(st.integers(1, min(3, block.last - row + 1)))
        cols = draw(st.integers(1 if rows > 1 else 2, 3))
        return Change(block, "merge", "merge", row, col, rows=rows, cols=cols)
    what = draw(st.sampled_from([*HOSTILE, "invisible"]))
    if what == "invisible":
        value = (draw(st.sampled_from(INVISIBLE)), draw(st.integers(0, 20)))
    else:
        value = draw(HOSTILE[what])
        if what == "formula" and block.file == TOWNSHIP:
            value = "=1+1"
    return Change(block, "value", what, row, col, value)


@functools.cache
def _template() -> Path:
    """The unchanged landing, written once; each example copies it."""
    landing = Path(tempfile.mkdtemp(prefix="huizong-fuzz-")) / "landing"
    _write_landing(landing)
    return landing


@functools.cache
def _block_columns(block: Block) -> dict[int, forms.Column]:
    return _columns(Grid(_template() / FOLDERS[block.file] / block.file, block.sheet), block)


def apply(change: Change, landing: Path) -> object:
    """Make the change in the landed file; the value the changed cell now holds."""
    block = change.block
    grid = Grid(landing / FOLDERS[block.file] / block.file, block.sheet)
    written = change.value
    if change.kind == "value":
        if change.what == "invisible":
            char, at = change.value
            written = _insert_invisible(grid.get(change.row, change.col), char, at)
        grid.set(change.row, change.col, written)
    elif change.kind == "row":
        grid.insert_row(change.row, [change.value])
    else:
        grid.merge(change.row, change.col, change.row + change.rows - 1, change.col + change.cols - 1)
    grid.save()
    os.utime(grid.path, (_RECEIVED, _RECEIVED))   # sent on time, as the unchanged file was
    return written


# ---- a run and what it left ------------------------------------------------------------------------

@dataclass
class Outcome:
    facts: dict[str, pd.DataFrame]   # core table -> rows, with the file they came from
    findings: pd.DataFrame


def _outcome() -> Outcome:
    wh = Warehouse(get_settings().warehouse_url)
    facts = {}
    for table in FACT_TABLES:
        df = wh.query(f"SELECT s.original_name AS file, t.* FROM {table} t "
                      f"JOIN core.submissions s ON s.submission_id = t.submission_id")
        facts[table] = df.drop(columns=["submission_id"]).sort_values(["file", "source_row"]).reset_index(drop=True)
    findings = wh.query('SELECT file, sheet, "row", "column", value, rule, severity, message FROM core.findings')
    wh.dispose()
    return Outcome(facts, findings)


def _run_steps() -> dict:
    """Every step after discover in this process, as the DAG's tasks run them."""
    return weekly.apply_changes(WEEK, planned_batches(WEEK), run_id="fuzz")


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    """The module's environment (one PII key, so that hashes compare across runs) and the
    unchanged week's outcome."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUIZONG_PII_KEY", "fuzz-week-key")
        for var in ("HUIZONG_LANDING_URL", "HUIZONG_LAKE_URL", "HUIZONG_ARCHIVE_URL", "HUIZONG_WAREHOUSE_URL"):
            mp.delenv(var, raising=False)
        _fresh_home(tmp_path_factory.mktemp("baseline"), mp)
        _run_steps()
        base = _outcome()
        assert len(base.facts["core.ledger_households"]) == 44 and len(base.facts["core.county_reports"]) == 2
        assert base.findings.query("severity == 'error'")["rule"].tolist() == ["id_number.scientific"]
        yield {"mp": mp, "base": base, "tmp": tmp_path_factory}


def _fresh_home(parent: Path, mp) -> Path:
    home = parent / "home"
    shutil.copytree(_template(), home / "landing")   # copy2: the times received kept
    mp.setenv("HUIZONG_HOME", str(home))
    return home


# ---- what must hold ------------------------------------------------------------------------------

def _same(a, b) -> bool:
    if _blank(a) or _blank(b):
        return _blank(a) and _blank(b)
    if isinstance(a, (dt.date, pd.Timestamp)) or isinstance(b, (dt.date, pd.Timestamp)):
        return pd.Timestamp(a) == pd.Timestamp(b)
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return bool(np.isclose(float(a), float(b), rtol=1e-12, atol=0))
    return a == b


def _blank(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v == ""


def _intended(change: Change, col: forms.Column, written):
    """What the warehouse should hold for the changed cell, or NEEDS_FINDING."""
    if change.what == "formula" and not change.block.file.endswith(".csv"):
        written = None   # no saved value: the cell reads empty (and the file gets a finding naming it)
    if _blank(written):
        return 0 if col.dtype in ("int", "float") and col.name not in NO_ZERO_FILL else None
    if col.name in STORED:
        return NEEDS_FINDING
    number = isinstance(written, (int, float)) and not isinstance(written, bool)
    if col.dtype == "str":   # a text column reads what the cell shows
        if isinstance(written, dt.datetime):
            return written.date().isoformat()
        return written if isinstance(written, str) else str(written)
    if col.dtype == "int":
        return written if isinstance(written, int) and abs(written) < 2**63 else NEEDS_FINDING
    if col.dtype == "float":
        return float(written) if number else NEEDS_FINDING
    if col.dtype == "date":
        return written.date() if isinstance(written, dt.datetime) else NEEDS_FINDING
    return NEEDS_FINDING   # code, id18, yesno: no hostile value is a valid one


def _names(findings: pd.DataFrame, block: Block, row: int, col: int | None) -> pd.DataFrame:
    """Findings on the file naming sheet and row (and the column, when given)."""
    f = findings[findings["file"].str.endswith(block.file) & (findings["sheet"] == block.sheet)
                 & (findings["row"] == row)]
    if col is None:
        return f
    want = _block_columns(block)[col].name
    lookup = forms.header_lookup(forms.TABLES[block.table])
    return f[f["column"].map(lambda h: lookup.get(forms.normalize_header(h))) == want]


def _names_formula(findings: pd.DataFrame, block: Block, ref: str) -> bool:
    f = findings[findings["file"].str.endswith(block.file) & (findings["sheet"] == block.sheet)
                 & (findings["rule"] == "cell.formula_no_value") & (findings["value"] == ref)]
    return not f.empty


def _ref(row: int, col: int) -> str:
    return f"{openpyxl.utils.get_column_letter(col)}{row}"


def _rows(outcome: Outcome, table: str, file: str) -> pd.DataFrame:
    df = outcome.facts[table]
    return df[df["file"] == file].drop(columns=["file"]).set_index("source_row")


def _diff(got: pd.DataFrame, want: pd.DataFrame) -> str:
    """'' when equal (value by value, blanks alike), else what differs."""
    if list(got.index) != list(want.index):
        return f"rows {sorted(set(want.index) ^ set(got.index))} differ in presence"
    out = []
    for c in want.columns:
        for r in want.index:
            if not _same(got.at[r, c], want.at[r, c]):
                out.append(f"row {r} {c}: {got.at[r, c]!r} != {want.at[r, c]!r}")
    return "; ".join(out[:10])


def check(change: Change, written, base: Outcome, got: Outcome) -> None:
    block = change.block
    internal = got.findings[got.findings["rule"] == "file.internal_error"]
    assert internal.empty, f"a step failed on a file: {internal.to_dict('records')}"
    # every other file's rows are the unchanged run's
    for table in FACT_TABLES:
        for file in set(base.facts[table]["file"]) - {block.file}:
            d = _diff(_rows(got, table, file), _rows(base, table, file))
            assert not d, f"{file} ({table}) changed: {d}"
    if change.kind == "value":
        _check_value(change, written, base, got)
    elif change.kind == "row":
        _check_row(change, base, got)
    else:
        _check_merge(change, base, got)


def _expected_rows(base: Outcome, block: Block, shift_from: int | None = None) -> dict[str, pd.DataFrame]:
    """The file's rows per table as the unchanged run loaded them; with ``shift_from``, the
    rows of the block's sheet from that row on one further down."""
    out = {}
    for table in {b.core for b in BLOCKS if b.file == block.file}:
        df = _rows(base, table, block.file)
        if shift_from is not None and table == block.core:
            df.index = [r + 1 if r >= shift_from else r for r in df.index]
            df.index.name = "source_row"
        out[table] = df
    return out


def _assert_loads_as(expected: dict[str, pd.DataFrame], got: Outcome, block: Block, change: Change) -> None:
    """The file's rows are ``expected``; a row may be missing only if an error names it
    (a check across rows the change broke: the 合计 no longer the sum of the rows)."""
    errors = got.findings[got.findings["file"].str.endswith(block.file) & (got.findings["severity"] == "error")]
    for table, want in expected.items():
        have = _rows(got, table, block.file)
        sheet = next(b.sheet for b in BLOCKS if b.file == block.file and b.core == table)
        named = set(errors.loc[errors["sheet"] == sheet, "row"])
        want = want[[r in have.index or r not in named for r in want.index]]
        cols = [c for c in want.columns if c != "has_warning"]
        d = _diff(have[cols], want[cols])
        assert not d, f"{change}: no finding names the change and {table} did not load as meant: {d}"


def _check_value(change: Change, written, base: Outcome, got: Outcome) -> None:
    block = change.block
    if not _names(got.findings, block, change.row, change.col).empty:
        return
    if change.what == "formula" and _names_formula(got.findings, block, _ref(change.row, change.col)):
        return
    col = _block_columns(block)[change.col]
    expected = _expected_rows(base, block)
    want = expected[block.core]
    if change.what != "invisible":   # an invisible character changes nothing the clerk can see
        intended = _intended(change, col, written)
        assert intended is not NEEDS_FINDING, f"{change}: loaded without a finding naming the cell"
        if change.row in want.index:
            for c in STORED.get(col.name, (col.name,)):
                want[c] = want[c].astype(object)
                want.at[change.row, c] = intended
    _assert_loads_as(expected, got, block, change)


def _check_row(change: Change, base: Outcome, got: Outcome) -> None:
    _assert_loads_as(_expected_rows(base, change.block, shift_from=change.row), got, change.block, change)


def _check_merge(change: Change, base: Outcome, got: Outcome) -> None:
    """Merging keeps the top-left value only; each covered cell either is named by a
    finding, or loads as the top-left value (filled down) or as the empty cell it now is."""
    block = change.block
    cols = _block_columns(block)
    covered = [(r, c) for r in range(change.row, change.row + change.rows)
               for c in range(change.col, change.col + change.cols)][1:]
    covered = [(r, c) for r, c in covered if c in cols and _names(got.findings, block, r, c).empty]
    if any(not _names(got.findings, block, r, c).empty for r in range(change.row, change.row + change.rows)
           for c in range(change.col, change.col + change.cols) if c in cols):
        return
    expected = _expected_rows(base, block)
    want = expected[block.core]
    have = _rows(got, block.core, block.file)
    for r, c in covered:
        col = cols[c]
        if r not in want.index or r not in have.index:
            continue
        stored = STORED.get(col.name, (col.name,))
        values = [have.at[r, s] for s in stored]
        tops = [want.at[change.row, s] for s in stored] if c == change.col and change.row in want.index else None
        empty = 0 if col.dtype in ("int", "float") and col.name not in NO_ZERO_FILL else None
        assert all(_same(v, empty) for v in values) or (tops and all(map(_same, values, tops))), \
            f"{change}: covered cell {_ref(r, c)} loaded as {values!r} without a finding"
        for s, v in zip(stored, values):
            want[s] = want[s].astype(object)
            want.at[r, s] = v
    _assert_loads_as(expected, got, block, change)


# ---- the tests ---------------------------------------------------------------------------------------

def _one_example(fuzz_env, change: Change, run) -> None:
    home = _fresh_home(fuzz_env["tmp"].mktemp("fuzz"), fuzz_env["mp"])
    written = apply(change, home / "landing")
    run()
    check(change, written, fuzz_env["base"], _outcome())
    shutil.rmtree(home, ignore_errors=True)


# Shrinking is off: one example costs a week's run; a failure names its change as it is.
@settings(max_examples=int(os.environ.get("HUIZONG_FUZZ_EXAMPLES", "30")), deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow], database=None)
@given(change=changes())
# What the fuzz found once, kept: a footer line inside the table dropped every row under it;
# the blank 计划脱贫年度 (H40) stopped the week in the ledger summary.
@example(change=Change(BLOCKS[0], "row", "footer", 22, value=ROW_KINDS["footer"]))
@example(change=Change(BLOCKS[3], "row", "footer", 6, value=ROW_KINDS["footer"]))
@example(change=Change(BLOCKS[0], "value", "blank", 40, 8))
def test_one_hostile_change_costs_no_more_than_its_file(fuzz_env, change):
    _one_example(fuzz_env, change, _run_steps)


@pytest.mark.slow
def test_a_hostile_change_through_the_airflow_dag(airflow_db, fuzz_env):
    """The same check through weekly_ingest for real (dag.test): a 合计 footer row among the
    ledger's households, the row that used to stop the city's week in the ledger summary."""
    from pipelines.orchestrate import run_week

    change = Change(BLOCKS[0], "row", "total", 20, value=ROW_KINDS["total"])
    runs = []

    def run():
        dr = run_week(WEEK)
        runs.append(dr)
        states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
        assert "success" in str(dr.state), states
        assert all(s in ("success", "skipped") for s in states.values()) and states["publish"] == "success", states

    _one_example(fuzz_env, change, run)
    assert len(runs) == 1
