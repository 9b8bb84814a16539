"""The steward's workbench through FastAPI's TestClient on a synthetic week with every
fault kind: paging, sorting, search, facets, overview, export, bulk actions and undo, and
the pages in Chinese throughout."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
from urllib.parse import quote

import openpyxl
import pytest
from fastapi.testclient import TestClient

from pipelines.review import lifecycle, listing
from tests.conftest import warehouse_of

WEEK = "2026-W45"


@pytest.fixture
def world(faulty_world, home):
    """The faulty world's warehouse, lake and outbox as this test's own HUIZONG_HOME."""
    src = faulty_world["home"]
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "warehouse.duckdb", home / "warehouse.duckdb")
    for d in ("lake", "outbox"):
        shutil.copytree(src / d, home / d)
    return home


@pytest.fixture
def client(world, mint):
    from fastapi import FastAPI
    from huizong_review_plugin import HuizongReviewPlugin

    root = FastAPI()
    spec = HuizongReviewPlugin.fastapi_apps[0]
    root.mount(spec["url_prefix"], spec["app"])
    c = TestClient(root, base_url="http://testserver")
    c.cookies.set("_token", mint("steward", "admin"))
    return c


def _csrf(html: str, form: str) -> str:
    return re.search(rf'id="{form}"[^>]*>\s*<input type="hidden" name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_list_pages_sorts_searches_and_filters_by_rule(client):
    body = client.get("/huizong/api/findings", params={"week": WEEK, "size": 20}).json()
    total = body["total"]
    assert body["pages"] == -(-total // 20) >= 2 and len(body["findings"]) == 20
    second = client.get("/huizong/api/findings", params={"week": WEEK, "size": 20, "page": 2}).json()
    assert len(second["findings"]) == total - 20
    assert not {f["finding_id"] for f in body["findings"]} & {f["finding_id"] for f in second["findings"]}
    assert body["overview"][-1]["county_name"] == "全市合计" and body["overview"][-1]["total"] == total

    page = client.get("/huizong/findings", params={"week": WEEK, "size": 20})
    assert page.status_code == 200 and 'id="pager"' in page.text and "第 1 / 2 页" in page.text
    assert f'<strong id="shown-count">{total}</strong>' in page.text and 'id="overview"' in page.text
    nxt = re.search(r'href="(/huizong/findings\?[^"]*page=2[^"]*)" id="next-page"', page.text).group(1)
    assert client.get(nxt.replace("&amp;", "&")).text.count("data-finding=") == total - 20

    rule = body["facets"]["rule"][0]
    r = client.get("/huizong/api/findings", params={"week": WEEK, "rule": rule["value"]}).json()
    assert r["total"] == rule["count"] and {f["rule"] for f in r["findings"]} == {rule["value"]}
    page = client.get("/huizong/findings", params={"week": WEEK, "rule": rule["value"]})
    assert f"✔ {rule['label']}（{rule['count']}）" in page.text

    r = client.get("/huizong/api/findings", params={"week": WEEK, "sort": "county", "desc": "1", "size": 500}).json()
    names = [f["county_name"] for f in r["findings"]]
    assert names == sorted(names, reverse=True) and len(set(names)) > 1
    r = client.get("/huizong/api/findings", params={"week": WEEK, "q": "科学计数法"}).json()
    assert r["total"] >= 1 and all("科学计数法" in f["message"] for f in r["findings"])
    assert client.get("/huizong/api/findings", params={"week": WEEK, "page": "x"}).status_code == 400


def test_export_holds_the_filtered_list_masked(client):
    r = client.get("/huizong/findings/export", params={"week": WEEK, "severity": "error"})
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:5] == ("状态", "级别", "县（市、区）", "乡镇", "单位")
    api = client.get("/huizong/api/findings", params={"week": WEEK, "severity": "error", "size": 500}).json()
    assert len(rows) - 1 == api["total"] and {x[1] for x in rows[1:]} == {"错误"}
    ids = [x[11] for x in rows[1:] if x[12] == "身份证号校验位错误"]
    assert ids and all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", v) for v in ids)  # masked, never clear
    assert not any(re.search(r"(?<!\d)\d{17}[\dX](?!\d)", str(c)) for row in rows for c in row if c)


def test_bulk_waive_of_the_filtered_list_then_undo_one(client, world):
    page = client.get("/huizong/findings", params={"week": WEEK, "severity": "error", "county": "411622"})
    token = _csrf(page.text, "bulk-form")
    wh = warehouse_of(world)
    ids = listing.selected_ids(listing.Query(WEEK, {"severity": "error", "county": "411622"}), wh)
    assert len(ids) >= 2
    form = {"csrf_token": token, "week": WEEK, "severity": "error", "county": "411622", "scope": "filtered",
            "action": "waive", "reason": ""}
    assert client.post("/huizong/findings/bulk", data=form, follow_redirects=False).status_code == 400
    assert client.post("/huizong/findings/bulk", data={**form, "reason": "核实", "csrf_token": "x"},
                       follow_redirects=False).status_code == 403
    assert {lifecycle.status_of(i, wh) for i in ids} == {"open"}
    r = client.post("/huizong/findings/bulk", data={**form, "reason": "经乡镇核实，同意入库"}, follow_redirects=False)
    assert r.status_code == 303
    assert {lifecycle.status_of(i, wh) for i in ids} == {"waived"}
    notice = client.get(r.headers["location"])
    assert f"已对 {len(ids)} 个问题执行「豁免」" in notice.text
    hist = lifecycle.history(ids[0], wh)
    assert list(hist["action"]) == ["open", "waive"] and list(hist["by"])[-1] == "steward"

    # The selected ones only: send back one of them (a waived finding may be sent back).
    r = client.post("/huizong/findings/bulk", data={**form, "scope": "selected", "ids": [ids[1]],
                                                    "action": "send_back"}, follow_redirects=False)
    assert r.status_code == 303 and lifecycle.status_of(ids[1], wh) == "sent_back"
    assert lifecycle.status_of(ids[0], wh) == "waived"

    # Undo the waiver of one, from its page.
    detail = client.get(f"/huizong/findings/{ids[0]}")
    assert 'id="unwaive-form"' in detail.text
    token = _csrf(detail.text, "unwaive-form")
    assert client.post(f"/huizong/findings/{ids[0]}/unwaive", data={}, follow_redirects=False).status_code == 403
    r = client.post(f"/huizong/findings/{ids[0]}/unwaive", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and lifecycle.status_of(ids[0], wh) == "open"
    assert "已撤销豁免" in client.get(r.headers["location"]).text
    r = client.post("/huizong/api/findings/bulk", json={"action": "unwaive", "week": WEEK, "ids": [ids[0]]},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["done"] == 0 and r.json()["skipped"] == 1
    wh.dispose()


def _visible(html: str) -> str:
    """The text a person reads: no styles, scripts, tags or attributes."""
    import html as h

    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return h.unescape(re.sub(r"<[^>]+>", " ", html))


def _codes() -> set[str]:
    from pipelines import forms, labels

    return (set(labels.RULE_NAMES) | {c.split(".", 1)[1] for c in labels.RULE_NAMES if c.startswith("xlevel.")}
            | set(labels.METRICS) | set(forms.EIGHT_ACCURACIES) | set(lifecycle.STATUSES) | {"error", "warning"})


LEAKS = [(re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])[0-9a-f]{12,}(?![0-9A-Za-z])"), "hash"),
         (re.compile(r"(?<![\d.])\d+\.0(?![\d.])"), "float count"),
         (re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z_]+\.[a-z_]+\b"), "identifier"),
         (re.compile(r"工作表「—」|第 — 行|问题 [0-9a-f]"), "empty location")]


def _leaks(text: str, codes: set[str]) -> dict[str, list[str]]:
    """What a person should not read in ``text``: hashes, float counts, code identifiers, empty locations."""
    out = {}
    for rx, what in LEAKS:
        hits = [m for m in rx.findall(text) if what != "identifier" or m in codes or "_" in m]
        if hits:
            out[what] = hits[:5]
    return out


def test_leak_scan_catches_what_it_looks_for():
    codes = _codes()
    for bad in ("问题 ee00d56e73ced7e5", "户数 146.0", "规则 village_vs_ledger", "id_number.checksum",
                "工作表「—」第 — 行"):
        assert _leaks(bad, codes), bad
    assert not _leaks("第25行「户主身份证号」为 411623********3357，户编号 4116231012180137，金额 12.50 万元", codes)


def test_pages_of_a_real_week_read_in_chinese_only(client, world):
    wh = warehouse_of(world)
    found = wh.query("SELECT DISTINCT finding_id, rule, unit_code, \"row\" FROM core.findings WHERE week = :w",
                     {"w": WEEK})
    wh.dispose()
    kinds = {"report": found[found["rule"] == "submission.missing"], "file": found[found["row"] == 0],
             "cell": found[found["row"] > 0]}
    assert all(len(k) for k in kinds.values())
    pages = {"/huizong/findings?" + q: None for q in (f"week={WEEK}&size=500", f"week={WEEK}&sort=rule&desc=1",
                                                        f"week={WEEK}&status=open&rule=submission.missing")}
    pages[f"/huizong/status?week={WEEK}"] = None
    pages.update({f"/huizong/findings/{f}": None for f in found["finding_id"]})
    pages.update({f"/huizong/units/{u}?week={WEEK}": None for u in found["unit_code"].dropna().unique()})
    codes = _codes()
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        text = _visible(r.text)
        assert not _leaks(text, codes), path
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text))
        assert not words & codes, (path, words & codes)
    # The receipts on disk (HTML, as sent to the units) read the same.
    receipts = sorted((world / "outbox" / WEEK).rglob("*.html"))
    assert len(receipts) > 10
    for path in receipts:
        assert not _leaks(_visible(path.read_text(encoding="utf-8")), codes), path.name
    # A missing report reads as one: its form by name, no value, file or location.
    fid = kinds["report"]["finding_id"].iat[0]
    page = _visible(client.get(f"/huizong/findings/{fid}").text)
    assert "未报送" in page and "（表A）" in page and "填报值" not in page and "位置" not in page
    # A discrepancy's metric has its Chinese name and unit; counts are integers.
    status = _visible(client.get(f"/huizong/status?week={WEEK}").text)
    assert re.search(r"本周新识别户数（户）|期末贫困户数（户）", status) and "（表B）" in status


def test_unit_page_lists_forms_owed_and_its_receipts(client, world):
    wh = warehouse_of(world)
    miss = wh.query("SELECT unit_code, form FROM core.reporting_status WHERE week = :w AND missing AND level = '村' "
                    "AND unit_code IN (SELECT unit_code FROM core.submissions WHERE week = :w)", {"w": WEEK})
    wh.dispose()
    assert len(miss), "the faulty world has a village that sent some forms and not others"
    unit = miss["unit_code"].iat[0]
    r = client.get(f"/huizong/units/{unit}", params={"week": WEEK})
    assert r.status_code == 200 and 'id="owed"' in r.text and "未收到" in r.text and "打印回执" in r.text
    assert "应报未收到" in r.text and 'class="box receipt"' in r.text
    assert client.get("/huizong/units/419999999999", params={"week": WEEK}).status_code == 404


def test_a_steward_downloads_the_original_file_audited_a_viewer_is_refused(client, world, faulty_world, mint,
                                                                           monkeypatch):
    src = faulty_world["home"]
    monkeypatch.setenv("HUIZONG_ARCHIVE_URL", str(src / "archive"))  # read only: downloads never write there
    wh = warehouse_of(world)
    try:
        f = wh.query("SELECT f.finding_id, s.landing_path, s.sha256, s.original_name FROM core.findings f "
                     "JOIN core.submissions s ON s.submission_id = f.submission_id WHERE f.week = :w "
                     "AND f.\"row\" > 0 ORDER BY f.finding_id LIMIT 1", {"w": WEEK}).iloc[0]
    finally:
        wh.dispose()
    page = client.get(f"/huizong/findings/{f['finding_id']}")
    assert f'href="/huizong/findings/{f["finding_id"]}/original" id="original-link"' in page.text

    viewer = TestClient(client.app, base_url="http://testserver")
    viewer.cookies.set("_token", mint("reader", "viewer"))
    assert viewer.get(f"/huizong/findings/{f['finding_id']}/original").status_code == 403

    r = client.get(f"/huizong/findings/{f['finding_id']}/original")
    landed = (src / "landing" / f["landing_path"]).read_bytes()
    assert r.status_code == 200 and r.content == landed
    assert hashlib.sha256(r.content).hexdigest() == f["sha256"] == r.headers["x-content-sha256"]
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["content-disposition"].endswith(quote(f["original_name"].rsplit("/", 1)[-1]))

    wh = warehouse_of(world)
    try:
        audit = wh.query('SELECT "by", finding_id, week, sha256, original_name, "at" FROM core.archive_downloads')
    finally:
        wh.dispose()
    assert len(audit) == 1  # the refused viewer left no row
    a = audit.iloc[0]
    assert (a["by"], a["finding_id"], a["week"], a["sha256"]) == ("steward", f["finding_id"], WEEK, f["sha256"])
    assert a["original_name"] == f["original_name"] and a["at"] is not None

    none = client.get("/huizong/findings/no-such-finding/original")
    assert none.status_code == 404 and "没有对应的报送文件" in none.text
