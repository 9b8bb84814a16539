"""A week run in the test's own process: the full path's first steps (pipelines.weekly)
without Airflow, for tests that look at what staging and publishing produce."""
from __future__ import annotations

from pipelines import weekly


def planned_batches(week: str, settings=None) -> list[list[str]]:
    """Plan the week; the batches it stages, whichever path the plan chose."""
    plan = weekly.discover(week, settings)
    return plan["batches"] or plan["quick"]


def stage_and_publish(week: str, run_id: str = "test", settings=None, wh=None) -> dict:
    """Plan, stage every batch and publish ``week``; publish's summary (with ``groups``)."""
    run = weekly.Run(week, run_id, planned_batches(week, settings), settings=settings, wh=wh)
    run.staged = weekly.process_group(run)
    return weekly.publish(run)
