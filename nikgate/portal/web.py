"""The portal's request plumbing: who is signed in, CSRF on every POST, roles, rendering,
security headers and a request log without query strings or tokens.

Every page is a `view`: it declares the session stage it needs (none, "password" for the
code page, "enrol" for TOTP set-up, "full") and the role ("viewer" pages act for an
institution, "operator" pages administer). A POST is read and its CSRF token checked here,
before the page's code runs, so no form can skip it.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import i18n
from .backend import Nikgate
from .security import SECURITY_HEADERS, Throttle, anonymous_csrf, same
from .store import PortalStore, Session, User

log = logging.getLogger("nikgate.portal")
SESSION_COOKIE = "__Host-nikgate-session"
PRE_COOKIE = "__Host-nikgate-pre"       # a visitor's random id, binding its sign-in CSRF token
LANG_COOKIE = "nikgate-lang"
MAX_UPLOAD = 64 << 20                   # bytes of one multipart request
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Settings:
    """What the portal needs from [portal], with paths resolved."""
    state: Path
    idle_seconds: float = 900.0
    absolute_seconds: float = 28800.0
    max_failures: int = 5
    signin_per_minute: int = 10
    link_hours: float = 72.0
    max_batch_rows: int = 100_000
    public_url: str = ""


@dataclass
class Portal:
    """Everything the pages share (on app.state.portal)."""
    settings: Settings
    store: PortalStore
    nikgate: Nikgate
    env: Environment = field(init=False)
    csrf_key: bytes = field(init=False)
    throttle_address: Throttle = field(init=False)
    throttle_account: Throttle = field(init=False)
    jobs: dict[str, Any] = field(default_factory=dict)
    receipts: dict[str, tuple[str, float, str, bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]))
        self.csrf_key = self.store.secret("csrf")
        self.throttle_address = Throttle(self.settings.signin_per_minute)
        self.throttle_account = Throttle(self.settings.signin_per_minute)


class Forbidden(Exception):
    """403 with a reason (an i18n key)."""


@dataclass
class Ctx:
    request: Request
    portal: Portal
    lang: str
    user: User | None = None
    session: Session | None = None
    form: FormData | None = None
    pre: str = ""
    set_pre: bool = False

    @property
    def store(self) -> PortalStore:
        return self.portal.store

    @property
    def address(self) -> str:
        client = self.request.client
        return client.host if client else ""

    @property
    def csrf(self) -> str:
        if self.session is not None:
            return self.session.csrf
        return anonymous_csrf(self.portal.csrf_key, self.pre)

    def t(self, key: str, **kw: object) -> str:
        return i18n.text(key, self.lang, **kw)

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""

    def render(self, template: str, status: int = 200, /, **values: Any) -> Response:
        html = self.portal.env.get_template(template).render(
            t=self.t, lang=self.lang, user=self.user, csrf=self.csrf, path=self.request.url.path,
            **values)
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, to: str) -> RedirectResponse:
        return self.finish(RedirectResponse(to, status_code=303))   # type: ignore[return-value]

    def finish(self, response: Response) -> Response:
        if self.set_pre:
            response.set_cookie(PRE_COOKIE, self.pre, httponly=True, secure=True,
                                samesite="strict", path="/")
        return response

    def activity(self, action: str, detail: str = "", result: str = "OK",
                 tx: str = "") -> None:
        """The portal activity log and a log line: user, action, result; never a value."""
        self.store.log(self.user, action, detail, result, tx, self.address)
        log.info("user=%s institution=%s action=%s result=%s tx=%s",
                 self.user.id if self.user else "-", self.user.institution if self.user
                 else "-", action, result, tx or "-")


def session_cookie(response: Response, sid: str) -> None:
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, secure=True, samesite="strict",
                        path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")


async def context(request: Request) -> Ctx:
    portal: Portal = request.app.state.portal
    lang = request.cookies.get(LANG_COOKIE, "id")
    ctx = Ctx(request, portal, lang if lang in i18n.LANGS else "id")
    pre = request.cookies.get(PRE_COOKIE, "")
    if len(pre) < 20:
        pre, ctx.set_pre = secrets.token_urlsafe(24), True
    ctx.pre = pre
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        s = portal.settings
        session = portal.store.session(sid, s.idle_seconds, s.absolute_seconds)
        if session is not None:
            user = portal.store.user(session.user_id)
            if user is not None and not user.disabled and not user.locked:
                ctx.session, ctx.user = session, user
    return ctx


def view(*, stage: str | None = "full", role: str | None = None
         ) -> Callable[[Callable[[Ctx], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """A page: `stage` is the session stage it needs (None: anyone), `role` "viewer"
    (acts for an institution) or "operator" (Dukcapil administration)."""

    def wrap(page: Callable[[Ctx], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(page)
        async def endpoint(request: Request) -> Response:
            ctx = await context(request)
            if request.method == "POST":
                # Bounded before any parsing: starlette spools file parts to disk with no
                # total limit, so an unbounded upload could fill the disk. Browsers always
                # declare the length of a form post, and the HTTP server stops the body
                # there.
                length = request.headers.get("content-length", "")
                if not length.isdigit() or int(length) > MAX_UPLOAD:
                    return ctx.render("error.html", 413, title=ctx.t("error"),
                                      reason=ctx.t("too_big"))
                try:
                    ctx.form = await request.form(max_files=2, max_fields=200,
                                                  max_part_size=MAX_UPLOAD)
                except Exception:   # malformed or oversized multipart
                    return ctx.render("error.html", 400, title=ctx.t("error"),
                                      reason=ctx.t("too_big"))
                sent = ctx.field("csrf")
                if not same(sent, ctx.csrf):
                    log.warning("refused a POST to %s without a valid CSRF token",
                                _loggable(request.url.path))
                    return ctx.render("error.html", 403, title=ctx.t("forbidden"),
                                      reason=ctx.t("csrf"))
            if stage is not None:
                if ctx.session is None or ctx.user is None:
                    if request.cookies.get(SESSION_COOKIE):
                        response = ctx.redirect("/masuk?berakhir=1")
                        clear_session_cookie(response)
                        return response
                    return ctx.redirect("/masuk")
                if ctx.session.stage != stage:
                    return ctx.redirect({"password": "/masuk/kode", "enrol": "/daftar-totp"
                                         }.get(ctx.session.stage, "/"))
                if role == "operator" and not ctx.user.is_operator:
                    ctx.activity("page.refused", "operator page", "PERMISSION_DENIED")
                    return ctx.render("error.html", 403, title=ctx.t("forbidden"),
                                      reason=ctx.t("operator_only"))
                if role == "viewer" and ctx.user.is_operator:
                    return ctx.render("error.html", 403, title=ctx.t("forbidden"),
                                      reason=ctx.t("staff_only"))
            return await page(ctx)
        return endpoint
    return wrap


_TOKEN_PATH = re.compile(r"^(/sandi/)[^/]+")


def _loggable(path: str) -> str:
    """A path as the request log shows it: set-password tokens cut out."""
    return _TOKEN_PATH.sub(r"\1…", path)


class Headers:
    """ASGI middleware: the security headers on every response, no caching of pages, and
    one log line per request (method, path without query or token, status, ms)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        static = scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)
        log.info("%s %s %d %.0f ms", scope["method"], _loggable(scope["path"]), status[0],
                 (time.perf_counter() - started) * 1000)
