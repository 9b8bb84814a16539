"""What both DAGs share: the weekly-load asset, the first run's date, the task defaults.

Imported by the DAG files while they are parsed: the standard library and ``airflow.sdk``
only, nothing heavy.
"""
from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from airflow.sdk import Asset

# Emitted when weekly_ingest has published and summarised a week (extra: {"week", "month"});
# monthly_conclusion is scheduled on it.
WEEKLY_LOAD = Asset("huizong-weekly-load", uri="huizong://warehouse/core/weekly_load")

# First scheduled run (weekly_ingest's catchup fills in every Monday since); local Shanghai time.
START = dt.datetime.fromisoformat(os.environ.get("HUIZONG_START_DATE", "2026-11-09T12:00")).replace(
    tzinfo=ZoneInfo(os.environ.get("HUIZONG_TZ", "Asia/Shanghai")))

# A task that hangs fails after HUIZONG_TASK_TIMEOUT_MINUTES (and is retried) instead of
# holding the week (one run at a time) for ever.
DEFAULT_ARGS = {"retries": 2, "retry_delay": dt.timedelta(minutes=1), "owner": "huizong",
                "execution_timeout": dt.timedelta(minutes=float(os.environ.get("HUIZONG_TASK_TIMEOUT_MINUTES", "120")))}
