-- The owner's controls from the portal (issue 16): a charge mode, a departure plan, a battery mode sent to
-- the site's edge over its outbound command channel (portal/owner_commands.py). Owner-scoped: no
-- maintenance grant; a command not fetched within a minute expires, never waits for an edge that is away.
CREATE TABLE owner_commands (
    id          bigserial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    issued_by   integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    device      text NOT NULL,
    settings    jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'done', 'failed', 'expired')),
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz
);
CREATE INDEX owner_commands_pending ON owner_commands (site_id, state);

-- When each site's edge last asked for commands and until when it counts as online (its long poll's
-- wait and a grace; at once when it hangs up): the portal says "offline" instead of queueing.
CREATE TABLE command_polls (
    site_id     integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    polled_at   timestamptz NOT NULL,
    online_until timestamptz NOT NULL  -- the poll's wait and a grace; now when the edge hung up
);
