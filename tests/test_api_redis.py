"""The service's Redis paths against a real redis-server started by the test (see conftest):
verdict cache, shared rate limits, shared word-list edits, conversation windows, and an outage
(stop the server, keep answering, /readyz says so, start it again, everything recovers)."""
from __future__ import annotations

import time

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import key_id
from api.conversation_redis import RedisConversationStore
from api.redis_link import RedisLink
from api.settings import Settings
from moderation.conversation import Message, WindowConfig

CLIENT, ADMIN = "client-key-r1", "admin-key-r2"
C = {"Authorization": f"Bearer {CLIENT}"}
A = {"Authorization": f"Bearer {ADMIN}"}


def settings(tmp_path, wordlists, url, name="a", **kw) -> Settings:
    base = dict(api_keys=f"client:{CLIENT},admin:{ADMIN}", data_dir=str(tmp_path / f"var-{name}"),
                wordlists=str(wordlists), redis_url=url, wordlist_poll_seconds=0.1,
                redis_retry_seconds=0.2, rate_limit_per_second=1000, rate_limit_burst=1000)
    base.update(kw)
    return Settings(**base)


def wait_for(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    return last


def test_verdict_cache_keyed_by_version_and_text(tmp_path, tiny_wordlists, redis_server):
    r = redis.Redis.from_url(redis_server.url)
    with TestClient(create_app(settings(tmp_path, tiny_wordlists, redis_server.url))) as c:
        v1 = c.post("/v1/moderate", json={"text": "测试色情词", "id": "a"}, headers=C).json()
        keys = r.keys("moderation:vc:*")
        assert len(keys) == 1
        key = keys[0].decode()
        assert v1["wordlist_version"] in key and ":post:" in key and "测试" not in key
        cached = orjson.loads(r.get(key))
        assert "id" not in cached and cached["decision"] == "block"
        # Prove the second answer comes from the cache: mark the cached value.
        cached["marker"] = "from-cache"
        r.set(key, orjson.dumps(cached))
        v2 = c.post("/v1/moderate", json={"text": "测试色情词", "id": "b"}, headers=C).json()
        assert v2["marker"] == "from-cache" and v2["id"] == "b"
        # Another scene is another key.
        c.post("/v1/moderate", json={"text": "测试色情词", "scene": "chat"}, headers=C)
        assert len(r.keys("moderation:vc:*")) == 2
        # A word-list change changes the version, so old entries are not used.
        resp = c.post("/v1/wordlists/entries", json={"term": "别的词语", "category": "porn"}, headers=A)
        assert resp.status_code == 201
        v3 = c.post("/v1/moderate", json={"text": "测试色情词", "id": "c"}, headers=C).json()
        assert "marker" not in v3 and v3["wordlist_version"] != v1["wordlist_version"]
        # Batch uses the cache too.
        out = c.post("/v1/moderate/batch", json={"items": [{"text": "测试色情词"}, {"text": "新文本"}]},
                     headers=C).json()["items"]
        assert [v["decision"] for v in out] == ["block", "pass"]


def test_rate_limit_shared_between_workers(tmp_path, tiny_wordlists, redis_server):
    s1 = settings(tmp_path, tiny_wordlists, redis_server.url, "a", rate_limit_per_second=0.01, rate_limit_burst=4)
    s2 = settings(tmp_path, tiny_wordlists, redis_server.url, "b", rate_limit_per_second=0.01, rate_limit_burst=4)
    with TestClient(create_app(s1)) as c1, TestClient(create_app(s2)) as c2:
        codes = []
        for i in range(6):
            c = c1 if i % 2 == 0 else c2
            codes.append(c.post("/v1/moderate", json={"text": "a"}, headers=C).status_code)
        assert codes == [200, 200, 200, 200, 429, 429]
        assert c2.post("/v1/moderate", json={"text": "a"}, headers=A).status_code == 200
    # the buckets live in Redis under the key's id, never the key itself
    keys = {k.decode() for k in redis.Redis.from_url(redis_server.url).keys("moderation:rl:*")}
    assert keys == {f"moderation:rl:{key_id(CLIENT)}", f"moderation:rl:{key_id(ADMIN)}"}


def test_wordlist_edit_reaches_other_machine_via_redis(tmp_path, tiny_wordlists, redis_server):
    # Different data_dirs: the only thing the two share is Redis, like two machines.
    s1 = settings(tmp_path, tiny_wordlists, redis_server.url, "m1")
    s2 = settings(tmp_path, tiny_wordlists, redis_server.url, "m2")
    with TestClient(create_app(s1)) as c1, TestClient(create_app(s2)) as c2:
        assert c2.post("/v1/moderate", json={"text": "跨机器词语"}, headers=C).json()["decision"] == "pass"
        r = c1.post("/v1/wordlists/entries", json={"term": "跨机器词语", "category": "illegal", "severity": "high"},
                    headers=A)
        assert r.status_code == 201
        version = r.json()["wordlist_version"]
        item_id = r.json()["item"]["id"]
        t0 = time.monotonic()
        v = wait_for(lambda: (lambda v: v if v["decision"] == "block" else None)(
            c2.post("/v1/moderate", json={"text": "跨机器词语"}, headers=C).json()), timeout=5)
        assert v and v["wordlist_version"] == version
        assert time.monotonic() - t0 < 2
        assert c2.get("/v1/wordlists/entries", headers=A).json()["items"][0]["id"] == item_id
        assert c2.delete(f"/v1/wordlists/entries/{item_id}", headers=A).status_code == 200
        v = wait_for(lambda: (lambda v: v if v["decision"] == "pass" else None)(
            c1.post("/v1/moderate", json={"text": "跨机器词语"}, headers=C).json()), timeout=5)
        assert v and v["decision"] == "pass"


def test_conversation_window_shared_between_workers(tmp_path, tiny_wordlists, redis_server):
    s1 = settings(tmp_path, tiny_wordlists, redis_server.url, "a")
    s2 = settings(tmp_path, tiny_wordlists, redis_server.url, "b")
    msgs = ["加我v", "abc", "12345678"]
    with TestClient(create_app(s1)) as c1, TestClient(create_app(s2)) as c2:
        out = []
        for i, text in enumerate(msgs):
            c = (c1, c2)[i % 2]
            out.append(c.post("/v1/moderate", json={"text": text, "scene": "chat", "conversation_id": "conv-1",
                                                     "user_id": "u1", "message_id": f"m{i}"}, headers=C).json())
    last = out[-1]
    assert "context_missing" not in last
    assert "contact" in last["patterns"], last
    assert any(h.get("context") for h in last["hits"])


def test_conversation_store_semantics(redis_server):
    link = RedisLink(redis_server.url)
    store = RedisConversationStore(link, WindowConfig(max_messages=3, max_age_seconds=100))
    now = 1_000_000.0
    for i in range(5):
        store.append("c", Message(f"m{i}", "u", now + i, f"t{i}", ("contact",)))
    w = store.window("c", now + 5)
    assert [m.message_id for m in w] == ["m2", "m3", "m4"] and w[0].cues == ("contact",)
    assert [m.message_id for m in store.window("c", now + 102.5)] == ["m3", "m4"]
    assert store.window("other", now) == []
    store.clear("c")
    assert store.window("c", now + 5) == []
    ttl = redis.Redis.from_url(redis_server.url).ttl("moderation:conv:c")
    assert ttl == -2  # cleared
    store.append("d", Message("x", "u", now, "t", ()))
    assert 0 < redis.Redis.from_url(redis_server.url).ttl("moderation:conv:d") <= 100
    redis_server.stop()
    with pytest.raises(ConnectionError):
        store.window("d", now)
    with pytest.raises(ConnectionError):
        store.append("d", Message("y", "u", now, "t", ()))


def test_redis_outage_and_recovery(tmp_path, tiny_wordlists, redis_server):
    s = settings(tmp_path, tiny_wordlists, redis_server.url)
    chat = {"scene": "chat", "conversation_id": "c-out", "user_id": "u1"}
    with TestClient(create_app(s)) as c:
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["redis"] == "ok"
        v = c.post("/v1/moderate", json={"text": "你好", **chat}, headers=C).json()
        assert "context_missing" not in v

        redis_server.stop()
        # Still answering, from the engine alone.
        for text in ("测试色情词", "普通的一句话"):
            r = c.post("/v1/moderate", json={"text": text}, headers=C)
            assert r.status_code == 200
        assert r.json()["decision"] == "pass"
        r = c.post("/v1/moderate", json={"text": "测试色情词", **chat}, headers=C)
        assert r.status_code == 200
        v = r.json()
        assert v["decision"] == "block" and v["context_missing"] is True
        r = c.post("/v1/moderate/batch", json={"items": [{"text": "加我v", **chat}, {"text": "普通"}]}, headers=C)
        assert r.status_code == 200
        assert r.json()["items"][0]["context_missing"] is True and "context_missing" not in r.json()["items"][1]
        t0 = time.monotonic()
        r = c.get("/readyz")
        assert time.monotonic() - t0 < 3  # every probe is bounded
        assert r.status_code == 200
        assert r.json()["checks"]["redis"] == "down" and r.json()["status"] == "degraded"
        assert r.json()["checks"]["reviews"] == "down"  # the review queue lives in the same Redis
        assert wait_for(lambda: c.get("/readyz").json()["checks"]["wordlist_notices"] == "polling", 5)
        assert "context_missing" in r.json()
        assert c.get("/healthz").status_code == 200
        assert 'moderation_redis_up 0.0' in wait_for(
            lambda: (lambda m: m if "moderation_redis_up 0.0" in m else None)(c.get("/metrics", headers=C).text), 5)
        # Admin edits need the shared store: a clear 503, not a 500.
        r = c.post("/v1/wordlists/entries", json={"term": "停机词语", "category": "porn"}, headers=A)
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"

        redis_server.start()
        ok = wait_for(lambda: c.get("/readyz").json()["checks"]["redis"] == "ok", timeout=10)
        assert ok
        body = wait_for(lambda: (lambda b: b if b["checks"].get("reviews") == "ok" else None)(
            c.get("/readyz").json()), timeout=10)
        assert body and body["status"] == "ok" and "context_missing" not in body
        assert wait_for(lambda: c.get("/readyz").json()["checks"]["wordlist_notices"] == "subscribed", 5)
        v = wait_for(lambda: (lambda v: v if "context_missing" not in v else None)(
            c.post("/v1/moderate", json={"text": "你好", **chat}, headers=C).json()), timeout=10)
        assert v and "context_missing" not in v
        # Cache and word-list store work again, without a restart.
        c.post("/v1/moderate", json={"text": "恢复后的文本"}, headers=C)
        assert wait_for(lambda: redis.Redis.from_url(redis_server.url).keys("moderation:vc:*"), 5)
        r = c.post("/v1/wordlists/entries", json={"term": "恢复词语", "category": "porn", "severity": "high"},
                   headers=A)
        assert r.status_code == 201
        assert c.post("/v1/moderate", json={"text": "恢复词语"}, headers=C).json()["decision"] == "block"


def test_start_while_redis_down(tmp_path, tiny_wordlists, redis_server):
    url = redis_server.url
    redis_server.stop()
    with TestClient(create_app(settings(tmp_path, tiny_wordlists, url))) as c:
        assert c.post("/v1/moderate", json={"text": "测试色情词"}, headers=C).json()["decision"] == "block"
        assert c.get("/readyz").json()["checks"]["redis"] == "down"
        redis_server.start()
        assert wait_for(lambda: c.get("/readyz").json()["checks"]["redis"] == "ok", timeout=10)


def test_readyz_can_require_redis(tmp_path, tiny_wordlists, redis_server):
    s = settings(tmp_path, tiny_wordlists, redis_server.url, readyz_require_redis=True)
    with TestClient(create_app(s)) as c:
        assert c.get("/readyz").status_code == 200
        redis_server.stop()
        assert c.get("/readyz").status_code == 503
        assert c.post("/v1/moderate", json={"text": "a"}, headers=C).status_code == 200


def test_wordlist_change_notice_reaches_other_machine_without_polling(tmp_path, tiny_wordlists, redis_server):
    """With Redis, a change is published and every subscribed worker rebuilds at once: with a
    30 s poll interval, only the notice can bring the edit to the other "machine" within 2 s."""
    s1 = settings(tmp_path, tiny_wordlists, redis_server.url, "n1", wordlist_poll_seconds=30)
    s2 = settings(tmp_path, tiny_wordlists, redis_server.url, "n2", wordlist_poll_seconds=30)
    app2 = create_app(s2)
    text = "通知传播词语"
    with TestClient(create_app(s1)) as c1, TestClient(app2) as c2:
        assert wait_for(lambda: redis.Redis.from_url(redis_server.url).pubsub_numsub(
            "moderation:overlay:changed")[0][1] >= 2, timeout=5)
        assert c2.post("/v1/moderate", json={"text": text}, headers=C).json()["decision"] == "pass"

        def reaches(decision: str, version: str) -> float:
            t0 = time.monotonic()
            v = wait_for(lambda: (lambda v: v if v["wordlist_version"] == version else None)(
                c2.post("/v1/moderate", json={"text": text}, headers=C).json()), timeout=5, step=0.02)
            assert v and v["decision"] == decision, v
            return time.monotonic() - t0

        r = c1.post("/v1/wordlists/entries", json={"term": "传播词语", "category": "porn", "severity": "high"},
                    headers=A)
        assert r.status_code == 201
        item_id = r.json()["item"]["id"]
        assert reaches("block", r.json()["wordlist_version"]) < 2
        # change
        r = c1.patch(f"/v1/wordlists/entries/{item_id}", json={"severity": "medium"}, headers=A)
        assert r.status_code == 200
        assert reaches("review", r.json()["wordlist_version"]) < 2
        # allow-list entry, then its removal
        r = c1.post("/v1/wordlists/entries", json={"kind": "allow", "term": "通知传播词语"}, headers=A)
        assert r.status_code == 201
        allow_id = r.json()["item"]["id"]
        assert reaches("pass", r.json()["wordlist_version"]) < 2
        r = c1.delete(f"/v1/wordlists/entries/{allow_id}", headers=A)
        assert reaches("review", r.json()["wordlist_version"]) < 2
        # removal of the entry
        r = c1.delete(f"/v1/wordlists/entries/{item_id}", headers=A)
        assert reaches("pass", r.json()["wordlist_version"]) < 2
        assert app2.state.engine.notices >= 5
        assert c2.get("/readyz").json()["checks"]["wordlist_notices"] == "subscribed"
        # The subscription survives a Redis restart, with no restart of the app.
        redis_server.restart()
        assert wait_for(lambda: c1.get("/readyz").json()["checks"]["redis"] == "ok"
                        and c2.get("/readyz").json()["checks"]["redis"] == "ok", timeout=10)
        assert wait_for(lambda: redis.Redis.from_url(redis_server.url).pubsub_numsub(
            "moderation:overlay:changed")[0][1] >= 2, timeout=10)
        r = c1.post("/v1/wordlists/entries", json={"term": "重启后词语", "category": "porn", "severity": "high"},
                    headers=A)
        assert r.status_code == 201
        text = "通知重启后词语"
        assert reaches("block", r.json()["wordlist_version"]) < 2


def test_link_survives_a_quick_redis_restart(redis_server):
    """After a restart the pooled connections are dead though Redis is back: the next call
    must reconnect and succeed, not fail the request (and mark Redis down for a while)."""
    import asyncio

    async def run():
        link = RedisLink(redis_server.url)
        assert await link.call(lambda r: r.set("k", "1"))
        assert link.call_sync(lambda r: r.get("k")) == b"1"
        redis_server.restart()
        assert await link.call(lambda r: r.set("k", "2"))  # async pool: stale connection
        assert link.call_sync(lambda r: r.get("k")) == b"2"  # sync pool: stale connection
        assert link.up is True and link.available
        await link.close()

    asyncio.run(run())
