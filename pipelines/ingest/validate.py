"""Validation of parsed submissions with Great Expectations (GX Core, pandas batches).

One call validates all rows of one form for one county (many files concatenated): the
frames get derived check columns computed in pandas (vectorised), then each table is
validated against its committed GX suite (``expectations/gx/expectations/<suite>.json``,
see ``pipelines.ingest.rules``) with result_format COMPLETE; the failing rows come back
through ``unexpected_index_column_names`` and become findings (Chinese messages naming
the row, the column's header and the submitted value). A few cross-row rules (合计 equals
the sum of rows, city-wide duplicate ID numbers) are computed in pandas directly.

The GX file context is the repository's ``expectations/`` folder, *copied* once per
process to a temporary directory: suites load by name from the copy, the runtime
datasource lives in the copy, and validation results / Data Docs go under settings.home,
so validating never writes into the repository.
"""
from __future__ import annotations

import atexit
import datetime as dt
import functools
import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import forms, weeks
from pipelines.findings import ERROR, FINDING_COLUMNS, findings_frame
from pipelines.ingest import rules as R
from pipelines.settings import get_settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

log = logging.getLogger(__name__)

__all__ = ["ValidationResult", "validate_tables", "duplicate_ids", "suite_parameters",
           "get_runtime", "build_suites", "build_data_docs", "scrub_result"]

build_suites = R.build_suites

BLANK = "（空）"
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHANGE_TO_STATE = {"新识别": "贫困", "返贫": "贫困", "脱贫": "已脱贫", "注销": "注销"}
_CHANGE_PREV_STATE = {"返贫": "已脱贫", "脱贫": "贫困"}
_RECORD_KEY = {"plan": "household_id", "measures": "household_id", "helpers": "household_id"}
_REPORT_KEY = {"B": "unit_code", "C": "village_code", "D": "township_code"}
_PROVENANCE = ("submission_id", "file", "source_sheet", "source_row", "unit_code", "week",
               "level")


@dataclass
class ValidationResult:
    findings: pd.DataFrame = field(default_factory=findings_frame)
    error_rows: dict[str, pd.Index] = field(default_factory=dict)
    gx_results: list = field(default_factory=list)


# ---- settings -> suite parameters --------------------------------------------------------
def suite_parameters(settings=None) -> dict:
    """Values for the suites' $PARAMETER placeholders (and message texts)."""
    s = settings or get_settings()
    extra = getattr(s, "extra", None) or {}
    return {
        "poverty_line_yuan": float(s.poverty_line_yuan),
        "household_size_min": int(s.household_size_min),
        "household_size_max": int(s.household_size_max),
        "tolerance_count": int(s.tolerance_count),
        "tolerance_money_wan": float(s.tolerance_money_wan),
        "year_min": int(extra.get("plausible_year_min", R.PLAUSIBLE_YEAR_MIN)),
        "exit_years_ahead": int(extra.get("plausible_exit_years_ahead",
                                          R.PLAUSIBLE_EXIT_YEARS_AHEAD)),
    }


