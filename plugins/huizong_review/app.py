"""数据审核: the steward review app, mounted by the Airflow API server at /huizong.

Airflow does not authenticate plugin apps, so every route here depends on
``require_steward``: it resolves the Airflow user with
``airflow.api_fastapi.core_api.security.get_user`` (the JWT from the ``_token`` cookie the
Airflow UI sets at login, or an ``Authorization: Bearer`` token) and then checks that the
user is a steward.

- no token, an invalid or an expired one → 401 (HTML pages redirect to Airflow's login page
  instead, with ``next`` pointing back here);
- a valid user who is not a steward → 403, a page that says whom to ask
  (``HUIZONG_STEWARD_CONTACT``). Airflow 3's ``external_views`` have no permission field (the
  UI lists every ``nav`` entry to every user), so the 数据审核 menu entry cannot be hidden
  from non-stewards; the page they reach tells them whom to ask.

A steward is a user whose role is ``admin`` or ``op`` (the simple auth manager's roles), or
whose user name is listed in the environment variable ``HUIZONG_STEWARDS``
(comma-separated), which is how stewards are named under other auth managers.

State-changing requests (POST) authenticated by the cookie must carry a per-form CSRF
token (form field ``csrf_token`` or header ``X-CSRF-Token``): an HMAC of the user name keyed
with the user's own session token, which another site cannot read. A cross-origin
``Origin`` header is refused outright. Bearer-token requests carry no ambient credential
and need no CSRF token.

A steward can also run the week again (``重新汇总``): a waiver, a send-back or a corrected
file changes the week's figures only when ``weekly_ingest`` runs it again. The run is
created in Airflow's metadata DB as the steward (Airflow's own permission to run the DAG is
checked too: a steward named in ``HUIZONG_STEWARDS`` with a viewer role may review but not
run); while a run of that week is queued or running, it is returned instead of a second.
The week's pages carry a standing banner with the week's latest run, read from Airflow's
DagRun table: while it waits, every reason it does (DAG paused, no scheduler heartbeat,
another run active); after, its result.

The list (``/findings``, ``/api/findings``) is paged, sorted, searched and faceted by the
warehouse (``pipelines.review.listing``); ``/findings/export`` hands the filtered list over as
xlsx; ``/findings/bulk`` (``/api/findings/bulk``) waives, sends back or un-waives the selected
or all filtered findings with one reason, audited as single actions are; ``/units/<code>``
shows a unit's week: the forms it owes, whether each arrived, and its receipts;
``/findings/<id>/original`` hands a steward the file a finding points to from the raw archive,
each download audited (``pipelines.review.originals``).

The warehouse (a DuckDB file by default) is opened per request and closed afterwards;
pipeline writes holding the file lock are waited out briefly (``with_retry``).
"""
from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipelines import forms, labels
from pipelines.review import lifecycle, listing, queries
from pipelines.review.lifecycle import with_retry
from pipelines.review.receipts import receipt_data
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse

TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN
STEWARD_ROLES = {"admin", "op"}

env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
bearer_scheme = HTTPBearer(auto_error=False)

app = FastAPI(title="汇总 · 数据审核", description="周口市扶贫周报：问题审核、豁免与退回（Airflow 插件）",
              docs_url=None, redoc_url=None, openapi_url=None)


# ---- authentication and authorisation ------------------------------------------------------
class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


def steward_names() -> set[str]:
    return {n.strip() for n in os.environ.get("HUIZONG_STEWARDS", "").split(",") if n.strip()}


def steward_contact() -> str:
    """Whom a user who is not a steward asks to become one (``HUIZONG_STEWARD_CONTACT``)."""
    return os.environ.get("HUIZONG_STEWARD_CONTACT", "").strip() or labels.STEWARD_CONTACT_DEFAULT


def user_name(user) -> str:
    try:
        return str(user.get_name())
    except Exception:  # pragma: no cover - every BaseUser has get_name
        return str(getattr(user, "username", ""))


def is_steward(user) -> bool:
    role = str(getattr(user, "role", "") or "").lower()
    return role in STEWARD_ROLES or user_name(user) in steward_names()


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "/api/" not in request.url.path


