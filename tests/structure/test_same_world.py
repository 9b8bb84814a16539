"""A restructure changes no behaviour: the same world through the pinned tree and this one.

BEFORE is the last commit whose behaviour is the reference. A change that alters behaviour
on purpose (a fix of an issue) moves BEFORE to that commit, in the same commit as the fix.
"""
from __future__ import annotations

import pytest

from tests.structure.same_world import same_world

BEFORE = "22b8834"


@pytest.mark.slow
def test_the_same_world_before_and_after(tmp_path):
    diffs, compared = same_world(BEFORE, "WORKTREE", tmp_path)
    assert compared["tables"] > 60 and compared["rows"] > 100_000 and compared["files"] > 1_000, compared
    assert diffs == [], "\n".join(diffs)
