-- Portal accounts, access, maintenance, audit, retention and rollups (issue 8).

-- An account is an alias and a password hash (argon2id); e-mail only for password reset.
CREATE TABLE accounts (
    id            serial PRIMARY KEY,
    alias         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    email         text,
    totp_secret   text,                       -- base32; NULL = TOTP off
    totp_pending  text,                       -- set up but not yet confirmed with a code
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions: only a SHA-256 of the cookie value is kept; the CSRF token goes with it.
CREATE TABLE sessions (
    id_hash     bytea PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    csrf        text NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Failed logins per alias and per client address, for the rate limit (kept in the database:
-- the portal is stateless, so several processes share the count).
CREATE TABLE login_failures (
    alias   text NOT NULL,
    ip      text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_alias ON login_failures (alias, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- Personal access tokens: scopes read/ingest/admin, an expiry, SHA-256 of the secret.
CREATE TABLE access_tokens (
    id          serial PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL,
    scopes      text[] NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Who may do what on a site: exactly one owner; viewers and installers by the owner's grant.
CREATE TABLE site_access (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'viewer', 'installer')),
    label       text,                       -- the owner's own name for the site
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, account_id)
);
CREATE UNIQUE INDEX site_access_one_owner ON site_access (site_id) WHERE role = 'owner';
CREATE INDEX site_access_account ON site_access (account_id);

-- Maintenance access: off unless a row is live (not revoked, not expired).
CREATE TABLE maintenance_grants (
    id          serial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    granted_by  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    starts_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX maintenance_grants_site ON maintenance_grants (site_id, expires_at);

-- Commands for an edge, fetched over the edge's own outbound connection (long poll).
CREATE TABLE edge_commands (
    id          serial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    grant_id    integer NOT NULL REFERENCES maintenance_grants (id) ON DELETE CASCADE,
    issued_by   integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'done', 'failed', 'expired')),
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    done_at     timestamptz
);
CREATE INDEX edge_commands_pending ON edge_commands (site_id, state);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    site_id     integer REFERENCES sites (id) ON DELETE CASCADE,
    account_id  integer REFERENCES accounts (id) ON DELETE SET NULL,
    actor       text NOT NULL,               -- alias, or "edge"
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_site ON audit_log (site_id, id);

-- Retention per site. NULL keep = forever. done_ms: raw buckets before it are rolled up for good.
CREATE TABLE site_retention (
    site_id          integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    raw_keep_s       bigint NOT NULL DEFAULT 3600,
    m5_keep_s        bigint DEFAULT 63072000,      -- 2 years of 5-minute values
    h1_keep_s        bigint,
    d1_keep_s        bigint,
    archive          boolean NOT NULL DEFAULT false,
    research_consent boolean NOT NULL DEFAULT false,
    done_ms          bigint NOT NULL DEFAULT 0,
    rolled_ms        bigint NOT NULL DEFAULT 0     -- rollups hold every raw value before this
);

-- Rollups: mean/min/max, sample count, and the last value with its time (counter deltas).
CREATE TABLE rollup_5m (
    channel_id  integer NOT NULL,
    bucket_ms   bigint NOT NULL,
    n           integer NOT NULL,
    mean        double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    last        double precision NOT NULL,
    last_ts     bigint NOT NULL,
    PRIMARY KEY (channel_id, bucket_ms)
);
CREATE TABLE rollup_1h (LIKE rollup_5m INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE rollup_5m INCLUDING ALL);

-- One secret per portal for stable research pseudonyms (shared by all portal processes).
CREATE TABLE portal_secrets (
    name    text PRIMARY KEY,
    value   bytea NOT NULL
);
