"""pipelines.ingest.gx_speed: GX's kwargs helpers read the configuration once, and metric ids
are serialised on a fast path; both give what GX's own code gives, and only on the GX
version they were written for."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipelines import forms
from pipelines.ingest import gx_speed
from pipelines.ingest import rules as R
from pipelines.ingest.validate import get_runtime


@pytest.fixture
def runtime(home):
    rt = get_runtime()  # builds the file context, which applies the helpers
    assert gx_speed.ORIGINALS, "the runtime did not install the faster helpers"
    return rt


def _expectations(rt):
    for name in sorted({t.suite for t in forms.REGISTRY.values()}):
        yield from rt.suite(name).expectations


@pytest.mark.parametrize("runtime_configuration", [None, {}, {"result_format": "COMPLETE"},
                                                   {"result_format": {"result_format": "COMPLETE",
                                                                      "unexpected_index_column_names": ["_row"]},
                                                    "catch_exceptions": False}])
def test_helpers_return_what_gx_returns_for_every_committed_expectation(runtime, runtime_configuration):
    n = 0
    for exp in _expectations(runtime):
        n += 1
        assert gx_speed._get_domain_kwargs(exp) == gx_speed.ORIGINALS["_get_domain_kwargs"](exp)
        assert gx_speed._get_success_kwargs(exp) == gx_speed.ORIGINALS["_get_success_kwargs"](exp)
        assert (gx_speed._get_runtime_kwargs(exp, runtime_configuration)
                == gx_speed.ORIGINALS["_get_runtime_kwargs"](exp, runtime_configuration))
        for key in (*exp.domain_keys, *exp.success_keys, *exp.runtime_keys):
            assert gx_speed._get_success_kwarg(exp, key) == gx_speed.ORIGINALS["_get_success_kwarg"](exp, key)
    assert n >= 100  # all six suites were read


def test_validation_builds_far_fewer_configurations(runtime, monkeypatch):
    """The point of the patch: GX rebuilt an expectation's configuration ~150 times per
    validation; with the helpers it is a few dozen (counted, not timed)."""
    from great_expectations.expectations.expectation import Expectation

    prop = Expectation.__dict__["configuration"]
    calls = []

    def counted(self):
        calls.append(1)
        return prop.fget(self)

    monkeypatch.setattr(Expectation, "configuration", property(counted))
    suite = "form_b_report"
    columns = runtime.columns(suite)
    frame = pd.DataFrame({c: pd.Series([None, None], dtype=object) for c in columns})
    frame[R.ROW_ID] = [0, 1]
    runtime.validate(suite, frame, {"poverty_line_yuan": 3000, "income_max_yuan": 100000, "household_size_min": 1,
                                    "household_size_max": 20, "tolerance_count": 0}, store=False)
    per_expectation = len(calls) / len(runtime.suite(suite).expectations)
    assert 0 < per_expectation < 60, per_expectation


@pytest.mark.parametrize("value", [
    None, "列", 3, True, 2.5, float("nan"), float("inf"), [1, None, "x"], ("a", 1.5),
    {"column": "household_id", "min_value": None, "strict": False, 1: "int key"},
    {"nested": {"value_set": [True], "parse": [{"a": None}]}},
    np.int64(7), np.float64(0.1), {"when": dt.date(2026, 11, 23)}, {"ids": {1, 2}}, pd.Index([1, 2]),
])
def test_plain_json_serialises_as_gx_does(runtime, value):
    gx_own = gx_speed.ORIGINALS["convert_to_json_serializable"]
    assert json.dumps(gx_speed.plain_json(value), sort_keys=True) == json.dumps(gx_own(value), sort_keys=True)


def test_metric_ids_of_a_real_validation_are_gx_s_own(runtime, monkeypatch):
    """Every IDDict GX hashes while validating a suite: the same id with GX's serialiser."""
    from great_expectations.core import id_dict

    seen = []
    fast = id_dict.convert_to_json_serializable
    assert fast is gx_speed.plain_json

    def recording(data):
        seen.append(data)
        return fast(data)

    monkeypatch.setattr(id_dict, "convert_to_json_serializable", recording)
    suite = "form_a_plan"
    frame = pd.DataFrame({c: pd.Series([None, "1", 2.0], dtype=object) for c in runtime.columns(suite)})
    frame[R.ROW_ID] = [0, 1, 2]
    runtime.validate(suite, frame, {"poverty_line_yuan": 3000, "income_max_yuan": 100000, "household_size_min": 1,
                                    "household_size_max": 20, "tolerance_count": 0}, store=False)
    assert len(seen) > 100
    gx_own = gx_speed.ORIGINALS["convert_to_json_serializable"]
    for data in seen:
        assert json.dumps(fast(data), sort_keys=True) == json.dumps(gx_own(data), sort_keys=True)


def test_stored_results_keep_no_fingerprint_of_the_rows(runtime):
    """GX fingerprints a small in-memory batch (an md5 of its rows) among its markers; the
    scrubbed copy that is stored leaves it out, as it leaves out every submitted value."""
    from pipelines.ingest.gx_runtime import scrub_result

    suite = "form_a_plan"
    frame = pd.DataFrame({c: pd.Series([None, "1", 2.0], dtype=object) for c in runtime.columns(suite)})
    frame[R.ROW_ID] = [0, 1, 2]
    params = {"poverty_line_yuan": 3000, "income_max_yuan": 100000, "household_size_min": 1, "household_size_max": 20, "tolerance_count": 0}
    result = runtime.validate(suite, frame, params, store=False)
    assert "pandas_data_fingerprint" in result.meta["batch_markers"]
    clean = scrub_result(result)
    assert "pandas_data_fingerprint" not in clean.meta["batch_markers"]
    assert "ge_load_time" in clean.meta["batch_markers"]
    assert "pandas_data_fingerprint" in result.meta["batch_markers"]  # the original is left as it was


def test_another_gx_version_raises(monkeypatch):
    """The patches are written for one GX version: on any other, applying them fails."""
    import great_expectations as gx
    from great_expectations.core import id_dict
    from great_expectations.expectations.expectation import Expectation

    with pytest.raises(gx_speed.GXVersionError, match="1.99.0"):
        gx_speed.check_version("1.99.0")
    gx_speed.check_version(gx_speed.PATCHED_VERSION)
    monkeypatch.setattr(gx_speed, "ORIGINALS", {})
    monkeypatch.setattr(gx, "__version__", "1.99.0")
    before = {name: Expectation.__dict__[name] for name in gx_speed.HELPERS}
    serialiser = id_dict.convert_to_json_serializable
    with pytest.raises(gx_speed.GXVersionError):
        gx_speed.apply()
    assert {name: Expectation.__dict__[name] for name in gx_speed.HELPERS} == before
    assert id_dict.convert_to_json_serializable is serialiser


def test_the_pinned_gx_is_the_patched_version():
    """requirements.in pins the version the patches were written for."""
    from pathlib import Path

    pins = (Path(__file__).resolve().parents[2] / "requirements" / "requirements.in").read_text(encoding="utf-8")
    assert f"great-expectations=={gx_speed.PATCHED_VERSION}" in pins.splitlines()
