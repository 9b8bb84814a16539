"""pipelines/gcpause.py: automatic collection is off inside the block and as before after it."""
from __future__ import annotations

import gc

import pytest

from pipelines.gcpause import paused_gc


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_inside_and_resumed_after():
    gc.enable()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner block does not resume it
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_when_the_block_raises():
    gc.enable()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_left_off_when_it_was_off():
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()
