"""build_server(config): one worker's grpc.aio server, started, with the port it bound."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nikgate import methods
from nikgate.engine import NikIndex

from . import limits, metrics, metrics_setup
from .access.checks import Access
from .access.policy import AccessPolicy
from .access.sams import SamRegistry
from .access.scraping import ScrapingGuard
from .access.store import Control, ControlStore
from .audit import AuditLog
from .call_audit import CallAudit
from .calls import CallGuard, Limits, Route, new_call
from .config import Config
from .handlers.account import AccountHandlers
from .handlers.admin import AdminHandlers
from .handlers.card_reader import CHANNEL as CARD_READER
from .handlers.card_reader import CardReaderHandlers
from .handlers.lookup import LookupHandlers
from .handlers.return_data import ReturnDataHandlers
from .handlers.verification import VerificationHandlers
from .health import AsyncHealthServicer, HealthBoard
from .identity import Authenticator, Caller
from .index_holder import ServingIndex
from .pki.expiry import Sightings
from .pki.runtime import CrlChecker, ServerCertWatcher, load_keypair
from .receipts import ReceiptSigner
from .returns.committer import ReturnCommitter
from .returns.ledger import AccessLedger
from .returns.obligations import Enforcer
from .returns.store import Returns, ReturnStore
from .scrub import IndexScrubber

log = logging.getLogger(__name__)

SERVICES = methods.SERVICES


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: AsyncHealthServicer
    board: HealthBoard
    serving: ServingIndex           # the generation served now, swapped live (index_holder)
    guard: CallGuard
    store: Control                  # LMDB; ClusterControl with [cluster] postgres_dsn
    policy: AccessPolicy            # refresh(force=True): apply a grant change at once
    scraping: ScrapingGuard | None  # reset(institution): lift a throttle after review
    audit_log: AuditLog | None
    returns: Returns
    ledger: AccessLedger
    committer: ReturnCommitter
    background: list[asyncio.Task]
    drain_seconds: float = 0.0      # NOT_SERVING this long before calls stop being taken


    @property
    def index(self) -> NikIndex:
        """The generation served now (tests, figures); calls use serving.acquire()."""
        return self.serving.index

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING first, so balancers move away (for `drain_seconds` calls are
        still taken while they notice); then drain calls in flight for `grace` s."""
        await self.board.stop()
        if self.drain_seconds > 0:
            await asyncio.sleep(self.drain_seconds)
        await self.server.stop(grace)
        for task in self.background:
            task.cancel()
        self.guard.audit.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.committer.close)
        await loop.run_in_executor(None, self.ledger.stop)
        self.serving.close()
        if self.audit_log is not None:
            self.audit_log.close()
        self.returns.release()
        self.store.release()


_in_process_servers = itertools.count()


def open_stores(config: Config) -> tuple[Control, Returns]:
    """The control state and the return-data store: the LMDB stores on one node (the
    default), or, with `[cluster] postgres_dsn`, what nodes share in PostgreSQL with
    usage counted in the node's LMDB control store (server/cluster, docs/cluster.md)."""
    if config.cluster.postgres_dsn:
        from .cluster import open_cluster

        cluster = open_cluster(config)
        return cluster.control, cluster.returns
    return (ControlStore.shared(config.access.store),
            ReturnStore.shared(config.return_data.store))


def open_audit(config: Config, worker_id: int | None) -> CallAudit:
    """The worker's audit stream, behind the per-call audit that writes one record a call.

    A worker slot keeps one stream across restarts (`w0`, `w1`...), so a killed worker's
    stream is resumed and sealed by its replacement; servers started in-process (tests)
    get a stream of their own. A cluster node's streams start with its `[server] node_id`
    (`jkt-1-w0`), so the logs of several nodes can be read, or gathered, together."""
    a = config.audit
    if not a.enabled:
        return CallAudit(None)

    stream = (f"w{worker_id}" if worker_id is not None
              else f"p{os.getpid()}-{next(_in_process_servers)}")
    if config.server.node_id:   # a cluster node: its streams carry its name (docs/deploy.md)
        stream = f"{config.server.node_id}-{stream}"
    audit_log = AuditLog.open(a.directory, a.key, stream,
                              commit_interval=a.commit_interval_seconds)
    return CallAudit(audit_log, a.refusal_rate_per_second, a.refusal_burst,
                     a.refusal_summary_seconds)


