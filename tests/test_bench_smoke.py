"""The benchmark machinery on a tiny corpus: correctness only, no timing assertions."""
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import biglist  # noqa: E402
import corpus  # noqa: E402
import peers  # noqa: E402
import run  # noqa: E402

from moderation import Moderator  # noqa: E402
from moderation.wordlists import load_wordlist  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "wordlists"
WORDS = ["微信", "加我", "约炮", "火锅", "好吃", "真的好", "你好", "好", "ok", "hello", "lucky",
         "电话", "傻逼", "livehouse", "门口见", "公园吧", "吧", "好好"]


@pytest.fixture(scope="module")
def small():
    return corpus.messages(400, seed=11, hit_share=0.2)


def test_corpus_is_deterministic():
    a, b = corpus.messages(300), corpus.messages(300)
    assert a.messages == b.messages and a.injected == b.injected
    assert corpus.messages(300, seed=1).messages != a.messages
    assert corpus.long_text(5000) == corpus.long_text(5000)


def test_corpus_shape(small):
    lengths = [len(m) for m in small.messages]
    assert min(lengths) >= corpus.MIN_CHARS and max(lengths) <= corpus.MAX_CHARS
    assert 0.1 < sum(small.injected) / len(lengths) < 0.3
    text = "".join(small.messages)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert any(ch.isascii() and ch.isalpha() for ch in text)
    assert any(ord(ch) > 0x1F000 for ch in text)  # emoji
    assert len(corpus.long_text(20_000)) == 20_000


@pytest.mark.parametrize("cls", [peers.RsScan, peers.PyAhoScan, peers.DictTrieScan])
def test_overlapping_peers_match_brute_force(cls, small):
    p = cls(WORDS)
    for m in small.messages:
        assert sorted(p.find(m)) == peers.brute_overlapping(WORDS, m), m


def test_regex_is_leftmost_longest(small):
    p = peers.RegexScan(WORDS)
    for m in small.messages:
        assert p.find(m) == peers.brute_leftmost_longest(WORDS, m), m


def test_flashtext_finds_only_real_occurrences(small):
    # flashtext skips a match that starts right where the previous one ended (好好看): its
    # results must still be real occurrences, and it must find something.
    p = peers.FlashTextScan(WORDS)
    total = 0
    for m in small.messages:
        got = p.find(m)
        total += len(got)
        assert set(got) <= set(peers.brute_overlapping([w.lower() for w in WORDS], m.lower())), m
    assert total > 0


def test_plain_pipeline_normalizes_then_matches():
    p = peers.PlainPipeline(WORDS)
    text = "加我微信，ｏｋ，約炮嗎"  # full width and traditional characters
    norm = p.prepare(text)
    assert sorted(p.find(text)) == peers.brute_overlapping(p._scan_words, norm)
    assert {norm[s:e] for s, e in p.find(text)} >= {"加我", "微信", "约炮", "ok"}


def test_biglist_builds_a_valid_folder(tmp_path):
    ds = tmp_path / "datasets"
    (ds / "lexicon_houbb_tags").mkdir(parents=True)
    (ds / "lexicon_houbb_tags" / "sensitive_word_tags.txt").write_text(
        "冰毒出售 1,4\n约炮网 2\n某某某 0\n赌球平台 3\nA 4\n坏|词 4\n", encoding="utf-8")
    voc = ds / "lexicon_konsheng" / "Vocabulary"
    voc.mkdir(parents=True)
    (voc / "色情词库.txt").write_text("约炮网\n裸聊室\n#注释样\n", encoding="utf-8")
    (voc / "非法网址.txt").write_text("bad-site.example\n", encoding="utf-8")
    d, n = biglist.build(ds, tmp_path / "big")
    wl = load_wordlist(d)  # raises on any format error
    terms = {e.term: e.category for e in wl.entries}
    assert n == len(wl.entries) == 6
    assert terms == {"冰毒出售": "illegal", "约炮网": "porn", "某某某": "political", "赌球平台": "illegal",
                     "裸聊室": "porn", "bad-site.example": "fraud"}
    assert (d / "policy.toml").exists()
    d2, n2 = biglist.build(ds, tmp_path / "big2", limit=3)
    assert n2 == 3 == len(load_wordlist(d2).entries)


