"""The Great Expectations runtime: a GX file context on a temporary copy of the
repository's expectations folder, one per process and configuration (``get_runtime``).

Suites load by name from the copy and the runtime datasource lives in it; validation
results (scrubbed of submitted values, ``scrub_result``) and Data Docs go under
settings.home, so validating never writes into the repository.
"""
from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.ingest import rules as R
from pipelines.settings import get_settings


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
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

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
                    ExpectationSuiteIdentifier,
                )

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
        ExpectationValidationResult,
    )

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
        ExpectationSuiteValidationResult,
    )

    meta = dict(result.meta or {})
    meta.pop("batch_parameters", None)  # would hold the frame (GX already masks it)
    if "batch_markers" in meta:
        # GX's md5 of an in-memory frame is a digest of the submitted rows: not kept
        markers = meta["batch_markers"]
        meta["batch_markers"] = type(markers)({k: v for k, v in markers.items()
                                               if k != "pandas_data_fingerprint"})
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

