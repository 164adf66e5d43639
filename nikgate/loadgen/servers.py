"""Throwaway Redis and PostgreSQL servers on free loopback ports, for compare mode.

Process management only: find the binaries, start a server in a work directory, wait until
it answers, stop it and remove what it left behind. What the servers are then asked to do
(the records loaded into them, the batched requests, the figures) is peers.py's job, so a
change to a workload never touches the code that starts and reaps processes, and the
reverse. Nothing here imports a client library: readiness is a raw PING for Redis and
``pg_ctl -w`` for PostgreSQL.

Each server is a context manager that starts its own server in `workdir` on a free port of
127.0.0.1 (a socket bound to port 0 picks it; a port taken before the server binds it is
retried) and stops it on exit; a weakref finalizer stops it too if the object is dropped.

- redis-server runs as the current user (root is fine) with ``--save '' --appendonly
  no``: nothing is persisted, nothing is shared with a system Redis.
- PostgreSQL refuses to run as root. When this process is root the cluster's commands
  (initdb, pg_ctl, postgres) run as an unprivileged account, through subprocess's
  ``setpriv`` (uid and gid set, supplementary groups dropped; see `_as_account`): the
  ``postgres`` account the Debian package creates, else ``nobody``
  (``NIKGATE_PG_USER`` overrides). That account must be able to reach the data
  directory; `workdir` is tried first (checked by running ``test -w`` as that account),
  and when a parent is closed to it (pytest's /tmp/pytest-of-root is 0700) the cluster
  goes to a fresh private directory under the system temp dir instead, removed on stop;
  its server log is copied into `workdir`. The binaries are found through
  ``NIKGATE_PG_BINDIR``, else the newest /usr/lib/postgresql/*/bin, else PATH.
  The cluster is throwaway and tuned for a read benchmark: ``initdb --no-sync``,
  ``fsync=off``, ``synchronous_commit=off``, ``full_page_writes=off`` (a crash loses
  the cluster, which is fine here; none of it changes how reads are served),
  ``shared_buffers=256MB`` so 1M records stay in memory, ``jit=off``, trust
  authentication on 127.0.0.1 only, no Unix socket.

Setup: ``make peers`` installs the Debian packages redis-server and postgresql when they
are missing; `redis_problem()` and `postgres_problem()` say why a server cannot run here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Self

HOST = "127.0.0.1"
START_TIMEOUT = 60.0       # seconds for a server to come up
STOP_TIMEOUT = 30.0
PG_SUPERUSER = "nikbench"  # the role initdb creates; trust auth on 127.0.0.1
PG_DATABASE = "postgres"
PG_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "max_connections": "64",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "logging_collector": "off",
}


class ServerUnavailable(RuntimeError):
    """A server cannot run on this machine (missing binaries or no account to run it as)."""


# -- availability -------------------------------------------------------------------------


def _redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _pg_bindir() -> Path | None:
    def ok(d: Path) -> bool:
        return all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres"))

    env = os.environ.get("NIKGATE_PG_BINDIR")
    if env:
        return Path(env) if ok(Path(env)) else None
    versions = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            versions.append((float(d.parent.name), d))
    for _, d in sorted(versions, reverse=True):
        if ok(d):
            return d
    initdb = shutil.which("initdb")
    if initdb:
        d = Path(os.path.realpath(initdb)).parent
        if ok(d):
            return d
    return None


def _pg_account() -> pwd.struct_passwd | None:
    """The account the cluster runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["NIKGATE_PG_USER"]] if os.environ.get("NIKGATE_PG_USER") else [
        "postgres", "nobody"]
    for name in names:
        with contextlib.suppress(KeyError):
            account = pwd.getpwnam(name)
            if account.pw_uid != 0:
                return account
    raise ServerUnavailable(
        f"running as root and no unprivileged account ({' or '.join(names)}) to run "
        "PostgreSQL as; create one (useradd --system postgres) or set NIKGATE_PG_USER")


def redis_problem() -> str | None:
    """None when redis-server can run here, else why not."""
    if _redis_server_binary() is None:
        return "redis-server is not installed (run `make peers`)"
    return None


def postgres_problem() -> str | None:
    """None when a PostgreSQL cluster can run here, else why not."""
    if _pg_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed "
                "(run `make peers`, or set NIKGATE_PG_BINDIR)")
    try:
        _pg_account()
    except ServerUnavailable as e:
        return str(e)
    return None


# -- shared helpers -----------------------------------------------------------------------


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


# -- Redis --------------------------------------------------------------------------------


