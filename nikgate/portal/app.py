"""The portal's ASGI application: routes, static files, security headers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import admin, auth, batch, pages
from .web import HERE, Headers, Portal, context

GET, BOTH = ["GET"], ["GET", "POST"]
ROUTES = [
    Route("/", auth.home, methods=GET),
    Route("/masuk", auth.sign_in, methods=BOTH),
    Route("/masuk/kode", auth.sign_in_code, methods=BOTH),
    Route("/sandi/{token}", auth.set_password, methods=BOTH),
    Route("/daftar-totp", auth.enrol, methods=BOTH),
    Route("/keluar", auth.sign_out, methods=["POST"]),
    Route("/keluar-semua", auth.sign_out_everywhere, methods=["POST"]),
    Route("/bahasa/{lang}", auth.language, methods=GET),
    Route("/verifikasi", pages.verify, methods=BOTH),
    Route("/tanda-terima/{rid}", pages.receipt, methods=GET),
    Route("/massal", batch.batch_page, methods=BOTH),
    Route("/massal/{job}/status", batch.batch_status, methods=GET),
    Route("/massal/{job}/hasil", batch.batch_result, methods=GET),
    Route("/data-pribadi", pages.lookup, methods=BOTH),
    Route("/data-balikan", pages.return_data, methods=BOTH),
    Route("/kewajiban", pages.obligations_page, methods=GET),
    Route("/penggunaan", pages.usage, methods=GET),
    Route("/aktivitas", pages.activity, methods=GET),
    Route("/admin/lembaga", admin.institutions, methods=GET),
    Route("/admin/hak-akses/{institution}", admin.grant, methods=BOTH),
    Route("/admin/pengguna", admin.users, methods=BOTH),
    Route("/admin/sam", admin.sams, methods=BOTH),
    Route("/admin/aktivitas", admin.all_activity, methods=GET),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


async def _http_error(request: Request, exc: Exception) -> Response:
    ctx = await context(request)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    key = "not_found_page" if status == 404 else "error"
    return ctx.render("error.html", status, title=ctx.t(key), reason=ctx.t(key))


def build_app(portal: Portal) -> Starlette:
    """The portal app over `portal` (its store and nikgate backend)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await portal.nikgate.close()

    app = Starlette(routes=ROUTES, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.portal = portal
    app.add_middleware(Headers)
    return app
