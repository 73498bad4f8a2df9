"""``Moderator.check_texts`` (many texts joined, normalized and matched at once) must give
exactly the verdicts ``check`` gives text by text."""
from __future__ import annotations

import ast
import random
import sys
from pathlib import Path

import pytest

from moderation import Moderator
from moderation.engine import BATCH_TEXTS, UnknownScene
from moderation.normalize import BATCH_SEP

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402


@pytest.fixture(scope="module", params=["batch automaton", "pyahocorasick until it is built", "Python normalizer"])
def m(request) -> Moderator:
    mod = Moderator(backend="pyahocorasick")
    if request.param == "Python normalizer":
        # As on a machine without the compiled pass: regex passes for one text, numpy arrays
        # for joined chunks.
        mod._engine.normalizer._native = None
        mod.prepare_batch()
        assert mod._engine.normalizer.__dict__.get("_np") is not None
    elif request.param == "batch automaton":
        mod.prepare_batch()
        assert mod._engine.batch_matcher is not None and mod._engine.batch_matcher is not mod._engine.matcher
    else:
        # No automaton yet and none to be built: check and check_texts scan with pyahocorasick.
        mod._engine.batch_matcher = None
        mod._engine.one_scan = False
        mod._engine.build_batch_matcher = lambda: None
    return mod


def _same(m: Moderator, texts: list[str], scene="post", fields=None) -> None:
    ids = list(range(len(texts)))
    got = m.check_texts(texts, scene=scene, ids=ids, fields=fields)
    assert len(got) == len(texts)
    for k, (t, v) in enumerate(zip(texts, got)):
        sc = scene if isinstance(scene, str) else scene[k]
        f = fields if fields is None or isinstance(fields, str) else fields[k]
        want = m.check(t, scene=sc, id=k, field=f).to_dict()
        assert v.to_dict() == want, f"text {k}: {t!r}"


def _test_strings() -> list[str]:
    """Every string literal of two or more characters in the detector and engine tests: the
    cases those tests were written for (disguised ids, split words, scam scripts, boundaries)."""
    out: list[str] = []
    for name in ("test_contact.py", "test_scam.py", "test_engine.py", "test_normalize.py", "test_wordlists.py"):
        path = ROOT / "tests" / name
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 2:
                try:
                    node.value.encode("utf-8")
                except UnicodeEncodeError:
                    continue
                out.append(node.value)
    return out


def test_generated_corpus_equals_check(m):
    texts = corpus.messages(3000, seed=7).messages
    _same(m, texts, scene="chat")


def test_test_cases_equal_check_in_every_scene(m):
    texts = _test_strings() + [line.split("\t")[0] for line in
                               (ROOT / "tests" / "data" / "dirty_cases.tsv").read_text(encoding="utf-8").splitlines()]
    texts += (ROOT / "tests" / "data" / "clean_dating.txt").read_text(encoding="utf-8").splitlines()
    assert len(texts) > 500
    for scene in ("profile", "post", "chat"):
        _same(m, texts, scene=scene)


def test_texts_run_into_each_other_nowhere(m):
    # Neighbours that would make a number, a repeat, a word or a pay claim if joined.
    texts = ["我的电话是138", "0013 8000 好的", "微", "信号很好", "湾", "湾", "日结", "300元", "天", "5w", "约", "炮",
             "加我vx", "abc12345", "", " ", "傻", "逼", "一二三四", "五六七八九", "每天", "赚300"]
    _same(m, texts, scene="chat")
    # Each pair alone too, in both orders, shuffled among clean texts.
    rng = random.Random(3)
    clean = corpus.messages(200, seed=11, hit_share=0.0).messages
    for _ in range(5):
        mix = texts + clean
        rng.shuffle(mix)
        _same(m, mix, scene="post")


def test_per_text_scenes_fields_and_ids(m):
    texts = ["加我微信 abc12345", "约炮吗", "你好，周末一起去爬山吗？", "日结300，有意私我"] * 3
    scenes = ["profile", "post", "chat"] * 4
    fields = ["bio", None, "nickname", "bio"] * 3
    _same(m, texts, scene=scenes, fields=fields)


def test_chunks_larger_than_one_join(m):
    texts = corpus.messages(BATCH_TEXTS * 2 + 37, seed=5).messages
    _same(m, texts, scene="post")


def test_separator_in_a_text_falls_back_to_one_at_a_time(m):
    texts = ["约炮" + BATCH_SEP + "吗", "加我微信abc12345", BATCH_SEP, "你好"]
    _same(m, texts)
    assert m.check_texts(texts)[0].decision != "pass"


