"""The portal's web app (FastAPI): login and activation, the upload page, the receipts.

``create_app()`` builds it (``huizong portal`` serves it with uvicorn). Every page but
login and activation needs a session (``current_account``); every POST needs the CSRF
token and a same-origin request; failed logins and activations are counted per unit code
and per client address (``RATE_WINDOW``), and beyond the limit refused with 429 until the
window has passed. The warehouse is opened per request, as the review app does.
"""
from __future__ import annotations

import datetime as dt
import posixpath
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from pipelines import forms, labels, storage
from pipelines.ingest.landing import read_landing_register
from pipelines.portal import accounts, audit, office, progress, records
from pipelines.portal.precheck import precheck
from pipelines.portal.session import CSRF_COOKIE, SESSION_COOKIE, SESSION_HOURS, Sessions, csrf_ok, fingerprint, \
    new_csrf, portal_secret
from pipelines.portal.uploads import safe_name, unit_folder, write_landing
from pipelines.review.queries import SEVERITY_LABEL
from pipelines.review.receipts import unit_receipts
from pipelines.settings import get_settings
from pipelines.warehouse import Warehouse
from pipelines.weeks import deadline, parse_week, reporting_week, shift_week

TEMPLATES = Path(__file__).resolve().parent / "templates"
RATE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_UNIT = 5
MAX_FAILURES_PER_CLIENT = 30
CODE_CHARS = 12  # the longest unit code (a village's): what is typed beyond it is not kept
OUTCOME_LABEL = {"passed": "预审通过", "problems": "预审发现错误", "refused": "未接收", progress.NOT_UPLOADED: "未上传"}

env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


class LoginRequired(Exception):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _warehouse() -> Warehouse:
    return Warehouse(get_settings().warehouse_url, lock_wait=30)


