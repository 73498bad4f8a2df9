"""The engine on a fixed fixture list: spans, categories, via, allow-list, boundaries, policy."""
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from moderation import Moderator, UnknownScene
from moderation.wordlists import WordlistError, load_wordlist

FIXTURE = Path(__file__).parent / "fixtures" / "wordlists"


@pytest.fixture(scope="module")
def m():
    return Moderator(FIXTURE, detectors=[])


# (text, scene, expected [(hit text, category, rule)], decision)
CASES = [
    ("周末约炮吗", "post", [("约炮", "porn", "porn.escort:约炮")], "block"),
    ("约.炮", "post", [("约.炮", "porn", "porn.escort:约炮")], "block"),
    ("約 炮", "post", [("約 炮", "porn", "porn.escort:约炮")], "block"),
    ("约❤炮", "chat", [("约❤炮", "porn", "porn.escort:约炮")], "block"),
    ("约\u200b炮", "post", [("约\u200b炮", "porn", "porn.escort:约炮")], "block"),
    ("要不要yue pao", "post", [("yue pao", "porn", "porn.escort:约炮")], "block"),
    ("约pao", "post", [("约pao", "porn", "porn.escort:约炮")], "block"),
    ("ＹＵＥＰＡＯ", "post", [("ＹＵＥＰＡＯ", "porn", "porn.escort:约炮")], "block"),
    ("月泡吗", "post", [("月泡", "porn", "porn.escort:约炮")], "block"),
    ("约约约炮", "post", [("约约约炮", "porn", "porn.escort:约炮")], "block"),
    ("你个狗东西西", "post", [("狗东西西", "porn", "porn.vulgar:狗东西")], "review"),
    # The doubled 足 belongs to 玉足 and to 足交: the entry is still there.
    ("玉足足交", "post", [("足足交", "porn", "porn.vulgar:足交")], "block"),
    ("你个傻 逼", "post", [("傻 逼", "porn", "porn.vulgar:傻逼")], "block"),
    # 煞笔 is listed too and sounds the same: one hit per span and category, the plainest.
    ("你个煞笔", "post", [("煞笔", "porn", "porn.vulgar:煞笔")], "block"),
    ("操你妈妈的", "post", [("操你妈妈", "porn", "porn.vulgar:操你妈")], "block"),
    ("咪咪好大", "profile", [("咪咪", "porn", "porn.vulgar:咪咪")], "block"),
    ("法网恢恢疏而不漏", "profile", [("法网恢恢", "illegal", "illegal.gambling:法网恢恢")], "review"),
    ("他在卖冰毒", "chat", [("冰毒", "illegal", "illegal.drugs:冰毒")], "review"),
    ("s.e.x", "post", [("s.e.x", "porn", "porn.vulgar:sex")], "review"),
    ("看三级", "post", [("三级", "porn", "porn.vulgar:三级")], "review"),
    ("🐔", "profile", [("🐔", "porn", "porn.vulgar:鸡")], "review"),
    # A digit said aloud (4 = si) inside a word, and emoji read as characters, then homophones.
    ("你早点去4", "post", [("去4", "porn", "porn.vulgar:去死")], "review"),
    ("你早点qu si", "post", [("qu si", "porn", "porn.vulgar:去死")], "review"),
    ("📝👴自己心虚", "post", [("📝👴", "discrimination", "discrimination.orientation:基佬")], "review"),
    # Split characters: jieba's boundaries mean nothing there (其土亻老君 reads as 老君).
    ("这是一个其土亻老君羊", "post", [("其土亻老", "discrimination", "discrimination.orientation:基佬")], "review"),
    # 拳 written 𠔉手, though the decomposition table spells it 丷夫手.
    ("豆瓣是女𠔉手掌控的", "post", [("女𠔉手", "discrimination", "discrimination.orientation:女拳")], "review"),
]

