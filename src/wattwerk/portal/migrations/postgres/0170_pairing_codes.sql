-- Pairing codes (issue 14): the owner shows a short-lived, single-use code on the portal; the
-- edge's wizard spends it for the edge's own site token (portal/pairing.py). Only its SHA-256
-- is kept. Failed exchanges are counted per address (the rate limit).
CREATE TABLE pairing_codes (
    code_hash   bytea PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    created_by  integer REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX pairing_codes_site ON pairing_codes (site_id);

CREATE TABLE pairing_failures (
    ip  text NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX pairing_failures_ip ON pairing_failures (ip, at);