# ---- GX runtime (one per process and configuration) ---------------------------------------
class _Runtime:
    """A GX file context on a temporary copy of the repository's expectations folder."""

    def __init__(self, gx_root: Path, home: Path, docs_dir: Path):
        import great_expectations as gx
        from ruamel.yaml import YAML

        from pipelines.ingest import gx_speed

        gx_speed.apply()

        src = Path(gx_root) / R.GX_DIR
        if not (src / "great_expectations.yml").is_file():
            raise FileNotFoundError(f"no GX file context at {src}; run build_suites()")
        self.tmp = Path(tempfile.mkdtemp(prefix="huizong-gx-"))
        atexit.register(shutil.rmtree, self.tmp, True)
        dst = self.tmp / R.GX_DIR
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("uncommitted"))
        self.docs_dir = Path(docs_dir)
        self.results_dir = Path(home) / "gx" / "validations"
        repo_gx = Path(gx_root).resolve() / R.GX_DIR
        for out in (self.results_dir, self.docs_dir):
            if out.resolve().is_relative_to(repo_gx):
                raise ValueError(f"{out} lies inside the repository's GX folder {repo_gx}")
        yaml = YAML()
        cfg_path = dst / "great_expectations.yml"
        cfg = yaml.load(cfg_path.read_text(encoding="utf-8"))
        cfg["stores"]["validation_results_store"]["store_backend"]["base_directory"] = \
            str(self.results_dir)
        cfg["data_docs_sites"]["local_site"]["store_backend"]["base_directory"] = \
            str(self.docs_dir)
        with cfg_path.open("w", encoding="utf-8") as fh:
            yaml.dump(cfg, fh)
        self.context = gx.get_context(mode="file", project_root_dir=str(self.tmp))
        self.datasource = self.context.data_sources.add_pandas("huizong")
        self.suites: dict = {}
        self.batch_defs: dict = {}
        self.lock = threading.RLock()

    def suite(self, name: str):
        with self.lock:
            if name not in self.suites:
                self.suites[name] = self.context.suites.get(name)
            return self.suites[name]

    def columns(self, name: str) -> list[str]:
        """The frame columns suite ``name`` reads (and the row id GX reports failures by)."""
        cols = [R.ROW_ID]
        for exp in self.suite(name).expectations:
            kw = exp.configuration.kwargs
            for key in ("column", "column_A", "column_B"):
                if kw.get(key):
                    cols.append(kw[key])
            cols += list(kw.get("column_list") or [])
        return list(dict.fromkeys(cols))

    def batch_definition(self, name: str):
        with self.lock:
            if name not in self.batch_defs:
                asset = self.datasource.add_dataframe_asset(name)
                self.batch_defs[name] = asset.add_batch_definition_whole_dataframe("whole")
            return self.batch_defs[name]

    def validate(self, name: str, frame: pd.DataFrame, params: dict, *, store: bool,
                 run_id: str = "", run_time: dt.datetime | None = None):
        """Validate ``frame`` against suite ``name``; the full result comes back (findings
        need the failing rows). With ``store`` a scrubbed copy (see ``scrub_result``) is
        saved in the validation results store under run ``run_id`` / ``run_time``."""
        result_format = {"result_format": "COMPLETE",
                         "unexpected_index_column_names": [R.ROW_ID],
                         "return_unexpected_index_query": False}
        suite = self.suite(name)
        bd = self.batch_definition(name)
        # One validation at a time per runtime: the context, its datasource and stores
        # are shared objects (tasks normally run in separate processes anyway).
        # Only the columns the suite reads: GX hashes and filters whole frames, and the
        # provenance and raw-text columns would only make that slower.
        frame = frame[[c for c in self.columns(name) if c in frame.columns]]
        with self.lock:
            batch = bd.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(suite, result_format=result_format,
                                    expectation_parameters=params)
            if store:
                self.store_result(result, batch_id=batch.id, run_id=run_id, run_time=run_time)
            return result

    def store_result(self, result, *, batch_id: str, run_id: str = "",
                     run_time: dt.datetime | None = None):
        """Save the scrubbed copy of ``result`` in the validation results store (under
        settings.home); returns its ValidationResultIdentifier."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier, ValidationResultIdentifier)

        run = RunIdentifier(run_name=run_id or None,
                            run_time=run_time or dt.datetime.now(dt.timezone.utc))
        clean = scrub_result(result)
        # as ValidationDefinition.run records them (the Data Docs pages show both)
        clean.meta["run_id"] = run
        clean.meta["validation_time"] = run.run_time
        suite_id = ExpectationSuiteIdentifier(name=result.suite_name)
        key = ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=run,
                                         batch_identifier=batch_id)
        with self.lock:
            self.context.validation_results_store.store_validation_results(
                suite_validation_result=clean, suite_validation_result_identifier=key,
                expectation_suite_identifier=suite_id)
        return key

    def build_docs(self, run_name: str | None = None, skip: frozenset[str] = frozenset()) -> Path:
        """Render Data Docs: everything, or (``run_name``) only that run's validation
        results and the suites, plus the index; earlier weeks' pages stay as they are,
        so a weekly build does not grow with the history kept. Results named in ``skip``
        (see ``result_name``) already have their page and are not rendered again."""
        with self.lock:
            ids = None
            if run_name is not None:
                from great_expectations.data_context.types.resource_identifiers import (
                    ExpectationSuiteIdentifier)

                ids = [k for k in self.context.validation_results_store.list_keys()
                       if k.run_id.run_name == run_name and result_name(k.to_tuple()) not in skip]
                ids += [ExpectationSuiteIdentifier(name=n) for n in self.context.suites.all_names()] \
                    if hasattr(self.context.suites, "all_names") else \
                    [ExpectationSuiteIdentifier(name=su.name) for su in self.context.suites.all()]
            self.context.build_data_docs(site_names=["local_site"], resource_identifiers=ids)
        return self.docs_dir


def result_name(parts) -> str:
    """A stored validation result's name: suite/run name/run time/batch, as the results
    store lays out its files (``ValidationResultIdentifier.to_tuple()``)."""
    return "/".join(str(p) for p in parts)


# ---- scrubbing stored results (no personal data outside the raw archive) ------------------
# What a stored expectation result keeps: counts and percentages, and the failing rows as
# row numbers of the validated frame. Everything that carries submitted values goes:
# unexpected_list, partial_unexpected_list, partial_unexpected_counts, details,
# observed_value, and the column values GX puts next to the row number in
# (partial_)unexpected_index_list.
_KEEP_RESULT_KEYS = ("element_count", "missing_count", "missing_percent", "unexpected_count",
                     "unexpected_percent", "unexpected_percent_total",
                     "unexpected_percent_nonmissing")
_ROW_LIST_KEYS = ("unexpected_index_list", "partial_unexpected_index_list")


def _row_ids(entries) -> list[dict]:
    out = []
    for d in entries or []:
        if isinstance(d, dict) and R.ROW_ID in d:
            out.append({R.ROW_ID: int(d[R.ROW_ID])})
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool):
            out.append(int(d))  # plain row index (no index column names)
    return out


def _scrub_expectation_result(er):
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult)

    src = er.result or {}
    result = {k: src[k] for k in _KEEP_RESULT_KEYS if k in src}
    for k in _ROW_LIST_KEYS:
        if k in src:
            result[k] = _row_ids(src[k])
    if "unexpected_index_column_names" in src:
        result["unexpected_index_column_names"] = [R.ROW_ID]
    return ExpectationValidationResult(
        success=er.success, expectation_config=er.expectation_config, result=result,
        meta=dict(er.meta or {}), exception_info=er.exception_info)


def scrub_result(result):
    """A copy of a suite validation result without any submitted value (see above); the
    original is left untouched. The copy still renders in Data Docs (counts only)."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult)

    meta = dict(result.meta or {})
    meta.pop("batch_parameters", None)  # would hold the frame (GX already masks it)
    return ExpectationSuiteValidationResult(
        success=result.success, results=[_scrub_expectation_result(er) for er in result.results],
        suite_name=result.suite_name, suite_parameters=dict(result.suite_parameters or {}),
        statistics=dict(result.statistics or {}), meta=meta, batch_id=result.batch_id)


