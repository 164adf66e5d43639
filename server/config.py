"""Server configuration: one frozen, typed object from a TOML file plus environment.

Every key is documented in docs/configuration.md. An environment variable
NIKGATE_<SECTION>_<KEY> (upper case) overrides the file, e.g. NIKGATE_SERVER_WORKERS=2.
No server setting is read from os.environ anywhere else. The other reads are:
server/metrics_setup.py exports (and then checks) PROMETHEUS_MULTIPROC_DIR so that
prometheus-client in the workers runs in multiprocess mode; nikgate/loadgen/servers.py reads
NIKGATE_PG_BINDIR and NIKGATE_PG_USER to find PostgreSQL for the benchmark's comparison
peers and passes PATH on to their processes; setup.py reads NIKGATE_CYTHON_TRACE at build time.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nikgate.errors import InvalidInputError

MiB = 1 << 20


@dataclass(frozen=True)
class ServerSection:
    address: str = "127.0.0.1:50051"     # host:port; port 0 lets the OS pick
    workers: int = 0                      # worker processes; 0 = CPU count
    max_message_bytes: int = 16 * MiB     # larger requests get RESOURCE_EXHAUSTED
    max_concurrent_streams: int = 64      # per connection (HTTP/2 setting)
    max_in_flight: int = 512              # per worker; beyond it calls are shed
    max_batch_items: int = 10_000         # per VerifyBatch / LookupBatch message
    max_deadline_seconds: float = 30.0    # longer client deadlines are capped to this
    max_stream_seconds: float = 600.0     # a stream ends (UNAVAILABLE, all it read answered)
                                          # after this long; the client opens a new one
    keepalive_min_time_seconds: int = 10  # pings more often than this are bad behaviour
    grace_seconds: float = 10.0           # drain time on shutdown
    # Connection limits (docs/security.md). A connection costs a descriptor
    # from accept on, before any certificate is seen, so these bound what a peer without
    # a certificate can hold.
    handshake_timeout_seconds: float = 5.0   # TLS + HTTP/2 preface must finish by then
    idle_timeout_seconds: float = 300.0      # no call for this long: GOAWAY, then close
    max_connection_age_seconds: float = 3600.0  # GOAWAY at this age (+-10%); 0 = never
    max_connection_age_grace_seconds: float = 30.0  # calls in flight get this to finish
    max_connections: int = 5_000          # per worker (0 = what the descriptor limit
                                          # allows); above it the most idle are shed
    port_file: str = ""                   # where to write the bound port (tests, demo)
    drain_seconds: float = 0.0            # on shutdown, health NOT_SERVING this long
                                          # before calls stop being taken: time for a
                                          # load balancer to move away (docs/deploy.md)
    node_id: str = ""                     # this node in a cluster (docs/deploy.md): its
                                          # audit streams are <node_id>-w0, ...; empty =
                                          # one node (streams w0, ...)


@dataclass(frozen=True)
class IndexSection:
    path: str = "var/demo/index"
    scrub_interval_seconds: float = 3600.0   # re-verify the open index this often; 0 = off
    scrub_records_per_second: int = 200_000  # the scrub's pace: bounded I/O and CPU
    reload_check_seconds: float = 1.0        # look for a new generation this often; 0 = off
    reload_verify: bool = True               # check a new generation in full before serving it


@dataclass(frozen=True)
class TlsSection:
    ca: str = "var/demo/pki/ca/ca.crt"
    cert: str = "var/demo/pki/server/server.crt"
    key: str = "var/demo/pki/server/server.key"
    crl: str = "var/demo/pki/ca/crl.pem"


@dataclass(frozen=True)
class ReceiptSection:
    signing_key: str = "var/demo/receipt-signing.key"  # Ed25519 PEM, made on first run


@dataclass(frozen=True)
class AccessSection:
    store: str = "var/demo/control"   # institutions, grants and usage (LMDB)
    refresh_seconds: float = 0.2      # how often workers look for grant changes
    enforce: bool = True              # false only for benchmarks: identity still checked
    scraping_guard: bool = True       # false only for load tests that sweep a small index
                                      # (they look like enumeration, rightly)


@dataclass(frozen=True)
class AuditSection:
    directory: str = "var/demo/audit"         # hash-chained segments, one stream per worker
    key: str = "var/demo/audit-nik.key"       # secret for NIK references (made on first use)
    commit_interval_seconds: float = 0.05     # group commit: fsync at most this far behind
    enabled: bool = True
    refusal_rate_per_second: float = 20.0     # refused calls audited one by one, per caller
    refusal_burst: int = 200                  # and worker; past it, in summary records
    refusal_summary_seconds: float = 1.0      # one summary record per caller, method and
                                              # status this often; those calls wait for it


@dataclass(frozen=True)
class ReturnDataSection:
    store: str = "var/demo/returns"       # return data and the access ledger (LMDB)
    ledger_flush_seconds: float = 0.5     # accessed NIKs reach the ledger this far behind
    stream_window: int = 8                # batches a stream may have read but not acked
    max_pending_records: int = 200_000    # per worker, queued for the disk
    max_group_records: int = 50_000       # records per synced commit, at most
    auto_suspend: bool = True             # suspend grants with too much overdue
    max_overdue: int = 1000               # overdue NIKs tolerated before suspension
    grace_days: float = 7.0               # no auto-suspension this soon after a grant was
                                          # set or reactivated: time to catch up
    check_seconds: float = 300.0          # how often overdue obligations are counted


@dataclass(frozen=True)
class CardReaderSection:
    challenge_seconds: float = 120.0      # a GetChallenge challenge is valid this long
    max_outstanding_challenges: int = 8   # per SAM; asking for more drops the oldest


@dataclass(frozen=True)
class PortalSection:
    """The web portal (docs/portal.md): `nikgate portal` serves it; relative paths are
    relative to the config file."""
    address: str = "127.0.0.1:9443"       # HTTPS host:port; port 0 lets the OS pick
    state: str = "var/demo/portal"        # its own store: users, sessions, activity (SQLite)
    https_cert: str = "var/demo/pki/portal-https/server.crt"   # a nikgate PKI server cert
    https_key: str = "var/demo/pki/portal-https/server.key"
    nikgate_address: str = ""             # nikgate's gRPC address; empty = [server] address
    client_cert: str = "var/demo/pki/issued/portal-web.portal.crt"   # the portal adapter's
    client_key: str = "var/demo/pki/issued/portal-web.portal.key"    # certificate (kind portal)
    public_url: str = ""                  # base of set-password links; empty = https://address
    idle_timeout_seconds: float = 900.0   # a session ends after this long without a request
    absolute_timeout_seconds: float = 28800.0   # and this long after sign-in, whatever
    max_failures: int = 5                 # failed sign-ins in a row before the account locks
    signin_per_minute: int = 10           # sign-in attempts per source address and minute
    set_password_hours: float = 72.0      # a set-password link is valid this long
    max_batch_rows: int = 100_000         # rows of a Verifikasi massal upload
    port_file: str = ""                   # where to write the bound port (tests, demo)


@dataclass(frozen=True)
class GatewaySection:
    """`nikgate gateway`: the JSON/HTTPS face (docs/json-api.md)."""

    address: str = "127.0.0.1:8443"      # HTTPS host:port; port 0 lets the OS pick
    upstream: str = ""                    # the gRPC service; empty = [server] address
    cert: str = ""                        # HTTPS certificate (nikgate PKI server cert);
    key: str = ""                         # empty = [tls] cert and key
    adapter_cert: str = "var/demo/pki/issued/json.gateway.crt"   # kind "gateway": acts
    adapter_key: str = "var/demo/pki/issued/json.gateway.key"    # for the presented cert
    server_name: str = "localhost"        # the name on the gRPC service's certificate
    channels: int = 4                     # HTTP/2 connections to the service
    max_body_bytes: int = 16 * MiB        # larger bodies get 413 before any parsing
    deadline_seconds: float = 30.0        # per call to the service
    port_file: str = ""                   # where to write the bound port (tests, demo)


@dataclass(frozen=True)
class ClusterSection:
    """Cluster mode (docs/cluster.md): the state nodes share lives in PostgreSQL. An empty
    `postgres_dsn` is the single-node default: everything in the LMDB stores, as before.
    The node's name is `[server] node_id` (required with a dsn)."""

    postgres_dsn: str = ""                # libpq connection string; empty = one node
    pool_size: int = 4                    # PostgreSQL connections per worker (plus one
                                          # listening for grant changes)
    connect_timeout_seconds: float = 2.0  # a connection attempt gives up after this long
    statement_timeout_seconds: float = 5.0  # any statement gives up after this long
    lease_block: int = 1000               # NIKs of daily quota leased per request
    lease_seconds: float = 30.0           # a node cut off from PostgreSQL serves from its
                                          # lease this long, then refuses metered calls
    heartbeat_seconds: float = 5.0        # leases renewed and usage reported this often
    scraping_sync_seconds: float = 1.0    # scraping windows exchanged between nodes


