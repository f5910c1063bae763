-- SQLite form of postgres/0170: single-use pairing codes (hashed) and failed exchanges per address.
CREATE TABLE pairing_codes (
    code_hash   blob PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    created_by  integer REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at  text NOT NULL,
    used_at     text
);
CREATE INDEX pairing_codes_site ON pairing_codes (site_id);

CREATE TABLE pairing_failures (
    ip  text NOT NULL,
    at  text NOT NULL
);
CREATE INDEX pairing_failures_ip ON pairing_failures (ip, at);
