"""Conversation windows: ids split over messages and scams built up over a chat, per sender."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moderation import CheckContext, Moderator, normalize
from moderation.conversation import (
    ConversationStore, Message, MemoryConversationStore, WindowConfig,
)
from moderation.detectors.scam import ConversationDetector

ROOT = Path(__file__).resolve().parents[1]
DET = ConversationDetector()


class Chat:
    """Feeds messages of one conversation through the detector, like the engine does."""

    def __init__(self, store: ConversationStore | None = None, cid: str = "c1") -> None:
        self.store = store if store is not None else MemoryConversationStore(max_messages=10, max_age_seconds=600)
        self.cid = cid
        self.n = 0
        self.t = 1_000_000.0

    def send(self, user: str, text: str, dt: float = 5.0, mid: str | None = None):
        self.n += 1
        self.t += dt
        mid = mid or f"m{self.n}"
        ctx = CheckContext(scene="chat", user_id=user, conversation_id=self.cid, message_id=mid,
                           timestamp=self.t, conversation=self.store)
        out = DET.find(normalize(text), ctx)
        for h in out:
            assert text[h.start:h.end] == h.text
        return out


# -- the store --------------------------------------------------------------------------------

def msg(i: int, t: float, user: str = "a") -> Message:
    return Message(f"m{i}", user, t, f"tail{i}", ("platform",))


def test_window_keeps_last_n():
    st = MemoryConversationStore(max_messages=3, max_age_seconds=100)
    for i in range(5):
        st.append("c", msg(i, 10 + i))
    assert [m.message_id for m in st.window("c", now=20)] == ["m2", "m3", "m4"]


def test_window_drops_old_messages():
    st = MemoryConversationStore(max_messages=10, max_age_seconds=60)
    st.append("c", msg(1, 0))
    st.append("c", msg(2, 50))
    assert [m.message_id for m in st.window("c", now=55)] == ["m1", "m2"]
    assert [m.message_id for m in st.window("c", now=100)] == ["m2"]
    assert st.window("c", now=200) == []
    st.append("c", msg(3, 200))  # appending also trims
    assert [m.message_id for m in st.window("c", now=200)] == ["m3"]


def test_conversations_are_separate_and_clearable():
    st = MemoryConversationStore()
    st.append("a", msg(1, 1))
    st.append("b", msg(2, 1))
    assert [m.message_id for m in st.window("a", now=2)] == ["m1"]
    st.clear("a")
    st.clear("never-seen")
    assert st.window("a", now=2) == [] and len(st.window("b", now=2)) == 1


def test_store_forgets_least_recent_conversation_beyond_cap():
    st = MemoryConversationStore(max_conversations=2)
    st.append("a", msg(1, 1))
    st.append("b", msg(2, 1))
    st.append("a", msg(3, 2))  # a is now the most recent
    st.append("c", msg(4, 3))
    assert st.window("b", now=3) == []
    assert len(st.window("a", now=3)) == 2 and len(st.window("c", now=3)) == 1


def test_message_json_round_trip():
    m = Message("m1", "u1", 12.5, "我的v", ("contact", "platform"))
    assert Message.from_json(m.to_json()) == m
    assert Message.from_json(m.to_json().encode()) == m


def test_config_validation_and_env(monkeypatch):
    with pytest.raises(ValueError):
        WindowConfig(max_messages=0)
    with pytest.raises(ValueError):
        WindowConfig(max_age_seconds=0)
    monkeypatch.setenv("MODERATION_CONVERSATION_MESSAGES", "4")
    monkeypatch.setenv("MODERATION_CONVERSATION_SECONDS", "90")
    st = MemoryConversationStore()
    assert (st.config.max_messages, st.config.max_age_seconds) == (4, 90.0)
    monkeypatch.setenv("MODERATION_CONVERSATION_MESSAGES", "many")
    with pytest.raises(ValueError, match="conversation window"):
        MemoryConversationStore()


# -- ids split over messages ---------------------------------------------------------------------

def test_id_split_over_three_messages_of_one_sender():
    c = Chat()
    assert c.send("a", "我的v") == []
    assert c.send("a", "abc") == []
    got = c.send("a", "123456")
    assert [(h.start, h.end, h.text, h.rule) for h in got] == [(0, 6, "123456", "contact.wechat")]
    assert got[0].context == ("m1", "m2")
    assert got[0].pattern == "contact" and "split over 3 messages" in got[0].detail


def test_phone_split_over_messages():
    c = Chat()
    c.send("a", "电话138")
    c.send("a", "1234")
    got = c.send("a", "5678 打给我")
    assert [(h.text, h.rule, h.context) for h in got] == [("5678", "contact.phone.cn_mobile", ("m1", "m2"))]


def test_other_sender_cannot_complete_the_id():
    c = Chat()
    c.send("a", "我的v")
    assert c.send("b", "abc123456") == []
    # b's own earlier messages hold no keyword either.
    assert c.send("b", "789") == []


def test_other_sender_in_between_does_not_hide_the_split():
    c = Chat()
    c.send("a", "加我qq")
    c.send("b", "好呀")
    got = c.send("a", "87654321")
    assert [(h.text, h.rule, h.context) for h in got] == [("87654321", "contact.qq", ("m1",))]


def test_id_already_complete_is_not_reported_again_by_next_message():
    c = Chat()
    c.send("a", "vx abc123456")  # the contact detector reports this message alone
    assert c.send("a", "ok") == []
    assert c.send("a", "好的") == []


def test_split_outside_time_window_is_not_joined():
    c = Chat(MemoryConversationStore(max_messages=10, max_age_seconds=60))
    c.send("a", "我的v")
    assert c.send("a", "abc123456", dt=120) == []


def test_split_outside_message_window_is_not_joined():
    c = Chat(MemoryConversationStore(max_messages=3, max_age_seconds=600))
    c.send("a", "我的v")
    for _ in range(3):
        c.send("b", "嗯嗯")
    assert c.send("a", "abc123456") == []


def test_no_conversation_means_no_context():
    doc = normalize("123456")
    assert DET.find(doc, CheckContext(scene="chat", user_id="a")) == []
    st = MemoryConversationStore()
    assert DET.find(doc, CheckContext(scene="chat", user_id="a", conversation=st)) == []


def test_numbers_in_ordinary_chat_do_not_join():
    c = Chat()
    c.send("a", "我身高175")
    c.send("a", "体重60")
    assert c.send("a", "1995年的") == []
    assert c.send("a", "住在3号楼1101") == []


# -- scams built up over messages -----------------------------------------------------------------

def test_money_request_built_up_over_messages():
    c = Chat()
    assert c.send("a", "宝贝，我最近好难") == []
    assert c.send("a", "我妈住院了") == []
    got = c.send("a", "你能先转给我五千吗")
    rules = {h.rule: h for h in got}
    h = rules["scam.money_request.urgent_transfer"]
    assert h.text == "先转给我五千" or h.text in "你能先转给我五千吗"
    assert h.context == ("m2",) and h.pattern == "money_request"
    assert "earlier" in h.detail


def test_investment_built_up_over_messages():
    c = Chat()
    c.send("a", "我有个导师带单")
    c.send("b", "真的吗")
    got = c.send("a", "收益很高，稳赚")
    h = [x for x in got if x.pattern == "investment"][0]
    assert h.context == ("m1",)
    assert h.start == 0


def test_other_senders_cues_do_not_combine():
    c = Chat()
    c.send("b", "我妈住院了")  # the victim's own trouble
    assert c.send("a", "你能先转给我五千吗") == []


def test_warning_does_not_feed_a_scam():
    c = Chat()
    c.send("a", "提醒：让你投资平台的都是骗子")
    assert c.send("a", "收益很高，稳赚") == []


def test_single_message_scam_is_left_to_the_scam_detector():
    c = Chat()
    c.send("a", "你好")
    assert c.send("a", "这个平台稳赚不赔，我带你一起投资") == []


# -- through the engine and the CLI --------------------------------------------------------------

@pytest.fixture()
def moderator():
    return Moderator(conversation=MemoryConversationStore())


def test_moderator_split_id_in_chat(moderator):
    msgs = [("a", "我的v"), ("b", "嗯"), ("a", "abc"), ("a", "123456")]
    vs = [moderator.check(t, scene="chat", user_id=u, conversation_id="x", message_id=f"m{i}", timestamp=100 + i)
          for i, (u, t) in enumerate(msgs)]
    assert [v.decision for v in vs[:3]] == ["pass", "pass", "pass"]
    d = vs[3].to_dict()
    assert d["decision"] == "review" and d["patterns"] == ["contact"]
    assert d["hits"][0]["context"] == ["m0", "m2"]
    assert (d["hits"][0]["start"], d["hits"][0]["end"]) == (0, 6)


def test_moderator_without_conversation_id_keeps_no_window(moderator):
    moderator.check("我的v", scene="chat", user_id="a")
    assert moderator.check("abc123456", scene="chat", user_id="a").decision == "pass"


class DownStore(MemoryConversationStore):
    def window(self, conversation_id, now=None):
        raise ConnectionError("store down")


def test_store_down_answers_from_the_message_alone():
    m = Moderator(conversation=DownStore())
    v = m.check("vx abc123456", scene="chat", user_id="a", conversation_id="x")
    assert v.context_missing and v.decision == "review"


def test_bad_timestamp_is_not_a_crash(moderator):
    v = moderator.check("你好", scene="chat", user_id="a", conversation_id="x", timestamp="yesterday")
    assert v.decision == "pass"


def test_scan_honours_conversation_in_input_order(tmp_path):
    lines = [
        {"id": 1, "text": "我的v", "scene": "chat", "user_id": "a", "conversation_id": "c1"},
        {"id": 2, "text": "加我qq", "scene": "chat", "user_id": "a", "conversation_id": "c2"},
        {"id": 3, "text": "abc", "scene": "chat", "user_id": "b", "conversation_id": "c1"},
        {"id": 4, "text": "abc123", "scene": "chat", "user_id": "a", "conversation_id": "c1"},
        {"id": 5, "text": "12345678", "scene": "chat", "user_id": "a", "conversation_id": "c2"},
        {"id": 6, "text": "12345678", "scene": "chat", "user_id": "a", "conversation_id": "c3"},
        {"id": 7, "text": "bad", "scene": "nowhere", "conversation_id": "c1"},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    exe = ROOT / ".venv" / "bin" / "moderation"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moderation.cli"]
    r = subprocess.run(cmd + ["scan", "--input", str(inp)], capture_output=True, timeout=300,
                       env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == [1, 2, 3, 4, 5, 6, 7]
    by = {o["id"]: o for o in out}
    assert by[3]["decision"] == "pass"  # b's message does not complete a's id
    assert by[4]["patterns"] == ["contact"] and by[4]["hits"][0]["context"] == ["1"]
    assert by[5]["patterns"] == ["contact"] and by[5]["hits"][0]["context"] == ["2"]
    assert by[6]["decision"] == "pass"  # another conversation
    assert "error" in by[7]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["我的v", "abc", "123456", "qq", "138", "1234", "5678", "住院", "转给我", "导师", "稳赚", "好", "ok", ""])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab"), _PIECES), max_size=12))
def test_any_chat_gives_valid_spans(script):
    c = Chat(MemoryConversationStore(max_messages=5, max_age_seconds=600))
    for user, text in script:
        for h in c.send(user, text):
            assert 0 <= h.start < h.end <= len(text)
            assert all(m.startswith("m") for m in h.context)


@pytest.mark.parametrize("raw", ["[]", '{"m": 1}', '{"t": "x"}', '{"c": "abc"}', "not json", '{"x": 5}'])
def test_message_from_json_rejects_malformed(raw):
    with pytest.raises(ValueError):
        Message.from_json(raw)


def test_context_raises_a_request_the_message_alone_shows():
    """A request for money is one alone (review); after the sender's own urgency it is an urgent
    one (block): the conversation adds the more severe rule of the same pattern."""
    from moderation import Moderator

    m = Moderator(conversation=MemoryConversationStore(max_messages=10, max_age_seconds=600))
    alone = m.check("你能先转给我五千吗", scene="chat")
    assert alone.decision == "review"
    assert {h.rule for h in alone.hits} == {"scam.money_request.ask_amount"}
    m.check("我妈住院了", scene="chat", user_id="a", conversation_id="c9", message_id="m1", timestamp=1000.0)
    v = m.check("你能先转给我五千吗", scene="chat", user_id="a", conversation_id="c9", message_id="m2",
                timestamp=1005.0)
    assert v.decision == "block"
    urgent = [h for h in v.hits if h.rule == "scam.money_request.urgent_transfer"]
    assert urgent and urgent[0].context == ("m1",)
