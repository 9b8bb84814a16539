"""The review plugin's endpoints through FastAPI's TestClient, with real Airflow JWTs."""
from __future__ import annotations

import re
from pathlib import Path

import airflow
import pytest
from fastapi.testclient import TestClient

from pipelines.review import lifecycle
from tests.plugins.conftest import pause
from tests.review.weeks import MANGLED_HH, WEEK, run_week, warehouse

ENDPOINTS = [("GET", "/huizong/api/findings?week=" + WEEK), ("GET", "/huizong/api/findings/{fid}"),
             ("POST", "/huizong/api/findings/{fid}/waive"), ("POST", "/huizong/api/findings/{fid}/send-back"),
             ("GET", "/huizong/api/status?week=" + WEEK), ("GET", "/huizong/api/weeks"),
             ("POST", f"/huizong/api/weeks/{WEEK}/rerun"), ("GET", "/huizong/api/runs/manual__x"),
             ("POST", "/huizong/api/findings/{fid}/unwaive"), ("POST", "/huizong/api/findings/bulk")]
PAGES = ["/huizong/findings", "/huizong/findings/{fid}", "/huizong/status", "/huizong/data-docs/index.html", "/huizong/",
         "/huizong/findings/export?week=" + WEEK, "/huizong/units/411622107201?week=" + WEEK]


@pytest.fixture
def client():
    from fastapi import FastAPI
    from huizong_review_plugin import HuizongReviewPlugin

    root = FastAPI()
    spec = HuizongReviewPlugin.fastapi_apps[0]
    root.mount(spec["url_prefix"], spec["app"])
    return TestClient(root, base_url="http://testserver")


@pytest.fixture
def week(examples_landing):
    run_week()
    wh = warehouse()
    fid = wh.query("SELECT finding_id FROM core.findings WHERE rule = 'id_number.scientific'")["finding_id"].iat[0]
    return fid


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_plugin_declares_app_and_nav_entry():
    from huizong_review_plugin import HuizongReviewPlugin

    assert HuizongReviewPlugin.fastapi_apps[0]["url_prefix"] == "/huizong"
    view = HuizongReviewPlugin.external_views[0]
    assert view["name"] == "数据审核" and view["href"].startswith("/huizong/")
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    assert ExternalViewResponse(**view).destination == "nav"


def test_unauthenticated_requests_are_refused(client, week):
    for method, path in ENDPOINTS:
        r = client.request(method, path.format(fid=week), json={"reason": "x"})
        assert r.status_code == 401, (method, path, r.status_code)
        assert "未登录" in r.json()["detail"]
    for path in PAGES:
        r = client.get(path.format(fid=week), follow_redirects=False)
        assert r.status_code == 302 and "/auth/login" in r.headers["location"], path
    # A forged token and a garbage cookie are not a login either.
    r = client.get("/huizong/api/findings", headers=_bearer("abc.def.ghi"))
    assert r.status_code == 401
    client.cookies.set("_token", "not-a-jwt")
    assert client.get("/huizong/api/weeks").status_code == 401
    assert lifecycle.status_of(week) == "open"


def test_non_steward_is_forbidden(client, week, mint):
    token = mint("zhangsan", "viewer")
    for method, path in ENDPOINTS:
        r = client.request(method, path.format(fid=week), headers=_bearer(token), json={"reason": "x"})
        assert r.status_code == 403, (method, path, r.status_code)
    r = client.get("/huizong/findings", cookies={"_token": token})
    assert r.status_code == 403 and "不是数据审核员" in r.text
    assert lifecycle.status_of(week) == "open"


