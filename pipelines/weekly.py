"""The steps of a week's run, each declared once.

The DAG ``weekly_ingest`` runs them as its tasks, one process each:

discover → process_group (mapped over batches) → publish → consolidate → review →
weekly_summary, and data_docs beside publish.

A small change to a published week (a late village report, a corrected ledger, a steward's
waiver) would step through all those processes, each opening the lake and the warehouse
again, Airflow's scheduling between them costing more than the work. When the week plan
says so (few files to parse: ``Settings.quick_files``), the DAG hands the week to one task,
``apply_changes``, which runs the same steps (``AFTER_DISCOVER``), in the same order, in one
process and with the warehouse held open; each does only what changed (process_group
stages the planned groups, publish rewrites only the affected submissions' rows, Data Docs
render only new results). The result is the same as the full path's: tests compare the two.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pipelines.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One run of a week, as its steps see it."""
    week: str
    run_id: str = ""
    batches: list[list[str]] = field(default_factory=list)  # what process_group stages (the plan's)
    staged: list[dict] = field(default_factory=list)        # what process_group returned, for publish
    settings: Settings | None = None
    wh: object = None                                        # a Warehouse held open, or None


def discover(week: str, settings: Settings | None = None) -> dict:
    """Plan the week (pipelines.ingest.plan): what the DAG needs of the plan to go on."""
    from pipelines.ingest.plan import plan_week

    plan = plan_week(week, settings)
    return {"week": week, "batches": plan["batches"], "quick": plan["quick"]}


def process_group(run: Run) -> list[dict]:
    """Stage each of ``run.batches`` as the plan says; one summary per batch."""
    from pipelines.ingest.stage import stage_groups

    return [stage_groups(run.week, batch, run.settings) for batch in run.batches]


def publish(run: Run) -> dict:
    """Publish the week; its summary, with each group's staging summary (``groups``)."""
    from pipelines.ingest.publish import publish as publish_week
    from pipelines.ingest.stage import group_results

    summary = publish_week(run.week, run_id=run.run_id, settings=run.settings, wh=run.wh)
    summary["groups"] = group_results(run.staged, summary.pop("staged_groups"))
    return summary


def data_docs(run: Run) -> str:
    from pipelines.ingest.validate import build_data_docs

    return str(build_data_docs(run.settings, week=run.week))


def consolidate(run: Run) -> dict:
    from pipelines.consolidate import consolidate as consolidate_week

    return consolidate_week(run.week, run.settings, run.wh)


def review(run: Run) -> dict:
    """The findings' review states brought up to date; a receipt for every file."""
    from pipelines.review.lifecycle import sync_lifecycle
    from pipelines.review.receipts import write_receipts

    # Receipts here, not in a task beside weekly_summary: the embedded warehouse admits
    # one process at a time, and the two would only take turns.
    lifecycle = sync_lifecycle(run.week, run.wh, run_id=run.run_id)
    return {"lifecycle": lifecycle, "receipts": len(write_receipts(run.week, run.wh, run.settings))}


def weekly_summary(run: Run) -> dict:
    from pipelines.mart import refresh_weekly_mart

    return refresh_weekly_mart(run.week, run.wh)


# The steps after discover, in the order both paths run them (the DAG's order is tested against it).
AFTER_DISCOVER = (process_group, publish, data_docs, consolidate, review, weekly_summary)


def apply_changes(week: str, batches: list[list[str]], run_id: str = "", settings: Settings | None = None) -> dict:
    """The quick path: ``AFTER_DISCOVER`` in one process for the plan's ``quick`` batches.
    Returns what each step returned, and ``seconds`` per step."""
    from pipelines.warehouse import Warehouse

    settings = settings or get_settings()
    run = Run(week, run_id, batches, settings=settings, wh=Warehouse(settings.warehouse_url))
    out: dict = {"week": week}
    seconds: dict[str, float] = {}
    with run.wh.held():  # the steps open the warehouse dozens of times: once here
        for step in AFTER_DISCOVER:
            t = time.perf_counter()
            out[step.__name__] = step(run)
            seconds[step.__name__] = round(time.perf_counter() - t, 3)
            if step is process_group:
                run.staged = out["process_group"]
    log.info("week %s: applied %d changed groups in one task: %s", week,
             sum(1 for r in run.staged for _ in r.get("groups", [r])), seconds)
    return {**out, "seconds": seconds}
