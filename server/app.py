"""build_server(config): one worker's grpc.aio server, started, with the port it bound."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nikgate.engine import NikIndex
from nikgate.v1 import admin_pb2, lookup_pb2, return_data_pb2, verification_pb2

from . import metrics
from .access.policy import AccessPolicy
from .access.scraping import ScrapingGuard
from .access.store import ControlStore
from .calls import Call, CallGuard, Limits
from .config import Config
from .handlers.admin import SERVICE as ADMIN
from .handlers.admin import AdminHandlers
from .handlers.batching import Access
from .handlers.lookup import SERVICE as LOOKUP
from .handlers.lookup import LookupHandlers
from .handlers.return_data import SERVICE as RETURN_DATA
from .handlers.return_data import ReturnDataHandlers
from .handlers.verification import SERVICE as VERIFICATION
from .handlers.verification import VerificationHandlers
from .identity import Authenticator, Caller
from .pki import CrlChecker, ServerCertWatcher, load_keypair
from .receipts import ReceiptSigner
from .returns.committer import ReturnCommitter
from .returns.ledger import AccessLedger
from .returns.obligations import Enforcer
from .returns.store import ReturnStore

log = logging.getLogger(__name__)

SERVICES = (VERIFICATION, LOOKUP, RETURN_DATA, ADMIN)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    index: NikIndex
    guard: CallGuard
    store: ControlStore
    audit_log: object | None
    returns: ReturnStore
    ledger: AccessLedger
    committer: ReturnCommitter
    background: list[asyncio.Task]

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING first, so balancers move away; then drain for `grace` s."""
        for name in ("", *SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
        for task in self.background:
            task.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.committer.close)
        await loop.run_in_executor(None, self.ledger.stop)
        self.index.close()
        if self.audit_log is not None:
            self.audit_log.close()
        self.returns.release()
        self.store.release()


_in_process_servers = itertools.count()


def open_audit(config: Config, worker_id: int | None):
    """The worker's audit stream and the guard's hook that writes one entry per call.

    A worker slot keeps one stream across restarts (`w0`, `w1`...), so a killed worker's
    stream is resumed and sealed by its replacement; servers started in-process (tests)
    get a stream of their own."""
    if not config.audit.enabled:
        return None, None
    from .audit import AuditEntry, AuditLog

    stream = (f"w{worker_id}" if worker_id is not None
              else f"p{os.getpid()}-{next(_in_process_servers)}")
    audit_log = AuditLog.open(config.audit.directory, config.audit.key, stream,
                              commit_interval=config.audit.commit_interval_seconds)

    def record(call: Call, code: str) -> None:
        caller = call.caller
        audit_log.append(AuditEntry(
            time_ms=int(time.time() * 1000),
            transaction_id=call.tx,
            institution=caller.institution_id if caller else "-",
            cert_serial=f"{caller.serial:x}" if caller else "",
            channel=call.channel,
            method=call.method,
            purpose=call.purpose,
            result=code,
            latency_us=int((time.perf_counter() - call.started) * 1e6),
            fields_requested=call.fields_requested,
            fields_returned=call.fields_returned if code == "OK" else (),
            niks=call.niks,
            item_results=call.item_results if code == "OK" else b"",
        ))

    return audit_log, record


def server_credentials(config: Config) -> grpc.ServerCredentials:
    """mTLS only; the server certificate is re-read on change, for new handshakes."""
    ca_pem = Path(config.tls.ca).read_bytes()
    watcher = ServerCertWatcher(config.tls.cert, config.tls.key)
    key_pem, cert_pem = load_keypair(config.tls.cert, config.tls.key)

    def fetch():
        changed = watcher.changed()
        if changed is None:
            return None
        log.info("server certificate changed: new handshakes use it")
        return grpc.ssl_server_certificate_configuration([changed], root_certificates=ca_pem)

    initial = grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)],
                                                        root_certificates=ca_pem)
    return grpc.dynamic_ssl_server_credentials(initial, fetch,
                                               require_client_authentication=True)


