"""Durable storage: projects, tasks, annotations and their history, events, models, jobs.

:class:`base.Storage` is the interface; :class:`sql.SqlStorage` implements it for SQLite (the
default) on SQLAlchemy Core, written so that a PostgreSQL URL can use the same code.
"""

from labelloop.storage.base import Storage, Tx, open_storage

__all__ = ["Storage", "Tx", "open_storage"]