_RUNTIMES: dict[tuple, _Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(settings=None) -> _Runtime:
    """The cached GX runtime for these settings (created on first use in the process)."""
    s = settings or get_settings()
    key = (str(s.gx_root), str(s.home), str(s.data_docs_dir))
    with _RUNTIMES_LOCK:
        if key not in _RUNTIMES:
            _RUNTIMES[key] = _Runtime(Path(s.gx_root), Path(s.home), Path(s.data_docs_dir))
        return _RUNTIMES[key]


def build_data_docs(settings=None, week: str | None = None) -> Path:
    """Build the Data Docs site (settings.data_docs_dir) from the scrubbed validation
    results stored by ``validate_tables(..., keep_results=True)``; returns its index.html.
    With ``week`` only that week's new result pages (run name = week) are rendered: the
    pages already rendered are listed in the site's ``.rendered.json``, and when every
    stored result of the week has its page, GX is not even imported (a resubmission
    re-validates one group; the other groups' results are unchanged)."""
    import json

    s = settings or get_settings()
    docs = Path(s.data_docs_dir)
    marker = docs / ".rendered.json"
    index = docs / "index.html"
    rendered = frozenset(json.loads(marker.read_text(encoding="utf-8"))) \
        if marker.is_file() and index.is_file() else frozenset()
    results_dir = Path(s.home) / "gx" / "validations"
    stored = {result_name(p.relative_to(results_dir).with_suffix("").parts)
              for p in (results_dir.rglob("*.json") if results_dir.is_dir() else [])
              if week is None or p.relative_to(results_dir).parts[1:2] == (week,)}
    if week is not None and index.is_file() and stored <= rendered:
        return index
    get_runtime(s).build_docs(week, skip=rendered if week is not None else frozenset())
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(rendered | stored), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, marker)
    return index


