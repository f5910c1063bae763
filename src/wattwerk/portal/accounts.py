"""Accounts: an alias and a password; e-mail optional (sealed at rest), for password reset and
the owner's notifications (portal/notify.py).

Aliases are case-insensitive ('alice' and 'Alice' are one account; the spelling given at
registration is kept). A password needs ``MIN_PASSWORD`` characters besides surrounding
blanks. A reset token goes only to the account's e-mail (portal/mail.py), never into the log;
at most ``MAX_LIVE_RESETS`` are live per account. TOTP secrets are stored sealed with the
portal's key (portal/secretbox.py) and a code's time step is kept, so no code works twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import secrets
from datetime import timedelta

from wattwerk.portal import auth
from wattwerk.portal.database import Conn, UniqueViolation, open_database, utcnow
from wattwerk.portal.secretbox import SecretBox

log = logging.getLogger(__name__)

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
MIN_PASSWORD = 10
RESET_TTL = timedelta(hours=1)
MAX_LIVE_RESETS = 3
INVITE_TTL = timedelta(days=14)


class AccountError(ValueError):
    """A request about accounts that cannot be done, with the reason for the user."""


def check_alias(alias: str) -> None:
    if not ALIAS.match(alias):
        raise AccountError("alias: 3-40 letters, digits, '.', '_' or '-', starting with a letter or digit")


def check_password(password: str) -> None:
    if len(password.strip()) < MIN_PASSWORD or len(password) > 1024:
        raise AccountError(
            f"password: at least {MIN_PASSWORD} characters besides leading and trailing blanks (at most 1024)"
        )


def check_email(email: str | None) -> None:
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise AccountError("email: not an e-mail address (name@example.org)")


async def register(
    conn: Conn,
    alias: str,
    password: str,
    email: str | None = None,
    *,
    hashed: str | None = None,
    box: SecretBox | None = None,
) -> int:
    """Create an account; AccountError when the alias is taken or malformed. ``hashed``: the
    password's hash made beforehand (so no transaction waits for argon2). The e-mail address is
    stored sealed with ``box`` (the portal's key), like every secret at rest."""
    check_alias(alias)
    check_password(password)
    check_email(email or None)
    hashed = hashed or await auth.hash_password(password)
    stored = (box.seal(email) if box else email) if email else None
    try:
        cur = await conn.execute(
            "INSERT INTO accounts (alias, password_hash, email) VALUES (%s, %s, %s) RETURNING id",
            (alias, hashed, stored),
        )
    except UniqueViolation:
        raise AccountError("alias: already taken") from None
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def find(conn: Conn, alias: str) -> tuple[int, str, str | None, str] | None:
    """(id, password hash, sealed totp secret, alias as registered) of an alias, any case."""
    cur = await conn.execute(
        "SELECT id, password_hash, totp_secret, alias FROM accounts WHERE lower(alias) = lower(%s)", (alias,)
    )
    row = await cur.fetchone()
    return (int(row[0]), str(row[1]), row[2], str(row[3])) if row else None


async def account_id(conn: Conn, alias: str) -> int | None:
    cur = await conn.execute("SELECT id FROM accounts WHERE lower(alias) = lower(%s)", (alias,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def request_reset(conn: Conn, alias: str, box: SecretBox | None = None) -> tuple[str, str, str] | None:
    """A reset token for an account with an e-mail address: (token, e-mail, alias), or None
    (no such account, no e-mail, or ``MAX_LIVE_RESETS`` live already). The token is for the
    e-mail only: never log it. ``box`` opens the sealed address."""
    cur = await conn.execute("SELECT id, email, alias FROM accounts WHERE lower(alias) = lower(%s)", (alias,))
    row = await cur.fetchone()
    if row is None or not row[1]:
        return None
    now = utcnow()
    cur = await conn.execute(
        "SELECT count(*) FROM password_resets WHERE account_id = %s AND used_at IS NULL AND expires_at > %s",
        (row[0], now),
    )
    if int((await cur.fetchone())[0]) >= MAX_LIVE_RESETS:
        log.info("password reset for %s refused: %d live already", row[2], MAX_LIVE_RESETS)
        return None
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO password_resets (token_hash, account_id, expires_at) VALUES (%s, %s, %s)",
        (auth.sha256(token), row[0], now + RESET_TTL),
    )
    await conn.execute("DELETE FROM password_resets WHERE expires_at < %s", (now - RESET_TTL,))
    return token, str(box.open(row[1]) if box else row[1]), str(row[2])


async def confirm_reset(conn: Conn, token: str, password: str) -> bool:
    check_password(password)
    cur = await conn.execute(
        "UPDATE password_resets SET used_at = %s WHERE token_hash = %s AND used_at IS NULL "
        "AND expires_at > %s RETURNING account_id",
        (utcnow(), auth.sha256(token), utcnow()),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    hashed = await auth.hash_password(password)
    await conn.execute("UPDATE accounts SET password_hash = %s WHERE id = %s", (hashed, row[0]))
    await conn.execute("DELETE FROM sessions WHERE account_id = %s", (row[0],))
    await conn.execute(
        "UPDATE password_resets SET used_at = %s WHERE account_id = %s AND used_at IS NULL",
        (utcnow(), row[0]),
    )  # the other live tokens end too
    return True


async def start_totp(conn: Conn, account: int, box: SecretBox) -> str:
    secret = auth.new_totp_secret()
    await conn.execute("UPDATE accounts SET totp_pending = %s WHERE id = %s", (box.seal(secret), account))
    return secret


async def confirm_totp(conn: Conn, account: int, code: str, box: SecretBox) -> bool:
    cur = await conn.execute("SELECT totp_pending FROM accounts WHERE id = %s", (account,))
    row = await cur.fetchone()
    pending = box.open(row[0]) if row else None
    step = auth.totp_step(pending, code) if pending else None
    if step is None:
        return False
    await conn.execute(
        "UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = %s "
        "WHERE id = %s",
        (step, account),
    )
    return True


async def totp_enabled(conn: Conn, account: int) -> str | None:
    """The sealed TOTP secret of an account (None: TOTP is off)."""
    cur = await conn.execute("SELECT totp_secret FROM accounts WHERE id = %s", (account,))
    row = await cur.fetchone()
    return row[0] if row else None


async def settings(conn: Conn, account: int) -> tuple[bool, bool]:
    """Whether the account has an e-mail and TOTP on (both False for an unknown account)."""
    cur = await conn.execute(
        "SELECT email IS NOT NULL, totp_secret IS NOT NULL FROM accounts WHERE id = %s", (account,)
    )
    row = await cur.fetchone()
    return (bool(row and row[0]), bool(row and row[1]))


async def use_totp_step(conn: Conn, account: int, step: int) -> bool:
    """Spend a TOTP time step: False when it (or a later one) was used already."""
    cur = await conn.execute(
        "UPDATE accounts SET totp_last_step = %s WHERE id = %s "
        "AND (totp_last_step IS NULL OR totp_last_step < %s)",
        (step, account, step),
    )
    return cur.rowcount == 1


async def create_invite(conn: Conn, created_by: int | None) -> str:
    """A new invitation code (shown once; only its SHA-256 is kept)."""
    code = secrets.token_urlsafe(18)
    await conn.execute(
        "INSERT INTO invites (code_hash, created_by, expires_at) VALUES (%s, %s, %s)",
        (auth.sha256(code), created_by, utcnow() + INVITE_TTL),
    )
    return code


async def use_invite(conn: Conn, code: str | None) -> bool:
    """Spend an invitation (inside the registration's transaction)."""
    if not code:
        return False
    cur = await conn.execute(
        "UPDATE invites SET used_at = %s WHERE code_hash = %s AND used_at IS NULL AND expires_at > %s",
        (utcnow(), auth.sha256(code), utcnow()),
    )
    return cur.rowcount == 1


async def make_admin(conn: Conn, alias: str) -> bool:
    cur = await conn.execute("UPDATE accounts SET is_admin = true WHERE lower(alias) = lower(%s)", (alias,))
    return cur.rowcount == 1


def main(argv: list[str] | None = None) -> int:
    """Operator tool: ``python -m wattwerk.portal.accounts --db URL --make-admin ALIAS``."""
    parser = argparse.ArgumentParser(prog="python -m wattwerk.portal.accounts")
    parser.add_argument(
        "--db",
        default=os.environ.get("WATTWERK_PORTAL_DB", "sqlite:///var/portal.db"),
        help="the portal's database, as for wattwerk portal (default: sqlite:///var/portal.db)",
    )
    parser.add_argument("--schema", help="PostgreSQL schema (default: the server's search_path)")
    parser.add_argument("--make-admin", metavar="ALIAS", required=True, help="make an account a portal admin")
    args = parser.parse_args(argv)

    async def go() -> bool:
        db = open_database(args.db, schema=args.schema, pool_size=1)
        await db.open()
        try:
            async with db.connection() as conn:
                return await make_admin(conn, args.make_admin)
        finally:
            await db.close()

    if not asyncio.run(go()):
        print(f"no account {args.make_admin!r}")
        return 1
    print(f"{args.make_admin} is now a portal administrator")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