def create_app() -> FastAPI:
    settings = get_settings()
    sessions = Sessions(portal_secret(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        from pipelines.ingest.gx_runtime import get_runtime

        wh = _warehouse()
        wh.apply_schema()
        wh.dispose()
        # Great Expectations' set-up (seconds) at start, not in the first unit's pre-check.
        await run_in_threadpool(get_runtime, settings)
        yield

    app = FastAPI(title="汇总 · 报送平台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def register():
        return read_landing_register(settings)

    def render(request: Request, name: str, status_code: int = 200, account: dict | None = None, **ctx) -> HTMLResponse:
        token = request.cookies.get(CSRF_COOKIE) or new_csrf()
        html = env.get_template(name).render(account=account, csrf=token, form_names=labels.FORM_NAMES,
                                             severity_labels=SEVERITY_LABEL, outcome_labels=OUTCOME_LABEL, **ctx)
        resp = HTMLResponse(html, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != token:
            _set_cookie(request, resp, CSRF_COOKIE, token)
        return resp

    def _set_cookie(request: Request, resp, name: str, value: str, max_age: int | None = None) -> None:
        resp.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")

    async def form_checked(request: Request) -> dict:
        """The POSTed form, after the size, same-origin and CSRF checks."""
        most = settings.portal_max_files * (settings.max_file_bytes + 1) + 2**20  # the files and the form's fields
        if int(request.headers.get("content-length") or 0) > most:
            raise HTTPException(413, f"上传内容过大：一次最多 {settings.portal_max_files} 个文件，"
                                     f"每个不超过 {settings.max_file_bytes // 2**20} MB")
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")):
            raise HTTPException(403, "拒绝跨站请求")
        form = await request.form()
        if not csrf_ok(request.cookies.get(CSRF_COOKIE), str(form.get("csrf_token") or "")):
            raise HTTPException(403, "页面已失效（CSRF 校验失败），请刷新页面后重试")
        return form

    def current_account(request: Request) -> dict:
        """The logged-in unit (code, name, and the register, which says what it covers), else to
        the login page."""
        got = sessions.read(request.cookies.get(SESSION_COOKIE))
        if got is None:
            raise LoginRequired()
        code, fp = got
        wh = _warehouse()
        try:
            stored = accounts.password_hash(wh, code)
        finally:
            wh.dispose()
        reg = register()
        unit = reg[reg["code"] == code]
        if not stored or fingerprint(stored) != fp or unit.empty:  # new password, or left the register
            raise LoginRequired()
        return {"code": code, "name": unit["name"].iloc[0], "level": unit["level"].iloc[0], "register": reg}

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired):
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.exception_handler(HTTPException)
    async def _error(request: Request, exc: HTTPException):
        return render(request, "error.html", status_code=exc.status_code, message=str(exc.detail))

    def rate_limited(wh: Warehouse, action: str, unit_code: str, client: str) -> bool:
        since = _now() - RATE_WINDOW
        return (audit.failures(wh, action, since, unit_code=unit_code) >= MAX_FAILURES_PER_UNIT
                or audit.failures(wh, action, since, client=client) >= MAX_FAILURES_PER_CLIENT)

    too_many = f"尝试次数过多，请 {int(RATE_WINDOW.total_seconds() // 60)} 分钟后再试"

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request):
        return render(request, "login.html")

    @app.post("/login")
    async def login(request: Request):
        form = await form_checked(request)
        code, password = str(form.get("unit_code") or "").strip()[:CODE_CHARS], str(form.get("password") or "")
        client = _client(request)

        def attempt() -> tuple[str | None, str | None]:
            wh = _warehouse()
            try:
                if rate_limited(wh, "login_failed", code, client):
                    return None, too_many
                stored = accounts.check_password(wh, code, password)
                if stored is not None and not register()["code"].eq(code).any():
                    stored = None
                with wh.transaction() as conn:
                    audit.record(conn, code, "login" if stored else "login_failed", client)
                return stored, None if stored else "单位代码或密码不正确"
            finally:
                wh.dispose()

        stored, problem = await run_in_threadpool(attempt)
        if stored is None:
            return render(request, "login.html", status_code=429 if problem == too_many else 401, error=problem,
                          unit_code=code)
        resp = RedirectResponse("/", status_code=303)
        _set_cookie(request, resp, SESSION_COOKIE, sessions.make(code, stored), max_age=SESSION_HOURS * 3600)
        return resp

    @app.post("/logout")
    async def logout(request: Request, account: dict = Depends(current_account)):
        await form_checked(request)
        wh = _warehouse()
        try:
            with wh.transaction() as conn:
                audit.record(conn, account["code"], "logout", _client(request))
        finally:
            wh.dispose()
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/activate", response_class=HTMLResponse)
    def activate_page(request: Request):
        return render(request, "activate.html", min_chars=accounts.PASSWORD_MIN_CHARS)

    @app.post("/activate")
    async def activate(request: Request):
        form = await form_checked(request)
        code = str(form.get("unit_code") or "").strip()[:CODE_CHARS]
        password = str(form.get("password") or "")
        client = _client(request)

        def attempt() -> str | None:
            if password != str(form.get("password2") or ""):
                return "两次输入的密码不一致"
            wh = _warehouse()
            try:
                if rate_limited(wh, "activate_failed", code, client):
                    return too_many
                return accounts.activate(wh, code, str(form.get("activation_code") or ""), password, client)
            finally:
                wh.dispose()

        problem = await run_in_threadpool(attempt)
        if problem:
            return render(request, "activate.html", status_code=429 if problem == too_many else 400, error=problem,
                          unit_code=code, min_chars=accounts.PASSWORD_MIN_CHARS)
        return render(request, "login.html", notice="密码已设置，请用单位代码和新密码登录", unit_code=code)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, week: str = "", account: dict = Depends(current_account)):
        now = _now()
        current = reporting_week(now, settings.tz, settings.deadline_hour)
        week = _week(week or current)
        due = deadline(week, settings.tz, settings.deadline_hour)
        wh = _warehouse()
        try:
            ups = records.uploads_of(wh, account["code"])
            weekly = unit_receipts(week, wh, account["code"])
            returned = office.sent_back(wh, week, account["code"], records.uploads_below(wh, account["code"], week))
        finally:
            wh.dispose()
        rows = ups[ups["week"] == week].to_dict("records")
        returned["updated_at"] = pd.to_datetime(returned["updated_at"], utc=True).dt.tz_convert(settings.tz) \
            .dt.strftime("%Y-%m-%d %H:%M")
        return render(request, "home.html", account=account, week=week, current=current, weekly=weekly,
                      returned=returned.to_dict("records"),
                      weeks=[shift_week(current, -n) for n in range(0, 5)], due=due.strftime("%Y-%m-%d %H:%M"),
                      left=_time_left(due - now.astimezone(due.tzinfo)), uploads=rows, tz=settings.tz,
                      max_files=settings.portal_max_files, max_mb=settings.max_file_bytes // (1024 * 1024))

    @app.get("/weekly/{week}/{submission_id}", response_class=HTMLResponse)
    def weekly_receipt(request: Request, week: str, submission_id: str, account: dict = Depends(current_account)):
        wh = _warehouse()
        try:
            page = office.receipt_page(wh, _week(week), account["code"], submission_id)
        finally:
            wh.dispose()
        if page is None:
            raise HTTPException(404, "没有这份回执")
        return HTMLResponse(page)

    @app.get("/overview", response_class=HTMLResponse)
    def overview(request: Request, week: str = "", account: dict = Depends(current_account)):
        if account["level"] == "村":
            raise HTTPException(403, "村级账号没有下级单位的报送情况")
        current = reporting_week(_now(), settings.tz, settings.deadline_hour)
        week = _week(week or current)
        wh = _warehouse()
        try:
            ups = records.uploads_below(wh, account["code"], week)
        finally:
            wh.dispose()
        rows = progress.progress(account["register"], account["code"], ups)
        units = [{"code": code, "name": g["name"].iloc[0], "level": g["level"].iloc[0], "forms": g.to_dict("records")}
                 for code, g in rows.groupby("code", sort=False)]
        return render(request, "overview.html", account=account, week=week, current=current, units=units,
                      weeks=[shift_week(current, -n) for n in range(0, 5)], total=progress.summary(rows),
                      due=deadline(week, settings.tz, settings.deadline_hour).strftime("%Y-%m-%d %H:%M"))

    @app.post("/upload")
    async def upload(request: Request, account: dict = Depends(current_account)):
        form = await form_checked(request)
        week = _week(str(form.get("week") or ""))
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
        if not files:
            raise HTTPException(400, "请选择要上传的文件")
        if len(files) > settings.portal_max_files:
            raise HTTPException(400, f"一次最多上传 {settings.portal_max_files} 个文件")
        ids = []
        for f in files:
            data = await f.read(settings.max_file_bytes + 1)  # enough to tell a file is too large
            ids.append(await run_in_threadpool(_one_upload, account, week, f.filename, data, _client(request)))
        target = f"/uploads/{ids[0]}" if len(ids) == 1 else f"/?week={week}"
        return RedirectResponse(target, status_code=303)

    def _one_upload(account: dict, week: str, name: str, data: bytes, client: str) -> str:
        now = _now()
        reg = account["register"]
        own = unit_folder(reg, account["code"])
        planned = posixpath.join(week, own, safe_name(name))
        receipt = precheck(data, planned, week, account["code"], reg, settings, now,
                           ledger_of=lambda unit: _latest_ledger(unit, week))
        landing_path = None
        if not receipt.refused:
            unit = receipt.unit_code if receipt.unit_code in set(reg["code"]) else account["code"]
            landing_path = write_landing(settings, week, unit_folder(reg, unit), name, data)
        wh = _warehouse()
        try:
            return records.save(wh, account["code"], week, name, len(data), landing_path, receipt, now, client)
        finally:
            wh.dispose()

    def _latest_ledger(unit: str, week: str) -> tuple[bytes, str] | None:
        """The latest ledger (表A) of ``unit`` for ``week`` written to the landing area, with its path."""
        wh = _warehouse()
        try:
            path = records.latest_path(wh, unit, week, forms.FORM_A)
        finally:
            wh.dispose()
        if path is None:
            return None
        fs, root = storage.filesystem(settings.landing_url, settings.s3_endpoint_url)
        return storage.read_bytes(fs, storage.join(root, path)), path

    @app.get("/uploads/{upload_id}", response_class=HTMLResponse)
    def receipt(request: Request, upload_id: str, account: dict = Depends(current_account)):
        wh = _warehouse()
        try:
            up = records.upload_of(wh, account["code"], upload_id)
            if up is None:
                raise HTTPException(404, "没有这份回执")
            found = records.findings_of(wh, upload_id).to_dict("records")
        finally:
            wh.dispose()
        uploaded = up["uploaded_at"].tz_convert(settings.tz).strftime("%Y-%m-%d %H:%M:%S")
        return render(request, "receipt.html", account=account, up=up, findings=found, uploaded=uploaded)

    return app


def _week(text: str) -> str:
    try:
        parse_week(text)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return text.strip()


def _time_left(left: dt.timedelta) -> str:
    if left.total_seconds() <= 0:
        return "已过截止时间：现在上传的文件记为迟报"
    hours = int(left.total_seconds() // 3600)
    return f"距截止还有 {hours // 24} 天 {hours % 24} 小时" if hours >= 24 else \
        f"距截止还有 {hours} 小时 {int(left.total_seconds() % 3600 // 60)} 分钟"