def test_lone_surrogates_and_multi_character_folds(m):
    # Lone surrogates (valid in a str, not in Unicode text) read as U+FFFD, one for one: the
    # same hits at the same offsets, and the received text in the verdict.
    texts = ["你好", "约\ud800炮", "加我微信\udfff abc12345", "约炮\ud83d", "\udc00"]
    _same(m, texts)
    for t in texts:
        v = m.check(t, scene="chat")
        w = m.check(t.translate({c: "\ufffd" for c in range(0xD800, 0xE000)}), scene="chat")
        assert v.decision == w.decision
        assert [(h.start, h.end, h.rule) for h in v.hits] == [(h.start, h.end, h.rule) for h in w.hits]
        assert all(t[h.start:h.end] == h.text for h in v.hits)
    assert m.check(texts[1]).decision == "block" and "\ud800" in m.check(texts[1]).hits[0].text
    # Characters NFKC writes as several (㍻, ﬁ) keep the received offsets.
    texts = ["㍻约炮", "ﬁne 加我vx abc12345", "正常的一句话"]
    _same(m, texts)


def test_bad_arguments_raise_like_check(m):
    with pytest.raises(UnknownScene):
        m.check_texts(["你好"], scene="nowhere")
    with pytest.raises(TypeError):
        m.check_texts(["你好", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        m.check_texts(["a", "b"], scene=["post"])
    assert m.check_texts([]) == []


def test_rate_or_promise_lookahead_names_every_first_character():
    """The combined pay-claim / stated-returns regex starts with a lookahead of the shapes'
    first characters: it must find exactly what the bare alternation finds."""
    import re

    from moderation.detectors import scam

    bare = re.compile(scam._RATE_OR_PROMISE_ALTERNATION)
    texts = corpus.messages(5000, seed=9).messages + _test_strings() + [
        "日结300", "月入过万", "收益率达到30%", "百分之二十回报", "٣٠%收益", "一小时200", "5w一个月", "翻10倍"]
    for t in texts:
        want = [m.span() for m in bare.finditer(t)]
        assert [m.span() for m in scam._RATE_OR_PROMISE_RE.finditer(t)] == want, t
    # The recruiting / come half likewise.
    bare = re.compile(scam._RECRUIT_OR_COME_ALTERNATION)
    texts += ["有意私我", "感兴趣的加", "想了解找我", "需要联系", "来吗", "带", "做的", "兴趣的扣"]
    found = 0
    for t in texts:
        want = [m.span() for m in bare.finditer(t)]
        found += bool(want)
        assert [m.span() for m in scam._RECRUIT_OR_COME_RE.finditer(t)] == want, t
    assert found > 50


def test_shape_only_scam_rules_and_useless_cue_words(m):
    """The scam gate skips texts whose cue words cannot half satisfy a rule, and texts without
    cue words that lack either half of a shape-only rule; both must still equal ``check``,
    including when a cue word falls away (negated, inside an ASCII word) and the shapes fire."""
    texts = ["日结300，有意私我", "日赚500来吗", "每天收益30%，有意私我", "打麻将日结300有意私我",
             "老师说日赚500来吗", "不是赌博，日结300，有意私我", "appx日结300有意私我", "今年42岁，来吗",
             "一天8小时，需要加我", "晚上一起吃饭", "每天跑步5公里", "收益30%", "有意私我", "来吗"]
    for scene in ("profile", "chat"):
        _same(m, texts, scene=scene)
    fired = [t for t in texts if any(h.pattern == "part_time_job" for h in m.check(t, scene="chat").hits)]
    assert len(fired) >= 3, fired


def test_recruit_or_come_over_lines_finds_the_texts_each_search_finds():
    """The scam gate looks for recruiting calls and calls to come once over a chunk, texts on
    lines of their own: it must name exactly the texts a search of each text names."""
    from moderation.detectors import scam
    from moderation.normalize import BATCH_SEP, default_normalizer

    norm = default_normalizer()
    raw = corpus.messages(3000, seed=13).messages + _test_strings() + [
        "来吗", "带", "有意私我", "想做的加", "来", "做吗来", "需要找我"]
    pieces = [norm.normalize(t).text for t in raw]
    pieces = [p for p in pieces if BATCH_SEP not in p]
    want = {i for i, p in enumerate(pieces) if scam._RECRUIT_OR_COME_RE.search(p)}
    joined = "\n".join(pieces)
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += len(p) + 1
    import bisect

    got = {bisect.bisect_right(starts, m.start()) - 1 for m in scam._RECRUIT_OR_COME_LINES_RE.finditer(joined)}
    assert got == want
    assert len(want) > 50


def test_flagged_only_gives_none_for_each_pass(m):
    texts = corpus.messages(1500, seed=17).messages + ["加我微信 abc12345", "约炮吗", "你好", "日结300，有意私我"]
    full = m.check_texts(texts, scene="chat")
    got = m.check_texts(texts, scene="chat", flagged_only=True)
    assert len(got) == len(full)
    for v, g in zip(full, got):
        if v.decision == "pass":
            assert g is None
        else:
            assert g is not None and g.to_dict() == v.to_dict()
    assert sum(g is not None for g in got) >= 4
    # The one-at-a-time fallback (a text holding the separator) too.
    from moderation.normalize import BATCH_SEP

    odd = ["你好" + BATCH_SEP, "约炮吗"]
    assert [g is None for g in m.check_texts(odd, flagged_only=True)] == [True, False]


def test_as_dicts_gives_each_verdicts_dict(m):
    texts = corpus.messages(1500, seed=19).messages + ["加我微信 abc12345", "你好", "ǂ你好"]
    ids = [f"t{i}" for i in range(len(texts))]
    want = [v.to_dict() for v in m.check_texts(texts, scene="profile", ids=ids, fields="bio")]
    assert m.check_texts(texts, scene="profile", ids=ids, fields="bio", as_dicts=True) == want
    flagged = m.check_texts(texts, scene="profile", ids=ids, fields="bio", as_dicts=True, flagged_only=True)
    assert [d for d in flagged if d is not None] == [w for w in want if w["decision"] != "pass"]
    assert any(w["decision"] == "pass" for w in want) and any(w["decision"] != "pass" for w in want)


def test_one_chunk_scan_gives_each_part_its_own_automatons_matches():
    """The chunk automaton holds the word list's patterns and the scam cues (``batch_patterns``):
    the matches of each range must be exactly, and in the same order, what each one's own
    automaton finds (cue order decides which cue a rule's hit starts from)."""
    from moderation.detectors import scam
    from moderation.engine import BatchViews
    from moderation.normalize import BATCH_SEP

    mod = Moderator()
    eng = mod._engine
    mod.prepare_batch()
    k = next(i for i, d in enumerate(eng.detectors) if isinstance(d, scam.ScamDetector))
    assert [x[0] for x in eng.batch_slices] == [k]
    texts = corpus.messages(2000, seed=23).messages + _test_strings()
    n_cues = 0
    for a in range(0, len(texts), 300):
        part = [t for t in texts[a:a + 300] if BATCH_SEP not in t]
        got = eng.normalizer.normalize_joined(BATCH_SEP.join(part))
        if got is None:
            continue
        views = BatchViews(part, *got)
        words, per_det = eng.batch_find(views.canon, views.text)
        assert words == eng.find(views.canon, views.text)
        assert per_det[k] == scam._tables().matcher.find(views.canon)
        n_cues += len(per_det[k])
    assert n_cues > 100


def test_check_with_one_scan_equals_check_with_the_pickled_automaton():
    """Small lists: ``check`` scans once (word list and scam cues in one DFA); large lists scan
    once with the pickled automaton, which holds the cues too. The verdicts of both must be
    those of the word-list automaton plus the cues' own scan, in every scene."""
    one = Moderator(backend="pyahocorasick")
    assert one._engine.one_scan and one._engine.batch_matcher is not None
    merged = Moderator(backend="pyahocorasick")
    merged._engine.one_scan = False  # as with a large list
    assert merged._engine.merged_slices and merged._engine.matcher.n_extra > 100
    apart = Moderator(backend="pyahocorasick")
    apart._engine.one_scan = False
    apart._engine.merged_slices = ()
    calls = []
    find_both = merged._engine.matcher.find_both
    merged._engine.matcher.find_both = lambda s: calls.append(s) or find_both(s)
    texts = corpus.messages(2000, seed=29).messages + _test_strings()
    flagged = 0
    for scene in ("profile", "post", "chat"):
        for t in texts:
            a = one.check(t, scene=scene).to_dict()
            assert a == merged.check(t, scene=scene).to_dict() == apart.check(t, scene=scene).to_dict(), t
            flagged += a["decision"] != "pass"
    assert flagged > 300
    assert len(calls) == 3 * len(texts)  # the merged path really ran


def test_merged_scan_finds_what_each_automaton_finds():
    """``find_both`` of the pickled automaton with the scam cues in it: the word list's
    matches as ``find`` gives them, and the cues' matches as their own automaton gives them."""
    from moderation.detectors import scam

    m = Moderator(backend="pyahocorasick")
    eng = m._engine
    cues = scam._tables().matcher
    texts = corpus.messages(3000, seed=31).messages + _test_strings()
    n_words = n_cues = 0
    for t in texts:
        doc = m.normalizer.normalize(t)
        words, more = eng.matcher.find_both(doc.canon)
        assert sorted(words) == sorted(eng.matcher.find(doc.canon))
        assert sorted(more) == sorted(cues.find(doc.canon))
        n_words += len(words)
        n_cues += len(more)
    assert n_words > 100 and n_cues > 100