# ---- helpers --------------------------------------------------------------------------------
def _flag(ok, applies) -> pd.Series:
    """Boolean check column: ok where the rule applies, NA elsewhere (GX skips nulls)."""
    ok = pd.Series(ok).astype("boolean").fillna(False)
    applies = pd.Series(applies).astype("boolean").fillna(False).to_numpy(bool)
    return ok.where(applies)


_STRING = pd.StringDtype("python")  # as the parser emits; fast hash-based isin on large sets


def _s(series: pd.Series) -> pd.Series:
    return series.astype(_STRING)


def _week_end_ts(week: pd.Series) -> pd.Series:
    """Timestamp of the last day (Sunday) of each row's ISO week (NaT when unparseable)."""
    uniq = {}
    for w in pd.unique(week.dropna()):  # a handful of distinct weeks, not rows
        try:
            uniq[w] = pd.Timestamp(weeks.week_end(str(w)))
        except ValueError:
            uniq[w] = pd.NaT
    return pd.to_datetime(week.map(uniq), errors="coerce")


def _prepare(df: pd.DataFrame, form: str, key: str) -> pd.DataFrame:
    """Positional copy of the table with every canonical and provenance column present."""
    f = df.reset_index(drop=True).copy()
    for col in forms.TABLES[(form, key)]:
        if col.name not in f.columns:
            f[col.name] = pd.NA
    for col in _PROVENANCE:
        if col not in f.columns:
            f[col] = pd.NA
    for col in forms.TABLES[(form, key)]:
        if col.dtype in ("str", "code", "id18", "yesno"):
            f[col.name] = _s(f[col.name])
    f["unit_code"] = _s(f["unit_code"]).str.strip().replace("", pd.NA)  # '' = unknown unit
    f["week"] = _s(f["week"])
    f["file"] = _s(f["file"]).fillna("")
    f[R.ROW_ID] = np.arange(len(f), dtype=np.int64)
    return f


def _household_id_checks(f: pd.DataFrame, plan_ids: pd.Series | None) -> None:
    hid = f["household_id"].str.strip()
    fmt = hid.str.fullmatch(r"\d{16}").fillna(False)
    f["_hh_prefix"] = hid.str[:12]
    f["_hh_village_ok"] = _flag(f["_hh_prefix"] == f["unit_code"],
                                fmt & f["unit_code"].notna())
    if plan_ids is not None:
        # only for well-formed ids of the submitting village (else the id rules report it)
        applies = fmt & f["_hh_village_ok"].fillna(True)
        f["_hh_known"] = _flag(hid.isin(plan_ids.dropna().unique()), applies)
    else:
        f["_hh_known"] = pd.Series(pd.NA, index=f.index, dtype="boolean")


def _id_checks(f: pd.DataFrame, params: dict) -> None:
    idn = f["id_number"].str.strip().str.upper()
    shape = idn.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy(bool)
    birth = pd.to_datetime(idn.str[6:14].where(shape), format="%Y%m%d", errors="coerce")
    upper = f["_week_end"].fillna(pd.Timestamp(dt.date.today()))
    birth_ok = birth.notna() & (birth >= pd.Timestamp("1900-01-01")) & (birth <= upper)
    f["_id_birth"] = idn.str[6:14]
    f["_id_birth_ok"] = _flag(birth_ok, shape)
    # GB 11643 / ISO 7064 MOD 11-2 check character, computed for all well-shaped IDs.
    expected = pd.Series(pd.NA, index=f.index, dtype=_STRING)
    if shape.any():
        sel = idn[shape]
        arr = np.frombuffer("".join(sel.tolist()).encode("ascii"), dtype=np.uint8)
        digits = arr.reshape(-1, 18)[:, :17].astype(np.int64) - 48
        chk = (12 - (digits @ _ID_WEIGHTS) % 11) % 11
        expected[shape] = np.where(chk == 10, "X", chk.astype(str))
    f["_id_check_expected"] = expected
    f["_id_check_ok"] = _flag(idn.str[17] == expected, shape)
    f["_id_unique_ok"] = _flag(~_id_dup_mask(f, idn), idn.notna())


def _id_dup_mask(f: pd.DataFrame, idn: pd.Series, group: pd.Series | None = None) -> pd.Series:
    """True where the ID number is registered under more than one household id (and, with
    ``group``, more than one group, e.g. county)."""
    frame = pd.DataFrame({"idn": idn, "hid": f["household_id"]})
    n = frame.groupby("idn", dropna=True)["hid"].transform("nunique")
    mask = n.gt(1)
    if group is not None:
        frame["g"] = group
        ng = frame.groupby("idn", dropna=True)["g"].transform("nunique")
        mask = mask & ng.gt(1)
    return mask.fillna(False).astype(bool)


