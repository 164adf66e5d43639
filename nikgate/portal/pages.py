"""The pages of an institution's staff: Verifikasi (with the signed receipt), Data
pribadi, Data balikan with its obligations, Penggunaan and Aktivitas.

Every call goes to nikgate on behalf of the signed-in user (backend.py). A NIK arrives in
a POST body only: never in a URL, a page title or a log line. What a refusal says comes
from nikgate's message (which never repeats a claimed value)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import tempfile
import time

from starlette.responses import Response

from nikgate import errors
from nikgate.clients.return_data import read_records_csv
from nikgate.server.access.grants import FIELD_UNIVERSE
from nikgate.v1 import common_pb2

from .backend import WIB, today_wib
from .web import Ctx, view

# The claims offered on the verify form, in this order (a grant may allow fewer).
VERIFY_FIELDS = ("NAMA_LGKP", "TGL_LHR", "TMPT_LHR", "JENIS_KLMIN", "NAMA_LGKP_IBU",
                 "ALAMAT", "NO_KK")
FIELD_LABELS = {
    "NAMA_LGKP": ("Nama lengkap", "Full name"), "TGL_LHR": ("Tanggal lahir", "Birth date"),
    "TMPT_LHR": ("Tempat lahir", "Birth place"), "JENIS_KLMIN": ("Jenis kelamin", "Sex"),
    "NAMA_LGKP_IBU": ("Nama ibu kandung", "Mother's name"), "ALAMAT": ("Alamat", "Address"),
    "NO_KK": ("Nomor KK", "Family card number"), "KEC_NAME": ("Kecamatan", "District"),
    "KAB_NAME": ("Kabupaten/kota", "Regency/city"), "PROP_NAME": ("Provinsi", "Province"),
    "KEL_NAME": ("Kelurahan/desa", "Village"), "AGAMA": ("Agama", "Religion"),
    "STATUS_KAWIN": ("Status perkawinan", "Marital status"),
    "JENIS_PKRJN": ("Pekerjaan", "Occupation"), "GOL_DARAH": ("Golongan darah", "Blood type"),
    "STATUS_HIDUP": ("Status hidup", "Life status"), "STATUS_KTP": ("Status KTP-el",
                                                                   "Card status"),
}
INPUT_TYPES = {"TGL_LHR": "date"}
RECEIPT_SECONDS = 900
USAGE_DAYS = 14          # days on the Penggunaan chart (GetMyUsage allows up to 31)


def label(ctx: Ctx, name: str) -> str:
    pair = FIELD_LABELS.get(name)
    return (pair[1] if ctx.lang == "en" else pair[0]) if pair else name


def enum_name(enum, value: int) -> str:
    return enum.Name(value).split("_STATUS_")[-1].replace("OUTCOME_", "")


def refusal(ctx: Ctx, e: errors.NikgateError) -> str:
    """What the page says about a failed call: the family, then nikgate's reason."""
    family = ctx.t("refused") if isinstance(e, (errors.PermissionDenied,
                                                errors.Unauthenticated,
                                                errors.InvalidInputError,
                                                errors.ResourceExhausted)) else ctx.t("error")
    retry = f" (retry after {e.retry_after:.0f} s)" if e.retry_after else ""
    return f"{family}: {e}{retry}"


