"""``moderation serve``: the app under uvicorn with N worker processes."""
from __future__ import annotations

import os
import shutil
import tempfile

import uvicorn


def run(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info") -> None:
    """Serve ``api.app:create_app`` (a factory, so each worker builds its own app)."""
    workers = max(1, int(workers))
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share metric files so /metrics on any of them reports the sum of all.
        d = tempfile.mkdtemp(prefix="moderation-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = d
    else:
        d = None
    try:
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False, server_header=False)
    finally:
        if d is not None:
            shutil.rmtree(d, ignore_errors=True)
