"""The portal's own store (SQLite in its state directory): accounts, sessions, one-time
set-password links, per-day portal counts and the portal activity log.

It holds no population data: no NIK, name or other personal value of a citizen is ever
written here. The activity log records what a portal user did (signed in, verified one
person, uploaded a file of 1,204 rows, suspended a grant) with nikgate's transaction ids,
which lead to the server's audit record, where the NIK is kept as a keyed reference.
Session ids and link tokens are stored as SHA-256 hashes only.

With `[cluster] postgres_dsn` the portal keeps the same tables in the cluster's PostgreSQL
instead (server/cluster/portal.py, PgPortalStore: this class with another connection), so
that every portal instance sees the same users, sessions and lockout counts. The SQL here
is written for both: statements go through `_tx()` and `_read()`, and each check-then-use
(a link, a TOTP step) is one conditional statement, not a read followed by a write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nikgate.errors import InvalidInputError

ROLES = ("viewer", "operator")        # institution staff; Dukcapil operator
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT UNIQUE NOT NULL, institution TEXT NOT NULL,
    role TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT, totp_secret TEXT, totp_enrolled INTEGER NOT NULL DEFAULT 0,
    totp_last_step INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, stage TEXT NOT NULL,
    created REAL NOT NULL, seen REAL NOT NULL, csrf TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS activity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, user_id TEXT NOT NULL,
    email TEXT NOT NULL, institution TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL, result TEXT NOT NULL, tx TEXT NOT NULL, address TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS activity_user ON activity(user_id, seq);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, institution TEXT NOT NULL, calls INTEGER NOT NULL,
    niks INTEGER NOT NULL, PRIMARY KEY (day, institution));
"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    """An e-mail address as stored: trimmed, lower case; InvalidInputError when it cannot
    be one (no '@', spaces, over 254 characters)."""
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidInputError("email must be an address like name@example.go.id",
                                field="email")
    return email


@dataclass(frozen=True)
class User:
    id: str
    email: str
    institution: str     # the institution it works for; for an operator: its operator id
    role: str            # viewer | operator
    disabled: bool
    password_hash: str | None
    totp_secret: str | None
    totp_enrolled: bool
    totp_last_step: int
    failures: int
    locked: bool
    created_at: float
    created_by: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def state(self) -> str:
        """disabled, locked, pending (no password yet), enrolling (no TOTP yet), active."""
        if self.disabled:
            return "disabled"
        if self.locked:
            return "locked"
        if not self.password_hash:
            return "pending"
        return "active" if self.totp_enrolled else "enrolling"


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: str
    stage: str           # password (code still to give) | enrol (TOTP to set up) | full
    created: float
    seen: float
    csrf: str


@dataclass(frozen=True)
class Activity:
    at: float
    user_id: str
    email: str
    institution: str
    action: str
    detail: str
    result: str
    tx: str
    address: str


class PortalStore:
    """One SQLite file, DIR/portal.sqlite3 (mode 0600 in a 0700 directory). Thread-safe:
    one connection behind a lock (every statement is short). A subclass may keep the
    tables elsewhere by overriding `__init__`, `close`, `_tx`, `_read` and `secret`."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / "portal.sqlite3"
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads outside a transaction."""
        with self._lock:
            yield self._db

    def secret(self, name: str, size: int = 32) -> bytes:
        """A random key kept in the state directory (made on first use, mode 0600)."""
        path = self.directory / f"{name}.key"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(size))
            return path.read_bytes()

    # -- users -----------------------------------------------------------------------------

    def add_user(self, email: str, institution: str, role: str, created_by: str,
                 link_hours: float) -> tuple[User, str]:
        """A new user, and the one-time set-password token for its link."""
        email = normalise_email(email)
        if role not in ROLES:
            raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, got {role!r}",
                                    field="role")
        if not institution or len(institution) > 63:
            raise InvalidInputError("institution must be an institution (or operator) id",
                                    field="institution")
        uid = "u-" + secrets.token_hex(8)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE email=?", (email,)).fetchone():
                raise InvalidInputError(f"a portal user with e-mail {email} exists already",
                                        field="email")
            db.execute("INSERT INTO users (id, email, institution, role, created_at, "
                       "created_by) VALUES (?,?,?,?,?,?)",
                       (uid, email, institution, role, time.time(), created_by))
        return self.user(uid), self.new_link(uid, link_hours)  # type: ignore[return-value]

    def new_link(self, user_id: str, hours: float) -> str:
        """A new one-time set-password token for the user (older ones stop working)."""
        token = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute("DELETE FROM links WHERE user_id=?", (user_id,))
            db.execute("INSERT INTO links VALUES (?,?,?)",
                       (_hash(token), user_id, time.time() + hours * 3600))
        return token

    def link_user(self, token: str) -> User | None:
        """The user a set-password token is for, if it is valid (unused, not expired)."""
        row = self._db_one("SELECT user_id, expires FROM links WHERE token_hash=?",
                           (_hash(token),))
        if row is None or row[1] < time.time():
            return None
        user = self.user(row[0])
        return user if user is not None and not user.disabled else None

    def set_password(self, token: str, password_hash: str, totp_secret: str) -> User | None:
        """Use up the token: store the password hash and a new (unconfirmed) TOTP secret."""
        with self._tx() as db:
            row = db.execute("SELECT user_id, expires FROM links WHERE token_hash=?",
                             (_hash(token),)).fetchone()
            if row is None or row[1] < time.time():
                return None
            # used once, even by two portal instances at the same moment
            if db.execute("DELETE FROM links WHERE token_hash=?",
                          (_hash(token),)).rowcount != 1:
                return None
            db.execute("DELETE FROM links WHERE user_id=?", (row[0],))
            db.execute("UPDATE users SET password_hash=?, totp_secret=?, totp_enrolled=0, "
                       "totp_last_step=0, failures=0, locked=0 WHERE id=?",
                       (password_hash, totp_secret, row[0]))
            db.execute("DELETE FROM sessions WHERE user_id=?", (row[0],))
        return self.user(row[0])

    def _db_one(self, sql: str, args: tuple) -> tuple | None:
        with self._read() as db:
            return db.execute(sql, args).fetchone()

    def _users(self, where: str, args: tuple) -> list[User]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id, email, institution, role, disabled, password_hash, totp_secret, "
                "totp_enrolled, totp_last_step, failures, locked, created_at, created_by "
                f"FROM users {where}", args).fetchall()
        return [User(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], bool(r[7]), r[8], r[9],
                     bool(r[10]), r[11], r[12]) for r in rows]

    def user(self, user_id: str) -> User | None:
        found = self._users("WHERE id=?", (user_id,))
        return found[0] if found else None

    def user_by_email(self, email: str) -> User | None:
        found = self._users("WHERE email=?", (email.strip().lower(),))
        return found[0] if found else None

    def find_user(self, who: str) -> User:
        """A user by id or e-mail; InvalidInputError naming it when there is none."""
        user = self.user(who) or self.user_by_email(who)
        if user is None:
            raise InvalidInputError(f"no portal user {who!r}", field="user")
        return user

    def users(self) -> list[User]:
        return self._users("ORDER BY institution, email", ())

    def _set(self, user_id: str, sql: str, args: tuple = ()) -> None:
        with self._tx() as db:
            db.execute(f"UPDATE users SET {sql} WHERE id=?", (*args, user_id))

    def disable(self, user_id: str) -> None:
        """Disable the account and end its sessions at once."""
        with self._tx() as db:
            db.execute("UPDATE users SET disabled=1 WHERE id=?", (user_id,))
            db.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))

    def enable(self, user_id: str) -> None:
        self._set(user_id, "disabled=0")

    def unlock(self, user_id: str) -> None:
        self._set(user_id, "locked=0, failures=0")

    def record_failure(self, user_id: str, max_failures: int) -> bool:
        """Count a failed sign-in; True when this one locked the account."""
        with self._tx() as db:
            db.execute("UPDATE users SET failures=failures+1 WHERE id=?", (user_id,))
            failures = db.execute("SELECT failures FROM users WHERE id=?",
                                  (user_id,)).fetchone()[0]
            if failures >= max_failures:
                db.execute("UPDATE users SET locked=1 WHERE id=?", (user_id,))
                db.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))
                return True
        return False

    def clear_failures(self, user_id: str) -> None:
        self._set(user_id, "failures=0")

    def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record a TOTP time step as used; False if it (or a later one) was used already:
        a code works once."""
        with self._tx() as db:
            return db.execute("UPDATE users SET totp_last_step=? WHERE id=? AND "
                              "totp_last_step < ?", (step, user_id, step)).rowcount == 1

    def confirm_totp(self, user_id: str) -> None:
        self._set(user_id, "totp_enrolled=1")

    # -- sessions --------------------------------------------------------------------------

    def new_session(self, user_id: str, stage: str) -> tuple[str, Session]:
        """A new session id (for the cookie) and its record; the id is stored hashed."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        s = Session(_hash(sid), user_id, stage, now, now, secrets.token_urlsafe(32))
        with self._tx() as db:
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?)",
                       (s.id_hash, s.user_id, s.stage, s.created, s.seen, s.csrf))
        return sid, s

    def session(self, sid: str, idle: float, absolute: float) -> Session | None:
        """The live session for a cookie value, its idle clock restarted; None (and the
        record deleted) when it is unknown, idle too long or too old."""
        now = time.time()
        h = _hash(sid)
        with self._tx() as db:
            row = db.execute("SELECT user_id, stage, created, seen, csrf FROM sessions "
                             "WHERE id_hash=?", (h,)).fetchone()
            if row is None:
                return None
            if now - row[3] > idle or now - row[2] > absolute:
                db.execute("DELETE FROM sessions WHERE id_hash=?", (h,))
                return None
            db.execute("UPDATE sessions SET seen=? WHERE id_hash=?", (now, h))
        return Session(h, row[0], row[1], row[2], now, row[4])

    def promote(self, id_hash: str, stage: str) -> str:
        """Move a session to the next stage with a new CSRF token (returned)."""
        csrf = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute("UPDATE sessions SET stage=?, csrf=? WHERE id_hash=?",
                       (stage, csrf, id_hash))
        return csrf

    def end_session(self, id_hash: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE id_hash=?", (id_hash,))

    def end_all_sessions(self, user_id: str) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE user_id=?", (user_id,)).rowcount

    def purge(self, idle: float, absolute: float) -> None:
        """Drop expired sessions and links."""
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE seen < ? OR created < ?",
                       (now - idle, now - absolute))
            db.execute("DELETE FROM links WHERE expires < ?", (now,))

    # -- activity and counts ---------------------------------------------------------------

    def log(self, user: User | None, action: str, detail: str = "", result: str = "OK",
            tx: str = "", address: str = "", email: str = "") -> None:
        """Append to the portal activity log. `detail` must hold no personal value: counts,
        field names, institution ids, reasons."""
        with self._tx() as db:
            db.execute("INSERT INTO activity (at, user_id, email, institution, action, detail,"
                       " result, tx, address) VALUES (?,?,?,?,?,?,?,?,?)",
                       (time.time(), user.id if user else "", user.email if user else email,
                        user.institution if user else "", action, detail, result, tx,
                        address))

    def activity(self, user_id: str | None = None, limit: int = 200) -> list[Activity]:
        sql = ("SELECT at, user_id, email, institution, action, detail, result, tx, address "
               "FROM activity")
        args: tuple = ()
        if user_id is not None:
            sql += " WHERE user_id=?"
            args = (user_id,)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [Activity(*r) for r in rows]

    def count(self, day: str, institution: str, calls: int, niks: int) -> None:
        """Add to the portal's own per-day counts of calls and NIKs for an institution."""
        with self._tx() as db:
            db.execute("INSERT INTO usage VALUES (?,?,?,?) ON CONFLICT(day, institution) "
                       "DO UPDATE SET calls=usage.calls+excluded.calls, "
                       "niks=usage.niks+excluded.niks",
                       (day, institution, calls, niks))

    def usage(self, institution: str, days: list[str]) -> dict[str, tuple[int, int]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT day, calls, niks FROM usage WHERE institution=? AND day IN "
                f"({','.join('?' * len(days))})", (institution, *days)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}
