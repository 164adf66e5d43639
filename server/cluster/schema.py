"""The cluster database's schema, as numbered migrations run at start.

Every worker of every node runs `migrate` when it starts; an advisory lock makes them
take turns, and each migration runs once, in one transaction, recorded in
nikgate_schema. Migrations are append only: a change is a new entry, never an edit.
"""

from __future__ import annotations

from .db import Database

_LOCK = 0x6E696B67617465       # pg_advisory_xact_lock key: "nikgate"

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
-- institutions, grants and SAMs: the JSON documents the LMDB store holds (grants.py,
-- sams.py); every change bumps control_version and NOTIFYs it in the same transaction
CREATE TABLE institutions (id text PRIMARY KEY, doc bytea NOT NULL);
CREATE TABLE grants (institution text PRIMARY KEY, doc bytea NOT NULL);
CREATE TABLE sams (sam_id text PRIMARY KEY, doc bytea NOT NULL);
CREATE TABLE control_version (one boolean PRIMARY KEY DEFAULT true CHECK (one),
                              version bigint NOT NULL);
INSERT INTO control_version VALUES (true, 0);
-- audited admin changes not yet stored (server/access/admin_audit.py), per node: each
-- node settles its own, against its own admin audit stream
CREATE TABLE admin_intents (tx text PRIMARY KEY, node_id text NOT NULL,
                            intent bytea NOT NULL);
-- card-reader challenges: consumed by DELETE ... RETURNING, once across nodes
CREATE TABLE card_challenges (sam_id text NOT NULL, challenge bytea NOT NULL,
                              institution text NOT NULL, reader_serial text NOT NULL,
                              issued double precision NOT NULL,
                              expires double precision NOT NULL,
                              PRIMARY KEY (sam_id, challenge));

-- quota leases (leases.py): quota_days.leased is everything leased for the day, used or
-- not, and never passes the quota the leasing node names
CREATE TABLE quota_days (institution text NOT NULL, day date NOT NULL,
                         leased bigint NOT NULL DEFAULT 0,
                         PRIMARY KEY (institution, day));
CREATE TABLE quota_leases (institution text NOT NULL, day date NOT NULL,
                           node_id text NOT NULL, store_id text NOT NULL,
                           leased bigint NOT NULL DEFAULT 0,  -- held by the node now
                           epoch bigint NOT NULL DEFAULT 0,   -- bumped by each return
                           abandoned bigint NOT NULL DEFAULT 0, -- held by a lost store
                           used bigint NOT NULL DEFAULT 0,    -- as last reported
                           used_ops bigint[] NOT NULL DEFAULT '{}',
                           expires_at timestamptz NOT NULL,
                           PRIMARY KEY (institution, day, node_id));

-- One call leases (p_want > 0) and/or applies a return the node began (its local epoch
-- ahead of ours), atomically: the day's row is locked, so nodes take turns per
-- institution and day, and the grant never takes quota_days.leased past p_quota.
CREATE FUNCTION nikgate_lease(p_inst text, p_day date, p_node text, p_store text,
                              p_epoch bigint, p_local bigint, p_want bigint,
                              p_quota bigint, p_seconds double precision)
RETURNS TABLE (granted bigint, leased bigint, epoch bigint)
LANGUAGE plpgsql AS $$
DECLARE
  total bigint;
  r quota_leases%ROWTYPE;
  g bigint;
BEGIN
  INSERT INTO quota_days AS q (institution, day) VALUES (p_inst, p_day)
    ON CONFLICT DO NOTHING;
  SELECT q.leased INTO total FROM quota_days q
    WHERE q.institution = p_inst AND q.day = p_day FOR UPDATE;
  SELECT * INTO r FROM quota_leases l
    WHERE l.institution = p_inst AND l.day = p_day AND l.node_id = p_node FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO quota_leases AS l (institution, day, node_id, store_id, epoch, expires_at)
      VALUES (p_inst, p_day, p_node, p_store, p_epoch, now()) RETURNING * INTO r;
  ELSIF r.store_id <> p_store OR r.epoch > p_epoch THEN
    -- the node came back without the store that counted this lease: what it held may
    -- have been used, so it stays counted (abandoned) and the node starts afresh
    UPDATE quota_leases l SET store_id = p_store, abandoned = l.abandoned + l.leased,
                              leased = 0, epoch = p_epoch
      WHERE l.institution = p_inst AND l.day = p_day AND l.node_id = p_node
      RETURNING * INTO r;
  ELSIF r.epoch < p_epoch THEN
    -- a return: the node stopped using all of its lease but p_local
    total := total - GREATEST(r.leased - p_local, 0);
    UPDATE quota_leases l SET leased = LEAST(l.leased, p_local), epoch = p_epoch
      WHERE l.institution = p_inst AND l.day = p_day AND l.node_id = p_node
      RETURNING * INTO r;
  END IF;
  g := GREATEST(0, LEAST(p_want, p_quota - total));
  UPDATE quota_days q SET leased = total + g
    WHERE q.institution = p_inst AND q.day = p_day;
  UPDATE quota_leases l SET leased = l.leased + g,
                            expires_at = now() + make_interval(secs => p_seconds)
    WHERE l.institution = p_inst AND l.day = p_day AND l.node_id = p_node
    RETURNING * INTO r;
  RETURN QUERY SELECT g, r.leased, r.epoch;