CLEAN = [
    ("三级甲等医院的护士", "profile"),
    ("在三级医院上班", "profile"),
    ("最爱小鸡炖蘑菇", "profile"),
    ("麻醉科医生", "profile"),
    ("猫咪很可爱", "profile"),
    ("约跑步吗", "chat"),
    ("essex 大学毕业", "profile"),
    ("Sussex", "profile"),
    ("这几把椅子不错", "post"),
    ("我在鸡西工作", "profile"),
    ("身高175体重60", "profile"),
    # Numbers with a unit or inside a longer number are numbers, not 死/四.
    ("周末一起去 4 楼吃饭", "post"),
    ("我们去44路车站", "post"),
    ("下午去4S店", "post"),
    ("去年4月", "post"),
    # 益活 sounds like 一货, and 二 splits into 一一: identical pieces are not a split.
    ("参加公益活动", "post"),
    # After a run of its first character a boundary entry starts at the run's last one:
    # 妹妹上门 is 妹妹 + 上门, so 妹上门 is not there.
    ("妹妹上门了", "chat"),
    # A homophone reading never crosses clause punctuation (月，泡 is not 月泡 = 约炮).
    ("今晚的月，泡一下", "chat"),

]


@pytest.mark.parametrize("text, scene, expected, decision", CASES)
def test_cases(m, text, scene, expected, decision):
    v = m.check(text, scene=scene)
    got = [(h.text, h.category, h.rule) for h in v.hits]
    assert got == expected
    assert v.decision == decision
    for h in v.hits:
        assert text[h.start:h.end] == h.text


@pytest.mark.parametrize("text, scene", CLEAN)
def test_clean(m, text, scene):
    v = m.check(text, scene=scene)
    assert v.hits == (), v.to_dict()
    assert v.decision == "pass"


@pytest.mark.parametrize(
    "text, via",
    [
        ("约炮", ()), ("约.炮", ("noise",)), ("約炮", ("traditional",)), ("月泡", ("homophone",)),
        ("yuepao", ("pinyin",)), ("约约炮", ("repeat",)), ("ＹＵＥＰＡＯ", ("width", "pinyin")),
    ],
)
def test_via(m, text, via):
    assert m.check(text).hits[0].via == via


def test_function_words_are_not_homophones(m):
    # A pronoun or particle standing for another sound reads across two words (吃鸡 + 吧).
    assert [h.rule for h in m.check("周末一起去吃鸡吧", scene="chat").hits] == ["porn.vulgar:鸡"]
    assert "porn.vulgar:鸡巴" in [h.rule for h in m.check("鸡八好大", scene="chat").hits]


def test_verdict_contract_shape(m):
    d = m.check("约炮", scene="profile", id="u1").to_dict()
    for k in ("id", "decision", "categories", "patterns", "hits", "masked", "wordlist_version"):
        assert k in d
    assert d["id"] == "u1" and d["categories"] == ["porn"] and d["patterns"] == ["escort"]
    assert d["masked"] == "**" and d["wordlist_version"] == m.version
    assert set(d["hits"][0]) >= {"start", "end", "text", "category", "pattern", "rule", "severity", "via"}


def test_masked_same_length_and_only_blocked(m):
    v = m.check("嘿，约炮吗？看三级", scene="post")
    assert len(v.masked) == len(v.to_dict()["masked"]) == len("嘿，约炮吗？看三级")
    assert v.masked == "嘿，**吗？看三级"  # 三级 is only `review` in posts, so it is not masked


def test_scene_policy_differs(m):
    assert m.check("看三级", scene="profile").decision == "block"
    assert m.check("看三级", scene="post").decision == "review"
    assert m.check("看三级", scene="chat").decision == "pass"


def test_unknown_scene(m):
    with pytest.raises(UnknownScene):
        m.check("x", scene="feed")


def test_allow_list_scoped(tmp_path):
    d = tmp_path / "wl"
    d.mkdir()
    for f in FIXTURE.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    (d / "allow.txt").write_text("三级甲等\n看三级 | scene=chat\n", encoding="utf-8")
    mm = Moderator(d, detectors=[])
    assert mm.check("看三级", scene="chat").hits == ()
    assert mm.check("看三级", scene="post").hits != ()