def _derive_plan(f, tables, prev_plan, params) -> None:
    _household_id_checks(f, None)
    f["_week_end"] = _week_end_ts(f["week"])
    _id_checks(f, params)
    # Years.
    week_year = pd.to_numeric(f["week"].str[:4], errors="coerce").astype("Int64")
    f["_week_year"] = week_year
    f["_exit_year_max"] = week_year + params["exit_years_ahead"]
    iy, py = f["identified_year"].astype("Int64"), f["planned_exit_year"].astype("Int64")
    f["_identified_year_ok"] = _flag((iy >= params["year_min"]) & (iy <= week_year),
                                     iy.notna() & week_year.notna())
    f["_planned_exit_year_ok"] = _flag((py >= params["year_min"]) & (py <= f["_exit_year_max"]),
                                       py.notna() & week_year.notna())
    # State and this week's change.
    st, wc = f["state"], f["week_change"]
    st_valid = st.isin(forms.STATES).fillna(False)
    expected = _s(wc.map(_CHANGE_TO_STATE))
    f["_change_expected_state"] = expected
    f["_change_state_ok"] = _flag(st == expected, expected.notna() & st_valid)
    na = pd.Series(pd.NA, index=f.index, dtype="boolean")
    if prev_plan is not None and len(prev_plan):
        prev = (prev_plan[["household_id", "state"]].dropna(subset=["household_id"])
                .astype({"household_id": _STRING, "state": _STRING})
                .drop_duplicates("household_id", keep="last").set_index("household_id")["state"])
        existed = f["household_id"].isin(prev.index).fillna(False)
        prev_state = _s(f["household_id"].map(prev))
        # a last-week state outside the enumeration says nothing about continuity
        prev_state = prev_state.where(prev_state.isin(forms.STATES).fillna(False))
        f["_prev_state"] = prev_state.fillna(BLANK)
        f["_unchanged_ok"] = _flag(st == prev_state,
                                   (wc == "无").fillna(False) & existed & st_valid & prev_state.notna())
        f["_new_ok"] = _flag(~existed, (wc == "新识别").fillna(False))
        prev_expected = _s(wc.map(_CHANGE_PREV_STATE))
        f["_prev_expected"] = prev_expected
        f["_prev_state_ok"] = _flag(prev_state == prev_expected,
                                    prev_expected.notna() & existed & prev_state.notna())
    else:
        f["_prev_state"] = pd.Series(pd.NA, index=f.index, dtype=_STRING)
        f["_prev_expected"] = pd.Series(pd.NA, index=f.index, dtype=_STRING)
        f["_unchanged_ok"] = f["_new_ok"] = f["_prev_state_ok"] = na
    # Exit (脱贫) requirements: income at the poverty line, 两不愁三保障 all 是.
    exiting = (wc == "脱贫").fillna(False).to_numpy(bool)
    inc = f["income_per_capita_yuan"].astype("Float64")
    inc = inc.mask(exiting & inc.isna().to_numpy(bool), -1.0)
    f["_exit_income"] = inc.where(exiting)
    for col in forms.SECURITY_COLUMNS:
        v = f[col].mask(exiting & f[col].isna().to_numpy(bool), BLANK)
        f[f"_exit_{col}"] = v.where(exiting)
    # Cross-table: every poor household has a measure and a helper.
    poor = (st == "贫困").fillna(False) & f["household_id"].notna()
    for other, col in (("measures", "_has_measure"), ("helpers", "_has_helper")):
        t = tables.get(other)
        if t is None:
            f[col] = na
        else:
            ids = _s(t["household_id"]).str.strip().dropna().unique()
            f[col] = _flag(f["household_id"].str.strip().isin(ids), poor)


def _derive_sheet(f, tables, date_col) -> None:
    plan = tables.get("plan")
    plan_ids = None if plan is None else _s(plan["household_id"]).str.strip()
    _household_id_checks(f, plan_ids)
    f["_week_end"] = _week_end_ts(f["week"])
    d = pd.to_datetime(f[date_col], errors="coerce")
    f["_date_ok"] = _flag(d.dt.normalize() <= f["_week_end"],
                          d.notna() & f["_week_end"].notna())