def server_options(config: Config) -> list[tuple[str, int]]:
    s = config.server
    return [
        ("grpc.max_receive_message_length", s.max_message_bytes),
        ("grpc.max_send_message_length", s.max_message_bytes),
        ("grpc.max_concurrent_streams", s.max_concurrent_streams),
        ("grpc.so_reuseport", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", s.keepalive_min_time_seconds * 1000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]


async def build_server(config: Config, *, port: int | None = None,
                       index: NikIndex | None = None,
                       worker_id: int | None = None) -> RunningServer:
    """Start a server per `config`; `port` overrides the configured one (0 = any free)."""
    index = index or NikIndex.open(config.index.path)
    signer = ReceiptSigner.load(config.receipts.signing_key)
    store = ControlStore.shared(config.access.store)
    store.start_syncing()
    policy = AccessPolicy(store, config.access.refresh_seconds)
    auth = Authenticator(CrlChecker(config.tls.crl, config.tls.ca), policy)
    scraping = ScrapingGuard(
        alert=lambda institution, _reason: metrics.SCRAPING_ALERTS.labels(institution).inc())
    rd = config.return_data
    returns = ReturnStore.shared(rd.store)
    ledger = AccessLedger(returns, rd.ledger_flush_seconds)
    ledger.start()
    committer = ReturnCommitter(returns, rd.max_group_records, rd.max_pending_records)
    access = Access(policy, config.access.enforce, scraping, ledger)
    audit_log, audit_hook = open_audit(config, worker_id)
    s = config.server
    guard = CallGuard(auth, Limits(s.max_in_flight, s.max_deadline_seconds), audit_hook)
    verification = VerificationHandlers(index, signer, access, s.max_batch_items)
    lookup = LookupHandlers(index, signer, access, s.max_batch_items)
    admin = AdminHandlers(store)
    return_data = ReturnDataHandlers(returns, committer, signer, access, rd.stream_window)

    server = grpc.aio.server(options=server_options(config))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(VERIFICATION, {
            "Verify": guard.unary("Verify", verification.verify),
            "VerifyBatch": guard.unary("VerifyBatch", verification.verify_batch, batched=True),
            "VerifyStream": guard.stream("VerifyStream", verification.verify_stream),
        }),
        grpc.method_handlers_generic_handler(LOOKUP, {
            "Lookup": guard.unary("Lookup", lookup.lookup),
            "LookupBatch": guard.unary("LookupBatch", lookup.lookup_batch, batched=True),
        }),
        grpc.method_handlers_generic_handler(RETURN_DATA, {
            "Submit": guard.stream("Submit", return_data.submit),
            "Obligations": guard.unary("Obligations", return_data.obligations),
        }),
        grpc.method_handlers_generic_handler(ADMIN, {
            name: guard.unary(name, getattr(admin, attr)) for name, attr in (
                ("AddInstitution", "add_institution"),
                ("ListInstitutions", "list_institutions"),
                ("SetGrant", "set_grant"), ("SetGrantStatus", "set_grant_status"),
                ("GetGrant", "get_grant"), ("GetUsage", "get_usage"))
        }),
    ))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (verification_pb2.DESCRIPTOR.services_by_name["Verification"].full_name,
         lookup_pb2.DESCRIPTOR.services_by_name["Lookup"].full_name,
         return_data_pb2.DESCRIPTOR.services_by_name["ReturnData"].full_name,
         admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
         health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)

    host, _, configured_port = s.address.rpartition(":")
    bind_port = int(configured_port) if port is None else port
    bound = server.add_secure_port(f"{host or '127.0.0.1'}:{bind_port}",
                                   server_credentials(config))
    if bound == 0:
        raise OSError(f"cannot bind {host}:{bind_port}")
    await server.start()
    metrics.set_index_built_at(
        dt.datetime.fromisoformat(index.manifest["built_at"]).timestamp())
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    background = []
    # One enforcer per server: worker 0 under the supervisor, or an in-process server.
    if rd.auto_suspend and config.access.enforce and worker_id in (None, 0):
        enforcer = Enforcer(returns, lambda: policy_grants(store), store.suspend_if_active,
                            suspension_audit(guard), rd.max_overdue, rd.grace_days)
        background.append(asyncio.create_task(_enforce_periodically(enforcer,
                                                                    rd.check_seconds)))
    log.info("serving", extra={"port": bound, "records": index.record_count,
                               "generation": index.generation.name})
    return RunningServer(server, bound, health_servicer, index, guard, store, audit_log,
                         returns, ledger, committer, background)


def policy_grants(store: ControlStore) -> dict:
    return store.snapshot()[2]


def suspension_audit(guard: CallGuard):
    """Writes an automatic suspension to the audit log like a call, with its reason."""
    def record(institution: str, reason: str) -> None:
        if guard.audit is None:
            return
        call = Call(guard.transaction_id(), "ReturnData/AutoSuspend",
                    caller=Caller(institution, "system", 0), channel="system",
                    operation="grant.suspended", purpose=reason[:500])
        guard.audit(call, "OK")
    return record


async def _enforce_periodically(enforcer: Enforcer, every: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        try:
            await loop.run_in_executor(None, enforcer.run_once, time.time_ns() // 1_000_000)
        except Exception:
            log.exception("return-data enforcement failed; will retry")
