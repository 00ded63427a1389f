"""Durable queue backends behind one small interface (base.Store)."""

from __future__ import annotations

from pathlib import Path

from .base import Batch, NullStore, Store, StoredJob
from .sqlite import SQLiteStore, StoreError

__all__ = ["Batch", "NullStore", "Store", "StoredJob", "SQLiteStore", "StoreError", "open_store",
           "default_queue_path"]


def default_queue_path(port: int) -> Path:
    """One file per port in the user's data directory, so two servers never share a queue."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("geartool")) / f"queue-{port}.sqlite3"


def open_store(url: str, port: int) -> Store:
    """``memory``, ``sqlite`` (the default file) or ``sqlite:///PATH``."""
    if url == "memory":
        return NullStore()
    if url == "sqlite":
        return SQLiteStore(default_queue_path(port))
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]  # sqlite:///abs/path keeps its leading slash
        if path.startswith("/~"):
            path = path[1:]
        if not path:
            raise StoreError("sqlite queue URL needs a path: sqlite:///PATH")
        return SQLiteStore(Path(path).expanduser())
    raise StoreError(f"unknown queue {url!r}: use memory, sqlite or sqlite:///PATH")
