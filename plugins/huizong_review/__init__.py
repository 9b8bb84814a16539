"""Huizong steward review (数据审核): FastAPI app and templates for the Airflow plugin."""
