"""Opening the embedded SQLite files that several worker processes share."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(path: str | Path, timeout: float = 10.0) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, for a file other processes may be opening
    at the same moment (``moderation serve --workers N`` starts them together).

    Switching the journal mode needs the file to itself, and SQLite answers "database is
    locked" at once, without waiting on its busy handler, while another process holds it (as
    during that process's own switch): the switch is retried here until ``timeout``.
    """
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=timeout)
    db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