def test_staged_pipeline_gives_the_same_verdicts_as_check(small):
    m = Moderator(FIXTURE)
    texts = small.messages + ["周末约炮吗", "加我薇信：lucky_girl1995", "三级甲等医院的护士", "约❤炮"]
    verdicts, stages = run.staged(m, texts)
    want = [m.check(t, scene=run.SCENE).to_dict() for t in texts]
    assert [v.to_dict() for v in verdicts] == want
    assert sum(1 for v in want if v["hits"]) >= 4
    assert {"normalize", "match", "boundary", "hits", "policy + verdict", "JSON"} <= set(stages)
    assert all(v >= 0 for v in stages.values())


def test_results_block_keeps_other_sections(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmarks\n\n## HTTP\n\nhttp figures\n\n## Rescan\n\nrescan figures\n", encoding="utf-8")
    run.write_results(f"{run.BEGIN}\n# Benchmark results\n\nfirst\n{run.END}\n", path)
    run.write_results(f"{run.BEGIN}\n# Benchmark results\n\nsecond\n{run.END}\n", path)
    text = path.read_text(encoding="utf-8")
    assert "second" in text and "first" not in text
    assert text.count(run.BEGIN) == 1
    assert "## HTTP\n\nhttp figures" in text and "## Rescan\n\nrescan figures" in text


def _whole_edges(text):
    from moderation import engine

    return engine._token_edges(text)


EDGE_TEXTS = st.text(
    alphabet=st.sampled_from(list("约炮微信好吃的火锅今天我们一起去看电影吧加班ab1.%- ，。!\r\n\t😊❤")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(EDGE_TEXTS)
def test_block_token_edges_equal_whole_text_edges(text):
    # The engine tokenizes only the jieba blocks a hit touches (a speed-up the benchmark
    # measured); the edges must be exactly those of tokenizing the whole text.
    from moderation.engine import _TokenEdges

    starts, ends = _whole_edges(text)
    te = _TokenEdges(text)
    for pos in range(-1, len(text) + 2):
        assert te.is_start(pos) == (pos in starts), (text, pos)
        assert te.is_end(pos) == (pos in ends), (text, pos)


def test_block_token_edges_on_the_corpus(small):
    from moderation.engine import _TokenEdges

    for text in small.messages[:150] + [corpus.long_text(3000)]:
        starts, ends = _whole_edges(text)
        te = _TokenEdges(text)
        assert [p for p in range(len(text) + 1) if te.is_start(p)] == sorted(starts)
        assert [p for p in range(len(text) + 1) if te.is_end(p)] == sorted(ends)


def _reference_map(doc):
    """The offset map as the per-character loop builds it (before the fast path)."""
    import re

    from moderation.normalize import HAN_RE

    starts, ends, runs, last = [], [], [], ""
    for m in re.finditer(r"[^\W_]+", doc.folded):
        i = m.start()
        for ch in m.group():
            if ch == last and HAN_RE.match(ch):
                ends[-1] = i + 1
                runs[-1] += 1
            else:
                starts.append(i)
                ends.append(i + 1)
                runs.append(1)
                last = ch
            i += 1
    return starts, ends, runs


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("约约炮炮微信好好哈ab1１.%- ，。!\n😊❤㊀①")), max_size=30))
def test_offset_map_fast_path_equals_reference(text):
    from moderation.normalize import normalize

    doc = normalize(text)
    if doc.text == doc.folded:
        return  # the identity branch, untouched
    doc._build_map()
    assert (doc._starts, doc._ends, doc._runs) == _reference_map(doc)
