"""A landing area with the shared example register, accounts for its units, and the portal
app under FastAPI's TestClient (real warehouse, real landing folder, real parser and GX)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

VILLAGE, OTHER_VILLAGE, TOWNSHIP, COUNTY = "411622107201", "411622107202", "411622107", "411622"
PASSWORD = "焦东村2026安全"
LEDGER = "焦东村三本账2026第47周.xlsx"
VILLAGE_REPORT = "西华县逍遥镇焦东村第47周周报(改).xlsx"
TOWNSHIP_REPORT = "逍遥镇2026年第47周扶贫周报.csv"


@pytest.fixture
def portal_home(home) -> Path:
    (home / "landing").mkdir(parents=True)
    shutil.copy(EXAMPLES / "区划名录.csv", home / "landing" / "区划名录.csv")
    return home


@pytest.fixture
def issued(portal_home) -> dict[str, str]:
    """Every unit's activation code, from `huizong accounts create`'s xlsx."""
    import pandas as pd

    from pipelines.cli import main

    out = portal_home / "激活码.xlsx"
    assert main(["accounts", "create", "--out", str(out)]) == 0
    df = pd.read_excel(out, dtype=str)
    return dict(zip(df["单位代码"], df["激活码"]))


@pytest.fixture
def client(issued):
    from fastapi.testclient import TestClient

    from pipelines.portal.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def csrf(client, page: str = "/login") -> str:
    html = client.get(page).text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def activate(client, code: str, activation_code: str, password: str = PASSWORD):
    return client.post("/activate", data={"csrf_token": csrf(client, "/activate"), "unit_code": code,
                                          "activation_code": activation_code, "password": password,
                                          "password2": password})


def login(client, code: str, password: str = PASSWORD):
    return client.post("/login", data={"csrf_token": csrf(client), "unit_code": code, "password": password})


def logged_in(client, issued: dict[str, str], code: str):
    assert activate(client, code, issued[code]).status_code == 200
    assert login(client, code).status_code == 303
    return client


def upload(client, names: list[str], week: str = "2026-W47", files: list[tuple[str, bytes]] | None = None):
    files = files or [(n, (EXAMPLES / n).read_bytes()) for n in names]
    return client.post("/upload", data={"csrf_token": csrf(client, "/"), "week": week},
                       files=[("files", (n, data)) for n, data in files])


def fixed_ledger() -> bytes:
    """The example ledger with its one error corrected: the ID number Excel turned into
    4.116…e+17 (计划进度账, row 11) written out in full, with its check character."""
    import io

    import numpy as np
    import openpyxl

    from pipelines.synth.world import id_check_chars

    wb = openpyxl.load_workbook(EXAMPLES / LEDGER)
    cell = wb["计划进度账"]["C11"]
    assert isinstance(cell.value, float)
    body = "41162219850413981"
    cell.value = body + id_check_chars(np.array([body]))[0]
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
