-- SQLite form of postgres/0140: case-insensitive aliases, single-use TOTP codes, known devices
-- for the sign-in limit, invitations for invite-only registration.

CREATE UNIQUE INDEX accounts_alias_lower ON accounts (lower(alias));

ALTER TABLE accounts ADD COLUMN totp_last_step integer;


ALTER TABLE login_failures ADD COLUMN device blob;
CREATE INDEX login_failures_device ON login_failures (device, at);

CREATE TABLE login_devices (
    device_hash blob PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX login_devices_account ON login_devices (account_id);

CREATE TABLE invites (
    code_hash   blob PRIMARY KEY,
    created_by  integer REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at  text NOT NULL,
    used_at     text,
    used_by     integer REFERENCES accounts (id) ON DELETE SET NULL
);
