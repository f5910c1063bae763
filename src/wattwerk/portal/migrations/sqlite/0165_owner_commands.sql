-- SQLite form of postgres/0165: the owner's commands to the edge, and when each edge last polled.
CREATE TABLE owner_commands (
    id          integer PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    issued_by   integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    device      text NOT NULL,
    settings    text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'done', 'failed', 'expired')),
    result      text,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at     text
);
CREATE INDEX owner_commands_pending ON owner_commands (site_id, state);

CREATE TABLE command_polls (
    site_id     integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    polled_at   text NOT NULL,
    online_until text NOT NULL  -- the poll's wait and a grace; now when the edge hung up
);
