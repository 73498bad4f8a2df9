"""The service as real uvicorn processes with 2 workers: word-list edits reach every worker
(no restart, no failed request), metrics add up over workers, Redis-backed state is shared."""
from __future__ import annotations

import re
import threading
import time

import httpx

CLIENT, ADMIN = "client-key-u1", "admin-key-u2"
C = {"Authorization": f"Bearer {CLIENT}"}
A = {"Authorization": f"Bearer {ADMIN}"}
KEYS = f"client:{CLIENT},admin:{ADMIN}"


def fresh_post(url: str, body: dict) -> httpx.Response:
    # A new connection per request, so the kernel spreads requests over the workers.
    with httpx.Client(timeout=10) as c:
        return c.post(url, json=body, headers=C)


def worker_versions(metrics_text: str) -> dict[str, str]:
    """pid -> word-list version each live worker reports (value 1)."""
    out = {}
    for m in re.finditer(r'moderation_wordlist_info\{pid="(\d+)",version="([0-9a-f]+)"\} 1\.0', metrics_text):
        out[m.group(1)] = m.group(2)
    return out


def change_under_load(srv, text: str, term: str) -> tuple[str, float, list[int]]:
    """Add an entry while a thread keeps sending requests; return (new version, seconds until
    every worker used it, statuses seen by the load thread)."""
    statuses: list[int] = []
    stop = threading.Event()

    def load():
        with httpx.Client(timeout=10) as c:
            while not stop.is_set() and len(statuses) < 20_000:
                statuses.append(c.post(srv.url + "/v1/moderate", json={"text": text}, headers=C).status_code)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.3)
        r = httpx.post(srv.url + "/v1/wordlists/entries", headers=A, timeout=30,
                       json={"term": term, "category": "porn", "severity": "high"})
        assert r.status_code == 201, r.text
        t0 = time.monotonic()
        version = r.json()["wordlist_version"]
        deadline = t0 + 20
        elapsed = None
        while time.monotonic() < deadline:
            vs = worker_versions(httpx.get(srv.url + "/metrics", headers=C, timeout=10).text)
            if len(vs) == 2 and set(vs.values()) == {version}:
                elapsed = time.monotonic() - t0
                break
            time.sleep(0.05)
        assert elapsed is not None, f"not every worker moved to {version}: {vs}"
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(timeout=30)
    return version, elapsed, statuses


def test_two_workers_wordlist_change_sqlite(uvicorn_server, tiny_wordlists):
    srv = uvicorn_server(env={"MODERATION_API_KEYS": KEYS, "MODERATION_WORDLISTS": str(tiny_wordlists),
                              "MODERATION_WORDLIST_POLL_SECONDS": "0.5"}, workers=2)
    text = "出现了多进程新词"
    before = fresh_post(srv.url + "/v1/moderate", {"text": text}).json()
    assert before["decision"] == "pass"
    vs = worker_versions(httpx.get(srv.url + "/metrics", headers=C).text)
    assert len(vs) == 2 and set(vs.values()) == {before["wordlist_version"]}

    version, elapsed, statuses = change_under_load(srv, text, "多进程新词")
    print(f"word-list change reached both workers in {elapsed:.2f}s (SQLite)")
    assert statuses and set(statuses) == {200}, "a request failed during the word-list change"
    for _ in range(20):
        v = fresh_post(srv.url + "/v1/moderate", {"text": text}).json()
        assert v["decision"] == "block" and v["wordlist_version"] == version

    # metrics sum over workers
    m = httpx.get(srv.url + "/metrics", headers=C).text
    total = sum(float(x) for x in re.findall(
        r'moderation_http_requests_total\{method="POST",route="/v1/moderate",status="200"\} ([0-9.e+]+)', m))
    assert total >= len(statuses) + 21


def test_two_workers_redis(uvicorn_server, tiny_wordlists, redis_server):
    srv = uvicorn_server(env={"MODERATION_API_KEYS": KEYS, "MODERATION_WORDLISTS": str(tiny_wordlists),
                              "MODERATION_REDIS_URL": redis_server.url,
                              "MODERATION_WORDLIST_POLL_SECONDS": "0.5"}, workers=2)
    text = "出现了红色新词"
    version, elapsed, statuses = change_under_load(srv, text, "红色新词")
    print(f"word-list change reached both workers in {elapsed:.2f}s (Redis)")
    assert statuses and set(statuses) == {200}
    # conversation windows are shared by the workers through Redis
    out = []
    for i, t in enumerate(["加我v", "abc", "12345678"]):
        out.append(fresh_post(srv.url + "/v1/moderate", {"text": t, "scene": "chat", "conversation_id": "cv",
                                                         "user_id": "u1", "message_id": f"m{i}"}).json())
    assert "contact" in out[-1]["patterns"]
    # outage in a real process: keep answering, report it, recover
    redis_server.stop()
    r = fresh_post(srv.url + "/v1/moderate", {"text": "你好", "scene": "chat", "conversation_id": "cv"})
    assert r.status_code == 200 and r.json()["context_missing"] is True
    assert httpx.get(srv.url + "/readyz").json()["checks"]["redis"] == "down"
    redis_server.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if httpx.get(srv.url + "/readyz").json()["checks"]["redis"] == "ok":
            break
        time.sleep(0.1)
    assert httpx.get(srv.url + "/readyz").json()["checks"]["redis"] == "ok"


def test_cli_serve(tmp_path, tiny_wordlists):
    """``moderation serve`` (the lead's CLI) runs this app through ``api.server.run``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ROOT, free_port

    port = free_port()
    env = dict(os.environ, MODERATION_API_KEYS=KEYS, MODERATION_WORDLISTS=str(tiny_wordlists),
               MODERATION_DATA_DIR=str(tmp_path / "var"))
    exe = Path(sys.executable).with_name("moderation")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        ok = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                break
            time.sleep(0.2)
        assert ok
        r = httpx.post(f"http://127.0.0.1:{port}/v1/moderate", json={"text": "测试色情词"}, headers=C)
        assert r.json()["decision"] == "block"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