async def _granted(ctx: Ctx, operation: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The fields the user's institution may use for `operation`, read from its grant
    (Account GetMyGrant); `default` when the grant cannot be read (nikgate then refuses
    ungranted fields itself, naming them) or for an operator."""
    assert ctx.user is not None
    try:
        grant = await ctx.portal.nikgate.own_grant(ctx.user)
    except errors.NikgateError:
        return default
    if grant is None:
        return default
    if operation not in grant.operations:
        return ()
    allowed = set(grant.fields[operation].names) if operation in grant.fields else set()
    return tuple(f for f in default if f in allowed) + tuple(sorted(allowed - set(default)))


def _count(ctx: Ctx, calls: int, niks: int) -> None:
    assert ctx.user is not None
    ctx.store.count(today_wib().isoformat(), ctx.user.institution, calls, niks)


@view(role="viewer")
async def verify(ctx: Ctx) -> Response:
    shown = await _granted(ctx, "verify", VERIFY_FIELDS)
    form = [(f, label(ctx, f), INPUT_TYPES.get(f, "text")) for f in shown]
    if ctx.request.method == "GET":
        return ctx.render("verify.html", title=ctx.t("verify"), fields=form, result=None,
                          error="", values={})
    assert ctx.user is not None
    nik = ctx.field("nik")
    claims = {f: ctx.field(f) for f in shown if ctx.field(f)}
    values = {f: ctx.field(f) for f in shown}
    try:
        reply = await ctx.portal.nikgate.client(ctx.user).verify(
            nik, claims, purpose=ctx.field("purpose"))
    except errors.NikgateError as e:
        ctx.activity("verify", f"fields {','.join(claims) or '-'}", e.code,
                     e.transaction_id or "")
        return ctx.render("verify.html", title=ctx.t("verify"), fields=form, result=None,
                          error=refusal(ctx, e), values=values)
    m = reply.message
    _count(ctx, 1, 1)
    ctx.activity("verify", f"fields {','.join(claims)}; {enum_name(common_pb2.ItemStatus, m.status)}",
                 "OK", m.transaction_id)
    rid = secrets.token_urlsafe(16)
    _keep_receipt(ctx, rid, m.transaction_id, json.dumps({
        "response_b64": base64.b64encode(reply.response_bytes).decode(),
        "request_b64": base64.b64encode(reply.request_bytes).decode()}).encode())
    rows = [(label(ctx, r.field), r.field, enum_name(common_pb2.Outcome, r.outcome),
             r.score, r.threshold) for r in m.fields]
    result = {"status": enum_name(common_pb2.ItemStatus, m.status),
              "life": enum_name(common_pb2.LifeStatus, m.life_status),
              "card": enum_name(common_pb2.CardStatus, m.card_status),
              "rows": rows, "tx": m.transaction_id, "receipt": rid}
    return ctx.render("verify.html", title=ctx.t("verify"), fields=form, result=result,
                      error="", values={})


def _keep_receipt(ctx: Ctx, rid: str, tx: str, body: bytes) -> None:
    assert ctx.user is not None
    now = time.time()
    receipts = ctx.portal.receipts
    for k in [k for k, v in receipts.items() if v[1] < now]:
        del receipts[k]
    receipts[rid] = (ctx.user.id, now + RECEIPT_SECONDS, tx, body)


@view(role="viewer")
async def receipt(ctx: Ctx) -> Response:
    assert ctx.user is not None
    kept = ctx.portal.receipts.get(ctx.request.path_params["rid"])
    if kept is None or kept[0] != ctx.user.id or kept[1] < time.time():
        return ctx.render("error.html", 404, title=ctx.t("receipt"), reason=ctx.t("job_gone"))
    ctx.activity("receipt.download", "", "OK", kept[2])
    return ctx.finish(Response(kept[3], media_type="application/json", headers={
        "content-disposition": f'attachment; filename="receipt-{kept[2] or "nikgate"}.json"'}))


@view(role="viewer")
async def lookup(ctx: Ctx) -> Response:
    universe = tuple(sorted(FIELD_UNIVERSE["lookup"] - {"NIK"}))
    fields = await _granted(ctx, "lookup", universe)
    options = [(f, label(ctx, f)) for f in fields]
    page = {"title": ctx.t("lookup"), "options": options, "values": None, "error": "",
            "chosen": ()}
    if ctx.request.method == "GET":
        return ctx.render("lookup.html", **page)
    assert ctx.user is not None and ctx.form is not None
    chosen = [f for f in ctx.form.getlist("fields") if f in fields] or list(fields)
    try:
        reply = await ctx.portal.nikgate.client(ctx.user).lookup(
            ctx.field("nik"), chosen, purpose=ctx.field("purpose"))
    except errors.NikgateError as e:
        ctx.activity("lookup", f"fields {','.join(chosen)}", e.code, e.transaction_id or "")
        return ctx.render("lookup.html", **{**page, "error": refusal(ctx, e),
                                            "chosen": chosen})
    m = reply.message
    _count(ctx, 1, 1)
    status = enum_name(common_pb2.ItemStatus, m.status)
    ctx.activity("lookup", f"fields {','.join(chosen)}; {status}", "OK", m.transaction_id)
    values = [(label(ctx, f), f, m.values.get(f, "")) for f in chosen if f in m.values]
    return ctx.render("lookup.html", **{**page, "values": values, "item_status": status,
                                        "tx": m.transaction_id, "chosen": chosen})


@view(role="viewer")
async def return_data(ctx: Ctx) -> Response:
    if ctx.request.method == "GET":
        return ctx.render("returns.html", title=ctx.t("returns"), report=None, error="")
    assert ctx.user is not None and ctx.form is not None
    upload = ctx.form.get("file")
    data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    fd, path = tempfile.mkstemp(dir=ctx.store.directory, suffix=".csv")   # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            records = list(read_records_csv(path))
        except errors.InvalidInputError as e:
            message = str(e).replace(path, "CSV")
            ctx.activity("return_data.send", "file refused", e.code)
            return ctx.render("returns.html", title=ctx.t("returns"), report=None,
                              error=f"{ctx.t('refused')}: {message}")
    finally:
        os.unlink(path)
    try:
        report = await ctx.portal.nikgate.send_return_data(ctx.user, records)
    except errors.NikgateError as e:
        ctx.activity("return_data.send", f"{len(records)} records", e.code)
        return ctx.render("returns.html", title=ctx.t("returns"), report=None,
                          error=refusal(ctx, e))
    ctx.activity("return_data.send", f"{len(records)} records: {report.stored} stored, "
                 f"{report.duplicates} duplicates, {len(report.rejected)} rejected", "OK")
    return ctx.render("returns.html", title=ctx.t("returns"), error="", report={
        "records": len(records), "stored": report.stored, "duplicates": report.duplicates,
        "rejected": [(r.record.record_id, r.reason, r.message) for r in report.rejected],
        "receipts": report.receipts, "batches": report.batches})


def _ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, WIB).strftime("%Y-%m-%d %H:%M WIB")


@view(role="viewer")
async def obligations_page(ctx: Ctx) -> Response:
    assert ctx.user is not None
    try:
        o = await ctx.portal.nikgate.obligations(ctx.user)
    except errors.NikgateError as e:
        return ctx.render("obligations.html", title=ctx.t("obligations"), o=None,
                          error=refusal(ctx, e))
    ctx.activity("obligations.view", f"{o.overdue} overdue, {o.pending} pending")
    items = [(i.nik, _ms(i.first_accessed_ms), _ms(i.due_ms), i.overdue)
             for i in o.outstanding]
    return ctx.render("obligations.html", title=ctx.t("obligations"), o=o, items=items,
                      error="", compliance=f"{o.compliance_ratio:.1%}")


@view(role="viewer")
async def usage(ctx: Ctx) -> Response:
    assert ctx.user is not None
    today = today_wib()
    names = [(today - dt.timedelta(days=n)).isoformat() for n in range(USAGE_DAYS - 1, -1, -1)]
    portal_counts = ctx.store.usage(ctx.user.institution, names)
    server: dict[str, int] = {}
    quota_left = None
    grant_status = ("", "")
    note = ""
    try:
        mine = await ctx.portal.nikgate.own_usage(ctx.user, USAGE_DAYS)
        if mine is not None:
            server = {u.day: u.total for u in mine.usage}
            quota_left = ((mine.quota_left_today if mine.daily_quota else None),
                          mine.daily_quota)
            grant_status = (mine.grant_status, mine.grant_status_reason)
    except errors.NikgateError as e:
        note = refusal(ctx, e)
    if not server:
        note = note or ctx.t("usage_portal_only")
    # nikgate's days are WIB days like the portal's; its count wins where it has one
    niks = [server[n] if n in server else portal_counts.get(n, (0, 0))[1] for n in names]
    calls = [portal_counts.get(n, (0, 0))[0] for n in names]
    ctx.activity("usage.view")
    return ctx.render("usage.html", title=ctx.t("usage"), note=note, quota_left=quota_left,
                      grant_status=grant_status,
                      niks_chart=bar_chart(names, niks), calls_chart=bar_chart(names, calls),
                      table=list(zip(names, niks, calls, strict=True)))


def bar_chart(days: list[str], values: list[int], width: int = 640, height: int = 180
              ) -> dict:
    """Bars for an inline SVG chart (drawn in the template; no script, no library)."""
    top = max(values) or 1
    step = width / len(values)
    bars = []
    for i, (d, v) in enumerate(zip(days, values, strict=True)):
        h = round((height - 30) * v / top)
        bars.append({"x": round(i * step + 4), "y": height - 20 - h, "w": round(step - 8),
                     "h": h, "v": v, "label": d[5:], "tx": round(i * step + step / 2)})
    return {"bars": bars, "width": width, "height": height, "top": top}


@view()
async def activity(ctx: Ctx) -> Response:
    assert ctx.user is not None
    rows = [(dt.datetime.fromtimestamp(a.at, WIB).strftime("%Y-%m-%d %H:%M:%S"), a.action,
             a.detail, a.result, a.tx) for a in ctx.store.activity(ctx.user.id)]
    return ctx.render("activity.html", title=ctx.t("activity"), rows=rows, everyone=False)