END $$;

-- return data (server/returns/store.py's three tables)
CREATE TABLE return_records (institution text NOT NULL, record_id text NOT NULL,
                             nik bigint NOT NULL, observed_ms bigint NOT NULL,
                             received_ms bigint NOT NULL, kind text NOT NULL,
                             value text NOT NULL, PRIMARY KEY (institution, record_id));
CREATE TABLE access_ledger (institution text NOT NULL, nik bigint NOT NULL,
                            first_ms bigint NOT NULL, PRIMARY KEY (institution, nik));
CREATE TABLE return_received (institution text NOT NULL, nik bigint NOT NULL,
                              first_ms bigint NOT NULL, PRIMARY KEY (institution, nik));

-- the scraping guard (scraping.py): each node's packed window state per institution
CREATE TABLE scraping_nodes (institution text NOT NULL, node_id text NOT NULL,
                             state bytea NOT NULL, updated_at timestamptz NOT NULL,
                             PRIMARY KEY (institution, node_id));
CREATE TABLE scraping_resets (institution text NOT NULL, at timestamptz NOT NULL);
"""),
    (2, """
-- the web portal's accounts and sessions (nikgate/portal/store.py's tables, same names and
-- columns, in a schema of their own: portal/ PgPortalStore sets search_path to it), so
-- that every portal instance shares users, sessions and lockout counts
CREATE SCHEMA portal;
CREATE TABLE portal.users (
    id text PRIMARY KEY, email text UNIQUE NOT NULL, institution text NOT NULL,
    role text NOT NULL, disabled integer NOT NULL DEFAULT 0,
    password_hash text, totp_secret text, totp_enrolled integer NOT NULL DEFAULT 0,
    totp_last_step bigint NOT NULL DEFAULT 0, failures integer NOT NULL DEFAULT 0,
    locked integer NOT NULL DEFAULT 0, created_at double precision NOT NULL,
    created_by text NOT NULL);
CREATE TABLE portal.links (
    token_hash text PRIMARY KEY, user_id text NOT NULL, expires double precision NOT NULL);
CREATE TABLE portal.sessions (
    id_hash text PRIMARY KEY, user_id text NOT NULL, stage text NOT NULL,
    created double precision NOT NULL, seen double precision NOT NULL, csrf text NOT NULL);
CREATE INDEX sessions_user ON portal.sessions (user_id);
CREATE TABLE portal.activity (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL,
    user_id text NOT NULL, email text NOT NULL, institution text NOT NULL,
    action text NOT NULL, detail text NOT NULL, result text NOT NULL, tx text NOT NULL,
    address text NOT NULL);
CREATE INDEX activity_user ON portal.activity (user_id, seq);
CREATE TABLE portal.usage (
    day text NOT NULL, institution text NOT NULL, calls bigint NOT NULL,
    niks bigint NOT NULL, PRIMARY KEY (day, institution));
-- the portal's keys (the anonymous CSRF key): one for every instance
CREATE TABLE portal.secrets (name text PRIMARY KEY, value bytea NOT NULL);
"""),
]


def migrate(db: Database) -> int:
    """Apply the migrations this database has not had; returns the schema version."""
    with db.transaction("migrating the schema") as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS nikgate_schema (version integer PRIMARY "
                     "KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM nikgate_schema").fetchone()
        have = row[0] if row else 0
        for version, sql in MIGRATIONS:
            if version > have:
                conn.execute(sql)   # our own literal SQL
                conn.execute("INSERT INTO nikgate_schema (version) VALUES (%s)", (version,))
                have = version
    return have