def _derive_report(f, form) -> None:
    for k, flows in (("hh", forms.HH_FLOWS), ("pp", forms.PP_FLOWS)):
        o, n, rt, ex, ca, cl = (f[c].astype("Int64") for c in flows)
        expect = o + n + rt - ex - ca
        f[f"_balance_expect_{k}"] = expect
        f[f"_balance_diff_{k}"] = cl - expect
        f[f"_balance_absdiff_{k}"] = (cl - expect).abs()
    for hh, pp in zip(forms.HH_FLOWS, forms.PP_FLOWS):
        f[f"_pp_minus_{hh}"] = f[pp].astype("Int64") - f[hh].astype("Int64")
    if form in ("C", "D"):
        code_col, digits, parent = (("village_code", 12, 9) if form == "C"
                                    else ("township_code", 9, 6))
        code = f[code_col].str.strip()
        fmt = code.str.fullmatch(rf"\d{{{digits}}}").fillna(False)
        f["_code_parent_ok"] = _flag(code.str[:parent] == f["unit_code"].str.strip(),
                                     fmt & f["unit_code"].notna())


# ---- GX results -> findings -------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{([rs])\[(\w+)\]\}")


@functools.lru_cache(maxsize=None)
def _rules_by_key() -> dict[str, dict[tuple[str, str], R.Rule]]:
    return {name: {r.key: r for r in rules} for name, rules in R.suite_rules().items()}


def _fmt(v) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return BLANK
    if isinstance(v, float):
        if np.isnan(v):
            return BLANK
        return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    s = str(v)
    return s if s.strip() else BLANK


def _raw_text(raw: pd.DataFrame | None, df: pd.DataFrame, column: str, pos: np.ndarray,
              typed: pd.Series) -> pd.Series:
    """Submitted text of `column` for positional rows `pos` ("" when blank)."""
    vals = None
    if raw is not None and column in raw.columns:
        r = raw[column]
        if not r.index.equals(df.index):
            r = r.reindex(df.index)
        vals = pd.Series(r.to_numpy(object)[pos])
    if vals is None:
        vals = pd.Series([("" if _fmt(v) == BLANK else _fmt(v)) for v in typed.iloc[pos]],
                         dtype=object)
    return vals.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else str(v)).reset_index(drop=True)


def _dup_others(f: pd.DataFrame, pos: np.ndarray, key: pd.Series) -> list[str]:
    """For each failing row, where else the same key occurs (few rows: message only)."""
    sub = pd.DataFrame({"k": key.iloc[pos].to_numpy(object),
                        "file": f["file"].iloc[pos].to_numpy(object),
                        "row": f["source_row"].iloc[pos].to_numpy(object),
                        "hid": f["household_id"].iloc[pos].to_numpy(object)
                        if "household_id" in f.columns else None})
    out = []
    groups = {k: g for k, g in sub.groupby("k", sort=False)}
    for i, rec in enumerate(sub.itertuples(index=False)):
        g = groups.get(rec.k)
        others = [] if g is None else [o for j, o in zip(g.index, g.itertuples(index=False))
                                       if j != i]
        parts = []
        for o in others[:5]:
            where = f"第{_fmt(o.row)}行" if o.file == rec.file else f"{o.file} 第{_fmt(o.row)}行"
            if o.hid is not None and o.hid != rec.hid:
                where += f"户编号 {_fmt(o.hid)}"
            parts.append(where)
        if len(others) > 5:
            parts.append(f"等{len(others)}处")
        out.append("另见" + "、".join(parts) if parts else "重复")
    return out


