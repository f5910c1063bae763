"""Accounts: an alias and a password; e-mail optional and used only for password reset.

Nothing is sent by the portal: a reset token is logged (an operator hands it over, or a mail
relay picks it from the log) and only returned in the answer when the app is configured so for
tests.
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

log = logging.getLogger(__name__)

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$")
MIN_PASSWORD = 10
RESET_TTL = timedelta(hours=1)


class AccountError(ValueError):
    """A request about accounts that cannot be done, with the reason for the user."""


def check_alias(alias: str) -> None:
    if not ALIAS.match(alias):
        raise AccountError("alias: 3-40 letters, digits, '.', '_' or '-', starting with a letter or digit")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters (at most 1024)")


async def register(conn: Conn, alias: str, password: str, email: str | None = None, *,
                   hashed: str | None = None) -> int:
    """Create an account; AccountError when the alias is taken or malformed. ``hashed``: the
    password's hash made beforehand (so no transaction waits for argon2)."""
    check_alias(alias)
    check_password(password)
    hashed = hashed or await auth.hash_password(password)
    try:
        cur = await conn.execute(
            "INSERT INTO accounts (alias, password_hash, email) VALUES (%s, %s, %s) RETURNING id",
            (alias, hashed, email or None),
        )
    except UniqueViolation:
        raise AccountError("alias: already taken") from None
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def find(conn: Conn, alias: str) -> tuple[int, str, str | None] | None:
    """(id, password hash, totp secret) of an alias."""
    cur = await conn.execute("SELECT id, password_hash, totp_secret FROM accounts WHERE alias = %s", (alias,))
    row = await cur.fetchone()
    return (int(row[0]), str(row[1]), row[2]) if row else None


async def account_id(conn: Conn, alias: str) -> int | None:
    cur = await conn.execute("SELECT id FROM accounts WHERE alias = %s", (alias,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def request_reset(conn: Conn, alias: str) -> str | None:
    """A reset token for an account with an e-mail address (None otherwise); logged, not sent."""
    cur = await conn.execute("SELECT id, email FROM accounts WHERE alias = %s", (alias,))
    row = await cur.fetchone()
    if row is None or not row[1]:
        return None
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO password_resets (token_hash, account_id, expires_at) VALUES (%s, %s, %s)",
        (auth.sha256(token), row[0], utcnow() + RESET_TTL),
    )
    log.info("password reset for %s: token %s (to be sent to the account's e-mail)", alias, token)
    return token


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
    return True


async def start_totp(conn: Conn, account: int) -> str:
    secret = auth.new_totp_secret()
    await conn.execute("UPDATE accounts SET totp_pending = %s WHERE id = %s", (secret, account))
    return secret


async def confirm_totp(conn: Conn, account: int, code: str) -> bool:
    cur = await conn.execute("SELECT totp_pending FROM accounts WHERE id = %s", (account,))
    row = await cur.fetchone()
    if row is None or not row[0] or not auth.totp_ok(row[0], code):
        return False
    await conn.execute(
        "UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL WHERE id = %s", (account,)
    )
    return True


async def make_admin(conn: Conn, alias: str) -> bool:
    cur = await conn.execute("UPDATE accounts SET is_admin = true WHERE alias = %s", (alias,))
    return cur.rowcount == 1


def main(argv: list[str] | None = None) -> int:
    """Operator tool: ``python -m wattwerk.portal.accounts --db URL --make-admin ALIAS``."""
    parser = argparse.ArgumentParser(prog="python -m wattwerk.portal.accounts")
    parser.add_argument(
        "--db", default=os.environ.get("WATTWERK_PORTAL_DB", "sqlite:///var/portal.db"),
        help="the portal's database, as for wattwerk portal (default: sqlite:///var/portal.db)"
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