@dataclass(frozen=True)
class MetricsSection:
    address: str = "127.0.0.1:0"   # Prometheus endpoint; empty disables it
    directory: str = ""            # multiprocess files; empty = a private temp dir


@dataclass(frozen=True)
class LoggingSection:
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    index: IndexSection = field(default_factory=IndexSection)
    tls: TlsSection = field(default_factory=TlsSection)
    receipts: ReceiptSection = field(default_factory=ReceiptSection)
    access: AccessSection = field(default_factory=AccessSection)
    audit: AuditSection = field(default_factory=AuditSection)
    return_data: ReturnDataSection = field(default_factory=ReturnDataSection)
    card_reader: CardReaderSection = field(default_factory=CardReaderSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    gateway: GatewaySection = field(default_factory=GatewaySection)
    portal: PortalSection = field(default_factory=PortalSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    logging: LoggingSection = field(default_factory=LoggingSection)

    def with_overrides(self, **sections: Mapping[str, object]) -> Config:
        """A copy with some keys replaced: with_overrides(server={"workers": 2})."""
        return _build({k: {**dataclasses.asdict(getattr(self, k)), **v}
                       for k, v in sections.items()}, base=self)


def _coerce(value: object, kind: type, where: str) -> object:
    if isinstance(value, str) and kind is not str:
        try:
            if kind is bool:
                return value.strip().lower() in ("1", "true", "yes", "on")
            return kind(value)
        except ValueError:
            raise InvalidInputError(f"{where} must be {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise InvalidInputError(f"{where} must be {kind.__name__}, got {value!r}")
    return value


def _build(data: Mapping[str, Mapping[str, object]], base: Config | None = None) -> Config:
    base = base or Config()
    sections = {}
    hints = typing.get_type_hints(Config)
    for name, section_type in hints.items():
        current = getattr(base, name)
        given = dict(data.get(name, {}))
        section_hints = typing.get_type_hints(section_type)
        unknown = set(given) - set(section_hints)
        if unknown:
            raise InvalidInputError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
        values = {k: _coerce(v, section_hints[k], f"{name}.{k}") for k, v in given.items()}
        sections[name] = dataclasses.replace(current, **values)
    unknown = set(data) - set(hints)
    if unknown:
        raise InvalidInputError(f"unknown section(s): {', '.join(sorted(unknown))}")
    return Config(**sections)


def load_config(path: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from `path` (optional) with NIKGATE_* environment overrides."""
    data: dict[str, dict[str, object]] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise InvalidInputError(f"cannot read config {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidInputError(f"config {path} is not valid TOML: {e}") from None
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(Config)
    for name, section_type in hints.items():
        for key in typing.get_type_hints(section_type):
            env_key = f"NIKGATE_{name}_{key}".upper()
            if env_key in environ:
                data.setdefault(name, {})[key] = environ[env_key]
    config = _build(data)
    base_dir = Path(path).parent if path is not None else Path.cwd()
    return _resolve_paths(config, base_dir)


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative file paths in a config file are relative to that file."""
    def fix(p: str) -> str:
        return str(base / p) if p and not os.path.isabs(p) else p

    return dataclasses.replace(
        config,
        index=dataclasses.replace(config.index, path=fix(config.index.path)),
        tls=dataclasses.replace(config.tls, ca=fix(config.tls.ca), cert=fix(config.tls.cert),
                                key=fix(config.tls.key), crl=fix(config.tls.crl)),
        receipts=dataclasses.replace(config.receipts,
                                     signing_key=fix(config.receipts.signing_key)),
        access=dataclasses.replace(config.access, store=fix(config.access.store)),
        return_data=dataclasses.replace(config.return_data,
                                        store=fix(config.return_data.store)),
        audit=dataclasses.replace(config.audit, directory=fix(config.audit.directory),
                                  key=fix(config.audit.key)),
        gateway=dataclasses.replace(config.gateway, cert=fix(config.gateway.cert),
                                    key=fix(config.gateway.key),
                                    adapter_cert=fix(config.gateway.adapter_cert),
                                    adapter_key=fix(config.gateway.adapter_key)),
    )
