"""A small change to a published week, applied in one process.

Once a week's Monday run has published it, what arrives afterwards is small: a late
village report, a corrected ledger, a steward's waiver. Each re-run of ``weekly_ingest``
would step through the full path's six tasks, each a process of its own that opens the lake and the
warehouse again; Airflow's own scheduling between them costs more than the work. When
discover finds that a re-run parses few files (``Settings.quick_files``), the DAG hands
the week to one task, ``apply_changes``, which runs the same steps in the same order as
the full path, each doing only what changed (process_group parses the changed groups'
new files; publish rewrites only the affected submissions' rows; Data Docs render only
new results):

process_group → publish → Data Docs → consolidate → review (lifecycle, receipts) → mart.

The result is the same as the full path's: tests compare the two.
"""
from __future__ import annotations

import logging
import time

from pipelines.settings import Settings, get_settings

log = logging.getLogger(__name__)


def apply_changes(week: str, batches: list[list[str]], run_id: str = "", settings: Settings | None = None) -> dict:
    """Process ``batches`` (route_week's ``quick``) and carry the week through publish to
    the weekly mart. Returns what each step returned, and ``seconds`` per step."""
    from pipelines.warehouse import Warehouse

    settings = settings or get_settings()
    wh = Warehouse(settings.warehouse_url)
    with wh.held():  # the steps open the warehouse dozens of times: once here
        return _steps(week, batches, run_id, settings, wh)


def _steps(week: str, batches: list[list[str]], run_id: str, settings: Settings, wh) -> dict:
    from pipelines.consolidate import consolidate
    from pipelines.ingest.process import group_results, process_group, publish
    from pipelines.ingest.validate import build_data_docs
    from pipelines.mart import refresh_weekly_mart
    from pipelines.review.lifecycle import sync_lifecycle
    from pipelines.review.receipts import write_receipts

    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[step] = round(now - t, 3)
        t = now

    results = [process_group(week, batch, settings) for batch in batches if batch]
    lap("process_group")
    published = publish(week, run_id=run_id, settings=settings, wh=wh)
    published["groups"] = group_results(results, published.pop("staged_groups"))
    lap("publish")
    docs = build_data_docs(settings, week=week)
    lap("data_docs")
    consolidated = consolidate(week, settings, wh)
    lap("consolidate")
    lifecycle = sync_lifecycle(week, wh, run_id=run_id)
    receipts = write_receipts(week, wh, settings)
    lap("review")
    mart = refresh_weekly_mart(week, wh)
    lap("weekly_summary")
    log.info("week %s: applied %d changed groups in one task: %s", week,
             sum(1 for r in results for _ in r.get("groups", [r])), seconds)
    return {"week": week, "month": published.get("month", ""), "published": published,
            "data_docs": str(docs), "consolidated": consolidated,
            "review": {"lifecycle": lifecycle, "receipts": len(receipts)}, "mart": mart, "seconds": seconds}
