"""The clock's synchronisation as the kernel reports it (adjtimex(2), read only).

Daily quotas roll over at midnight and receipts and audit records carry the time, so a
clock that drifts moves both. The kernel knows whether something (chrony, ntpd,
systemd-timesyncd) disciplines the clock: STA_UNSYNC in the status, or adjtimex's return
value TIME_ERROR, means nothing has for a while; `maxerror` is its bound on the error
(it grows by 500 ppm while nobody corrects the clock and stops at 16 s) and `esterror`
its estimate. WARN when the kernel says unsynchronised or the bound exceeds a second;
never FAIL: the node still answers correctly, only times may be off. See
docs/operations.md, "The clock".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from .result import Check, ok, warn

STA_UNSYNC = 0x0040
TIME_ERROR = 5
MAX_ERROR_US = 1_000_000     # a bound above this is worth a WARN even when "synchronised"
FIX = ("run a time service (chrony, ntpd or systemd-timesyncd) against your NTP servers; "
       "check with `chronyc tracking` or `timedatectl`")


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> (Linux, 64-bit longs)."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long),
                ("freq", ctypes.c_long), ("maxerror", ctypes.c_long),
                ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time", _Timeval), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
                ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_reserved", ctypes.c_int * 11)]


def read_kernel() -> tuple[int, int, int, int] | None:
    """(adjtimex's return value, status, maxerror µs, esterror µs), None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    tx = _Timex()   # modes 0: read, change nothing (no privilege needed)
    rc = libc.adjtimex(ctypes.byref(tx))
    if rc < 0:
        return None
    return rc, tx.status, tx.maxerror, tx.esterror


def _ms(us: int) -> str:
    return f"{us / 1000:,.1f} ms" if us < 1_000_000 else f"{us / 1e6:,.1f} s"


def check() -> Check:
    state = read_kernel()
    if state is None:
        return warn("clock", "the kernel's synchronisation state cannot be read here "
                    "(adjtimex)", "check the time service by hand: " + FIX)
    rc, status, maxerror, esterror = state
    if rc == TIME_ERROR or status & STA_UNSYNC:
        return warn("clock", f"the kernel says the clock is not synchronised (STA_UNSYNC; "
                    f"error bound {_ms(maxerror)}, unknown in fact): nothing disciplines it",
                    FIX)
    text = f"synchronised: estimated error {_ms(esterror)}, at most {_ms(maxerror)}"
    if maxerror > MAX_ERROR_US:
        return warn("clock", text, "the time service has not reached a server lately; "
                    + FIX)
    return ok("clock", text)
