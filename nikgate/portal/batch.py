"""Verifikasi massal: a CSV of up to 100,000 rows streamed through VerifyStream, with
progress the page polls and a result CSV of every row.

Every row of the upload gets one result row, in order: its outcome per claimed field, or
the reason it was not verified (a row with the wrong number of columns or no claims is
answered here; an invalid NIK or claim by nikgate; a row the stream never reached because
the stream ended says so). Nothing is dropped. Results stay in memory for the job's owner
only, for `KEEP_SECONDS` after the job ends; they are never written to disk or logs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import secrets
import time
from dataclasses import dataclass, field

from starlette.responses import JSONResponse, Response

from nikgate import errors
from nikgate.clients import VerifyItem
from nikgate.server.access.grants import FIELD_UNIVERSE
from nikgate.v1 import common_pb2

from .backend import Nikgate, today_wib
from .store import PortalStore, User
from .web import Ctx, view

log = logging.getLogger("nikgate.portal")
KEEP_SECONDS = 1800
MAX_JOBS_PER_USER = 2
BATCH = 1000
OUTCOME: dict[int, str] = {common_pb2.OUTCOME_MATCH: "SESUAI", common_pb2.OUTCOME_NO_MATCH: "TIDAK_SESUAI",
           common_pb2.OUTCOME_NOT_PROVIDED: ""}


@dataclass
class Job:
    id: str
    user_id: str
    fields: list[str]
    total: int
    done: int = 0
    found: int = 0
    problems: int = 0
    state: str = "running"          # running | done | failed
    error: str = ""
    started: float = field(default_factory=time.time)
    ended: float = 0.0
    rows: list[list[str]] = field(default_factory=list)
    task: asyncio.Task | None = None


class BadFile(Exception):
    """The upload as a whole cannot be read (header, encoding, too many rows)."""


def parse(data: bytes, max_rows: int) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(claimed fields, rows as (nik, values)) from a CSV upload; BadFile saying why."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadFile(f"the file is not UTF-8 text (byte {e.start:,})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise BadFile("the file is empty; the first line must be a header: nik,NAMA_LGKP,...")
    names = [h.strip().upper() for h in header]
    if names[0] != "NIK":
        raise BadFile("the first column must be nik")
    fields = names[1:]
    unknown = [f for f in fields if f not in FIELD_UNIVERSE["verify_batch"]]
    if unknown or not fields or len(set(fields)) != len(fields):
        raise BadFile("header: unknown or repeated field(s) "
                      f"{', '.join(unknown[:5]) or '(none claimed)'}; allowed: "
                      + ", ".join(sorted(FIELD_UNIVERSE["verify_batch"])))
    rows: list[tuple[str, list[str]]] = []
    try:
        for row in reader:
            if not row:
                continue
            if len(rows) >= max_rows:
                raise BadFile(f"more than {max_rows:,} rows; split the file")
            rows.append((row[0].strip(), row[1:]))
    except csv.Error as e:
        raise BadFile(f"line {reader.line_num}: {e}") from None
    return fields, rows


def start(nikgate: Nikgate, store: PortalStore, user: User, fields: list[str],
          rows: list[tuple[str, list[str]]], purpose: str, jobs: dict[str, Job]) -> Job:
    now = time.time()
    for k in [k for k, j in jobs.items() if j.ended and now - j.ended > KEEP_SECONDS]:
        del jobs[k]
    mine = [j for j in jobs.values() if j.user_id == user.id]
    for old in sorted(mine, key=lambda j: j.started)[:max(0, len(mine) - MAX_JOBS_PER_USER + 1)]:
        if old.task is not None:
            old.task.cancel()
        jobs.pop(old.id, None)
    job = Job(secrets.token_urlsafe(16), user.id, fields, len(rows))
    jobs[job.id] = job
    job.task = asyncio.get_running_loop().create_task(
        _run(job, nikgate, store, user, rows, purpose))
    return job


async def _run(job: Job, nikgate: Nikgate, store: PortalStore, user: User,
               rows: list[tuple[str, list[str]]], purpose: str) -> None:
    n_fields = len(job.fields)
    result: list[list[str] | None] = [None] * len(rows)
    items: list[VerifyItem] = []
    for i, (nik, values) in enumerate(rows):
        if len(values) != n_fields:
            result[i] = _problem(i, nik, n_fields,
                                 f"expected {n_fields + 1} columns, got {len(values) + 1}")
        elif not any(v.strip() for v in values):
            result[i] = _problem(i, nik, n_fields, "no claimed value in this row")
        else:
            items.append(VerifyItem(i, nik, {f: v.strip() for f, v in
                                             zip(job.fields, values, strict=True) if v.strip()}))
    local = sum(r is not None for r in result)
    job.done, job.problems = local, local
    calls = sent = 0
    txs: list[str] = []
    client = nikgate.client(user)
    try:
        async for reply in client.verify_stream(items, job.fields, batch_size=BATCH, window=8,
                                                purpose=purpose, timeout=3600):
            m = reply.message
            calls += 1
            txs.append(m.transaction_id)
            width = len(m.fields)
            index = {f: k for k, f in enumerate(m.fields)}
            for k, item_id in enumerate(m.item_ids):
                nik = rows[item_id][0]
                status = m.status[k]
                row = [str(item_id + 1), nik, common_pb2.ItemStatus.Name(status)[12:]]
                for f in job.fields:
                    j = index.get(f)
                    if j is None:
                        row += ["", ""]
                    else:
                        row += [OUTCOME.get(m.outcomes[k * width + j], ""),
                                str(m.scores[k * width + j]) if status == 1 else ""]
                life = common_pb2.LifeStatus.Name(m.life_status[k])[12:] if status == 1 else ""
                card = common_pb2.CardStatus.Name(m.card_status[k])[12:] if status == 1 else ""
                problem = m.problems.get(k, "")
                if status == common_pb2.ITEM_STATUS_FOUND:
                    job.found += 1
                elif problem or status != common_pb2.ITEM_STATUS_NOT_FOUND:
                    job.problems += 1
                result[item_id] = row + [life.replace("UNSPECIFIED", ""),
                                         card.replace("UNSPECIFIED", ""), problem]
            sent += len(m.item_ids)
            job.done += len(m.item_ids)
        job.state = "done"
    except errors.NikgateError as e:
        job.state, job.error = "failed", str(e)
    except asyncio.CancelledError:
        job.state, job.error = "failed", "cancelled"
        raise
    except Exception as e:   # a bug must not leave the page polling forever
        log.exception("batch job %s failed", job.id)
        job.state, job.error = "failed", type(e).__name__
    finally:
        reason = f"not verified: the stream ended ({job.error})" if job.error else (
            "not verified")
        for i, r in enumerate(result):
            if r is None:
                result[i] = _problem(i, rows[i][0], n_fields, reason)
                job.problems += 1
        job.rows = [r for r in result if r is not None]
        job.done = job.total
        job.ended = time.time()
        store.count(today_wib().isoformat(), user.institution, calls, sent)
        detail = (f"{job.total} rows, fields {','.join(job.fields)}: {job.found} found, "
                  f"{job.problems} with a reason, {calls} batches")
        span = txs[0] if len(txs) == 1 else (f"{txs[0]} .. {txs[-1]}" if txs else "")
        store.log(user, "verify.batch", detail, "OK" if job.state == "done" else "FAILED",
                  span)
        log.info("user=%s institution=%s action=verify.batch rows=%d batches=%d state=%s",
                 user.id, user.institution, job.total, calls, job.state)


def _problem(i: int, nik: str, n_fields: int, reason: str) -> list[str]:
    return [str(i + 1), nik, "NOT_VERIFIED", *([""] * (2 * n_fields)), "", "", reason]


def result_csv(job: Job) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    header = ["row", "nik", "status"]
    for f in job.fields:
        header += [f"{f}_result", f"{f}_score"]
    w.writerow(header + ["life_status", "card_status", "reason"])
    w.writerows(job.rows)
    return out.getvalue().encode()


@view(role="viewer")
async def batch_page(ctx: Ctx) -> Response:
    limit = ctx.portal.settings.max_batch_rows
    if ctx.request.method == "GET":
        return ctx.render("batch.html", title=ctx.t("batch"), job=None, error="", limit=limit)
    assert ctx.user is not None and ctx.form is not None
    upload = ctx.form.get("file")
    data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    try:
        fields, rows = parse(data, limit)
    except BadFile as e:
        ctx.activity("verify.batch", "file refused", "INVALID_ARGUMENT")
        return ctx.render("batch.html", title=ctx.t("batch"), job=None, limit=limit,
                          error=f"{ctx.t('refused')}: {e}")
    job = start(ctx.portal.nikgate, ctx.store, ctx.user, fields, rows, ctx.field("purpose"),
                ctx.portal.jobs)
    log.info("user=%s institution=%s action=verify.batch.start rows=%d", ctx.user.id,
             ctx.user.institution, job.total)
    return ctx.render("batch.html", title=ctx.t("batch"), job=job, error="", limit=limit)


def _job(ctx: Ctx) -> Job | None:
    job = ctx.portal.jobs.get(ctx.request.path_params["job"])
    return job if job is not None and ctx.user is not None and job.user_id == ctx.user.id \
        else None


@view(role="viewer")
async def batch_status(ctx: Ctx) -> Response:
    job = _job(ctx)
    if job is None:
        return ctx.finish(JSONResponse({"state": "gone", "message": ctx.t("job_gone")}, 404))
    finished = job.state != "running"
    message = ctx.t("batch_done", total=f"{job.total:,}", found=f"{job.found:,}",
                    problems=f"{job.problems:,}") if finished else ctx.t(
        "rows_done", done=f"{job.done:,}", total=f"{job.total:,}")
    if job.state == "failed":
        message = f"{ctx.t('batch_failed')}: {job.error}. " + message
    return ctx.finish(JSONResponse({"state": job.state, "done": job.done, "total": job.total,
                                    "message": message}))


@view(role="viewer")
async def batch_result(ctx: Ctx) -> Response:
    job = _job(ctx)
    if job is None or job.state == "running":
        return ctx.render("error.html", 404, title=ctx.t("batch"), reason=ctx.t("job_gone"))
    ctx.activity("verify.batch.download", f"{job.total} rows")
    return ctx.finish(Response(result_csv(job), media_type="text/csv", headers={
        "content-disposition": 'attachment; filename="hasil-verifikasi.csv"'}))
