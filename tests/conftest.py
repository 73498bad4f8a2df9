"""Shared fixtures: a real redis-server you can stop and restart, a real uvicorn process, and a
tiny word-list folder for service tests that must not depend on the curated lists' content.

- ``redis_server``: a fresh ``redis-server`` on a free port in a temp dir (``.url``, ``.stop()``,
  ``.start()``, ``.restart()``); never touches the shared server on 6379.
- ``make_redis_server``: factory for more than one.
- ``uvicorn_server``: factory ``uvicorn_server(env={...}, workers=2)`` → object with ``.url``,
  ``.stop()``; runs ``api.app:create_app`` as a real process and waits for ``/healthz``.
- ``tiny_wordlists``: path of a small valid word-list folder (our own test words).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class RedisServer:
    """A private redis-server process; stop() and start() keep the same port."""

    def __init__(self, workdir: Path):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        self.exe = exe
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not _wait_port(self.port, 10):
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def make_redis_server(tmp_path_factory):
    servers: list[RedisServer] = []

    def make() -> RedisServer:
        srv = RedisServer(tmp_path_factory.mktemp("redis"))
        srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def redis_server(make_redis_server) -> RedisServer:
    return make_redis_server()


class UvicornServer:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Signal the master only; uvicorn stops its own workers.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def start_uvicorn(tmp: Path, env: dict[str, str] | None = None, workers: int = 1,
                  timeout: float = 90) -> UvicornServer:
    """Start ``api.app:create_app`` under uvicorn in ``tmp``; returns once every worker has
    answered /readyz with 200."""
    port = free_port()
    full_env = dict(os.environ)
    full_env.setdefault("MODERATION_DATA_DIR", str(tmp / "var"))
    full_env.update(env or {})
    if workers > 1:
        md = tmp / "metrics"
        md.mkdir(exist_ok=True)
        full_env["PROMETHEUS_MULTIPROC_DIR"] = str(md)
    log = tmp / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--no-access-log"],
            cwd=ROOT, env=full_env, stdout=fh, stderr=subprocess.STDOUT,
        )
    srv = UvicornServer(proc, port, log)
    deadline = time.monotonic() + timeout
    pids: set = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{srv.output()}")
        try:
            # A fresh connection each time, so every worker gets asked; /readyz names its pid.
            r = httpx.get(srv.url + "/readyz", timeout=1)
            if r.status_code == 200:
                pids.add(r.json().get("pid"))
                if len(pids) >= workers:
                    return srv
                time.sleep(0.02)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    srv.stop()
    raise RuntimeError(f"uvicorn did not become ready in {timeout}s:\n{srv.output()}")


@pytest.fixture
def uvicorn_server(tmp_path_factory):
    """Factory: ``uvicorn_server(env={...}, workers=2)``; every server is stopped afterwards."""
    servers: list[UvicornServer] = []

    def start(env: dict[str, str] | None = None, workers: int = 1, timeout: float = 90) -> UvicornServer:
        srv = start_uvicorn(tmp_path_factory.mktemp("uvicorn"), env, workers, timeout)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


TINY_LISTS = {
    # Test words of our own; just enough to exercise each decision.
    "discrimination.txt": "@group test\n@severity medium\n测试歧视词\n",
    "illegal.txt": "@group test\n@severity high\n测试违法词\n",
    "political.txt": "@group test\n@severity high\n测试政治词\n",
    "porn.txt": "@group test\n@severity high\n测试色情词\n约炮\n@severity medium\n测试低俗词\n",
    "fraud.txt": "@group test\n@severity medium\n测试诈骗词\n",
    "allow.txt": "测试色情词语法书\n",
    "lookalikes.txt": "",
    "policy.toml": """
[scenes.profile.severity]
low = "review"
medium = "review"
high = "block"
[scenes.post.severity]
low = "pass"
medium = "review"
high = "block"
[scenes.chat.severity]
low = "pass"
medium = "review"
high = "block"
""",
}


@pytest.fixture
def tiny_wordlists(tmp_path) -> Path:
    return write_tiny_wordlists(tmp_path / "wordlists")


def write_tiny_wordlists(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, body in TINY_LISTS.items():
        (d / name).write_text(body, encoding="utf-8")
    return d