def test_the_403_page_says_whom_to_ask(client, week, mint, monkeypatch):
    token = mint("zhangsan", "viewer")
    r = client.get("/huizong/findings", cookies={"_token": token})
    assert r.status_code == 403 and "<h1>没有访问权限（403）</h1>" in r.text
    assert "用户 zhangsan 不是数据审核员" in r.text and "请联系市扶贫办数据管理员" in r.text
    monkeypatch.setenv("HUIZONG_STEWARD_CONTACT", "周口市扶贫办 王科长（0394-1234567）")
    r = client.get(f"/huizong/findings/{week}", cookies={"_token": token})
    assert r.status_code == 403 and "请联系周口市扶贫办 王科长（0394-1234567）" in r.text
    r = client.get("/huizong/api/weeks", headers=_bearer(token))
    assert r.status_code == 403 and "周口市扶贫办 王科长" in r.json()["detail"]
    # Airflow lists every nav entry to every user: its external views have no permission field.
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    assert not {"permission", "permissions", "roles", "role"} & set(ExternalViewResponse.model_fields)


def test_steward_by_role_or_by_name(client, week, mint, monkeypatch):
    assert client.get("/huizong/api/weeks", headers=_bearer(mint("ops1", "op"))).status_code == 200
    assert client.get("/huizong/api/weeks", headers=_bearer(mint("lisi", "user"))).status_code == 403
    monkeypatch.setenv("HUIZONG_STEWARDS", "wangwu, lisi")
    r = client.get("/huizong/api/weeks", headers=_bearer(mint("lisi", "user")))
    assert r.status_code == 200 and r.json()["weeks"] == [WEEK]


