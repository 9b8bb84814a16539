"""Huizong (汇总): consolidation of the weekly poverty-alleviation reports.

All business logic lives in this package; DAG files in ``dags/`` only call it.
"""
