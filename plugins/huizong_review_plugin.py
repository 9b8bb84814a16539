"""Airflow plugin: the steward review app (数据审核) inside the Airflow 3 API server and UI.

- ``fastapi_apps``: mounts ``huizong_review.app:app`` at ``/huizong`` in the API server.
- ``external_views``: a nav entry 「数据审核」; with ``url_route`` the Airflow UI shows the
  app inside its own frame at ``/plugin/huizong-review``.

Airflow does not authenticate plugin apps; the app itself requires a logged-in Airflow user
who is a steward on every route (see ``huizong_review/app.py``).
"""
from __future__ import annotations

import sys
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # Airflow puts the plugins folder on sys.path; be explicit anyway
    sys.path.append(_HERE)

from huizong_review.app import app as review_app  # noqa: E402

URL_PREFIX = "/huizong"


class HuizongReviewPlugin(AirflowPlugin):
    name = "huizong_review"
    fastapi_apps = [{"app": review_app, "url_prefix": URL_PREFIX, "name": "汇总数据审核"}]
    external_views = [{
        "name": "数据审核",
        "href": f"{URL_PREFIX}/findings",
        "destination": "nav",
        "url_route": "huizong-review",
    }]
