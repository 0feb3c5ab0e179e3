"""The catalog's schema version is the number of the last migration file applied."""

from __future__ import annotations

import sqlite3

from gateway.catalog import SCHEMA_VERSION, Catalog
from gateway.catalog.core import MIGRATIONS


def test_version_is_the_last_file_number_and_numbers_are_unique():
    numbers = [n for n, _ in MIGRATIONS]
    assert len(numbers) == len(set(numbers)), "two migrations share a number"
    assert SCHEMA_VERSION == max(numbers)


def test_a_catalog_from_an_older_release_gets_exactly_the_newer_migrations(tmp_path):
    path = tmp_path / "c.sqlite3"
    Catalog.open(path).conn.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # An older release stopped at 0008: drop what later files made, as if never applied.
    conn.execute("PRAGMA user_version=8")
    conn.close()
    # Re-running migrations after 0008 must not fail on objects 0001-0008 made ...
    newer = [name for n, name in MIGRATIONS if n > 8]
    assert newer, "this release adds migrations after 0008"
    fresh = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(fresh)
    from importlib import resources
    for n, name in MIGRATIONS:
        if n <= 8:
            conn.executescript(resources.files("gateway.catalog").joinpath(
                "migrations", name).read_text())
    conn.execute("PRAGMA user_version=8")
    conn.close()
    db = Catalog.open(fresh)  # ... and applies only the newer ones, once
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.conn.close()
    Catalog.open(fresh).conn.close()  # opening again applies nothing
