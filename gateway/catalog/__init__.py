"""The catalog: the only code that speaks SQL (SQLite).

``Catalog`` owns one connection. Every query lives in this package, grouped by
concept (``segments``, ``holds``, ``audit_log``...), as functions taking the
catalog first. ``AsyncCatalog`` runs them on one dedicated thread, so there is
exactly one writer and the event loop never blocks on SQLite.
"""

from .core import SCHEMA_VERSION, AsyncCatalog, Catalog

__all__ = ["AsyncCatalog", "Catalog", "SCHEMA_VERSION"]