def audit_before_commit(audit: CallAudit):
    """The return-data committer's hook: every batch of a group audited, and the records
    synced, inside the group's store transaction (an exception aborts it)."""
    def write(subs) -> None:
        for sub in subs:
            call = sub.call
            call.item_results = bytes(sub.status)
            audit.record(call, "OK")
        if audit.log is not None:
            try:
                audit.log.flush()
            except Exception as e:
                audit.record_failed(e)
                raise audit.unavailable(subs[0].call.tx) from None
    return write


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
    """grpc core channel args for one worker's server (docs/security.md)."""
    s = config.server
    options = [
        ("grpc.max_receive_message_length", s.max_message_bytes),
        ("grpc.max_send_message_length", s.max_message_bytes),
        ("grpc.max_concurrent_streams", s.max_concurrent_streams),
        ("grpc.so_reuseport", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", s.keepalive_min_time_seconds * 1000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # Covers TCP accept to the client's HTTP/2 SETTINGS (TLS included); grpc's own
        # default is 120 s, which let sockets that never handshake pile up.
        ("grpc.server_handshake_timeout_ms", max(1, round(s.handshake_timeout_seconds * 1000))),
        # Beyond this hard cap grpc closes new connections at accept; it never evicts old
        # ones. The worker's shedding thread keeps connections near the soft cap instead.
        ("grpc.max_allowed_incoming_connections", limits.connection_caps(s.max_connections)[1]),
    ]
    if s.idle_timeout_seconds > 0:
        options.append(("grpc.max_connection_idle_ms", round(s.idle_timeout_seconds * 1000)))
    if s.max_connection_age_seconds > 0:
        options += [
            ("grpc.max_connection_age_ms", round(s.max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms",
             round(s.max_connection_age_grace_seconds * 1000)),
        ]
    return options


async def build_server(config: Config, *, port: int | None = None,
                       index: NikIndex | None = None,
                       worker_id: int | None = None) -> RunningServer:
    """Start a server per `config`; `port` overrides the configured one (0 = any free)."""
    serving = ServingIndex(config.index.path, first=index, verify=config.index.reload_verify)
    signer = ReceiptSigner.load(config.receipts.signing_key)
    store, returns = open_stores(config)
    store.start_syncing()
    policy = AccessPolicy(store, config.access.refresh_seconds)
    # Under `nikgate serve` the worker notes the client certificates it accepts for the
    # supervisor's expiry gauge (server/pki/expiry.py); an in-process server has no gauge.
    certs_file = metrics_setup.certs_file()
    sightings = Sightings(certs_file) if certs_file is not None else None
    auth = Authenticator(CrlChecker(config.tls.crl, config.tls.ca), policy,
                         sightings=sightings)
    scraping = ScrapingGuard(
        store=store, grants=policy.grant,   # windows and throttles shared by every worker
        alert=lambda institution, _reason: metrics.SCRAPING_ALERTS.labels(institution).inc()
    ) if config.access.scraping_guard else None
    rd = config.return_data
    ledger = AccessLedger(returns, rd.ledger_flush_seconds)
    ledger.start()
    call_audit = open_audit(config, worker_id)
    committer = ReturnCommitter(returns, rd.max_group_records, rd.max_pending_records,
                                audit_before_commit(call_audit))
    access = Access(policy, config.access.enforce, scraping, ledger)
    s = config.server
    guard = CallGuard(auth, Limits(s.max_in_flight, s.max_deadline_seconds,
                                   s.max_stream_seconds), call_audit, signer)
    verification = VerificationHandlers(serving, access, s.max_batch_items)
    lookup = LookupHandlers(serving, access, s.max_batch_items)
    audited = config.audit.enabled
    admin = AdminHandlers(store, audit_dir=config.audit.directory if audited else None,
                          audit_key=config.audit.key if audited else None,
                          serving=serving, worker_id=worker_id)
    return_data = ReturnDataHandlers(returns, committer, access, rd.stream_window)
    account = AccountHandlers(store)
    cr = config.card_reader
    card_reader = CardReaderHandlers(serving, access, SamRegistry(
        store, cr.challenge_seconds, cr.max_outstanding_challenges))
    routes = {
        "Verification": {
            "Verify": Route(verification.verify),
            "VerifyBatch": Route(verification.verify_batch, batched=True),
            "VerifyStream": Route(verification.verify_stream, batched=True)},
        "Lookup": {
            "Lookup": Route(lookup.lookup),
            "LookupBatch": Route(lookup.lookup_batch, batched=True)},
        "ReturnData": {
            "Submit": Route(return_data.submit, batched=True),
            "Obligations": Route(return_data.obligations, sealed=False)},
        "CardReader": {
            "GetChallenge": Route(card_reader.get_challenge, sealed=False, channel=CARD_READER),
            "CardVerify": Route(card_reader.card_verify, channel=CARD_READER)},
        "Admin": {   # every Admin method, handled by AdminHandlers.<snake_case name>
            rpc.name: Route(getattr(admin, _snake(rpc.name)), sealed=False,
                            operators_only=True)
            for rpc in methods.of_service("nikgate.v1.Admin")},
        "Account": {   # institutions only (the handler refuses operators); counts nothing
            "GetMyGrant": Route(account.get_my_grant, sealed=False),
            "GetMyUsage": Route(account.get_my_usage, sealed=False)},
    }

    server = grpc.aio.server(options=server_options(config))
    server.add_generic_rpc_handlers(generic_handlers(guard, routes))
    health_servicer = AsyncHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    board = HealthBoard(health_servicer, SERVICES, asyncio.get_running_loop())
    call_audit.health = board

    host, _, configured_port = s.address.rpartition(":")
    bind_port = int(configured_port) if port is None else port
    bound = server.add_secure_port(f"{host or '127.0.0.1'}:{bind_port}",
                                   server_credentials(config))
    if bound == 0:
        raise OSError(f"cannot bind {host}:{bind_port}")
    await server.start()
    await board.start()
    background = []
    # One enforcer per server: worker 0 under the supervisor, or an in-process server.
    if rd.auto_suspend and config.access.enforce and worker_id in (None, 0):
        enforcer = Enforcer(returns, lambda: policy_grants(store), store.suspend_if_active,
                            suspension_audit(guard), rd.max_overdue, rd.grace_days)
        background.append(asyncio.create_task(_enforce_periodically(enforcer,
                                                                    rd.check_seconds)))
    # One index scrub per server too; damage found turns health NOT_SERVING via the board.
    if config.index.scrub_interval_seconds > 0 and worker_id in (None, 0):
        scrubber = IndexScrubber(serving, config.index.scrub_interval_seconds,
                                 lambda ok, detail: board.report("index", ok, detail),
                                 config.index.scrub_records_per_second)
        background.append(asyncio.create_task(scrubber.run()))
        loop = asyncio.get_running_loop()   # after a swap, re-scrub at once if damaged
        serving.on_swap.append(lambda: loop.call_soon_threadsafe(scrubber.wake))
    if sightings is not None:
        background.append(asyncio.create_task(sightings.run()))
    if config.index.reload_check_seconds > 0:   # every worker follows `current` itself
        background.append(asyncio.create_task(
            serving.watch(config.index.reload_check_seconds)))
    log.info("serving", extra={"port": bound, "records": serving.index.record_count,
                               "generation": serving.index.generation.name})
    return RunningServer(server, bound, health_servicer, board, serving, guard, store, policy,
                         scraping, call_audit.log, returns, ledger, committer, background,
                         s.drain_seconds)


def policy_grants(store: Control) -> dict:
    return store.snapshot()[2]


def generic_handlers(guard: CallGuard, routes: dict[str, dict[str, Route]]):
    """One generic handler per service, every RPC of the API routed: a method in the protos
    without a route (or a route without a method) is an error at start, not a 12 later."""
    out = []
    for service in SERVICES:
        short = service.rpartition(".")[2]
        given = dict(routes.get(short, {}))
        handlers = {}
        for rpc in methods.of_service(service):
            if rpc.name not in given:
                raise LookupError(f"no handler for {rpc.path}")
            handlers[rpc.name] = guard.handler(rpc, given.pop(rpc.name))
        if given:
            raise LookupError(f"routes for methods {service} does not have: {sorted(given)}")
        out.append(grpc.method_handlers_generic_handler(service, handlers))
    unknown = set(routes) - {s.rpartition(".")[2] for s in SERVICES}
    if unknown:
        raise LookupError(f"routes for unknown services: {sorted(unknown)}")
    return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def suspension_audit(guard: CallGuard):
    """Writes an automatic suspension to the audit log like a call, with its reason."""
    def record(institution: str, reason: str) -> None:
        call = new_call(guard.transaction_id(), "ReturnData/AutoSuspend",
                        Caller(institution, "institution", 0), channel="system",
                        operation="grant.suspended", purpose=reason[:500])
        guard.audit.record(call, "OK")
    return record


async def _enforce_periodically(enforcer: Enforcer, every: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        try:
            await loop.run_in_executor(None, enforcer.run_once, time.time_ns() // 1_000_000)
        except Exception:
            log.exception("return-data enforcement failed; will retry")
