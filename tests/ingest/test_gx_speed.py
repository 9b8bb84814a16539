"""pipelines.ingest.gx_speed: GX's kwargs helpers read the configuration once, and metric ids
are serialised on a fast path; both give what GX's own code gives."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest import gx_speed
from pipelines.ingest import rules as R
from pipelines.ingest.validate import get_runtime


@pytest.fixture
def runtime(home):
    rt = get_runtime()  # builds the file context, which applies the helpers
    assert gx_speed.ORIGINALS, "the runtime did not install the faster helpers"
    return rt


def _expectations(rt):
    for name in sorted(set(R.SUITE_NAMES.values())):
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
    runtime.validate(suite, frame, {"poverty_line_yuan": 3000, "household_size_min": 1,
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
    runtime.validate(suite, frame, {"poverty_line_yuan": 3000, "household_size_min": 1,
                                    "household_size_max": 20, "tolerance_count": 0}, store=False)
    assert len(seen) > 100
    gx_own = gx_speed.ORIGINALS["convert_to_json_serializable"]
    for data in seen:
        assert json.dumps(fast(data), sort_keys=True) == json.dumps(gx_own(data), sort_keys=True)


def test_batches_are_not_fingerprinted_and_validate_alike(runtime, monkeypatch):
    """No md5 of the frame among a batch's markers; the validation result is the same as
    with GX's own threshold (under which the fingerprint is taken)."""
    from great_expectations.execution_engine import pandas_execution_engine as pee

    assert pee.HASH_THRESHOLD == 0 and gx_speed.ORIGINALS["HASH_THRESHOLD"] == 1e9
    suite = "form_a_plan"
    frame = pd.DataFrame({c: pd.Series([None, "1", 2.0], dtype=object) for c in runtime.columns(suite)})
    frame[R.ROW_ID] = [0, 1, 2]
    params = {"poverty_line_yuan": 3000, "household_size_min": 1, "household_size_max": 20, "tolerance_count": 0}
    fast = runtime.validate(suite, frame, params, store=False)
    assert "pandas_data_fingerprint" not in fast.meta["batch_markers"]
    monkeypatch.setattr(pee, "HASH_THRESHOLD", gx_speed.ORIGINALS["HASH_THRESHOLD"])
    slow = runtime.validate(suite, frame, params, store=False)
    assert "pandas_data_fingerprint" in slow.meta["batch_markers"]
    assert [r.success for r in fast.results] == [r.success for r in slow.results]
    assert ([r.result.get("unexpected_index_list") for r in fast.results]
            == [r.result.get("unexpected_index_list") for r in slow.results])


def test_other_gx_versions_keep_their_own_helpers(monkeypatch):
    import great_expectations as gx
    from great_expectations.core import id_dict
    from great_expectations.expectations.expectation import Expectation

    monkeypatch.setattr(gx_speed, "ORIGINALS", {})
    monkeypatch.setattr(gx, "__version__", "1.99.0")
    before = {name: Expectation.__dict__[name] for name in gx_speed.HELPERS}
    serialiser = id_dict.convert_to_json_serializable
    assert gx_speed.apply() is False
    assert {name: Expectation.__dict__[name] for name in gx_speed.HELPERS} == before
    assert id_dict.convert_to_json_serializable is serialiser
