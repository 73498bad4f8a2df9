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


def change_under_load(srv, text: str, change) -> tuple[str, float, list[tuple[int, str, str]]]:
    """Make a word-list change (``change()`` returns the admin's response) while a thread keeps
    sending requests; return (new version, seconds until every worker used it, what the load
    thread saw: (status, wordlist_version, decision) per request)."""
    seen: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def load():
        with httpx.Client(timeout=10) as c:
            while not stop.is_set() and len(seen) < 20_000:
                r = c.post(srv.url + "/v1/moderate", json={"text": text}, headers=C)
                v = r.json() if r.status_code == 200 else {}
                seen.append((r.status_code, v.get("wordlist_version", ""), v.get("decision", "")))

    t = threading.Thread(target=load)
    t.start()
    vs: dict[str, str] = {}
    try:
        time.sleep(0.3)
        r = change()
        assert r.status_code in (200, 201), r.text
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
    return version, elapsed, seen


def edits_reach_every_worker(srv, label: str) -> list[float]:
    """Add an entry, change it, add an allow-list entry, remove that, remove the entry: each
    under load, each on both workers within 2 s, no failed request, and every answer given by
    exactly the version it names (old before the swap, new after)."""
    text = f"出现了{label}新词"
    term = f"{label}新词"
    before = fresh_post(srv.url + "/v1/moderate", {"text": text}).json()
    assert before["decision"] == "pass"
    vs = worker_versions(httpx.get(srv.url + "/metrics", headers=C).text)
    assert len(vs) == 2 and set(vs.values()) == {before["wordlist_version"]}
    ids: dict[str, str] = {}

    def admin(method: str, path: str, body: dict | None = None) -> httpx.Response:
        r = httpx.request(method, srv.url + "/v1/wordlists" + path, headers=A, json=body, timeout=30)
        if r.status_code == 201:
            ids[body.get("kind", "entry")] = r.json()["item"]["id"]
        return r

    steps = [
        ("add entry", lambda: admin("POST", "/entries", {"term": term, "category": "porn", "severity": "high"}),
         "block"),
        ("change entry", lambda: admin("PATCH", f"/entries/{ids['entry']}", {"severity": "medium"}), "review"),
        ("add allow", lambda: admin("POST", "/entries", {"kind": "allow", "term": text}), "pass"),
        ("remove allow", lambda: admin("DELETE", f"/entries/{ids['allow']}"), "review"),
        ("remove entry", lambda: admin("DELETE", f"/entries/{ids['entry']}"), "pass"),
    ]
    old = (before["wordlist_version"], "pass")
    times = []
    for name, change, decision in steps:
        version, elapsed, seen = change_under_load(srv, text, change)
        print(f"{label}: {name} reached both workers in {elapsed:.2f}s ({len(seen)} requests meanwhile)")
        assert seen and {s for s, _, _ in seen} == {200}, f"{name}: a request failed"
        assert elapsed < 2, f"{name}: took {elapsed:.2f}s to reach every worker"
        answers = {(v, d) for _, v, d in seen}
        assert answers <= {old, (version, decision)}, f"{name}: {answers - {old, (version, decision)}}"
        for _ in range(10):
            v = fresh_post(srv.url + "/v1/moderate", {"text": text}).json()
            assert (v["wordlist_version"], v["decision"]) == (version, decision), name
        old = (version, decision)
        times.append(elapsed)
    return times


def assert_log_clean(srv, *secrets: str) -> None:
    """No key and no message text in the server's output."""
    out = srv.log.read_text(errors="replace")
    for s in secrets:
        assert s not in out, f"{s!r} appears in the server log"


def test_two_workers_wordlist_change_sqlite(uvicorn_server, tiny_wordlists):
    srv = uvicorn_server(env={"MODERATION_API_KEYS": KEYS, "MODERATION_WORDLISTS": str(tiny_wordlists),
                              "MODERATION_WORDLIST_POLL_SECONDS": "0.5"}, workers=2)
    edits_reach_every_worker(srv, "多进程")

    # metrics sum over workers
    m = httpx.get(srv.url + "/metrics", headers=C).text
    total = sum(float(x) for x in re.findall(
        r'moderation_http_requests_total\{method="POST",route="/v1/moderate",status="200"\} ([0-9.e+]+)', m))
    assert total >= 5 * 10 + 1
    assert 'route="/v1/wordlists/entries/{item_id}"' in m  # templates, not ids, label routes
    assert_log_clean(srv, CLIENT, ADMIN, "多进程新词")


def test_two_workers_redis(uvicorn_server, tiny_wordlists, redis_server):
    # A 30 s poll: only Redis change notices can bring an edit to the other worker within 2 s.
    srv = uvicorn_server(env={"MODERATION_API_KEYS": KEYS, "MODERATION_WORDLISTS": str(tiny_wordlists),
                              "MODERATION_REDIS_URL": redis_server.url,
                              "MODERATION_WORDLIST_POLL_SECONDS": "30"}, workers=2)
    edits_reach_every_worker(srv, "红色")
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
    assert_log_clean(srv, CLIENT, ADMIN, "红色新词", "加我v")


def test_cli_serve(tmp_path, tiny_wordlists):
    """``moderation serve --workers 2`` (the lead's CLI) runs this app through ``api.server.run``,
    which also gives the workers one metrics directory so /metrics covers both."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ROOT, free_port

    port = free_port()
    env = dict(os.environ, MODERATION_API_KEYS=KEYS, MODERATION_WORDLISTS=str(tiny_wordlists),
               MODERATION_DATA_DIR=str(tmp_path / "var"))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    exe = Path(sys.executable).with_name("moderation")
    log_path = tmp_path / "serve.log"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--workers", "2"], cwd=ROOT, env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        pids: set = set()
        while time.monotonic() < deadline and proc.poll() is None and len(pids) < 2:
            try:
                r = httpx.get(base + "/readyz", timeout=1)
                if r.status_code == 200:
                    pids.add(r.json()["pid"])
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert len(pids) == 2, (pids, proc.poll(), log_path.read_text(errors="replace")[-3000:])
        for _ in range(4):
            assert fresh_post(base + "/v1/moderate", {"text": "测试色情词"}).json()["decision"] == "block"
        vs = worker_versions(httpx.get(base + "/metrics", headers=C).text)
        assert set(vs) == {str(p) for p in pids}, vs
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log_file.close()
