"""Secrets at rest: TOTP secrets, e-mail addresses and Flukso/mySmartGrid HMAC keys are stored
encrypted with the portal's server key (Fernet from ``cryptography``: AES-128-CBC with an
HMAC-SHA256 tag).

The key lives in a file of its own, created 0600 on the portal's first start (``--key-file``,
default beside the embedded database); every process of one portal reads the same file. A
stored secret is ``fernet:<token>``; values from before encryption (plain text) still read, and
:func:`seal_existing` encrypts them at start. A check value in ``portal_secrets`` makes a
portal started with another key refuse to serve, instead of failing at the first sign-in.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from wattwerk.portal.database import Conn

log = logging.getLogger(__name__)

PREFIX = "fernet:"
CHECK = "secretbox.check"
CHECK_TEXT = "wattwerk secret box"
# (table, key column, secret column): every secret the portal keeps encrypted
SEALED = (
    ("accounts", "id", "totp_secret"),
    ("accounts", "id", "totp_pending"),
    ("accounts", "id", "email"),
    ("site_notifications", "site_id", "email"),
    ("compat_devices", "id", "hmac_key"),
    ("compat_sensors", "id", "hmac_key"),
)


class SecretError(RuntimeError):
    """The key file or a stored secret cannot be used, with the reason."""


class SecretBox:
    """Seal and open short secrets with the portal's key."""

    def __init__(self, key: bytes, *, persistent: bool = True) -> None:
        self._fernet = Fernet(key)
        self.persistent = persistent  # False: a key held only in memory (gone with the process)

    def seal(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def open(self, stored: str | None) -> str | None:
        """The secret (a value stored before encryption comes back as it is)."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretError("a stored secret does not open with this portal's key file") from None


def load_or_create(path: Path) -> SecretBox:
    """The box of the key in ``path``, creating the file (0600) with a new key on first start."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        log.info("created the portal's key file %s (keep it with the database's backups)", path)
    try:
        if path.stat().st_mode & 0o077:
            log.warning(
                "key file %s is readable by others (mode %o); chmod 600 it", path, path.stat().st_mode & 0o777
            )
        return SecretBox(path.read_bytes().strip())
    except (OSError, ValueError) as exc:
        raise SecretError(f"key file {path}: {exc}") from exc


def ephemeral() -> SecretBox:
    """A box with a key held only in memory (in-process portals of tests and the demo)."""
    return SecretBox(Fernet.generate_key(), persistent=False)


async def seal_existing(conn: Conn, box: SecretBox) -> int:
    """Check the key against the database and encrypt secrets stored before encryption (with
    a key of the file only: one held in memory would lose them at the next start)."""
    if not box.persistent:
        return 0
    cur = await conn.execute("SELECT value FROM portal_secrets WHERE name = %s", (CHECK,))
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO portal_secrets (name, value) VALUES (%s, %s)", (CHECK, box.seal(CHECK_TEXT).encode())
        )
    else:
        try:
            box.open(bytes(row[0]).decode())
        except SecretError:
            raise SecretError(
                "this portal's key file is not the one its database's secrets were "
                "sealed with; start it with the right --key-file"
            ) from None
    sealed = 0
    for table, key, column in SEALED:  # trusted names from the code
        cur = await conn.execute(
            f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} NOT LIKE %s",
            (PREFIX + "%",),
        )
        for ident, plain in await cur.fetchall():
            await conn.execute(
                f"UPDATE {table} SET {column} = %s WHERE {key} = %s", (box.seal(str(plain)), ident)
            )
            sealed += 1
    if sealed:
        log.info("encrypted %d secret(s) stored before encryption", sealed)
    return sealed
