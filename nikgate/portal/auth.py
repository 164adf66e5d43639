"""Signing in (password, then a TOTP code), setting a password from a one-time link,
enrolling TOTP, signing out here or everywhere."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from .security import (
    check_password,
    hash_password,
    new_totp_secret,
    password_problem,
    provisioning_uri,
    qr_svg,
    totp_step,
)
from .web import Ctx, clear_session_cookie, session_cookie, view


def _home(ctx: Ctx) -> str:
    return "/admin/lembaga" if ctx.user is not None and ctx.user.is_operator else "/verifikasi"


@view(stage=None)
async def home(ctx: Ctx) -> Response:
    if ctx.session is None:
        return ctx.redirect("/masuk")
    if ctx.session.stage != "full":
        return ctx.redirect("/masuk/kode" if ctx.session.stage == "password"
                            else "/daftar-totp")
    return ctx.redirect(_home(ctx))


@view(stage=None)
async def sign_in(ctx: Ctx) -> Response:
    notice = ""
    if ctx.request.query_params.get("berakhir"):
        notice = ctx.t("expired")
    elif ctx.request.query_params.get("keluar"):
        notice = ctx.t("signed_out")
    if ctx.request.method == "GET":
        return ctx.render("signin.html", title=ctx.t("sign_in"), notice=notice, error="")
    email = ctx.field("email").lower()
    settings = ctx.portal.settings

    def again(error: str, status: int = 200) -> Response:
        return ctx.render("signin.html", status, title=ctx.t("sign_in"), notice="",
                          error=error, email=email)

    wait = max(ctx.portal.throttle_address.wait(ctx.address),
               ctx.portal.throttle_account.wait(email))
    if wait:
        ctx.store.log(None, "sign_in", "throttled", "RESOURCE_EXHAUSTED", address=ctx.address,
                      email=email)
        return again(ctx.t("throttled", n=wait), 429)
    user = ctx.store.user_by_email(email)
    ok = await asyncio.to_thread(check_password, user.password_hash if user else None,
                                 ctx.field("password"))
    if user is None:
        ctx.store.log(None, "sign_in", "unknown e-mail", "UNAUTHENTICATED",
                      address=ctx.address, email=email)
        return again(ctx.t("bad_login"))
    ctx.user = user
    if user.disabled:
        ctx.activity("sign_in", "account disabled", "PERMISSION_DENIED")
        return again(ctx.t("disabled"), 403)
    if user.locked:
        ctx.activity("sign_in", "account locked", "PERMISSION_DENIED")
        return again(ctx.t("locked", n=settings.max_failures), 403)
    if not user.password_hash:
        ctx.activity("sign_in", "no password yet", "PERMISSION_DENIED")
        return again(ctx.t("not_set_up"), 403)
    if not ok:
        return _failed(ctx, again, "wrong password")
    stage = "password" if user.totp_enrolled else "enrol"
    sid, ctx.session = ctx.store.new_session(user.id, stage)
    ctx.activity("sign_in.password", "", "OK")
    response = ctx.redirect("/masuk/kode" if stage == "password" else "/daftar-totp")
    session_cookie(response, sid)
    return response


def _failed(ctx: Ctx, again, what: str) -> Response:
    assert ctx.user is not None
    settings = ctx.portal.settings
    locked = ctx.store.record_failure(ctx.user.id, settings.max_failures)
    ctx.activity("sign_in", what + ("; account locked" if locked else ""),
                 "UNAUTHENTICATED")
    if locked:
        response = again(ctx.t("locked", n=settings.max_failures), 403)
        clear_session_cookie(response)
        return response
    left = settings.max_failures - ctx.user.failures - 1
    return again(ctx.t("bad_login" if what == "wrong password" else "bad_code") + " "
                 + ctx.t("attempts_left", n=left))


@view(stage="password")
async def sign_in_code(ctx: Ctx) -> Response:
    if ctx.request.method == "GET":
        return ctx.render("code.html", title=ctx.t("code_title"), error="")
    assert ctx.user is not None and ctx.session is not None

    def again(error: str, status: int = 200) -> Response:
        return ctx.render("code.html", status, title=ctx.t("code_title"), error=error)

    wait = ctx.portal.throttle_account.wait(ctx.user.email)
    if wait:
        return again(ctx.t("throttled", n=wait), 429)
    step = totp_step(ctx.user.totp_secret or "", ctx.field("code"))
    if step is None or not ctx.store.use_totp_step(ctx.user.id, step):
        return _failed(ctx, again, "wrong code")
    ctx.store.clear_failures(ctx.user.id)
    ctx.store.promote(ctx.session.id_hash, "full")
    ctx.activity("sign_in", "password and code", "OK")
    return ctx.redirect(_home(ctx))


@view(stage=None)
async def set_password(ctx: Ctx) -> Response:
    token = ctx.request.path_params["token"]
    user = ctx.store.link_user(token)
    if user is None:
        return ctx.render("error.html", 404, title=ctx.t("set_password"),
                          reason=ctx.t("link_invalid"))
    if ctx.request.method == "GET":
        return ctx.render("setpassword.html", title=ctx.t("set_password"), email=user.email,
                          error="")
    password, again = ctx.field("password"), ctx.field("password_again")
    problem = password_problem(password, again, user.email)
    if problem:
        return ctx.render("setpassword.html", title=ctx.t("set_password"), email=user.email,
                          error=ctx.t(problem))
    hashed = await asyncio.to_thread(hash_password, password)
    done = ctx.store.set_password(token, hashed, new_totp_secret())
    if done is None:
        return ctx.render("error.html", 404, title=ctx.t("set_password"),
                          reason=ctx.t("link_invalid"))
    ctx.user = done
    sid, ctx.session = ctx.store.new_session(done.id, "enrol")
    ctx.activity("password.set", "from a one-time link")
    response = ctx.redirect("/daftar-totp")
    session_cookie(response, sid)
    return response


@view(stage="enrol")
async def enrol(ctx: Ctx) -> Response:
    assert ctx.user is not None and ctx.session is not None
    secret = ctx.user.totp_secret or ""
    uri = provisioning_uri(secret, ctx.user.email)

    def page(error: str = "") -> Response:
        return ctx.render("enrol.html", title=ctx.t("enrol"), qr=qr_svg(uri),
                          secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                          error=error)

    if ctx.request.method == "GET":
        return page()
    step = totp_step(secret, ctx.field("code"))
    if step is None or not ctx.store.use_totp_step(ctx.user.id, step):
        return _failed(ctx, lambda error, status=200: page(error), "wrong code at enrolment")
    ctx.store.confirm_totp(ctx.user.id)
    ctx.store.clear_failures(ctx.user.id)
    ctx.store.promote(ctx.session.id_hash, "full")
    ctx.activity("totp.enrol", "", "OK")
    return ctx.redirect(_home(ctx))


@view(stage=None)
async def sign_out(ctx: Ctx) -> Response:
    if ctx.session is not None:
        ctx.store.end_session(ctx.session.id_hash)
        ctx.activity("sign_out")
    response = ctx.redirect("/masuk?keluar=1")
    clear_session_cookie(response)
    return response


@view()
async def sign_out_everywhere(ctx: Ctx) -> Response:
    assert ctx.user is not None
    n = ctx.store.end_all_sessions(ctx.user.id)
    await ctx.portal.nikgate.forget(ctx.user.id)
    ctx.activity("sign_out.everywhere", f"{n} sessions")
    response = ctx.redirect("/masuk?keluar=1")
    clear_session_cookie(response)
    return response


@view(stage=None)
async def language(ctx: Ctx) -> Response:
    lang = ctx.request.path_params["lang"]
    response = ctx.redirect(ctx.request.query_params.get("ke", "/")
                            if ctx.request.query_params.get("ke", "/").startswith("/")
                            and not ctx.request.query_params.get("ke", "/").startswith("//")
                            else "/")
    if lang in ("id", "en"):
        response.set_cookie("nikgate-lang", lang, httponly=True, secure=True, samesite="lax",
                            path="/", max_age=365 * 86400)
    return response