def _findings_for(rule: R.Rule, f: pd.DataFrame, df: pd.DataFrame, raw: pd.DataFrame | None,
                  pos: np.ndarray, record_col: str, params: dict, table: str) -> list[dict]:
    header = R._header(rule.column)
    values = _raw_text(raw, df, rule.column, pos, f[rule.column])
    if rule.only_blank_raw:
        keep = values.str.strip().eq("").to_numpy(bool)
        pos, values = pos[keep], values[keep].reset_index(drop=True)
    if not len(pos):
        return []
    needed = {name for kind, name in _PLACEHOLDER.findall(rule.problem) if kind == "r"}
    extra = {}
    if "_dup_others" in needed:
        needed.discard("_dup_others")
        key = (f["household_id"] if rule.code == "household_id.duplicate"
               else f["id_number"].str.strip().str.upper())
        extra["_dup_others"] = _dup_others(f, pos, key)
    cols = {c: f[c].iloc[pos].tolist() for c in needed}
    prov = {c: f[c].iloc[pos].tolist() for c in _PROVENANCE}
    rec_raw = _raw_text(raw, df, record_col, pos, f[record_col]) if record_col in f else None
    s_fmt = {k: _fmt(v) for k, v in params.items()}
    out = []
    for i in range(len(pos)):  # failing rows only: formatting the messages
        r = {c: _fmt(cols[c][i]) for c in needed}
        r.update({k: v[i] for k, v in extra.items()})
        problem = rule.problem.format(r=r, s=s_fmt)
        value = values.iloc[i]
        row = int(prov["source_row"][i]) if pd.notna(prov["source_row"][i]) else 0
        message = (f"第{row}行「{header}」为 {value if value.strip() else BLANK}：{problem}，"
                   f"{rule.action}")
        out.append({
            "week": _str(prov["week"][i]), "level": _str(prov["level"][i]),
            "unit_code": _str(prov["unit_code"][i]),
            "submission_id": _str(prov["submission_id"][i]), "file": _str(prov["file"][i]),
            "sheet": _str(prov["source_sheet"][i]), "row": row, "column": header,
            "value": value, "rule": rule.code, "severity": rule.severity,
            "dimension": rule.dimension, "message": message,
            "record_key": _str(rec_raw.iloc[i]) if rec_raw is not None else "",
            "_table": table, "_pos": int(pos[i]),
        })
    return out


def _str(v) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)


def _unexpected_positions(er) -> np.ndarray:
    idx = (er.result or {}).get("unexpected_index_list") or []
    return np.fromiter((int(d[R.ROW_ID]) for d in idx), dtype=np.int64, count=len(idx))


def _raised(er) -> str | None:
    info = er.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "exception"
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return v.get("exception_message") or "exception"
    return None


class ValidationSetupError(RuntimeError):
    """A suite could not be evaluated (broken suite or frame): a bug, never data."""


# ---- 合计 rows (Forms C/D) ----------------------------------------------------------------
def _total_findings(form: str, rows: pd.DataFrame, totals: pd.DataFrame, params: dict) -> list[dict]:
    cols = [c for c in forms.TABLES[(form, "report")] if c.dtype in ("int", "float")]
    names = [c.name for c in cols]
    if rows is None or totals is None or not len(totals):
        return []
    rows = rows.copy()
    rows["file"] = _s(rows["file"]).fillna("")
    tot = totals.reset_index(drop=True).copy()
    tot["file"] = _s(tot["file"]).fillna("")
    sums = rows.groupby("file")[names].sum().astype("Float64")
    sums = sums.reindex(tot["file"]).fillna(0.0)
    sums.index = tot.index
    tv = tot.reindex(columns=names).astype("Float64")
    diff = tv - sums
    tol = pd.Series({c.name: (params["tolerance_count"] if c.dtype == "int"
                              else params["tolerance_money_wan"]) for c in cols})
    bad = (diff.abs() > tol + 1e-9).fillna(False)
    hits = np.argwhere(bad.to_numpy(bool))
    out = []
    headers = {c.name: c.header for c in cols}
    for ri, ci in hits:  # failing cells only
        name = names[ci]
        rec = tot.iloc[ri]
        row = int(rec["source_row"]) if "source_row" in tot and pd.notna(rec["source_row"]) else 0
        total_v, sum_v, d = tv.iat[ri, ci], sums.iat[ri, ci], diff.iat[ri, ci]
        unit = "万元" if name.endswith("_wan") else ""
        message = (f"第{row}行「{forms.TOTAL_LABEL}·{headers[name]}」为 {_fmt(total_v)}：与各行之和 "
                   f"{_fmt(sum_v)}{unit} 不符（相差 {_fmt(d)}{unit}），请核对合计行或各行数据")
        out.append({
            "week": _str(rec.get("week")), "level": _str(rec.get("level")),
            "unit_code": _str(rec.get("unit_code")),
            "submission_id": _str(rec.get("submission_id")), "file": _str(rec.get("file")),
            "sheet": _str(rec.get("source_sheet")), "row": row, "column": headers[name],
            "value": _fmt(total_v), "rule": "total.mismatch", "severity": ERROR,
            "dimension": "ledger", "message": message, "record_key": forms.TOTAL_LABEL,
        })
    return out


