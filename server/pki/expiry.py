"""Certificates that do not expire by surprise: days until each certificate the node holds
or recently accepted expires (the `nikgate_cert_expiry_days` gauge), and one WARNING per
certificate as it crosses 30, 7 and 1 days left.

Two halves, because a node is a supervisor and forked workers (server/supervisor.py):

- `Sightings`, in each worker: the client certificates it accepted (direct peers, adapters,
  certificates the gateway forwards). The guard calls `seen()` on every call; a repeat is
  one dict lookup and one attribute store (the certificate is parsed once, when first
  seen). A background task writes the worker's set to ``certs-<pid>.json`` in the metrics
  directory, soon after a new certificate and every minute otherwise (to refresh when
  each was last seen).
- `ExpiryWatch`, in the supervisor: merges the workers' files with the certificates the
  node holds (the CA certificate(s) in `tls.ca`, the server's `tls.cert`, re-read when the
  files change), and is a Prometheus collector computing days left at scrape time (a
  worker-side gauge would go stale between refreshes and could not drop a certificate in
  multiprocess mode). `check()` logs the threshold crossings, once per certificate and
  threshold for the whole node, not once per worker or call.

Bounded against a flood of distinct certificates: each worker keeps at most MAX_CLIENTS
(the least recently seen dropped first) and the supervisor exports at most MAX_CLIENTS
client certificates, each for WINDOW_SECONDS after it was last seen. Labels name the role
(ca, server, client, adapter), the principal the certificate names ("bank-a",
"operator:ops", "portal:portal-1") and the serial in hex: never personal data.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from ..metrics_setup import CERTS_PREFIX
from .layout import ADAPTER_KINDS
from .layout import serial_hex as _serial_hex
from .runtime import PeerIdentity

__all__ = [
    "GAUGE",
    "MAX_CLIENTS",
    "THRESHOLDS",
    "WINDOW_SECONDS",
    "CertExpiry",
    "ExpiryWatch",
    "Sightings",
    "role_of",
]

log = logging.getLogger(__name__)

GAUGE = "nikgate_cert_expiry_days"
THRESHOLDS = (1, 7, 30)             # days left; ascending
WINDOW_SECONDS = 24 * 3600          # a client certificate is shown this long after its last call
MAX_CLIENTS = 1024                  # client certificates kept per worker and exported per node
_DAY = 86400.0


@dataclass(slots=True)
class CertExpiry:
    """One certificate as the gauge shows it."""

    role: str           # ca, server, client, adapter
    principal: str      # "" for ca/server; "bank-a", "operator:ops", "portal:p1"
    serial: str         # hex, as `nikgate pki list` prints it
    not_after: float    # unix seconds
    last_seen: float = 0.0

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / _DAY


def role_of(kind: str) -> str:
    """The gauge's role for a client certificate of this kind."""
    return "adapter" if kind in ADAPTER_KINDS else "client"


def _principal(ident: PeerIdentity) -> str:
    return ident.institution_id if ident.kind == "institution" else (
        f"{ident.kind}:{ident.institution_id}")


# --------------------------------------------------------------------------- workers


class Sightings:
    """The client certificates one worker accepted recently, written for the supervisor.

    `seen()` is on the path of every call: a known certificate costs a dict lookup and an
    attribute store of a clock `run()` refreshes once a second; a new one is parsed once for
    its notAfter. Not thread-safe beyond the GIL: one worker's event loop calls it.
    """

    def __init__(self, path: str | os.PathLike | None, max_entries: int = MAX_CLIENTS,
                 window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path) if path is not None else None
        self._max = max(1, max_entries)
        self._window = window
        self._clock = clock
        self._now = clock()
        self._entries: dict[int, CertExpiry] = {}
        self._dirty = False

    def seen(self, ident: PeerIdentity, cert: bytes | str) -> None:
        """A call was accepted with this certificate: PEM bytes (a direct peer) or the
        base64 DER text a gateway forwards."""
        entry = self._entries.get(ident.serial)
        if entry is None:
            self._add(ident, cert)
        else:
            entry.last_seen = self._now

    def _add(self, ident: PeerIdentity, cert: bytes | str) -> None:
        try:
            parsed = (x509.load_der_x509_certificate(binascii.a2b_base64(cert))
                      if isinstance(cert, str) else x509.load_pem_x509_certificate(cert))
        except (ValueError, binascii.Error):   # already accepted by TLS or ForwardedCerts
            return
        if len(self._entries) >= self._max:
            oldest = min(self._entries, key=lambda s: self._entries[s].last_seen)
            del self._entries[oldest]
        self._entries[ident.serial] = CertExpiry(
            role_of(ident.kind), _principal(ident), _serial_hex(ident.serial),
            parsed.not_valid_after_utc.timestamp(), self._now)
        self._dirty = True

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[CertExpiry]:
        return list(self._entries.values())

    def tick(self) -> None:
        """Refresh the clock `seen()` stamps, and forget certificates not seen in the
        window."""
        self._now = now = self._clock()
        stale = [s for s, e in self._entries.items() if now - e.last_seen > self._window]
        for serial in stale:
            del self._entries[serial]
        self._dirty = self._dirty or bool(stale)

    def flush(self) -> None:
        """Write the set for the supervisor (atomically: it never reads half a file)."""
        self._dirty = False
        if self.path is None:
            return
        rows = [[e.role, e.principal, e.serial, e.not_after, e.last_seen]
                for e in self._entries.values()]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps({"certs": rows}))
            os.replace(tmp, self.path)
        except OSError as e:   # the directory went away (stopping): the gauge is optional
            log.debug("cannot write %s: %s", self.path, e)

    async def run(self, refresh_seconds: float = 60.0) -> None:
        """Tick every second; write soon after a new certificate, else every refresh."""
        import asyncio

        written = 0.0
        while True:
            self.tick()
            if self._dirty or self._now - written >= refresh_seconds:
                self.flush()
                written = self._now
            await asyncio.sleep(1.0)