async def require_user(request: Request,
                       bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)):
    """The Airflow user behind the request (cookie or bearer JWT), else 401 / login redirect."""
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, bearer)
    except HTTPException:
        user = None
    except Exception:  # auth manager not initialised or token unreadable: not authenticated
        user = None
    if user is None:
        if _wants_html(request):
            raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        raise HTTPException(status_code=401, detail="未登录或登录已过期，请先登录 Airflow",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.huizong_bearer = bool(bearer and bearer.scheme.lower() == "bearer")
    return user


async def require_steward(request: Request, user=Depends(require_user)):
    if not is_steward(user):
        raise HTTPException(status_code=403, detail=labels.NOT_STEWARD.format(user=user_name(user),
                                                                               contact=steward_contact()))
    return user


def csrf_token(request: Request, user) -> str:
    session = request.cookies.get(COOKIE, "")
    return hmac.new(session.encode(), f"huizong-csrf|{user_name(user)}".encode(), hashlib.sha256).hexdigest()[:40]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return urlsplit(origin).netloc == host


def check_csrf(request: Request, user, supplied: str | None) -> None:
    if not _same_origin(request):
        raise HTTPException(status_code=403, detail="拒绝跨站请求")
    if getattr(request.state, "huizong_bearer", False):
        return
    if not supplied or not hmac.compare_digest(supplied, csrf_token(request, user)):
        raise HTTPException(status_code=403, detail="表单已失效（CSRF 校验失败），请刷新页面后重试")


@app.exception_handler(LoginRequired)
async def _login_redirect(request: Request, exc: LoginRequired):
    try:
        from airflow.api_fastapi.app import get_auth_manager

        url = get_auth_manager().get_url_login(next_url=exc.next_url)
    except Exception:
        url = "/auth/login?" + urlencode({"next": exc.next_url})
    return RedirectResponse(url, status_code=302)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException):
    if "/api/" in request.url.path:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    html = render("error.html", request, None, status_code=exc.status_code, message=str(exc.detail))
    return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)