def test_steward_lists_filters_reads_and_waives(client, week, mint):
    h = _bearer(mint("steward", "admin"))
    r = client.get("/huizong/api/findings", params={"week": WEEK}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(body["findings"]) >= 1
    counties = {f["value"]: f for f in body["facets"]["county"]}
    assert counties["411622"]["label"] == "西华县" and counties["411622"]["count"] == body["total"]
    r = client.get("/huizong/api/findings", params={"week": WEEK, "county": "411622", "severity": "error",
                                                    "status": "open"}, headers=h)
    errs = r.json()["findings"]
    assert [f["finding_id"] for f in errs] == [week]
    assert errs[0]["dimension_label"] == "识别认定准" and errs[0]["status_label"] == "待处理"
    assert client.get("/huizong/api/findings", params={"week": WEEK, "county": "411621"},
                      headers=h).json()["total"] == 0

    d = client.get(f"/huizong/api/findings/{week}", headers=h).json()
    assert d["finding"]["value"] == "4.116*********e+17" and "科学计数法" in d["finding"]["message"]
    src = d["source_row"]
    assert src["area"] == "quarantine" and src["row"] == 11 and src["sheet"] == "计划进度账"
    assert ("户编号", MANGLED_HH) in [tuple(c) for c in src["cells"]]
    assert src["hit"] == "户主身份证号"  # the file says 身份证号码, a synonym
    assert [x["action"] for x in d["history"]] == ["open"]
    assert client.get("/huizong/api/findings/ffffffffffffffff", headers=h).status_code == 404

    r = client.post(f"/huizong/api/findings/{week}/waive", headers=h, json={"reason": "  "})
    assert r.status_code == 400 and "理由" in r.json()["detail"]
    r = client.post(f"/huizong/api/findings/{week}/waive", headers=h, json={"reason": "已电话核实"})
    assert r.status_code == 200 and r.json()["status"] == "waived" and r.json()["by"] == "steward"
    r = client.post(f"/huizong/api/findings/{week}/waive", headers=h, json={"reason": "again"})
    assert r.status_code == 409
    r = client.get("/huizong/api/findings", params={"week": WEEK, "severity": "error", "status": "open"}, headers=h)
    assert r.json()["total"] == 0
    hist = client.get(f"/huizong/api/findings/{week}", headers=h).json()["history"]
    assert [(x["action"], x["by"], x["reason"]) for x in hist] == [("open", "system", None), ("waive", "steward", "已电话核实")]
    r = client.post(f"/huizong/api/findings/{week}/send-back", headers=h, json={})
    assert r.status_code == 200 and lifecycle.status_of(week) == "sent_back"


def test_html_pages_and_form_actions_with_csrf(client, week, mint):
    client.cookies.set("_token", mint("steward", "admin"))
    r = client.get("/huizong/findings", params={"week": WEEK, "county": "411622", "status": "open"})
    assert r.status_code == 200 and "问题清单" in r.text and "西华县" in r.text and week in r.text
    assert 'lang="zh-CN"' in r.text and "http" not in re.sub(r'href="[^"]*"', "", r.text.split("<main>")[0])
    page = client.get(f"/huizong/findings/{week}")
    assert page.status_code == 200 and "原始记录" in page.text and MANGLED_HH in page.text and "隔离区" in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    # Without the form token, or from another origin: refused, nothing changes.
    r = client.post(f"/huizong/findings/{week}/waive", data={"reason": "核实无误"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/huizong/findings/{week}/waive", data={"reason": "核实无误", "csrf_token": token},
                    headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/huizong/findings/{week}/waive", data={"reason": "", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 400 and "理由" in r.text
    assert lifecycle.status_of(week) == "open"
    r = client.post(f"/huizong/findings/{week}/waive", data={"reason": "核实无误", "csrf_token": token},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303 and lifecycle.status_of(week) == "waived"
    page = client.get(r.headers["location"])
    assert "已豁免" in page.text and "核实无误" in page.text
    r = client.get("/huizong/status", params={"week": WEEK})
    assert r.status_code == 200 and "报送情况" in r.text


def test_data_docs_are_served_under_the_app(client, week, mint, home):
    docs = home / "data_docs" / "local_site"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html>GX 数据文档</html>", encoding="utf-8")
    client.cookies.set("_token", mint("steward", "admin"))
    r = client.get("/huizong/findings", params={"week": WEEK})
    assert "/huizong/data-docs/local_site/index.html" in r.text
    r = client.get("/huizong/data-docs/local_site/index.html")
    assert r.status_code == 200 and "GX 数据文档" in r.text
    assert client.get("/huizong/data-docs/../warehouse.duckdb").status_code == 404
    assert client.get("/huizong/data-docs/%2e%2e/warehouse.duckdb").status_code == 404


def _links(html: str) -> dict[str, dict[str, str]]:
    """The page's links by their text: href, target and rel."""
    out = {}
    for attrs, text in re.findall(r"<a ([^>]*)>(.*?)</a>", html, re.S):
        a = dict(re.findall(r'(\w+)="([^"]*)"', attrs))
        out[re.sub(r"<[^>]+>", "", text).strip()] = {k: a.get(k, "") for k in ("href", "target", "rel")}
    return out


def test_links_out_of_the_app_work_inside_airflows_sandboxed_menu_frame(client, week, mint, home, parsed_dags):
    # Airflow 3's menu frame allows neither top navigation nor popups (checked in its UI bundle):
    # links that leave the app name their target, and the page's script follows them from
    # Airflow's own page.
    bundle = next((Path(airflow.__file__).parent / "ui" / "dist" / "assets").glob("index-*.js")).read_text()
    assert "sandbox:`allow-scripts allow-same-origin allow-forms allow-downloads`" in bundle
    (home / "data_docs").mkdir(parents=True, exist_ok=True)
    (home / "data_docs" / "index.html").write_text("<html>GX</html>", encoding="utf-8")
    client.cookies.set("_token", mint("steward", "admin"))
    client.post(f"/huizong/api/weeks/{WEEK}/rerun", json={}, headers=_bearer(mint("steward", "admin")))
    page = client.get("/huizong/findings", params={"week": WEEK}).text
    links = _links(page)
    assert links["返回 Airflow"] == {"href": "/", "target": "_top", "rel": ""}
    assert links["GX 数据文档（校验结果）"] == {"href": "/huizong/data-docs/index.html", "target": "_blank",
                                          "rel": "noopener"}
    run = links["在 Airflow 中查看该运行"]
    assert run["href"].startswith("/dags/weekly_ingest/runs/") and (run["target"], run["rel"]) == ("_blank", "noopener")
    assert "window.top.document" in page and 'a[target="_top"], a[target="_blank"]' in page
    for path in ("/huizong/findings", f"/huizong/findings/{week}", "/huizong/status",
                 "/huizong/units/411622107201?week=" + WEEK):
        for text, link in _links(client.get(path).text).items():  # every link leaving the app names a target
            if not link["href"].startswith(("/huizong/", "javascript:", "#", "?")):
                assert link["target"] in ("_top", "_blank"), (path, text, link)
            if link["target"] == "_blank":
                assert "noopener" in link["rel"], (path, text, link)


def _runs_of(week: str, before: frozenset = frozenset()) -> list:
    """The runs of weekly_ingest for ``week``, except those in ``before``."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == "weekly_ingest")).all()
        return [(r.run_id, str(r.state), r.run_type, r.triggering_user_name, r.conf) for r in runs
                if (r.conf or {}).get("week") == week and r.run_id not in before]


def test_steward_reruns_a_week_once_while_it_is_queued(client, week, mint, parsed_dags):
    h = _bearer(mint("steward", "admin"))
    r = client.post(f"/huizong/api/weeks/{WEEK}/rerun", headers=h, json={})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["created"] and run["week"] == WEEK and run["state"] == "queued" and run["state_label"] == "排队中"
    assert run["url"] == f"/dags/weekly_ingest/runs/{run['run_id']}"
    assert _runs_of(WEEK, parsed_dags) == [(run["run_id"], "queued", "manual", "steward", {"week": WEEK})]
    # Clicked again before it ran: the same run, not a second one.
    again = client.post(f"/huizong/api/weeks/{WEEK}/rerun", headers=_bearer(mint("ops1", "op")), json={})
    assert again.status_code == 200 and not again.json()["created"] and again.json()["run_id"] == run["run_id"]
    assert len(_runs_of(WEEK, parsed_dags)) == 1
    # Why it would wait: the DAG is paused (as deployed), then no scheduler is running.
    assert any("暂停" in w for w in run["waiting"])
    pause("weekly_ingest", False)
    r = client.get(f"/huizong/api/runs/{run['run_id']}", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "queued" and ["调度器" in w for w in r.json()["waiting"]] == [True]
    assert client.get("/huizong/api/runs/manual__nope", headers=h).status_code == 404
    # A week the warehouse does not hold is not run.
    r = client.post("/huizong/api/weeks/2026-W01/rerun", headers=h, json={})
    assert r.status_code == 404 and "2026-W01" in r.json()["detail"] and not _runs_of("2026-W01", parsed_dags)


def _set_run(run_id: str, state: str) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        dr = session.scalar(select(DagRun).where(DagRun.run_id == run_id))
        dr.state = state
        dr.end_date = timezone.utcnow() if state in ("success", "failed") else None


def test_a_rerun_stands_on_the_weeks_pages_with_every_reason_it_waits_and_its_result(client, week, mint,
                                                                                      parsed_dags):
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.jobs.job import Job
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import delete

    client.cookies.set("_token", mint("steward", "admin"))
    run_id = client.post(f"/huizong/api/weeks/{WEEK}/rerun", json={},
                         headers=_bearer(mint("steward", "admin"))).json()["run_id"]
    # Another week's run is going on: weekly_ingest runs one at a time.
    with create_session() as session:
        other = trigger_dag("weekly_ingest", conf={"week": "2026-W03"}, run_id="manual__other_week",
                            triggered_by=DagRunTriggeredByType.TEST, session=session).run_id
    _set_run(other, "running")
    pages = ["/huizong/findings?week=" + WEEK, "/huizong/status?week=" + WEEK,
             "/huizong/units/411622107201?week=" + WEEK]
    for path in pages:  # standing: on every page of the week, not only after the click
        page = client.get(path)
        banner = re.search(r'<p class="notice" id="rerun-notice" data-state="queued">(.*?)</p>', page.text, re.S)
        assert banner, path
        text = banner.group(1)
        assert "排队中" in text and run_id in text and f'href="/dags/weekly_ingest/runs/{run_id}"' in text
        reasons = re.findall(r'<span class="rerun-waiting">(.*?)</span>', text)
        assert len(reasons) == 3 and "暂停" in reasons[0] and "没有正在运行的 Airflow 调度器" in reasons[1]
        assert "从未收到调度器心跳" in reasons[1] and "huizong ui" in reasons[1]
        assert "另一次运行（2026-W03，manual__other_week）正在进行" in reasons[2]
    # Unpaused, a scheduler beating, the other run over: nothing is left to wait for.
    pause("weekly_ingest", False)
    _set_run(other, "success")
    with create_session() as session:
        job = Job(job_type="SchedulerJob")
        job.state, job.latest_heartbeat, job.hostname = "running", timezone.utcnow(), "test"
        session.add(job)
    try:
        text = client.get(pages[0]).text
        assert 'data-state="queued"' in text and "rerun-waiting" not in text
    finally:
        with create_session() as session:
            session.execute(delete(Job).where(Job.hostname == "test", Job.job_type == "SchedulerJob"))
    # Then its result, read from the run's state, on the week's pages; another week shows its own.
    _set_run(run_id, "running")
    assert "运行中" in client.get(pages[1]).text
    _set_run(run_id, "success")
    text = client.get(pages[2]).text
    assert 'data-state="success"' in text and "最近一次重新汇总<b id=\"rerun-state\">已完成</b>" in text
    _set_run(run_id, "failed")
    text = client.get(pages[0]).text
    assert '<p class="err" id="rerun-notice" data-state="failed">' in text and "周汇总未更新" in text
    text = client.get("/huizong/status?week=2026-W03").text
    assert "manual__other_week" in text and run_id not in text


def test_rerun_needs_airflows_permission_to_run_the_dag(client, week, mint, parsed_dags, monkeypatch):
    # A steward by name whose Airflow role may only view: reviews, but cannot start runs.
    monkeypatch.setenv("HUIZONG_STEWARDS", "zhaoliu")
    h = _bearer(mint("zhaoliu", "viewer"))
    assert client.get("/huizong/api/weeks", headers=h).status_code == 200
    r = client.post(f"/huizong/api/weeks/{WEEK}/rerun", headers=h, json={})
    assert r.status_code == 403 and "没有运行 weekly_ingest 的权限" in r.json()["detail"]
    assert _runs_of(WEEK, parsed_dags) == []


def test_rerun_button_posts_with_csrf_and_shows_the_run(client, week, mint, parsed_dags):
    client.cookies.set("_token", mint("steward", "admin"))
    page = client.get("/huizong/findings", params={"week": WEEK})
    assert f"重新汇总 {WEEK}" in page.text
    token = re.search(r'id="rerun-form">\s*<input type="hidden" name="csrf_token" value="([0-9a-f]+)"',
                      page.text).group(1)
    r = client.post(f"/huizong/weeks/{WEEK}/rerun", follow_redirects=False)
    assert r.status_code == 403 and _runs_of(WEEK, parsed_dags) == []
    r = client.post(f"/huizong/weeks/{WEEK}/rerun", data={"csrf_token": token}, headers={"Origin": "http://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403 and _runs_of(WEEK, parsed_dags) == []
    r = client.post(f"/huizong/weeks/{WEEK}/rerun", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (run_id, *_), = _runs_of(WEEK, parsed_dags)
    page = client.get(r.headers["location"])
    assert "已提交重新汇总" in page.text and run_id in page.text and "排队中" in page.text
    assert f'href="/dags/weekly_ingest/runs/{run_id}"' in page.text
