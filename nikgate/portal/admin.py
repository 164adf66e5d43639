"""Dukcapil operators' pages: institutions, grants (suspend / activate with a reason),
portal users (add with a one-time link, disable, unlock) and the SAM registry.

Institutions, grants and SAMs go through nikgate's Admin RPCs on behalf of the operator
(nikgate-on-behalf-of-operator), so the server audits each with the portal user; portal
users live in the portal's store and every change goes to its activity log."""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from nikgate import errors
from nikgate.v1 import admin_pb2 as apb

from .backend import WIB
from .pages import refusal
from .web import Ctx, view


def link_url(ctx: Ctx, token: str) -> str:
    base = ctx.portal.settings.public_url or str(ctx.request.base_url)
    return base.rstrip("/") + "/sandi/" + token


@view(role="operator")
async def institutions(ctx: Ctx) -> Response:
    assert ctx.user is not None
    try:
        answer = await ctx.portal.nikgate.admin(ctx.user, "ListInstitutions",
                                                apb.ListInstitutionsRequest())
    except errors.NikgateError as e:
        return ctx.render("institutions.html", title=ctx.t("institutions"), rows=[],
                          error=refusal(ctx, e))
    ctx.activity("institution.list")
    return ctx.render("institutions.html", title=ctx.t("institutions"), error="",
                      rows=list(answer.institutions))


@view(role="operator")
async def grant(ctx: Ctx) -> Response:
    assert ctx.user is not None
    ident = ctx.request.path_params["institution"]
    nikgate, notice, error = ctx.portal.nikgate, "", ""
    if ctx.request.method == "POST":
        status, reason = ctx.field("status"), ctx.field("reason")
        if status not in ("active", "suspended"):
            error = f"{ctx.t('refused')}: status must be active or suspended"
        elif not reason:
            error = ctx.t("no_reason")
        else:
            try:
                await nikgate.admin(ctx.user, "SetGrantStatus", apb.SetGrantStatusRequest(
                    institution=ident, status=status, reason=reason))
                ctx.activity("grant.status", f"{ident} -> {status}")
                notice = ctx.t("changed")
            except errors.NikgateError as e:
                ctx.activity("grant.status", f"{ident} -> {status}", e.code)
                error = refusal(ctx, e)
    try:
        g = await nikgate.admin(ctx.user, "GetGrant", apb.GetGrantRequest(institution=ident))
        u = await nikgate.admin(ctx.user, "GetUsage", apb.GetUsageRequest(institution=ident))
    except errors.NikgateError as e:
        return ctx.render("grant.html", title=ctx.t("grant"), ident=ident, g=None, u=None,
                          error=error or refusal(ctx, e), notice=notice)
    fields = {op: ", ".join(g.fields[op].names) for op in g.operations if op in g.fields}
    return ctx.render("grant.html", title=ctx.t("grant"), ident=ident, g=g, u=u,
                      fields=fields, error=error, notice=notice)


@view(role="operator")
async def users(ctx: Ctx) -> Response:
    assert ctx.user is not None
    store, settings = ctx.store, ctx.portal.settings
    notice, error, link = "", "", None
    if ctx.request.method == "POST":
        action = ctx.field("action")
        try:
            if action == "add":
                user, token = store.add_user(ctx.field("email"), ctx.field("institution"),
                                             ctx.field("role"), ctx.user.email,
                                             settings.link_hours)
                link = (user.email, link_url(ctx, token))
                ctx.activity("user.add", f"{user.id} ({user.role}) for {user.institution}")
            else:
                target = store.find_user(ctx.field("user"))
                if action == "disable":
                    store.disable(target.id)
                    await ctx.portal.nikgate.forget(target.id)
                elif action == "enable":
                    store.enable(target.id)
                elif action == "unlock":
                    store.unlock(target.id)
                elif action == "link":
                    link = (target.email, link_url(ctx, store.new_link(target.id,
                                                                       settings.link_hours)))
                else:
                    raise errors.InvalidInputError("unknown action", field="action")
                ctx.activity(f"user.{action}", target.id)
                notice = ctx.t("changed")
        except errors.InvalidInputError as e:
            error = f"{ctx.t('refused')}: {e}"
    return ctx.render("users.html", title=ctx.t("users"), users=store.users(), link=link,
                      hours=int(settings.link_hours), notice=notice, error=error)


@view(role="operator")
async def sams(ctx: Ctx) -> Response:
    assert ctx.user is not None
    nikgate, notice, error = ctx.portal.nikgate, "", ""
    if ctx.request.method == "POST":
        sam_id, reason = ctx.field("sam"), ctx.field("reason")
        if not reason:
            error = ctx.t("no_reason")
        else:
            try:
                await nikgate.admin(ctx.user, "RevokeSam",
                                    apb.RevokeSamRequest(sam_id=sam_id, reason=reason))
                ctx.activity("sam.revoke", sam_id)
                notice = ctx.t("changed")
            except errors.NikgateError as e:
                ctx.activity("sam.revoke", sam_id, e.code)
                error = refusal(ctx, e)
    try:
        answer = await nikgate.admin(ctx.user, "ListSams", apb.ListSamsRequest())
    except errors.NikgateError as e:
        return ctx.render("sams.html", title=ctx.t("sams"), rows=[], error=refusal(ctx, e),
                          notice=notice)
    return ctx.render("sams.html", title=ctx.t("sams"), rows=list(answer.sams), error=error,
                      notice=notice)


@view(role="operator")
async def all_activity(ctx: Ctx) -> Response:
    rows = [(dt.datetime.fromtimestamp(a.at, WIB).strftime("%Y-%m-%d %H:%M:%S"), a.email,
             a.institution, a.action, a.detail, a.result, a.tx, a.address)
            for a in ctx.store.activity(None, 500)]
    return ctx.render("activity.html", title=ctx.t("activity"), rows=rows, everyone=True)