def _redis_answers(host: str, port: int) -> bool:
    """True when a Redis server on host:port answers PING (RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Started:
    """A context manager for whatever has `start()` and `stop()`: `with` starts it, and
    stops it on the way out, or at once when starting failed half way (stop() must cope
    with a half-started state)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer(Started):
    """redis-server on a free loopback port in `workdir`, for the life of the `with`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()  # the server chdirs; keep paths absolute
        self.host = HOST
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def start(self) -> None:
        """Start redis-server and return once it answers PING."""
        problem = redis_problem()
        if problem:
            raise ServerUnavailable(problem)
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = _redis_server_binary()
        assert binary is not None
        for _attempt in range(3):  # a free port may be taken before the server binds it
            self.port = free_port()
            args = [binary, "--port", str(self.port), "--bind", self.host,
                    "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                    "--logfile", str(self.log_path), "--daemonize", "no",
                    "--protected-mode", "yes", "--databases", "1"]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
            self._finalizer = weakref.finalize(self, _terminate, self.proc)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if _redis_answers(self.host, self.port):
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT:.0f}s;"
                                   f" log {self.log_path}:\n{_tail(self.log_path)}")
            self.proc.wait()
            if "Address already in use" not in _tail(self.log_path):
                break
        assert self.proc is not None
        raise RuntimeError(f"redis-server exited with status {self.proc.returncode}; "
                           f"log {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)  # SIGTERM; with nothing to save redis exits at once
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None


# -- PostgreSQL ---------------------------------------------------------------------------


class PostgresServer(Started):
    """A throwaway PostgreSQL cluster on a free loopback port, for the life of the `with`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()  # the server chdirs; keep paths absolute
        self.host = HOST
        self.port: int | None = None
        self.user = PG_SUPERUSER
        self.dbname = PG_DATABASE
        self.root: Path | None = None        # holds data/ and postgres.log
        self._private_root = False           # root is a temp dir of ours, removed on stop
        self._account: pwd.struct_passwd | None = None
        self._bindir: Path | None = None
        self._started = False
        self._finalizer: weakref.finalize | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def _pg(self, *args: str, timeout: float = START_TIMEOUT, check: bool = True
            ) -> subprocess.CompletedProcess:
        """Run a cluster command as the cluster's account."""
        assert self.root is not None and self._bindir is not None
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.root), "TZ": "UTC"}
        # A session of its own: a Ctrl-C at the terminal of a program that started the
        # server (`nikgate cluster up`) does not reach the postmaster, which its owner stops
        # after the nodes have given back what they hold in it.
        result = subprocess.run([*self._as_account(), str(self._bindir / args[0]), *args[1:]],
                                cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout, check=False,
                                start_new_session=True)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed with status {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
                f"server log {self.log_path}:\n{_tail(self.log_path)}")
        return result

    def _as_account(self) -> list[str]:
        """The command prefix that runs a command as the cluster's account (empty when this
        process is not root). setpriv rather than subprocess's user=/group=: those make
        Python fork() instead of vfork(), and a fork() runs the at-fork handlers of gRPC's
        event engine in the child of a process that uses gRPC (the tests, `nikgate cluster
        up`), which crashed initdb's child now and then (SIGSEGV before exec)."""
        if self._account is None:
            return []
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise ServerUnavailable("setpriv (util-linux) is needed to run PostgreSQL as "
                                    f"{self._account.pw_name}: apt-get install util-linux")
        return [setpriv, f"--reuid={self._account.pw_uid}",
                f"--regid={self._account.pw_gid}", "--clear-groups", "--"]

    def _usable_root(self) -> Path:
        """workdir/postgresql when the cluster's account can write there, else a temp dir."""
        root = self.workdir / "postgresql"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        if self._account is None:
            return root
        os.chown(root, self._account.pw_uid, self._account.pw_gid)
        probe = subprocess.run([*self._as_account(), "test", "-w", str(root), "-a", "-x",
                                str(root)], cwd="/", timeout=30, check=False)
        if probe.returncode == 0:
            return root
        root.rmdir()
        tmp = Path(tempfile.mkdtemp(prefix="nikgate-pg-"))
        os.chown(tmp, self._account.pw_uid, self._account.pw_gid)
        self._private_root = True
        return tmp

    def start(self) -> None:
        """initdb a fresh cluster and start it; returns once it accepts connections."""
        problem = postgres_problem()
        if problem:
            raise ServerUnavailable(problem)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._bindir = _pg_bindir()
        self._account = _pg_account()
        self.root = self._usable_root()
        self._finalizer = weakref.finalize(self, _pg_cleanup, self.root, self._private_root)
        self._pg("initdb", "-D", str(self.data_dir), "-U", self.user, "--auth=trust",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                 timeout=120)
        for _attempt in range(3):
            self.port = free_port()
            settings = {**PG_SETTINGS, "port": str(self.port)}
            with open(self.data_dir / "postgresql.auto.conf", "a") as conf:
                conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
            result = self._pg("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path),
                              "-w", "-t", str(int(START_TIMEOUT)), "start",
                              timeout=START_TIMEOUT + 10, check=False)
            if result.returncode == 0:
                self._started = True
                return
            if "already in use" not in _tail(self.log_path, 40):
                break
        raise RuntimeError(f"pg_ctl start failed: {(result.stderr or result.stdout).strip()}\n"
                           f"server log {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.root is None:
            return
        if self._started:
            self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w",
                     "-t", str(int(STOP_TIMEOUT)), "stop", timeout=STOP_TIMEOUT + 10,
                     check=False)
            self._started = False
        if self.log_path.exists() and self._private_root:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self.workdir / "postgres.log")
        if self._finalizer is not None:
            self._finalizer()          # kills a postmaster still running; removes the data
            self._finalizer = None


def _pg_cleanup(root: Path, private: bool) -> None:
    """Stop a postmaster left running (by its pid file) and remove the cluster's data."""
    pidfile = root / "data" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = pidfile.read_text().splitlines()
        pid, data_dir = int(lines[0]), lines[1]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"postgres" not in cmdline or Path(data_dir) != root / "data":
            return _remove_cluster(root, private)  # a stale pid file: not ours to signal
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises once it is gone
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    _remove_cluster(root, private)


def _remove_cluster(root: Path, private: bool) -> None:
    if private:
        shutil.rmtree(root, ignore_errors=True)
    else:
        shutil.rmtree(root / "data", ignore_errors=True)
