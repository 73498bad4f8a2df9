"""The embedded SQLite stores opened by several worker processes at the same moment.

``moderation serve --workers 2`` starts its workers together and each opens the review and
overlay files; switching a new file to WAL mode answered "database is locked" in one of them
now and then (seen in CI: the worker died at start-up, and the server with it).
"""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from api.overlay import SqliteOverlayStore
from api.review.store import SqliteReviewStore


def _open_all(folder: str, barrier, out) -> None:
    barrier.wait()
    try:
        SqliteReviewStore(Path(folder) / "review.sqlite")
        SqliteOverlayStore(Path(folder) / "overlay.sqlite")
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(repr(exc))


def test_workers_opening_the_stores_together_all_succeed(tmp_path):
    ctx = mp.get_context("fork")
    results: list[str] = []
    for trial in range(12):
        folder = tmp_path / f"t{trial}"
        folder.mkdir()
        barrier = ctx.Barrier(6)
        out = ctx.Queue()
        procs = [ctx.Process(target=_open_all, args=(str(folder), barrier, out)) for _ in range(6)]
        for p in procs:
            p.start()
        results += [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert results == ["ok"] * len(results)
    assert len(results) == 72
