"""Versioned schema migrations of the portal database, one folder per backend.

``postgres/NNNN_name.sql`` and ``sqlite/NNNN_name.sql`` carry the same version numbers (a test
checks): a change to the schema is one new number in both folders, each in its backend's SQL.
:func:`migrate` applies the pending ones in order, each recorded in ``schema_migrations``, and
is safe when several processes start at once (PostgreSQL: an advisory lock; SQLite: the
write lock of ``BEGIN IMMEDIATE``, all pending migrations in one transaction).
"""

from __future__ import annotations

import logging
import sqlite3
from importlib import resources

log = logging.getLogger(__name__)

PACKAGE = "wattwerk.portal.migrations"
FOLDERS = {"postgresql": "postgres", "sqlite": "sqlite"}
SQLITE_PREFIX = "sqlite:///"
_LOCK_KEY = 0x77617474  # "watt": advisory lock id for migrations


def migration_files(dialect: str = "postgresql") -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration of a backend, in order."""
    root = resources.files(PACKAGE).joinpath(FOLDERS[dialect])
    out = []
    for entry in root.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {versions}")
    return out


def migrate(url: str, schema: str | None = None) -> list[str]:
    """Apply pending migrations to the database at ``url``; return the names applied now.

    ``postgresql://...`` (``schema`` is created if given) or ``sqlite:///path/portal.db``
    (the file and its folder are created)."""
    if url.startswith(SQLITE_PREFIX):
        return migrate_sqlite(url[len(SQLITE_PREFIX) :].split("?", 1)[0])
    return migrate_postgres(url, schema)


def migrate_postgres(url: str, schema: str | None = None) -> list[str]:
    """Apply pending PostgreSQL migrations; return the names applied now. Creates ``schema`` if given."""
    import psycopg  # only PostgreSQL portals need it here
    from psycopg import sql

    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, text in migration_files("postgresql"):
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text)  # type: ignore[arg-type]  # trusted files from the package
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def statements(script: str) -> list[str]:
    """An SQLite script split into complete statements (comments-only pieces dropped)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            text = "\n".join(x for x in buf.splitlines() if not x.strip().startswith("--")).strip()
            if text and text != ";":
                out.append(text)
            buf = ""
    if "\n".join(x for x in buf.splitlines() if not x.strip().startswith("--")).strip():
        raise RuntimeError(f"incomplete SQL statement at the end of a migration: {buf[:80]!r}")
    return out


def migrate_sqlite(path: str) -> list[str]:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    applied: list[str] = []
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = OFF")  # as SQLite advises while a schema changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, "
                "applied_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, text in migration_files("sqlite"):
                if version in done:
                    continue
                for statement in statements(text):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
                log.info("applied migration %s", name)
                applied.append(name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return applied
