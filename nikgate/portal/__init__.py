"""The web portal: the browser access method for institutions without an application of
their own (docs/portal.md).

A Starlette app served by uvicorn over HTTPS. It holds no population data: every
verification, lookup and data-balikan upload goes to nikgate over mutual TLS with the
portal adapter's certificate, on behalf of the signed-in user. Its own store (store.py)
keeps accounts, sessions and the portal activity log.
"""

from .app import build_app
from .web import Portal, Settings

__all__ = ["Portal", "Settings", "build_app"]