# --------------------------------------------------------------------------- supervisor


class ExpiryWatch:
    """The node's certificates and their days left: a Prometheus collector, and `check()`
    for the WARNING lines. Thread-safe (the metrics HTTP thread scrapes it)."""

    def __init__(self, held: Iterable[tuple[str, str | os.PathLike]],
                 directory: str | os.PathLike | None, *, window: float = WINDOW_SECONDS,
                 max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.time) -> None:
        self._held_paths = [(role, Path(p)) for role, p in held]
        self._held: dict[Path, tuple[tuple, list[CertExpiry]]] = {}
        self.directory = Path(directory) if directory is not None else None
        self._window = window
        self._max = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._logged: dict[tuple[str, str], int] = {}   # (role, serial) -> lowest threshold logged

    def certificates(self) -> list[CertExpiry]:
        """Held certificates, then the client certificates some live worker accepted in the
        window (newest first, at most max_clients), one entry per serial."""
        out: list[CertExpiry] = []
        for role, path in self._held_paths:
            out += self._held_cert(role, path)
        clients: dict[str, CertExpiry] = {}
        cutoff = self._clock() - self._window
        for entry in self._worker_entries():
            if entry.last_seen < cutoff:
                continue
            known = clients.get(entry.serial)
            if known is None or known.last_seen < entry.last_seen:
                clients[entry.serial] = entry
        recent = sorted(clients.values(), key=lambda e: e.last_seen, reverse=True)
        return out + recent[:self._max]

    def _held_cert(self, role: str, path: Path) -> list[CertExpiry]:
        try:
            st = os.stat(path)
        except OSError:
            return []
        sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._held.get(path)
        if cached is not None and cached[0] == sig:
            return cached[1]
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as e:
            log.warning("cannot read %s for its expiry: %s", path, e)
            return cached[1] if cached is not None else []
        if role == "server":
            certs = certs[:1]   # the leaf; anything after it is a chain
        entries = [CertExpiry(role, "", _serial_hex(c.serial_number),
                              c.not_valid_after_utc.timestamp()) for c in certs]
        self._held[path] = (sig, entries)
        return entries

    def _worker_entries(self) -> Iterator[CertExpiry]:
        if self.directory is None:
            return
        for f in self.directory.glob(f"{CERTS_PREFIX}*.json"):
            pid = f.stem[len(CERTS_PREFIX):]
            if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
                continue   # a worker gone without worker_exited
            try:
                rows = json.loads(f.read_text())["certs"]
                entries = [CertExpiry(str(r[0]), str(r[1]), str(r[2]), float(r[3]),
                                      float(r[4])) for r in rows]
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                continue   # mid-replace or damaged: the next scrape reads it
            yield from entries

    def check(self) -> list[CertExpiry]:
        """Log a WARNING for each certificate that crossed a threshold since the last
        check (once per certificate and threshold); returns those certificates."""
        with self._lock:
            return self._check(self._clock(), self.certificates())

    def _check(self, now: float, certs: list[CertExpiry]) -> list[CertExpiry]:
        crossed = []
        for c in certs:
            days = c.days_left(now)
            level = next((t for t in THRESHOLDS if days < t), None)
            key = (c.role, c.serial)
            if level is None or self._logged.get(key, THRESHOLDS[-1] + 1) <= level:
                continue
            self._logged[key] = level
            crossed.append(c)
            _warn(c, days, level)
        if len(self._logged) > 4 * (self._max + len(self._held_paths)):
            current = {(c.role, c.serial) for c in certs}
            self._logged = {k: v for k, v in self._logged.items() if k in current}
        return crossed

    # prometheus_client's collector protocol. The import is deferred: the supervisor must
    # not import prometheus_client before it exports PROMETHEUS_MULTIPROC_DIR for the
    # workers it forks (metrics_setup.prepare_directory).
    def describe(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        return [_family(GaugeMetricFamily)]

    def collect(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        family = _family(GaugeMetricFamily)
        with self._lock:   # a scrape also logs crossings: sooner than the supervisor's minute
            now = self._clock()
            certs = self.certificates()
            self._check(now, certs)
        for c in certs:
            family.add_metric([c.role, c.principal, c.serial], round(c.days_left(now), 4))
        return [family]


def _family(cls):
    return cls(GAUGE, "Days until a certificate expires: those the node holds (role ca, "
               "server) and client certificates it accepted in the last 24 h (client, "
               "adapter); negative once expired", labels=["role", "institution", "serial"])


def _advice(c: CertExpiry) -> str:
    if c.role == "ca":
        return "plan the CA's replacement (docs/pki.md, Rotating the CA)"
    if c.role == "server":
        return "rotate it: nikgate pki issue-server --dir DIR"
    kind, _, ident = c.principal.rpartition(":")
    option = f" --kind {kind}" if kind else ""
    return f"renew it: nikgate pki renew {ident or c.principal}{option} --dir DIR"


def _warn(c: CertExpiry, days: float, level: int) -> None:
    when = dt.datetime.fromtimestamp(c.not_after, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    who = f"{c.role} certificate {c.serial}" + (f" ({c.principal})" if c.principal else "")
    state = (f"expired {-days:.1f} days ago" if days <= 0 else
             f"expires in {days:.1f} days, under {level}")
    log.warning("%s %s (not after %s): %s", who, state, when, _advice(c),
                extra={"role": c.role, "institution": c.principal, "serial": c.serial,
                       "not_after": when, "days_left": round(days, 2),
                       "threshold_days": level})

