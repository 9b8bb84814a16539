"""Faster kwargs lookups for Great Expectations 1.24.1's expectations (same results).

GX rebuilds ``Expectation.configuration`` (a pydantic ``dict()`` with deep copies) each
time it is read, and its kwargs helpers read it once *per key*: ``_get_domain_kwargs``
and ``_get_success_kwargs`` once per domain or success key, ``_get_success_kwarg`` twice.
They run for every metric of every expectation while the validation graph is built, so a
suite of ~130 expectations rebuilds the configuration ~19,000 times per validation,
whatever the number of rows. The replacements below read the configuration once per call
and otherwise do what GX's own methods do (``tests/ingest/test_gx_speed.py`` checks the
results are identical).

Each metric configuration also gets an id (``IDDict.to_id``) from GX's generic
``convert_to_json_serializable``, which runs a dozen isinstance and numpy dtype checks on
every value (``None`` goes through all of them). ``plain_json`` returns the same for
the plain values metric kwargs hold (str, int, bool, float, None, and dicts, lists and
tuples of them) and hands anything else to GX's function.

Both replace GX internals, so they are written for one GX version only: ``apply()``
raises ``GXVersionError`` on any other version (the pin in requirements/requirements.in
and this module move together; docs/measurements-private-api.md has what each patch was
measured to save).
"""
from __future__ import annotations

import logging
from typing import Any

PATCHED_VERSION = "1.24.1"
HELPERS = ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg", "_get_runtime_kwargs")
ORIGINALS: dict = {}  # what apply() replaced: the four Expectation helpers and id_dict's serialiser
log = logging.getLogger(__name__)


class GXVersionError(RuntimeError):
    """The installed Great Expectations is not the version these patches were written for."""


def check_version(version: str) -> None:
    """Raise GXVersionError unless ``version`` is PATCHED_VERSION."""
    if version != PATCHED_VERSION:
        raise GXVersionError(
            f"pipelines.ingest.gx_speed patches Great Expectations {PATCHED_VERSION} internals, "
            f"but {version} is installed: check the patches against the new version (and "
            f"tests/ingest/test_gx_speed.py), then update PATCHED_VERSION")


def _field_default(self, key: str, default: Any = None) -> Any:
    # The tail of Expectation._get_success_kwarg: a pydantic field's default, else ``default``.
    field = self.__fields__.get(key)
    if field is not None:
        return field.default if not field.required else default
    log.warning('_get_success_kwarg called with key "%s", but it is not a known field of %s',
                key, type(self).__name__)
    return default


def _domain(self, kwargs: dict) -> dict:
    return {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}


def _success(self, kwargs: dict) -> dict:
    out = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
    out.update(_domain(self, kwargs))
    return out


def _get_domain_kwargs(self) -> dict:
    return _domain(self, self.configuration.kwargs)


def _get_success_kwargs(self) -> dict:
    return _success(self, self.configuration.kwargs)


def _get_success_kwarg(self, key: str, default: Any = None) -> Any:
    kwargs = self.configuration.kwargs
    if key in kwargs:
        return kwargs[key]
    return _field_default(self, key, default)


def _get_runtime_kwargs(self, runtime_configuration: dict | None = None) -> dict:
    from great_expectations.expectations.expectation_configuration import parse_result_format

    runtime_configuration = runtime_configuration or {}
    kwargs = self.configuration.kwargs
    success = _success(self, kwargs)
    runtime = {key: runtime_configuration.get(key, kwargs[key] if key in kwargs else _field_default(self, key))
               for key in self.runtime_keys}
    runtime.update(success)
    runtime["result_format"] = parse_result_format(runtime["result_format"])
    return runtime


def plain_json(data: Any) -> Any:
    """``great_expectations.util.convert_to_json_serializable(data)``, fast for plain values."""
    t = type(data)
    if t is str or t is int or t is bool or data is None:
        return data
    if t is float:
        return None if data != data else data  # NaN becomes None, as in GX
    if t is dict:
        return {str(k): plain_json(v) for k, v in data.items()}
    if t is list or t is tuple:
        return [plain_json(v) for v in data]
    return ORIGINALS["convert_to_json_serializable"](data)


def apply() -> None:
    """Install the faster helpers on ``Expectation`` (idempotent); raises GXVersionError
    when the installed GX is not PATCHED_VERSION."""
    import great_expectations as gx
    from great_expectations.core import id_dict
    from great_expectations.expectations.expectation import Expectation

    check_version(gx.__version__)
    if ORIGINALS:
        return
    for name in HELPERS:
        ORIGINALS[name] = Expectation.__dict__[name]
        setattr(Expectation, name, globals()[name])
    ORIGINALS["convert_to_json_serializable"] = id_dict.convert_to_json_serializable
    id_dict.convert_to_json_serializable = plain_json  # what IDDict.to_id calls
