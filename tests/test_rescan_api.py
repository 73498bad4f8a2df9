"""``POST /v1/rescans`` and ``GET /v1/rescans/{id}``: admin only, local and Redis jobs."""
from __future__ import annotations

import time
import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from moderation import Moderator
from moderation.rescan_redis import WorkerLoop, connect

CLIENT, ADMIN = "client-key-123", "admin-key-789"
C = {"Authorization": f"Bearer {CLIENT}"}
A = {"Authorization": f"Bearer {ADMIN}"}
ROWS = [{"id": "a", "text": "约炮吗"}, {"id": "b", "text": "喜欢爬山"}, {"id": "c", "text": "测试违法词"},
        {"id": "d", "fields": {"nickname": "小美", "bio": "测试低俗词"}}]


def _settings(tmp_path, wordlists, **kw) -> Settings:
    base = dict(api_keys=f"client:{CLIENT},admin:{ADMIN}", data_dir=str(tmp_path / "var"),
                wordlists=str(wordlists), rate_limit_per_second=1000, rate_limit_burst=1000)
    base.update(kw)
    return Settings(**base)


def _body() -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in ROWS)


def _wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/v1/rescans/{job_id}", headers=A)
        assert r.status_code == 200, r.text
        st = r.json()
        if st["state"] in ("done", "failed"):
            return st
        time.sleep(0.2)
    raise AssertionError("rescan did not finish")


@pytest.fixture
def client(tmp_path, tiny_wordlists, monkeypatch):
    monkeypatch.setenv("MODERATION_HISTORY_DIR", str(tmp_path / "hist"))
    monkeypatch.setenv("MODERATION_RESCAN_WORKERS", "1")
    with TestClient(create_app(_settings(tmp_path, tiny_wordlists))) as c:
        yield c


