"""Moderator review: queue, leases, decisions, privacy, audit, retention, durability.

Service-level tests run on both stores (SQLite and a private redis-server); API tests run the
whole app in-process with the tiny test word lists.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal
from api.errors import ApiError
from api.review import ReviewSettings, WebhookSettings, create_review_service
from api.review.masking import mask_text, mask_verdict
from api.settings import Settings

CLIENT, MOD, MOD2, ADMIN = "client-key-r1", "moderator-key-r1", "moderator-key-r2", "admin-key-r1"
C = {"Authorization": f"Bearer {CLIENT}"}
M = {"Authorization": f"Bearer {MOD}"}
M2 = {"Authorization": f"Bearer {MOD2}"}
A = {"Authorization": f"Bearer {ADMIN}"}

ALICE = Principal("moderator", "alice")
BOB = Principal("moderator", "bob")
ROOT = Principal("admin", "root")
DAY = 86_400.0


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def verdict(text: str, spans, decision: str = "review", rid=None) -> dict:
    """A verdict as the engine makes it; spans are (start, end, category, pattern, rule, via)."""
    hits = [{"start": s, "end": e, "text": text[s:e], "category": c, "pattern": p, "rule": r,
             "severity": "medium", "via": list(v)} for s, e, c, p, r, v in spans]
    return {"id": rid, "decision": decision, "categories": sorted({h["category"] for h in hits}),
            "patterns": sorted({h["pattern"] for h in hits if h["pattern"]}), "hits": hits,
            "masked": text, "wordlist_version": "test"}


# -- masking ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("电话13812345678", "电话138****5678"),
    ("138 1234 5678 找我", "138 **** 5678 找我"),
    ("一三八一二三四五六七八", "一三八****五六七八"),
    ("１３８１２３４５６７８", "１３８****５６７８"),
    ("邮箱 lucky.girl@qq.com", "邮箱 l*********@qq.com"),
    ("身份证110101199003071234", "身份证110***********1234"),
    ("加qq 12345", "加qq 1***5"),
    ("微信：abc12345", "微信：ab****45"),
    ("转账50000元，今年28岁", "转账50000元，今年28岁"),
    ("没有联系方式的句子", "没有联系方式的句子"),
])
def test_mask_text_table(text, expected):
    assert mask_text(text) == expected
    assert len(mask_text(text)) == len(text)


def test_mask_contact_hit_spans_and_verdict():
    text = "😀加我薇信：lucky_girl 吧"
    s = text.index("薇")
    e = text.index(" 吧")
    v = verdict(text, [(s, e, "fraud", "contact", "contact.wechat", ["homophone"])])
    masked = mask_text(text, [(s, e)])
    assert len(masked) == len(text) and "lucky_girl" not in masked
    mv = mask_verdict(v, text, masked)
    assert mv["hits"][0]["text"] == masked[s:e] and "lucky" not in mv["masked"]
    assert v["hits"][0]["text"] == text[s:e]  # the stored verdict is untouched


# -- service on both stores -----------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "redis"])
def make_service(request, tmp_path):
    made = []
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    core = SimpleNamespace(redis_url=url, data_path=tmp_path / "var")

    def make(clock=None, **kw):
        rs = ReviewSettings(**{"lease_seconds": 60, "retention_days": 7, **kw})
        svc = create_review_service(core, rs, WebhookSettings(url=None), clock=clock or Clock(),
                                    background=False)
        made.append(svc)
        return svc

    make.backend = request.param
    yield make
    for svc in made:
        try:
            svc.close()
        except Exception:
            pass


def enqueue(svc, text="你好测试诈骗词", spans=None, **meta):
    spans = spans if spans is not None else [(2, 7, "fraud", None, "fraud.test:测试诈骗词", [])]
    return svc.enqueue(verdict(text, spans, rid=meta.get("id")), text=text,
                       meta={"scene": "post", **meta})


def test_enqueue_only_review_unless_appeals(make_service):
    svc = make_service()
    text = "测试色情词"
    assert svc.enqueue(verdict(text, [(0, 5, "porn", None, "porn.t", [])], "block"), text=text, meta={}) is None
    assert svc.enqueue(verdict("你好", [], "pass"), text="你好", meta={}) is None
    rid = enqueue(svc)
    assert rid and rid.startswith("rv_")
    appeals = make_service(appeals=True)
    aid = appeals.enqueue(verdict(text, [(0, 5, "porn", None, "porn.t", [])], "block"), text=text, meta={})
    assert aid and appeals.view(ALICE, aid)["kind"] == "appeal"


def test_lone_surrogates_are_stored_safely(make_service):
    svc = make_service()
    text = "a\ud800b测试诈骗词"
    rid = svc.enqueue(verdict(text, [(3, 8, "fraud", None, "fraud.t", [])]), text=text,
                      meta={"context": ["x\udfff"]})
    seen = svc.view(ROOT, rid, unmask=True)
    assert seen["text"] == "a\ufffdb测试诈骗词" and seen["verdict"]["hits"][0]["text"] == "测试诈骗词"
    assert seen["context"][0]["text"] == "x\ufffd"


def test_same_request_is_queued_once(make_service):
    svc = make_service()
    a = enqueue(svc, id="m-1", user_id="u1")
    assert enqueue(svc, id="m-1", user_id="u1") == a
    assert enqueue(svc, id="m-2", user_id="u1") != a


def test_claim_lease_decide_release(make_service):
    clock = Clock()
    svc = make_service(clock)
    rid = enqueue(svc)
    item = svc.claim(ALICE, rid)
    assert item["claimed_by"] == "alice" and item["text"] == "你好测试诈骗词"
    with pytest.raises(ApiError) as e:
        svc.claim(BOB, rid)
    assert e.value.status == 409
    with pytest.raises(ApiError) as e:
        svc.decide(BOB, rid, "pass", None)
    assert e.value.status == 409
    with pytest.raises(ApiError) as e:
        svc.release(BOB, rid)
    assert e.value.status == 409
    svc.claim(ALICE, rid)  # renewing one's own lease is fine
    clock.t += 61  # the lease expired: Bob may take over
    assert svc.claim(BOB, rid)["claimed_by"] == "bob"
    svc.release(ROOT, rid)  # an admin may release anyone's claim
    assert svc.view(ALICE, rid)["claimed_by"] is None
    done = svc.decide(ALICE, rid, "block", "骗钱")
    assert done["status"] == "decided" and done["decision"]["decision"] == "block"
    assert done["decision"]["reason"] == "骗钱" and done["decision"]["decided_by"] == "alice"
    for fn in (lambda: svc.decide(BOB, rid, "pass", None), lambda: svc.claim(BOB, rid)):
        with pytest.raises(ApiError) as e:
            fn()
        assert e.value.status == 409
    with pytest.raises(ApiError) as e:
        svc.claim(ALICE, "rv_missing")
    assert e.value.status == 404


def test_filters_and_oldest_first(make_service):
    clock = Clock()
    svc = make_service(clock)
    ids = {}
    ids["old_fraud_chat"] = enqueue(svc, scene="chat")
    clock.t += 100
    ids["porn_post"] = enqueue(svc, "测试低俗词", [(0, 5, "porn", None, "porn.t:低俗", [])])
    clock.t += 100
    ids["contact_profile"] = enqueue(svc, "加我微信abcdef", [(2, 10, "fraud", "contact", "contact.wechat", [])],
                                     scene="profile")
    clock.t += 100

    def listed(**kw):
        return [it["id"] for it in svc.list_items(ALICE, **kw)["items"]]

    assert listed() == [ids["old_fraud_chat"], ids["porn_post"], ids["contact_profile"]]
    assert listed(category="fraud") == [ids["old_fraud_chat"], ids["contact_profile"]]
    assert listed(category="porn") == [ids["porn_post"]]
    assert listed(pattern="contact") == [ids["contact_profile"]]
    assert listed(scene="chat") == [ids["old_fraud_chat"]]
    assert listed(category="fraud", scene="profile") == [ids["contact_profile"]]
    assert listed(min_age=150) == [ids["old_fraud_chat"], ids["porn_post"]]
    assert listed(max_age=150) == [ids["contact_profile"]]
    assert listed(limit=1, offset=1) == [ids["porn_post"]]
    counts = svc.counts()
    assert counts["total"] == 3 and counts["category"] == {"fraud": 2, "porn": 1}
    assert counts["pattern"] == {"contact": 1} and counts["scene"] == {"chat": 1, "post": 1, "profile": 1}
    svc.decide(ALICE, ids["porn_post"], "pass", "误判")
    assert listed() == [ids["old_fraud_chat"], ids["contact_profile"]]
    assert listed(status="decided") == [ids["porn_post"]]
    assert svc.counts()["category"].get("porn", 0) == 0


def test_privacy_masking_unmask_and_context(make_service):
    svc = make_service()
    text = "打我电话13812345678或者加测试诈骗词"
    s = text.index("测")
    ctx = [f"第{i}条 邮箱 user{i}@example.com" for i in range(6)]
    rid = svc.enqueue(verdict(text, [(s, s + 5, "fraud", None, "fraud.t", [])]), text=text,
                      meta={"scene": "chat", "conversation_id": "c1", "context": ctx})
    seen = svc.view(ALICE, rid)
    assert "138****5678" in seen["text"] and "13812345678" not in json.dumps(seen, ensure_ascii=False)
    assert seen["masked"] is True and seen["can_unmask"] is False
    # Only a few surrounding messages, masked too.
    assert [c["text"] for c in seen["context"]] == [mask_text(c) for c in ctx[-3:]]
    assert "user5@example.com" not in json.dumps(seen, ensure_ascii=False)
    with pytest.raises(ApiError) as e:
        svc.view(ALICE, rid, unmask=True)
    assert e.value.status == 403
    raw = svc.view(ROOT, rid, unmask=True)
    assert raw["text"] == text and raw["masked"] is False
    actions = [(a["actor"], a["action"], a["item"]) for a in svc.audit(limit=100)[0]]
    assert actions == [("alice", "view", rid), ("alice", "unmask_denied", rid), ("root", "unmask", rid)]
    # The unmasking role is configurable.
    lenient = make_service(unmask_roles="moderator,admin", redis_prefix="moderation:review2:",
                           sqlite_file="review2.sqlite3")
    rid2 = lenient.enqueue(verdict(text, []), text=text, meta={})
    assert lenient.view(ALICE, rid2, unmask=True)["text"] == text


def test_retention_drops_text_keeps_audit(make_service):
    clock = Clock()
    svc = make_service(clock)
    secret = "测试诈骗词 我的号码13900001111"
    keep = enqueue(svc, secret)
    old = enqueue(svc, secret, id="other")
    svc.decide(ALICE, old, "block", "诈骗")
    clock.t += 6 * DAY
    assert svc.purge_expired() == 0
    clock.t += 2 * DAY
    assert svc.purge_expired() == 1
    gone = svc.view(ROOT, old, unmask=True)
    assert gone["text"] is None and gone["context"] is None and gone["purged"] is True
    assert gone["decision"]["decision"] == "block"  # the decision stays
    assert all(h["text"] is None for h in gone["verdict"]["hits"]) and gone["verdict"]["masked"] is None
    assert svc.view(ROOT, keep, unmask=True)["text"] == secret  # pending items keep their text
    assert svc.purge_expired() == 0
    dump = json.dumps(list(svc.audit_export()), ensure_ascii=False)
    assert "purge" in dump and "测试诈骗词 我的号码" not in dump and "13900001111" not in dump


def test_rule_stats_confirmed_and_overturned(make_service):
    svc = make_service()
    spans = [(0, 5, "porn", None, "porn.t:低俗", []), (5, 10, "fraud", "contact", "contact.x", [])]
    text = "测试低俗词加微信abc"
    ids = [svc.enqueue(verdict(text, spans), text=text, meta={}) for _ in range(3)]
    svc.decide(ALICE, ids[0], "pass", "误判")
    svc.decide(ALICE, ids[1], "pass", "误判")
    svc.decide(BOB, ids[2], "block", None)
    stats = svc.rule_stats()
    by_rule = {r["rule"]: r for r in stats["rules"]}
    assert by_rule["porn.t:低俗"]["confirmed"] == 1 and by_rule["porn.t:低俗"]["overturned"] == 2
    assert by_rule["contact.x"]["pattern"] == "contact" and by_rule["contact.x"]["total"] == 3
    assert by_rule["porn.t:低俗"]["overturn_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert [r["rule"] for r in svc.rule_stats(sort="rule")["rules"]] == ["contact.x", "porn.t:低俗"]
    assert svc.rule_stats(category="porn")["total_rules"] == 1


def test_everything_survives_a_restart(make_service):
    clock = Clock()
    svc = make_service(clock)
    a = enqueue(svc, id="a")
    b = enqueue(svc, "测试低俗词", [(0, 5, "porn", None, "porn.t", [])], id="b")
    svc.claim(ALICE, a)
    svc.decide(BOB, b, "pass", "正常聊天")
    svc.close()
    again = make_service(clock)
    assert [it["id"] for it in again.list_items(ROOT)["items"]] == [a]
    assert again.view(ROOT, a)["claimed_by"] == "alice"
    with pytest.raises(ApiError):
        again.claim(BOB, a)  # the lease survived too
    assert again.view(ROOT, b)["decision"]["reason"] == "正常聊天"
    assert {(e["actor"], e["action"]) for e in again.audit(limit=100)[0]} >= {
        ("alice", "claim"), ("bob", "decision")}
    assert again.rule_stats()["rules"][0]["overturned"] == 1


def test_audit_cursor_and_filters(make_service):
    svc = make_service()
    rid = enqueue(svc)
    for _ in range(5):
        svc.view(ALICE, rid)
    svc.view(BOB, rid)
    page1, cur = svc.audit(limit=4)
    assert len(page1) == 4 and cur
    page2, cur2 = svc.audit(limit=4, after=cur)
    assert len(page2) == 2 and cur2 is None
    assert [e["seq"] for e in page1 + page2] == [e["seq"] for e in svc.audit(limit=100)[0]]
    assert len(svc.audit(actor="bob", limit=100)[0]) == 1
    assert len(svc.audit(item=rid, action="view", limit=100)[0]) == 6
    with pytest.raises(ApiError) as e:
        svc.audit(after="not-a-cursor", limit=10)
    assert e.value.status == 422


def test_sqlite_audit_is_append_only(tmp_path):
    svc = create_review_service(SimpleNamespace(redis_url=None, data_path=tmp_path), background=False)
    rid = enqueue(svc)
    svc.view(ALICE, rid)
    svc.close()
    db = sqlite3.connect(tmp_path / "review.sqlite3")
    for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    assert db.execute("SELECT count(*) FROM audit").fetchone()[0] == 1


# -- HTTP API ---------------------------------------------------------------------------------------

def app_settings(tmp_path, wordlists, **kw) -> Settings:
    base = dict(api_keys=f"client:{CLIENT},moderator:{MOD},moderator:{MOD2},admin:{ADMIN}",
                data_dir=str(tmp_path / "var"), wordlists=str(wordlists),
                rate_limit_per_second=1000, rate_limit_burst=1000)
    base.update(kw)
    return Settings(**base)


@pytest.fixture
def client(tmp_path, tiny_wordlists):
    with TestClient(create_app(app_settings(tmp_path, tiny_wordlists))) as c:
        yield c


def moderate(c, text, **kw):
    r = c.post("/v1/moderate", json={"text": text, "scene": "post", **kw}, headers=C)
    assert r.status_code == 200, r.text
    return r.json()


def test_api_review_flow(client):
    v = moderate(client, "😀你好测试诈骗词，卡号6222020200112233445", id="msg-1", user_id="u9")
    assert v["decision"] == "review" and v["review_id"].startswith("rv_")
    rid = v["review_id"]
    assert moderate(client, "今天天气不错")["decision"] == "pass"

    r = client.get("/v1/reviews?status=pending", headers=M)
    assert r.status_code == 200
    body = r.json()
    assert [it["id"] for it in body["items"]] == [rid]
    item = body["items"][0]
    assert item["verdict"]["hits"][0]["rule"] and item["verdict"]["decision"] == "review"
    assert "6222020200112233445" not in r.text and body["counts"]["category"] == {"fraud": 1}
    assert client.get("/v1/reviews/counts", headers=M).json()["total"] == 1

    r = client.post(f"/v1/reviews/{rid}/claim", headers=M)
    assert r.status_code == 200
    seen = r.json()
    h = seen["verdict"]["hits"][0]
    assert seen["text"][h["start"]:h["end"]] == "测试诈骗词"  # offsets still index the masked text
    assert "622************3445" in seen["text"]
    assert client.post(f"/v1/reviews/{rid}/claim", headers=M2).status_code == 409
    r = client.post(f"/v1/reviews/{rid}/decision", json={"decision": "block", "reason": "诈骗"}, headers=M2)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = client.post(f"/v1/reviews/{rid}/decision", json={"decision": "block", "reason": "诈骗"}, headers=M)
    assert r.status_code == 200 and r.json()["decision"]["decision"] == "block"

    # The platform (client key) polls the decision without seeing any text.
    r = client.get(f"/v1/reviews/{rid}", headers=C)
    assert r.status_code == 200
    status = r.json()
    assert status["status"] == "decided" and status["decision"]["decision"] == "block"
    assert status["request_id"] == "msg-1" and status["original_decision"] == "review"
    assert "text" not in status and "verdict" not in status

    r = client.get("/v1/audit", headers=A)
    assert r.status_code == 200
    actions = [e["action"] for e in r.json()["items"]]
    assert actions == ["list", "claim", "decision"]
    r = client.get("/v1/audit?format=jsonl", headers=A)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [e["action"] for e in lines] == actions and all(e["actor"] for e in lines)
    r = client.get("/v1/audit", headers={**A, "Accept": "application/x-ndjson"})
    assert len(r.text.splitlines()) == 3

    stats = client.get("/v1/rules/stats", headers=M).json()["rules"]
    assert stats[0]["rule"] == h["rule"] and stats[0]["confirmed"] == 1


def test_api_auth_and_bad_input(client):
    rid = moderate(client, "测试低俗词")["review_id"]
    assert client.get("/v1/reviews").status_code == 401
    assert client.get("/v1/reviews", headers=C).status_code == 403
    assert client.post(f"/v1/reviews/{rid}/claim", headers=C).status_code == 403
    assert client.get("/v1/audit", headers=M).status_code == 403
    assert client.get("/v1/webhooks/stats", headers=M).status_code == 403
    for method, path, body in [
        ("post", f"/v1/reviews/{rid}/decision", {"decision": "maybe"}),
        ("post", f"/v1/reviews/{rid}/decision", {"decision": "pass", "reason": "x" * 501}),
        ("post", f"/v1/reviews/{rid}/decision", None),
        ("get", "/v1/reviews?status=weird", None),
        ("get", "/v1/reviews?category=nope", None),
        ("get", "/v1/reviews?limit=0", None),
        ("get", "/v1/reviews?min_age=-1", None),
        ("get", "/v1/audit?after=zzz", None),
        ("get", "/v1/audit?after=99999999999999999999999", None),
        ("get", "/v1/rules/stats?sort=bogus", None),
    ]:
        hdr = A if "audit" in path else M
        r = client.request(method.upper(), path, json=body, headers=hdr)
        assert r.status_code == 422, (path, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
    r = client.post(f"/v1/reviews/{rid}/decision", headers={**M, "Content-Type": "application/json"},
                    content=b'{"decision": "pass", "reason": "\\ud800"}')
    assert r.status_code == 422, r.text
    for path in ("/v1/reviews/rv_nope", "/v1/reviews/" + "x" * 300):
        r = client.get(path, headers=M)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.post("/v1/reviews/rv_nope/claim", headers=M).status_code == 404
    assert client.get(f"/v1/reviews/{rid}?unmask=true", headers=M).status_code == 403
    assert client.get(f"/v1/reviews/{rid}?unmask=true", headers=A).status_code == 200


def test_pages_are_served_without_a_key(client):
    for path, needle in [("/review", "审核员密钥"), ("/review/rules", "规则统计"),
                         ("/review/static/review.js", "Array.from(text)"),
                         ("/review/static/common.js", "sessionStorage"),
                         ("/review/static/review.css", "mark.hit")]:
        r = client.get(path)
        assert r.status_code == 200 and needle in r.text, path
        assert r.headers["cache-control"] == "no-store"
    assert client.get("/review/static/../settings.py").status_code == 404
    assert client.get("/review/static/secret.txt").status_code == 404


def test_api_durable_across_app_restart(tmp_path, tiny_wordlists):
    s = app_settings(tmp_path, tiny_wordlists)
    with TestClient(create_app(s)) as c:
        a = moderate(c, "测试低俗词一", id="a")["review_id"]
        b = moderate(c, "测试诈骗词二", id="b")["review_id"]
        assert c.post(f"/v1/reviews/{b}/decision", json={"decision": "pass", "reason": "正常"},
                      headers=M).status_code == 200
    with TestClient(create_app(s)) as c:
        assert [it["id"] for it in c.get("/v1/reviews", headers=M).json()["items"]] == [a]
        assert c.get(f"/v1/reviews/{b}", headers=C).json()["decision"]["reason"] == "正常"
        assert [e["action"] for e in c.get("/v1/audit", headers=A).json()["items"]] == ["decision", "list"]


def test_no_user_text_in_logs(tmp_path, tiny_wordlists, caplog):
    caplog.set_level(logging.DEBUG)
    text = "独特的句子测试诈骗词卡号6222020200113911112222"
    with TestClient(create_app(app_settings(tmp_path, tiny_wordlists))) as c:
        rid = moderate(c, text, id="log-1")["review_id"]
        assert c.post(f"/v1/reviews/{rid}/claim", headers=M).status_code == 200
        assert c.get(f"/v1/reviews/{rid}?unmask=true", headers=A).json()["text"] == text
        assert c.get(f"/v1/reviews/{rid}?unmask=true", headers=M).status_code == 403
        assert c.post(f"/v1/reviews/{rid}/decision", json={"decision": "block"}, headers=M).status_code == 200
        rid2 = moderate(c, "另一句测试低俗词", id="log-2")["review_id"]
        c.post(f"/v1/reviews/{rid2}/decision", json={"decision": "pass"}, headers=M)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("独特的句子", "13911112222", "另一句", MOD, ADMIN):  # nor keys
        assert secret not in logged


def test_api_on_redis_survives_app_restart(tmp_path, tiny_wordlists, redis_server):
    s = app_settings(tmp_path, tiny_wordlists, redis_url=redis_server.url)
    with TestClient(create_app(s)) as c:
        assert c.app.state.reviews.backend == "redis"
        a = moderate(c, "测试低俗词一", id="ra")["review_id"]
        b = moderate(c, "测试诈骗词二", id="rb")["review_id"]
        assert c.post(f"/v1/reviews/{a}/claim", headers=M).status_code == 200
        assert c.post(f"/v1/reviews/{b}/decision", json={"decision": "block"}, headers=M2).status_code == 200
    assert not (tmp_path / "var" / "review.sqlite3").exists()
    with TestClient(create_app(s)) as c:
        items = c.get("/v1/reviews", headers=M2).json()["items"]
        assert [it["id"] for it in items] == [a] and items[0]["claimed_by"]
        assert c.post(f"/v1/reviews/{a}/claim", headers=M2).status_code == 409
        assert c.get(f"/v1/reviews/{b}", headers=C).json()["decision"]["decision"] == "block"
        assert [e["action"] for e in c.get("/v1/audit", headers=A).json()["items"]] == ["claim", "decision", "list"]


def test_redis_outage_is_a_clear_503_and_recovers(redis_server, tmp_path):
    core = SimpleNamespace(redis_url=redis_server.url, data_path=tmp_path)
    svc = create_review_service(core, background=False)
    try:
        assert enqueue(svc)
        redis_server.stop()
        for call in (lambda: enqueue(svc), lambda: svc.list_items(ALICE), lambda: svc.claim(ALICE, "rv_x"),
                     lambda: svc.audit(limit=5), lambda: svc.rule_stats()):
            with pytest.raises(ApiError) as e:
                call()
            assert e.value.status == 503 and e.value.code == "unavailable"
        assert svc.ready() is False
        redis_server.start()  # an empty Redis (no persistence in tests): service works again
        svc._down_until = 0.0
        rid = enqueue(svc, id="after")
        assert [it["id"] for it in svc.list_items(ALICE)["items"]] == [rid] and svc.ready()
    finally:
        svc.close()


def test_api_appeals_and_bounded_context(tmp_path, tiny_wordlists, monkeypatch):
    monkeypatch.setenv("MODERATION_REVIEW_APPEALS", "true")
    monkeypatch.setenv("MODERATION_REVIEW_CONTEXT_MESSAGES", "2")
    with TestClient(create_app(app_settings(tmp_path, tiny_wordlists))) as c:
        blocked = moderate(c, "测试色情词", id="appeal-1")
        assert blocked["decision"] == "block" and blocked["review_id"]
        ctx = ["早上好", {"text": "我的邮箱 someone@example.com", "user_id": "u2"}, "在吗", "你好"]
        v = moderate(c, "测试诈骗词", scene="chat", id="c-9", conversation_id="conv-1", user_id="u1",
                     context=ctx)
        r = c.post(f"/v1/reviews/{v['review_id']}/claim", headers=M).json()
        assert [m["text"] for m in r["context"]] == ["在吗", "你好"]  # only the last two are kept
        assert r["conversation_id"] == "conv-1" and r["user_id"] == "u1"
        appeal = c.post(f"/v1/reviews/{blocked['review_id']}/claim", headers=M).json()
        assert appeal["kind"] == "appeal" and appeal["verdict"]["decision"] == "block"
        c.post(f"/v1/reviews/{blocked['review_id']}/decision", json={"decision": "pass", "reason": "申诉成立"},
               headers=M)
        rules = c.get("/v1/rules/stats", headers=M).json()["rules"]
        assert rules[0]["overturned"] == 1 and rules[0]["category"] == "porn"
        v2 = moderate(c, "测试诈骗词 二", scene="chat", context=ctx[:2])
        seen = c.get(f"/v1/reviews/{v2['review_id']}", headers=M).json()
        assert seen["context"][1]["text"] == mask_text("我的邮箱 someone@example.com")
        assert seen["context"][1]["user_id"] == "u2"
