"""Kill points for crash-safety tests.

``checkpoint(name)`` does nothing unless the environment variable ``HUIZONG_KILL_AT``
equals ``name``; then it kills the current process with SIGKILL (no clean-up, no
``finally``, no atexit: what a machine losing power or an OOM killer does to a task).
``HUIZONG_KILL_AFTER=N`` (default 1) kills at the N-th hit of that name, which gives
"mid-stage" points (after the 3rd file parsed, after the 2nd Parquet temp file, ...).

The variable is read at every hit, so a test driver may arm it just before a stage.
Only hits while armed are counted. In production the variables are never set and a
checkpoint costs one dictionary lookup.

Kill points in the pipeline (see tests/reliability/):

- ``discover.archived``     every file of the week copied into the archive, nothing registered
- ``process.parsed``        inside ``process_group``, after each file is parsed
- ``storage.tmp_written``   inside ``storage.write_bytes_atomic``: temp file complete, not renamed
- ``publish.lake_written``  every lake file of the week written, warehouse not yet touched
- ``publish.table_replaced`` inside publish's warehouse transaction, after each table
- ``consolidate.table_replaced`` inside consolidate's transaction, after each table
- ``mart.dimensions``       inside the weekly mart refresh transaction, dimensions rebuilt
"""
from __future__ import annotations

import os
import signal

KILL_AT = "HUIZONG_KILL_AT"
KILL_AFTER = "HUIZONG_KILL_AFTER"
_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    if os.environ.get(KILL_AT) != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(os.environ.get(KILL_AFTER) or 1):
        os.kill(os.getpid(), signal.SIGKILL)