def test_reload_swaps_version(tmp_path):
    d = tmp_path / "wl"
    d.mkdir()
    for f in FIXTURE.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    mm = Moderator(d, detectors=[])
    v1 = mm.version
    assert mm.check("恋爱脑晚期").hits == ()
    new = mm.reload(overlay=[{"kind": "entry", "category": "porn", "term": "恋爱脑晚期", "severity": "high"}])
    assert new != v1
    assert mm.check("恋爱脑晚期").hits[0].rule == "porn.custom:恋爱脑晚期"
    mm.reload(overlay=[{"kind": "allow", "term": "恋爱脑晚期"},
                       {"kind": "entry", "category": "porn", "term": "恋爱脑晚期", "severity": "high"}])
    assert mm.check("恋爱脑晚期").hits == ()


def test_broken_list_names_file_and_line(tmp_path):
    d = tmp_path / "wl"
    d.mkdir()
    for f in FIXTURE.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    (d / "porn.txt").write_text("约炮\n坏词 | huge\n好词 | high | weird\n约炮\n", encoding="utf-8")
    with pytest.raises(WordlistError) as exc:
        load_wordlist(d)
    errs = "\n".join(exc.value.errors)
    assert "porn.txt:2" in errs and "huge" in errs
    assert "porn.txt:3" in errs and "weird" in errs
    assert "porn.txt:4" in errs and "duplicate" in errs


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("约炮傻逼三级甲等 .❤約ｙｕｅpao妈操你咪鸡🐔") + ["\u200b"]), max_size=30))
def test_every_hit_slices_received_text(text):
    mm = _shared()
    for scene in ("profile", "chat"):
        v = mm.check(text, scene=scene)
        assert len(v.masked) == len(text)
        for h in v.hits:
            assert text[h.start:h.end] == h.text
            assert 0 <= h.start < h.end <= len(text)


_M = None


def _shared():
    global _M
    if _M is None:
        _M = Moderator(FIXTURE, detectors=[])
    return _M


def test_backends_agree():
    a = Moderator(FIXTURE, detectors=[], backend="rs")
    b = Moderator(FIXTURE, detectors=[], backend="pyahocorasick")
    for text, scene, _, _ in CASES:
        assert a.check(text, scene=scene).to_dict() == b.check(text, scene=scene).to_dict()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8)), max_size=6),
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8)), max_size=8),
)
def test_allow_spans_filter_equals_pairwise(spans, hits):
    from moderation.engine import _outside_allowed
    from moderation.types import Hit

    spans = [(a, a + n) for a, n in spans]
    hs = [Hit(a, a + n, "x" * n, "porn", f"r{i}", "high") for i, (a, n) in enumerate(hits)]
    expected = [h for h in hs if not any(a <= h.start and h.end <= b for a, b in spans)]
    assert (_outside_allowed(hs, spans) if spans else hs) == expected


def test_warm_in_background_loads_the_dictionary(m, monkeypatch):
    from moderation import segment

    monkeypatch.setattr(segment, "_DICT", None)
    loader = m.warm(background=True)
    # Answers at once; a check needing word boundaries waits for the dictionary if it must.
    assert m.check("周末约炮吗", scene="post").decision == "block"
    loader.join(timeout=60)
    assert not loader.is_alive() and segment._DICT is not None
    assert [h.rule for h in m.check("看三级", scene="post").hits] == ["porn.vulgar:三级"]
    assert m.warm() is None  # the default waits for everything


def test_detectors_that_need_a_conversation_run_only_with_one():
    """``needs_conversation`` detectors are skipped when a check carries no conversation (they
    would find nothing) and called when it does; the others run either way."""
    from moderation.conversation import MemoryConversationStore

    calls = []

    class Windowed:
        name = "windowed"
        needs_conversation = True

        def find(self, doc, ctx):
            calls.append(("windowed", ctx.conversation_id))
            return []

    class Plain:
        name = "plain"

        def find(self, doc, ctx):
            calls.append(("plain", ctx.conversation_id))
            return []

    m = Moderator(detectors=[Windowed(), Plain()], conversation=MemoryConversationStore())
    m.check("你好", scene="chat")
    assert calls == [("plain", None)]
    calls.clear()
    m.check("你好", scene="chat", conversation_id="c1", user_id="u1")
    assert calls == [("windowed", "c1"), ("plain", "c1")]