# ---- public API ---------------------------------------------------------------------------
def validate_tables(form: str, tables: dict[str, pd.DataFrame], raw: dict[str, pd.DataFrame],
                    *, prev_plan: pd.DataFrame | None = None,
                    totals: dict[str, pd.DataFrame] | None = None, settings=None,
                    run_id: str = "", keep_results: bool = False,
                    build_docs: bool = False) -> ValidationResult:
    """Validate one form's tables (rows of many files concatenated) against the GX suites.

    Returns the findings (findings_frame shape), the index labels of the rows with at
    least one error per table (to quarantine), and the GX suite validation results.

    ``keep_results`` saves each suite's result, scrubbed of submitted values
    (``scrub_result``), in the validation results store under $HUIZONG_HOME/gx/validations
    with run name ``run_id``; ``build_data_docs()`` renders them later. ``build_docs``
    does the same and rebuilds the Data Docs site right away.
    """
    settings = settings or get_settings()
    params = suite_parameters(settings)
    gx_params = {k: params[k] for k in ("poverty_line_yuan", "household_size_min",
                                        "household_size_max", "tolerance_count")}
    runtime = get_runtime(settings)
    raw = raw or {}
    rows: list[dict] = []
    gx_results = []
    error_rows: dict[str, pd.Index] = {}
    run_time = dt.datetime.now(dt.timezone.utc)  # one run time for this call's suites
    for key, df in tables.items():
        if (form, key) not in R.SUITE_NAMES or df is None:
            continue
        suite_name = R.SUITE_NAMES[(form, key)]
        f = _prepare(df, form, key)
        if key == "plan":
            _derive_plan(f, tables, prev_plan, params)
        elif key in ("measures", "helpers"):
            _derive_sheet(f, tables, "measure_date" if key == "measures" else "paired_date")
        else:
            _derive_report(f, form)
        record_col = _RECORD_KEY.get(key) or _REPORT_KEY[form]
        error_rows[key] = df.index[:0]
        if not len(f):
            continue
        result = runtime.validate(suite_name, f, gx_params, store=keep_results or build_docs,
                                  run_id=run_id, run_time=run_time)
        gx_results.append(result)
        by_key = _rules_by_key()[suite_name]
        for er in result.results:
            meta = er.expectation_config.meta or {}
            problem = _raised(er)
            if problem:
                raise ValidationSetupError(
                    f"{suite_name}: {er.expectation_config.type} on {meta.get('column')} "
                    f"failed to run: {problem}")
            if er.success:
                continue
            rule = by_key[(meta["rule"], meta["column"])]
            pos = _unexpected_positions(er)
            rows += _findings_for(rule, f, df, raw.get(key), pos, record_col, params, key)
    if form in ("C", "D") and totals and totals.get("report") is not None:
        rows += _total_findings(form, tables.get("report"), totals["report"], params)
    if build_docs:
        runtime.build_docs()
    for key in error_rows:
        pos = sorted({r["_pos"] for r in rows if r.get("_table") == key and r["severity"] == ERROR})
        error_rows[key] = tables[key].index[np.asarray(pos, dtype=np.int64)]
    findings = findings_frame([{k: r[k] for k in FINDING_COLUMNS} for r in rows])
    return ValidationResult(findings=findings, error_rows=error_rows, gx_results=gx_results)


def duplicate_ids(plan: pd.DataFrame, *, cross_county_only: bool = False) -> pd.DataFrame:
    """Findings for ID numbers registered under more than one household (rule
    id_number.duplicate). Call it city-wide on all counties' plan rows; with
    ``cross_county_only`` only IDs whose households lie in different counties are reported
    (validate_tables already reported those within one call's frame)."""
    if plan is None or not len(plan):
        return findings_frame()
    f = _prepare(plan, "A", "plan")
    idn = f["id_number"].str.strip().str.upper()
    group = f["household_id"].str.strip().str[:6] if cross_county_only else None
    mask = _id_dup_mask(f, idn, group).to_numpy(bool)
    pos = np.flatnonzero(mask)
    rule = _rules_by_key()["form_a_plan"][("id_number.duplicate", "id_number")]
    f["_id_unique_ok"] = _flag(~pd.Series(mask), idn.notna())
    rows = _findings_for(rule, f, plan, None, pos, "household_id", suite_parameters(), "plan")
    return findings_frame([{k: r[k] for k in FINDING_COLUMNS} for r in rows])