# ---- helpers ----------------------------------------------------------------------------------
def base_path(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") or "/huizong"


def render(name: str, request: Request, user, **ctx) -> str:
    return env.get_template(name).render(
        base=base_path(request), airflow=_airflow_root(request), user=user_name(user) if user is not None else "",
        csrf=csrf_token(request, user) if user is not None else "", dims=forms.EIGHT_ACCURACIES,
        status_labels=lifecycle.STATUS_LABEL, action_labels=lifecycle.ACTION_LABEL, **ctx)


def open_warehouse() -> Warehouse:
    # A page waits at most half a minute for a load holding the embedded warehouse.
    return Warehouse(get_settings().warehouse_url, lock_wait=30)


def _latest_week(wh: Warehouse) -> str:
    ws = queries.weeks(wh)
    return ws[0] if ws else ""


def _list_query(request: Request, week: str) -> listing.Query:
    """The list the steward asked for: facet filters, search text, order and page from the URL."""
    p = request.query_params
    try:
        page, size = int(p.get("page") or 1), int(p.get("size") or listing.PAGE_SIZE)
    except ValueError:
        raise HTTPException(status_code=400, detail="页码或每页条数不是数字")
    return listing.Query(week, {k: p.get(k, "") for k in listing.FILTERS}, q=p.get("q", ""), sort=p.get("sort", ""),
                         desc=p.get("desc") == "1", page=page, size=size)


def _list_params(lq: listing.Query) -> dict[str, str]:
    """A list query as URL parameters (only those that differ from the defaults)."""
    out = {"week": lq.week, **lq.filters, "q": lq.q, "sort": lq.sort, "desc": "1" if lq.desc else "",
           "size": str(lq.size) if lq.size != listing.PAGE_SIZE else ""}
    return {k: v for k, v in out.items() if v}


def local_time(v) -> str:
    """A stored time (UTC) as the office reads it: HUIZONG_TZ, to the minute."""
    t = pd.to_datetime(v, utc=True, errors="coerce")
    return "" if pd.isna(t) else t.tz_convert(get_settings().tz).strftime("%Y-%m-%d %H:%M")


def _clean(v):
    if v is None or isinstance(v, (list, dict, str, bool)):
        return v
    if hasattr(v, "isoformat"):
        return None if pd.isna(v) else v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    return v.item() if hasattr(v, "item") else v


def _records(df: pd.DataFrame, cols: list[str]) -> list[dict]:
    if df.empty:
        return []
    out = df[[c for c in cols if c in df.columns]]
    return [{k: _clean(v) for k, v in rec.items()} for rec in out.to_dict("records")]


LIST_COLS = ["finding_id", "week", "status", "status_label", "severity", "severity_label", "level", "county",
             "county_name", "township", "township_name", "unit_code", "unit_name", "file", "file_name", "sheet", "row",
             "column", "value", "rule", "rule_label", "dimension", "dimension_label", "message", "record_key", "stage",
             "submission_id", "status_reason", "status_by", "cause_id", "echoes", "echo_note"]


def _data_docs_index() -> str | None:
    root = get_settings().data_docs_dir
    for rel in ("index.html", "local_site/index.html"):
        if (root / rel).is_file():
            return rel
    hits = sorted(root.rglob("index.html")) if root.is_dir() else []
    return str(hits[0].relative_to(root)) if hits else None


# Findings about a form that did not arrive or did not load: their value is the form's letter.
MISSING_REPORT_RULES = ("submission.missing", "submission.not_loaded")


def _detail(wh: Warehouse, finding_id: str) -> dict:
    occ = queries.finding_detail(finding_id, wh)
    if occ.empty:
        raise HTTPException(status_code=404, detail=f"找不到问题编号 {finding_id}")
    first = occ.iloc[0]
    src = queries.source_row(first["week"], first["submission_id"], first["sheet"], int(first["row"] or 0), wh,
                             column=first["column"] or "")
    hist = lifecycle.history(finding_id, wh)
    hist["action_label"] = hist["action"].map(lambda a: lifecycle.ACTION_LABEL.get(a, a))
    hist["at"] = hist["at"].map(local_time)
    names = queries._names(wh, first["week"])
    rule = str(first["rule"] or "")
    return {"finding": _records(occ.head(1), list(occ.columns))[0], "rule_label": labels.rule_name(rule),
            "kind": "report" if rule in MISSING_REPORT_RULES else "cell" if int(first["row"] or 0) else "file",
            "form_name": labels.FORM_NAMES.get(str(first["value"] or ""), ""),
            "file_name": str(first["file"] or "").rsplit("/", 1)[-1],
            "occurrences": _records(occ, ["file", "sheet", "row", "column", "value", "submission_id"]),
            "unit_name": names.get(first["unit_code"] or "", ""),
            "county_name": names.get((first["unit_code"] or "")[:6], ""),
            "source_row": src,
            "history": _records(hist, ["at", "by", "action", "action_label", "before_status", "after_status",
                                       "reason"]),
            "echoes": _records(queries.echoes_of(finding_id, wh), ["finding_id", "level", "unit_code", "file", "sheet",
                                                                   "row", "column", "value", "message"])}


def _act(action: str, finding_id: str, user, reason: str) -> dict:
    wh = open_warehouse()
    try:
        if not queries.finding_detail(finding_id, wh).shape[0]:
            raise HTTPException(status_code=404, detail=f"找不到问题编号 {finding_id}")
        fn = {"waive": lifecycle.waive, "send_back": lifecycle.send_back, "unwaive": lifecycle.unwaive}[action]
        try:
            return fn(finding_id, reason=reason, by=user_name(user), wh=wh)
        except lifecycle.LifecycleError as e:
            raise HTTPException(status_code=400 if "理由" in str(e) else 409, detail=str(e))
    finally:
        wh.dispose()


# ---- re-running a week --------------------------------------------------------------------------
# A waiver, a send-back or a corrected file changes the week's figures only when weekly_ingest
# runs the week again (a published week's small change takes one task, apply_changes, seconds).
RERUN_DAG = "weekly_ingest"
RUN_STATE_LABEL = {"queued": "排队中", "running": "运行中", "success": "已完成", "failed": "失败"}


def _airflow_root(request: Request) -> str:
    """Airflow's UI root: the plugin is mounted at <root>/huizong."""
    base = base_path(request)
    return base[: -len("/huizong")] if base.endswith("/huizong") else ""


def _waiting(dr, session) -> list[str]:
    """Every reason a queued run does not start: the DAG is paused, no scheduler has sent a
    heartbeat lately, another run of the DAG is active (it runs one at a time)."""
    from airflow.jobs.job import most_recent_job
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    reasons = []
    dm = DagModel.get_current(RERUN_DAG, session=session)
    if dm is not None and dm.is_paused:
        reasons.append(labels.RERUN_WAIT_PAUSED.format(dag=RERUN_DAG))
    job = most_recent_job("SchedulerJob", session=session)
    if job is None or not job.is_alive():
        beat = local_time(job.latest_heartbeat) if job is not None else ""
        reasons.append(labels.RERUN_WAIT_NO_SCHEDULER.format(
            last=labels.RERUN_LAST_HEARTBEAT.format(at=beat) if beat else labels.RERUN_NO_HEARTBEAT))
    for other in session.scalars(select(DagRun).where(DagRun.dag_id == RERUN_DAG, DagRun.run_id != dr.run_id,
                                                      DagRun.state == "running")):
        reasons.append(labels.RERUN_WAIT_OTHER_RUN.format(dag=RERUN_DAG, week=(other.conf or {}).get("week", ""),
                                                          run_id=other.run_id))
    return reasons


def _run_info(dr, request: Request, created: bool, session) -> dict:
    state = str(getattr(dr.state, "value", dr.state) or "queued")
    return {"week": (dr.conf or {}).get("week", ""), "run_id": dr.run_id, "state": state,
            "state_label": RUN_STATE_LABEL.get(state, state), "created": created,
            "waiting": _waiting(dr, session) if state == "queued" else [],
            "ended": local_time(dr.end_date) if dr.end_date else "",
            "url": f"{_airflow_root(request)}/dags/{RERUN_DAG}/runs/{dr.run_id}"}


def _may_trigger(user) -> bool:
    """Airflow's own permission to run weekly_ingest (a steward named in HUIZONG_STEWARDS may
    review without it)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=RERUN_DAG), user=user)


def rerun_week(week: str, user, request: Request) -> dict:
    """Trigger weekly_ingest for ``week`` on behalf of ``user``; a run of that week already
    queued or running is returned instead of a second one."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    if not _may_trigger(user):
        raise HTTPException(status_code=403, detail=f"用户 {user_name(user)} 没有运行 {RERUN_DAG} 的权限，请联系管理员")
    wh = open_warehouse()
    try:
        known = queries.weeks(wh)
    finally:
        wh.dispose()
    if week not in known:
        raise HTTPException(status_code=404, detail=f"仓库中没有 {week} 的数据，无法重新汇总")
    with create_session() as session:
        active = session.scalars(select(DagRun).where(DagRun.dag_id == RERUN_DAG,
                                                      DagRun.state.in_(["queued", "running"]))).all()
        for dr in active:
            if (dr.conf or {}).get("week") == week:
                return _run_info(dr, request, created=False, session=session)
        try:
            dr = trigger_dag(RERUN_DAG, triggered_by=DagRunTriggeredByType.UI,
                             triggering_user_name=user_name(user), conf={"week": week},
                             note=f"数据审核员 {user_name(user)} 在数据审核中重新汇总 {week}", session=session)
        except Exception as exc:  # DagNotFound (not parsed yet), a paused or broken DAG, ...
            raise HTTPException(status_code=409, detail=f"无法启动 {RERUN_DAG}：{exc}") from exc
        return _run_info(dr, request, created=True, session=session)


def run_status(run_id: str, request: Request) -> dict | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        dr = session.scalar(select(DagRun).where(DagRun.dag_id == RERUN_DAG, DagRun.run_id == run_id))
        return _run_info(dr, request, created=False, session=session) if dr is not None else None


RECENT_RUNS = 200  # how far back the week's latest re-run is looked for


def week_run(week: str, request: Request) -> dict | None:
    """The week's latest re-run from the data review, read from Airflow's DagRun table: the
    standing banner on the week's pages while it is queued or running, and its result after."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if not week:
        return None
    with create_session() as session:
        for dr in session.scalars(select(DagRun).where(DagRun.dag_id == RERUN_DAG, DagRun.run_type == "manual")
                                  .order_by(DagRun.id.desc()).limit(RECENT_RUNS)):
            if (dr.conf or {}).get("week") == week:
                return _run_info(dr, request, created=False, session=session)
    return None


# ---- HTML pages ---------------------------------------------------------------------------------
@app.get("/", include_in_schema=False)
async def index(request: Request, user=Depends(require_steward)):
    return RedirectResponse(f"{base_path(request)}/findings", status_code=302)


def _list(request: Request, week: str) -> dict:
    """The week's list as asked: one page, its facets and the counties overview."""
    wh = open_warehouse()
    try:
        weeks = queries.weeks(wh)
        week = week or (weeks[0] if weeks else "")
        lq = _list_query(request, week)
        rows, total = listing.page(lq, wh) if week else (pd.DataFrame(), 0)
        facets = listing.facets(lq, wh) if week else {k: [] for k in listing.FILTERS}
        overview = listing.overview(week, wh) if week else pd.DataFrame()
    finally:
        wh.dispose()
    return {"week": week, "weeks": weeks, "lq": lq, "rows": _records(rows, LIST_COLS), "total": total,
            "pages": max(1, -(-total // lq.size)), "facets": facets,
            "overview": _records(overview, list(overview.columns))}


@app.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request, week: str = "", done: str = "", n: str = "", skipped: str = "",
                  user=Depends(require_steward)):
    d = _list(request, week)
    lq, params = d["lq"], _list_params(d["lq"])
    run = week_run(d["week"], request)

    def qs(**kw) -> str:
        """This list's URL parameters with ``kw`` changed (an empty value drops one); a new
        filter, search or order starts again at page 1."""
        merged = {**params, "page": str(lq.page) if lq.page > 1 and not set(kw) - {"page"} else "", **kw}
        return urlencode({k: v for k, v in merged.items() if v and not (k == "page" and v == "1")})

    return HTMLResponse(render("findings.html", request, user, **d, filters=lq.filters, params=params,
                               facet_labels=listing.FACET_LABEL, sort_labels=listing.SORT_LABEL,
                               page_sizes=listing.PAGE_SIZES, data_docs=_data_docs_index(), run=run,
                               done=done if done in BULK_ACTIONS else "", bulk_n=n, bulk_skipped=skipped, qs=qs))


@app.get("/findings/export")
def findings_export(request: Request, week: str = "", user=Depends(require_steward)):
    """The filtered list (every page) as xlsx, the page's columns; personal data as stored (masked)."""
    from pipelines.review import export

    wh = open_warehouse()
    try:
        week = week or _latest_week(wh)
        lq = _list_query(request, week)
        data = export.findings_xlsx(lq, wh)
    finally:
        wh.dispose()
    name = quote(f"问题清单_{week}.xlsx")
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


@app.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, finding_id: str, done: str = "", user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        d = _detail(wh, finding_id)
    finally:
        wh.dispose()
    return HTMLResponse(render("finding.html", request, user, d=d, f=d["finding"], done=done,
                               original_link=labels.ORIGINAL_FILE_LINK))


@app.get("/findings/{finding_id}/original")
def finding_original(finding_id: str, user=Depends(require_steward)):
    """The file the finding was found in, as archived (clear ID numbers): the download audited."""
    from pipelines.review import originals

    wh = open_warehouse()
    try:
        f = originals.download(finding_id, user_name(user), wh)
    except originals.NoOriginal as e:
        raise HTTPException(status_code=404, detail=str(e))
    finally:
        wh.dispose()
    return Response(f.data, media_type=mimetypes.guess_type(f.name)[0] or "application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(f.name)}",
                             "Cache-Control": "no-store", "X-Content-SHA256": f.sha256})


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@app.post("/findings/{finding_id}/waive")
async def waive_form(request: Request, finding_id: str, user=Depends(require_steward)):
    form = await _form(request)
    check_csrf(request, user, form.get("csrf_token"))
    if not form.get("reason", "").strip():
        raise HTTPException(status_code=400, detail="豁免必须填写理由")
    await run_in_threadpool(_act, "waive", finding_id, user, form["reason"])
    return RedirectResponse(f"{base_path(request)}/findings/{finding_id}?done=waive", status_code=303)


@app.post("/findings/{finding_id}/send-back")
async def send_back_form(request: Request, finding_id: str, user=Depends(require_steward)):
    form = await _form(request)
    check_csrf(request, user, form.get("csrf_token"))
    await run_in_threadpool(_act, "send_back", finding_id, user, form.get("reason", ""))
    return RedirectResponse(f"{base_path(request)}/findings/{finding_id}?done=send_back", status_code=303)


@app.post("/findings/{finding_id}/unwaive")
async def unwaive_form(request: Request, finding_id: str, user=Depends(require_steward)):
    form = await _form(request)
    check_csrf(request, user, form.get("csrf_token"))
    await run_in_threadpool(_act, "unwaive", finding_id, user, form.get("reason", ""))
    return RedirectResponse(f"{base_path(request)}/findings/{finding_id}?done=unwaive", status_code=303)


BULK_ACTIONS = {"waive", "send_back", "unwaive"}


def _bulk(action: str, lq: listing.Query, ids: list[str] | None, user, reason: str) -> dict:
    """``action`` on the chosen findings (``ids``, those of the week's list) or, without
    ids, on every finding the list's filters and search select."""
    if action not in BULK_ACTIONS:
        raise HTTPException(status_code=400, detail="未知的批量操作")
    if action == "waive" and not reason.strip():
        raise HTTPException(status_code=400, detail="豁免必须填写理由")
    wh = open_warehouse()
    try:
        chosen = listing.selected_ids(lq, wh)
        if ids is not None:
            chosen = sorted(set(chosen) & set(ids))
        if not chosen:
            raise HTTPException(status_code=400, detail="没有选中任何问题")
        try:
            return lifecycle.act_many(action, lq.week, chosen, by=user_name(user), reason=reason, wh=wh)
        except lifecycle.LifecycleError as e:
            raise HTTPException(status_code=400, detail=str(e))
    finally:
        wh.dispose()


@app.post("/findings/bulk")
async def bulk_form(request: Request, user=Depends(require_steward)):
    form = await request.form()
    check_csrf(request, user, str(form.get("csrf_token") or ""))
    lq = listing.Query(str(form.get("week") or ""), {k: str(form.get(k) or "") for k in listing.FILTERS},
                       q=str(form.get("q") or ""))
    ids = [str(v) for v in form.getlist("ids")] if form.get("scope") != "filtered" else None
    res = await run_in_threadpool(_bulk, str(form.get("action") or ""), lq, ids, user, str(form.get("reason") or ""))
    back = {**_list_params(lq), "done": res["action"], "n": res["done"], "skipped": res["skipped"]}
    return RedirectResponse(f"{base_path(request)}/findings?" + urlencode(back), status_code=303)


@app.post("/weeks/{week}/rerun")
async def rerun_form(request: Request, week: str, user=Depends(require_steward)):
    form = await _form(request)
    check_csrf(request, user, form.get("csrf_token"))
    await run_in_threadpool(rerun_week, week, user, request)
    return RedirectResponse(f"{base_path(request)}/findings?" + urlencode({"week": week}),
                            status_code=303)


REPORT_STATE = [("missing", "未报"), ("late", "迟报"), ("on_time", "按时报送")]


def _unit(wh: Warehouse, week: str, unit_code: str) -> dict:
    """A unit's week: who it is, every form it owes and whether each arrived, its receipts."""
    names = queries._names(wh, week)
    rep = queries.optional_table(wh, "core.reporting_status", week)
    rep = rep[rep["unit_code"] == unit_code] if len(rep) else rep
    owed = []
    for r in rep.sort_values("form").itertuples(index=False) if len(rep) else []:
        state = next((label for col, label in REPORT_STATE if bool(getattr(r, col))), "已报送")
        if bool(getattr(r, "not_loaded", False)):
            state = "已报送未入库"
        owed.append({"form": labels.FORM_NAMES.get(r.form, r.form), "expected": bool(r.expected),
                     "received": bool(r.received), "state": state, "received_at": local_time(r.received_at)})
    return {"code": unit_code, "name": names.get(unit_code, ""), "county": names.get(unit_code[:6], ""),
            "township": names.get(unit_code[:9], "") if len(unit_code) > 9 else "",
            "owed": owed, "receipts": receipt_data(week, wh, unit_code)}


@app.get("/units/{unit_code}", response_class=HTMLResponse)
def unit_page(request: Request, unit_code: str, week: str = "", user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        week = week or _latest_week(wh)
        u = with_retry(lambda: _unit(wh, week, unit_code))
    finally:
        wh.dispose()
    if not u["name"] and not u["owed"] and not u["receipts"]:
        raise HTTPException(status_code=404, detail=f"{week} 没有单位 {unit_code} 的报送记录")
    return HTMLResponse(render("unit.html", request, user, week=week, u=u, run=week_run(week, request)))


@app.get("/status", response_class=HTMLResponse)
def status_page(request: Request, week: str = "", user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        week = week or _latest_week(wh)
        disc = queries.optional_table(wh, "core.discrepancies", week)
        rep = queries.optional_table(wh, "core.reporting_status", week)
        names = queries._names(wh, week)
    finally:
        wh.dispose()
    return HTMLResponse(render("status.html", request, user, week=week, disc=_discrepancies(disc, names),
                               rep_summary=_reporting_summary(rep), rep_missing=_missing(rep, names),
                               has_disc=not disc.empty, has_rep=not rep.empty, run=week_run(week, request)))


def _amount(values: pd.Series, money: pd.Series) -> pd.Series:
    """Figures as a person reads them: counts as integers, money (万元) to two decimals."""
    v = pd.to_numeric(values, errors="coerce")
    counts = v.round().astype("Int64").astype(str)
    return counts.where(~money, v.map(lambda x: f"{x:.2f}")).where(v.notna(), "")


def _discrepancies(disc: pd.DataFrame, names: dict) -> list[dict]:
    """The week's cross-level discrepancies in Chinese: unit names, metric names with their
    units, integer counts, rule texts."""
    if disc.empty:
        return []
    money = disc["metric"].map(labels.metric_unit) == labels.WAN
    out = pd.DataFrame({
        "unit": disc["unit_code"].map(lambda c: f"{names.get(c, '')} {c}".strip()),
        "level": disc["level"], "reported_by": disc["reported_by"].map(lambda c: names.get(c, c or "")),
        "metric": disc["metric"].map(labels.metric_name), "metric_unit": disc["metric"].map(labels.metric_unit),
        "reported": _amount(disc["reported"], money), "consolidated": _amount(disc["consolidated"], money),
        "difference": _amount(disc["difference"], money), "direction": disc["direction"].fillna(""),
        "rule": disc["rule"].map(lambda r: labels.RULE_TEXT.get(r, labels.rule_name(f"xlevel.{r}")))})
    return out.to_dict("records")


def _reporting_summary(rep: pd.DataFrame) -> list[dict]:
    if rep.empty:
        return []
    r = rep[rep["expected"].astype(bool)]
    g = r.groupby(["level", "form"]).agg(expected=("unit_code", "size"), received=("received", "sum"),
                                         on_time=("on_time", "sum"), late=("late", "sum"),
                                         missing=("missing", "sum")).reset_index()
    g["completeness"] = (100 * g["received"] / g["expected"]).round(1)
    g["form"] = g["form"].map(lambda f: labels.FORM_NAMES.get(f, f))
    return _records(g, list(g.columns))


def _missing(rep: pd.DataFrame, names: dict) -> list[dict]:
    if rep.empty:
        return []
    m = rep[rep["missing"].astype(bool)].sort_values(["county_code", "unit_code", "form"]).head(500)
    return [{"unit_code": r.unit_code, "unit_name": r.unit_name or names.get(r.unit_code, ""), "level": r.level,
             "form": labels.FORM_NAMES.get(r.form, r.form), "county": names.get(r.county_code or "", r.county_code or "")}
            for r in m.itertuples(index=False)]


@app.get("/data-docs/{path:path}")
def data_docs(path: str, user=Depends(require_steward)):
    root = get_settings().data_docs_dir.resolve()
    target = (root / path).resolve()
    if root not in target.parents and target != root or not target.is_file():
        raise HTTPException(status_code=404, detail="数据文档中没有该文件（可能尚未生成）")
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0] or "application/octet-stream")


# ---- JSON API ------------------------------------------------------------------------------------
@app.get("/api/weeks")
def api_weeks(user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        return {"weeks": queries.weeks(wh)}
    finally:
        wh.dispose()


@app.get("/api/findings")
def api_findings(request: Request, week: str = "", user=Depends(require_steward)):
    d = _list(request, week)
    lq = d["lq"]
    return {"week": d["week"], "filters": lq.filters, "q": lq.q, "sort": lq.sort, "desc": lq.desc, "page": lq.page,
            "size": lq.size, "pages": d["pages"], "total": d["total"],
            "facets": {k: [{"value": v, "label": lab, "count": n} for v, lab, n in vals]
                       for k, vals in d["facets"].items()},
            "overview": d["overview"], "findings": d["rows"]}


@app.get("/api/findings/{finding_id}")
def api_finding(finding_id: str, user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        return _detail(wh, finding_id)
    finally:
        wh.dispose()


async def _json_body(request: Request) -> dict:
    ctype = request.headers.get("content-type", "")
    if "application/json" in ctype:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(status_code=400, detail="请求体不是有效的 JSON")
        return body if isinstance(body, dict) else {}
    return await _form(request)


@app.post("/api/findings/{finding_id}/waive")
async def api_waive(request: Request, finding_id: str, user=Depends(require_steward)):
    body = await _json_body(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or body.get("csrf_token"))
    if not str(body.get("reason") or "").strip():
        raise HTTPException(status_code=400, detail="豁免必须填写理由")
    return await run_in_threadpool(_act, "waive", finding_id, user, str(body["reason"]))


@app.post("/api/findings/{finding_id}/send-back")
async def api_send_back(request: Request, finding_id: str, user=Depends(require_steward)):
    body = await _json_body(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or body.get("csrf_token"))
    return await run_in_threadpool(_act, "send_back", finding_id, user, str(body.get("reason") or ""))


@app.post("/api/findings/{finding_id}/unwaive")
async def api_unwaive(request: Request, finding_id: str, user=Depends(require_steward)):
    body = await _json_body(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or body.get("csrf_token"))
    return await run_in_threadpool(_act, "unwaive", finding_id, user, str(body.get("reason") or ""))


@app.post("/api/findings/bulk")
async def api_bulk(request: Request, user=Depends(require_steward)):
    """Body: action (waive / send_back / unwaive), week, reason, and either ids or the list's
    filters and q (every finding they select)."""
    body = await _json_body(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or body.get("csrf_token"))
    lq = listing.Query(str(body.get("week") or ""), {k: str(body.get(k) or "") for k in listing.FILTERS},
                       q=str(body.get("q") or ""))
    ids = body.get("ids")
    ids = [str(i) for i in ids] if isinstance(ids, list) else None
    return await run_in_threadpool(_bulk, str(body.get("action") or ""), lq, ids, user, str(body.get("reason") or ""))


@app.post("/api/weeks/{week}/rerun")
async def api_rerun(request: Request, week: str, user=Depends(require_steward)):
    body = await _json_body(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or body.get("csrf_token"))
    return await run_in_threadpool(rerun_week, week, user, request)


@app.get("/api/runs/{run_id}")
def api_run(request: Request, run_id: str, user=Depends(require_steward)):
    run = run_status(run_id, request)
    if run is None:
        raise HTTPException(status_code=404, detail=f"找不到 {RERUN_DAG} 的运行 {run_id}")
    return run


@app.get("/api/status")
def api_status(week: str = "", user=Depends(require_steward)):
    wh = open_warehouse()
    try:
        week = week or _latest_week(wh)
        disc = queries.optional_table(wh, "core.discrepancies", week)
        rep = queries.optional_table(wh, "core.reporting_status", week)
    finally:
        wh.dispose()
    return {"week": week, "discrepancies": _records(disc, list(disc.columns)),
            "reporting_summary": _reporting_summary(rep), "available": {"discrepancies": not disc.empty,
                                                                         "reporting_status": not rep.empty}}