def test_upload_runs_locally_and_reports_progress_and_output(client):
    r = client.post("/v1/rescans", content=_body(), headers={**A, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["mode"] == "local" and job["input"] == "upload" and job["state"] in ("running", "done")
    st = _wait(client, job["id"])
    assert st["state"] == "done", st
    assert st["summary"]["profiles"] == 4 and st["progress"] == 1.0
    out = client.get(f"/v1/rescans/{job['id']}/output", headers=A)
    assert out.status_code == 200
    lines = [orjson.loads(x) for x in out.content.splitlines()]
    assert [x["id"] for x in lines] == ["a", "c", "d"]
    m = Moderator(wordlist_dir=client.app.state.settings.wordlists)
    assert lines[0] == m.check("约炮吗", scene="profile", id="a").to_dict()


def test_server_side_file_and_bad_requests(client, tmp_path):
    root = tmp_path / "var" / "rescan-inputs"
    root.mkdir(parents=True)
    (root / "p.jsonl").write_bytes(_body())
    r = client.post("/v1/rescans", json={"input": "p.jsonl", "scene": "post"}, headers=A)
    assert r.status_code == 202, r.text
    st = _wait(client, r.json()["id"])
    assert st["state"] == "done" and st["summary"]["profiles"] == 4 and st["scene"] == "post"

    def err(resp, status, code):
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code

    err(client.post("/v1/rescans", json={"input": "p.jsonl"}, headers=C), 403, "forbidden")
    err(client.post("/v1/rescans", json={"input": "p.jsonl"}), 401, "unauthorized")
    err(client.get("/v1/rescans/0123456789ab", headers=C), 403, "forbidden")
    err(client.post("/v1/rescans", json={"input": "../../etc/passwd"}, headers=A), 422, "invalid_input")
    err(client.post("/v1/rescans", json={"input": "missing.jsonl"}, headers=A), 422, "input_not_found")
    err(client.post("/v1/rescans", json={"input": "p.jsonl", "scene": "moon"}, headers=A), 422, "invalid_request")
    err(client.post("/v1/rescans", json={"input": "p.jsonl", "since": "../x"}, headers=A), 422, "invalid_request")
    err(client.post("/v1/rescans", json={"input": "p.jsonl", "mode": "redis"}, headers=A), 422, "invalid_request")
    err(client.post("/v1/rescans", content=b"{not json", headers={**A, "Content-Type": "application/json"}), 422, "invalid_request")
    err(client.post("/v1/rescans", content=b"x", headers={**A, "Content-Type": "text/plain"}), 415, "unsupported_media_type")
    err(client.post("/v1/rescans", content=b"", headers={**A, "Content-Type": "application/x-ndjson"}), 422, "invalid_request")
    err(client.get("/v1/rescans/nope", headers=A), 404, "not_found")
    err(client.get("/v1/rescans/0123456789ab", headers=A), 404, "not_found")


def test_redis_mode_queues_on_the_stream_for_workers(tmp_path, tiny_wordlists, redis_server, monkeypatch):
    monkeypatch.setenv("MODERATION_HISTORY_DIR", str(tmp_path / "hist"))
    with TestClient(create_app(_settings(tmp_path, tiny_wordlists, redis_url=redis_server.url))) as client:
        r = client.post("/v1/rescans", content=_body(), headers={**A, "Content-Type": "application/x-ndjson"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["mode"] == "redis" and job["state"] == "queued" and job["chunks"] == 1
        assert client.get(f"/v1/rescans/{job['id']}/output", headers=A).status_code == 409
        m = Moderator(wordlist_dir=tiny_wordlists)
        WorkerLoop(connect(redis_server.url), m, "w", log=lambda s: None, block_ms=10).run(max_chunks=1)
        st = client.get(f"/v1/rescans/{job['id']}", headers=A).json()
        assert st["state"] == "done" and st["progress"] == 1.0 and st["profiles_done"] == 4
        out = client.get(f"/v1/rescans/{job['id']}/output", headers=A)
        assert [orjson.loads(x)["id"] for x in out.content.splitlines()] == ["a", "c", "d"]


def test_local_rescans_are_capped(tmp_path, tiny_wordlists, monkeypatch):
    monkeypatch.setenv("MODERATION_HISTORY_DIR", str(tmp_path / "hist"))
    monkeypatch.setenv("MODERATION_RESCAN_MAX_RUNNING", "1")
    monkeypatch.setenv("MODERATION_RESCAN_WORKERS", "1")
    big = _body() * 3000  # long enough to still run when the second request comes
    with TestClient(create_app(_settings(tmp_path, tiny_wordlists))) as client:
        ctype = {**A, "Content-Type": "application/x-ndjson"}
        first = client.post("/v1/rescans", content=big, headers=ctype)
        assert first.status_code == 202
        second = client.post("/v1/rescans", content=big, headers=ctype)
        if client.get(f"/v1/rescans/{first.json()['id']}", headers=A).json()["state"] == "running":
            assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_rescans"
        assert _wait(client, first.json()["id"])["state"] == "done"
        if second.status_code == 202:  # the first had already finished: leave no process behind
            assert _wait(client, second.json()["id"])["state"] == "done"
        third = client.post("/v1/rescans", content=_body(), headers=ctype)
        assert third.status_code == 202
        assert _wait(client, third.json()["id"])["state"] == "done"


def test_odd_input_names_and_an_unreachable_redis_are_4xx_5xx_not_500_and_leave_no_job(tmp_path, tiny_wordlists, monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("MODERATION_HISTORY_DIR", str(tmp_path / "hist"))
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with TestClient(create_app(_settings(tmp_path, tiny_wordlists, redis_url=dead)), raise_server_exceptions=False) as client:
        for name in ("a\x00b.jsonl", "", ".", "/", "x" * 1000):
            r = client.post("/v1/rescans", json={"input": name, "mode": "local"}, headers=A)
            assert r.status_code == 422, (name, r.text)
        r = client.post("/v1/rescans", content=_body(), headers={**A, "Content-Type": "application/x-ndjson"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        jobs = tmp_path / "var" / "rescans"
        assert not jobs.exists() or not any(jobs.iterdir())  # the failed job left nothing behind


def _not_found(resp) -> None:
    assert resp.status_code == 404, resp.text
    body = resp.json()
    assert list(body) == ["error"] and sorted(body["error"]) == ["code", "message"]  # the contract shape
    assert body["error"]["code"] == "not_found" and body["error"]["message"]


def test_unknown_job_is_404_in_local_mode(client):
    for path in ("/v1/rescans/0123456789ab", "/v1/rescans/0123456789ab/output", "/v1/rescans/not-an-id"):
        _not_found(client.get(path, headers=A))


def test_unknown_or_expired_redis_job_is_404_and_redis_down_is_503(tmp_path, tiny_wordlists, redis_server, monkeypatch):
    from moderation.rescan_redis import job_key

    monkeypatch.setenv("MODERATION_HISTORY_DIR", str(tmp_path / "hist"))
    settings = _settings(tmp_path, tiny_wordlists, redis_url=redis_server.url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        _not_found(client.get("/v1/rescans/0123456789ab", headers=A))  # never created

        ctype = {**A, "Content-Type": "application/x-ndjson"}
        expired = client.post("/v1/rescans", content=_body(), headers=ctype).json()["id"]
        emptied = client.post("/v1/rescans", content=_body(), headers=ctype).json()["id"]
        WorkerLoop(connect(redis_server.url), Moderator(wordlist_dir=tiny_wordlists), "w", log=lambda s: None,
                   block_ms=10).run(max_chunks=1)  # one job done, the other still queued
        assert client.get(f"/v1/rescans/{expired}", headers=A).status_code == 200

        # The job's keys expire (RESULT_TTL_S after it ends) while job.json stays on disk; the
        # API queues a job under its own id.
        assert connect(redis_server.url).delete(*(job_key(expired) + s for s in ("", ":results", ":stats"))) == 3
        _not_found(client.get(f"/v1/rescans/{expired}", headers=A))
        _not_found(client.get(f"/v1/rescans/{expired}/output", headers=A))

        # Redis down: the job may well exist, so that stays 503, not 404.
        redis_server.stop()
        down = client.get(f"/v1/rescans/{emptied}", headers=A)
        assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable", down.text
        # Redis back, but empty (restarted without persistence): the job is gone.
        redis_server.start()
        _not_found(client.get(f"/v1/rescans/{emptied}", headers=A))
