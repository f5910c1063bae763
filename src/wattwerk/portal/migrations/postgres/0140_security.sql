-- Secure by default (issue 15): case-insensitive aliases, single-use TOTP codes, known devices
-- for the sign-in limit, invitations for invite-only registration.

-- 'alice' and 'Alice' are one account (a portal holding both must rename one before this runs).
CREATE UNIQUE INDEX accounts_alias_lower ON accounts (lower(alias));

-- The last TOTP time step accepted, so a code is never accepted twice.
ALTER TABLE accounts ADD COLUMN totp_last_step bigint;

-- Sign-in attempts are recorded before the password is checked (an attempt counts while it
-- runs) and by device: a browser that signed in before carries a device cookie, and its
-- attempts are not held up by failures from elsewhere.
ALTER TABLE login_failures ADD COLUMN device bytea;
CREATE INDEX login_failures_device ON login_failures (device, at);

CREATE TABLE login_devices (
    device_hash bytea PRIMARY KEY,
    account_id  integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_devices_account ON login_devices (account_id);

-- Invitations (registration "invite"): only the SHA-256 of the code is kept.
CREATE TABLE invites (
    code_hash   bytea PRIMARY KEY,
    created_by  integer REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     integer REFERENCES accounts (id) ON DELETE SET NULL
);
