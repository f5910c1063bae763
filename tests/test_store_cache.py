"""The edge's store keeps SQLite's page cache small: it grows with the database and stays in the
edge's memory (``wattwerk bench edge`` and ``docs/install.md``: 16 MB of cache was 12 MB of RSS
after a day)."""

from __future__ import annotations

from wattwerk.store.sqlite import CACHE_KIB, SqliteStore


def test_the_page_cache_is_sqlite_s_default_unless_asked(tmp_path) -> None:
    store = SqliteStore(tmp_path / "a.sqlite")
    bulk = SqliteStore(tmp_path / "b.sqlite", cache_kib=16000)
    try:
        assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB == -2000
        assert bulk._db.execute("PRAGMA cache_size").fetchone()[0] == -16000
    finally:
        store.close()
        bulk.close()
