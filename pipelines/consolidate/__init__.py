"""Consolidation across levels (不含水分): bottom-up figures, reconciliation, reporting
rates and history checks for one week. Runs once for the city after the week's loads."""
from pipelines.consolidate.run import consolidate

__all__ = ["consolidate"]
