"""Huizong's lab bench and native-Airflow test harness.

``huizong_dev.bench`` is the benchmark (``make bench``); ``huizong_dev.native_airflow`` runs
the real Airflow services as separate processes for the benchmark and ``tests/native``.
The product (``pipelines``, ``dags``, ``plugins``) never imports this package, and it is
not installed with it.
"""
