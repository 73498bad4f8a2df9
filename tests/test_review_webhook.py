"""Decision webhooks against a real local HTTP receiver: signature, retries with backoff,
idempotency key, durable outbox across a restart, giving up after max_attempts."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from api.auth import Principal
from api.review import ReviewSettings, WebhookSettings, create_review_service
from api.review.webhook import WebhookSender, verify

from conftest import free_port

SECRET = "webhook-secret-for-tests"
ALICE = Principal("moderator", "alice")


class Receiver:
    """A tiny HTTP server in a thread that records every request and answers scripted statuses."""

    def __init__(self, port: int | None = None, statuses: list[int] | None = None):
        self.port = port or free_port()
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rec.lock:
                    rec.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": body, "path": self.path})
                    status = rec.statuses.pop(0) if rec.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def wait_for(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture(params=["sqlite", "redis"])
def make_service(request, tmp_path):
    made = []
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    core = SimpleNamespace(redis_url=url, data_path=tmp_path / "var")

    def make(hook_url: str, background: bool = True, **kw):
        ws = WebhookSettings(**{"url": hook_url, "secret": SECRET, "backoff_seconds": 0.05,
                                "backoff_max_seconds": 0.2, "poll_seconds": 0.05,
                                "max_attempts": 5, "timeout_seconds": 2, **kw})
        svc = create_review_service(core, ReviewSettings(), ws, background=background)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        try:
            svc.close()
        except Exception:
            pass


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


def queue_one(svc, rid="msg-7"):
    text = "你好测试诈骗词"
    v = {"id": rid, "decision": "review", "categories": ["fraud"], "patterns": [],
         "hits": [{"start": 2, "end": 7, "text": "测试诈骗词", "category": "fraud", "pattern": None,
                   "rule": "fraud.test:测试诈骗词", "severity": "medium", "via": []}],
         "masked": text, "wordlist_version": "v1"}
    return svc.enqueue(v, text=text, meta={"scene": "chat", "id": rid, "user_id": "u1",
                                             "conversation_id": "c1"})


def test_signed_delivery_retries_with_one_idempotency_key(make_service, receiver):
    rec = receiver(statuses=[500, 503, 200]).start()
    svc = make_service(rec.url)
    review_id = queue_one(svc)
    svc.decide(ALICE, review_id, "block", "诈骗")
    assert wait_for(lambda: svc.webhook_stats()["delivered"] == 1), rec.requests
    assert len(rec.requests) == 3
    keys = {r["headers"]["idempotency-key"] for r in rec.requests}
    assert len(keys) == 1
    assert [r["headers"]["x-moderation-attempt"] for r in rec.requests] == ["1", "2", "3"]
    for r in rec.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), r["body"], hashlib.sha256).hexdigest()
        assert r["headers"]["x-moderation-signature"] == expected
        assert verify(SECRET, r["body"], r["headers"]["x-moderation-signature"])
        assert not verify("wrong", r["body"], r["headers"]["x-moderation-signature"])
        assert r["body"] == rec.requests[0]["body"]
    event = json.loads(rec.requests[0]["body"])
    assert event["event_id"] == keys.pop() and event["type"] == "review.decided"
    assert (event["review_id"], event["id"], event["decision"], event["reason"]) == (
        review_id, "msg-7", "block", "诈骗")
    assert event["user_id"] == "u1" and event["rules"] == ["fraud.test:测试诈骗词"]
    assert "测试诈骗词" not in rec.requests[0]["body"].decode().replace("fraud.test:测试诈骗词", "")
    assert svc.webhook_stats() == {"enabled": True, "pending": 0, "delivered": 1, "dead": 0}


def test_outbox_survives_restart_and_crash_mid_delivery(make_service, receiver):
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"  # nothing listens yet
    first = make_service(hook, background=False, inflight_seconds=0.3)
    a = queue_one(first, "a")
    b = queue_one(first, "b")
    first.decide(ALICE, a, "pass", None)
    first.decide(ALICE, b, "block", None)
    assert first.sender.deliver_due() == 0  # connection refused: both rescheduled
    assert first.webhook_stats()["pending"] == 2
    # Simulate a worker that took an event and died before the receiver answered.
    time.sleep(0.3)
    assert first.store.outbox_claim(time.time(), 0.3, 1)
    first.close()

    rec = receiver(port=port).start()
    second = make_service(hook, inflight_seconds=0.3)  # a restarted service resumes delivery
    assert wait_for(lambda: second.webhook_stats()["delivered"] == 2), rec.requests
    got = {json.loads(r["body"])["review_id"]: json.loads(r["body"])["decision"] for r in rec.requests}
    assert got == {a: "pass", b: "block"}


def test_gives_up_after_max_attempts(make_service, receiver):
    rec = receiver(statuses=[500] * 10).start()
    svc = make_service(rec.url, max_attempts=3)
    svc.decide(ALICE, queue_one(svc), "pass", None)
    assert wait_for(lambda: svc.webhook_stats()["dead"] == 1)
    time.sleep(0.3)
    assert len(rec.requests) == 3
    assert svc.webhook_stats()["pending"] == 0


def test_no_url_no_outbox(make_service):
    svc = make_service(None)
    svc.decide(ALICE, queue_one(svc), "pass", None)
    assert svc.webhook_stats() == {"enabled": False, "pending": 0, "delivered": 0, "dead": 0}


def test_backoff_grows_and_is_capped():
    s = WebhookSender(None, WebhookSettings(url="http://x", backoff_seconds=1, backoff_max_seconds=60))
    for attempts, base in [(0, 1), (1, 2), (3, 8), (10, 60), (50, 60)]:
        d = s.backoff(attempts)
        assert 0.75 * base <= d <= 1.25 * base
