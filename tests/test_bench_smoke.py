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


HTTP_AND_RESCAN = """# Benchmark results

## HTTP

Measured by `benchmarks/http_bench.py`.

### 2026-11-23 10:16 UTC

| target | requests/s | p50 ms | p99 ms | errors |
| --- | ---: | ---: | ---: | ---: |
| empty FastAPI POST (reference) | 9,000 | 3.36 | 13.53 | 0 |
| `POST /v1/moderate` | 7,000 | 4.08 | 15.86 | 0 |

`/v1/moderate` at **78%** of the reference's requests/s; batch **20,000 texts/s** (target ≥ 50,000).

### 2026-11-23 10:24 UTC

| target | requests/s | p50 ms | p99 ms | errors |
| --- | ---: | ---: | ---: | ---: |
| empty FastAPI POST (reference) | 8,000 | 3.17 | 12.51 | 0 |
| `POST /v1/moderate` | 6,800 | 4.15 | 17.35 | 0 |
| `POST /v1/moderate/batch` (1,000 texts, 4 connections) | 19.5 | 167.3 | 352.3 | 0 |

`/v1/moderate` at **85%** of the reference's requests/s; batch **19,480 texts/s** (target ≥ 50,000).

Notes after the runs.

## Rescan

### 2026-11-23 10:13 UTC: 200,000 profiles, 2 workers

| run | profiles/s (wall) | seconds | CPU seconds | flagged | notes |
| --- | ---: | ---: | ---: | ---: | --- |
| full rescan | 9,687 | 20.6 | 26.1 | 3,278 | engine setup 0.1 s |
| delta rescan (`--since`) | 196,772 | 1.0 | 2.3 | 169 newly | setup 0.4 s |

- delta speed-up over full: **20.3x** wall-clock (scan)
"""


def test_other_results_reads_the_latest_http_and_rescan_runs():
    got = run.other_results(HTTP_AND_RESCAN)
    assert got["http"] == {"when": "2026-11-23 10:24 UTC", "rps": 6800, "ref_rps": 8000, "p99_ms": 17.35,
                           "batch_texts_s": 19480}
    assert got["rescan"] == {"when": "2026-11-23 10:13 UTC: 200,000 profiles, 2 workers", "full_s": 9687,
                             "delta_speedup": 20.3}
    assert run.other_results("# Benchmark results\n") == {}


def _fake_datasets(root):
    ds = root / "datasets"
    (ds / "lexicon_houbb_tags").mkdir(parents=True)
    (ds / "lexicon_houbb_tags" / "sensitive_word_tags.txt").write_text(
        "冰毒出售 1\n约炮网 2\n赌球平台 3\n加我微信 4\n火锅店 4\n", encoding="utf-8")
    voc = ds / "lexicon_konsheng" / "Vocabulary"
    voc.mkdir(parents=True)
    (voc / "色情词库.txt").write_text("裸聊室\n约炮\n", encoding="utf-8")
    return ds


def test_harness_runs_on_a_tiny_corpus_and_writes_the_tables(tmp_path, capsys):
    """`run.main` end to end (in-process parts) on 300 messages; their sections are kept."""
    results = tmp_path / "RESULTS.md"
    results.write_text(HTTP_AND_RESCAN, encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("# moderation\n\n## Library\n\ntext\n", encoding="utf-8")
    args = ["--datasets", str(_fake_datasets(tmp_path)), "--messages", "300", "--long-chars", "6400",
            "--ours", str(FIXTURE), "--workdir", str(tmp_path / "out"), "--json", str(tmp_path / "b.json"),
            "--output", str(results), "--readme", str(readme), "--no-subprocess", "--peer-budget", "0.5"]
    assert run.main(args) == 0
    assert run.main(args) == 0  # a second run replaces the block, nothing else
    text = results.read_text(encoding="utf-8")
    assert text.count(run.BEGIN) == 1 and text.count(run.END) == 1
    assert text.startswith(run.BEGIN + "\n# Benchmark results")
    block = text.split(run.END)[0]
    # http_bench.py and rescan_bench.py find their sections by these strings: never in our block.
    assert "## HTTP" not in block and "## Rescan" not in block
    assert HTTP_AND_RESCAN.split("# Benchmark results\n", 1)[1] in text
    for heading in ("## Summary", "## Engine", "### Headline", "### Matcher backends inside `Moderator`",
                    "### Throughput: ours list", "### Throughput: lexicons list",
                    "#### Where the time goes: lexicons list", "### Findings"):
        assert f"\n{heading}\n" in block, heading
    assert "| `POST /v1/moderate`, 2 workers | 6,800 req/s = 85 % of an empty FastAPI POST, p99 17.4 ms" in block
    assert "| `moderation rescan`, full | 9,687 profiles/s" in block
    from moderation import matcher

    for b in matcher.BACKENDS:
        assert f"| `{b}`" in block
    for name in ("ahocorasick-rs (bare scan)", "pyahocorasick (bare scan)", "flashtext", "regex alternation (re)",
                 "dict-trie DFA (pure Python)", "plain pipeline (NFKC + OpenCC + pyahocorasick)"):
        assert f"| {name} | " in block, name
    assert "Is the cost linear in length?" in block and "| ns / char, 100 chars | ns / char, 1,600 chars |" in block
    headline = block.split("### Headline", 1)[1]
    assert "| ours | " in headline and "| lexicons | 7 | " in headline
    assert f"| {run.CUT_NAME} | 7 | **" in headline
    md = readme.read_text(encoding="utf-8")
    assert md.count("## Benchmarks") == 1 and md.startswith("# moderation\n\n## Library\n\ntext\n")
    assert "| one core, short dating messages | our lists (" in md and "| `Moderator.check`, messages/s | **" in md
    assert "Latest service figures: `POST /v1/moderate` 6,800 requests/s (85 % of an empty FastAPI POST)" in md
    out = capsys.readouterr().out
    assert "check / plain pipeline" in out and "load before start" in out
    # --from-json renders an earlier run's figures again without measuring.
    assert run.main(["--from-json", str(tmp_path / "b.json"), "--output", str(results), "--readme", str(readme)]) == 0
    assert results.read_text(encoding="utf-8") == text and readme.read_text(encoding="utf-8") == md


def test_startup_and_scan_subprocesses(tmp_path):
    """The subprocess measurements, once each, on the test fixture's lists."""
    su = run.startup_series(FIXTURE, warm_runs=1, busy=20)
    for k in ("cold", "warm"):
        assert su[k]["entries"] == len(load_wordlist(FIXTURE).entries)
        assert su[k]["ready_s"] > 0 and su[k]["rss_busy_mb"] > 10
    c = corpus.messages(60, seed=3)
    sc = run.scan_e2e(FIXTURE, c, tmp_path)
    assert sc["lines"] == 60 and sc["errors"] == 0 and sc["msgs_s"] > 0


def _whole_edges(text):
    # The reference: jieba itself (HMM off) on the whole text.
    import jieba

    starts, ends = set(), set()
    for _, s, e in jieba.tokenize(text, HMM=False):
        starts.add(s)
        ends.add(e)
    return starts, ends


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

    from moderation.engine import BATCH_SEP, BatchViews
    from moderation.normalize import default_normalizer

    import copy

    doc = normalize(text)
    starts, ends, runs = _reference_map(doc)
    # The batch path's views of the same text, between two neighbours: from the compiled pass
    # (each text's own offset map, made when asked) and from the numpy arrays (positions from
    # the joined arrays).
    texts = ["前 面", text, "后.面"]
    compiled = default_normalizer()
    assert compiled._native is not None
    numpy_path = copy.copy(compiled)
    numpy_path._native = None
    docs = [doc]
    for nz in (compiled, numpy_path):
        got = nz.normalize_joined(BATCH_SEP.join(texts))
        assert got is not None
        batch_doc = BatchViews(texts, *got).doc(1)
        assert (batch_doc._kept_from is None) == (nz is compiled)
        docs.append(batch_doc)
    for d in docs:
        assert d.text == doc.text and d.folded == doc.folded and d.canon == doc.canon
        assert [d.span(i, i + 1) for i in range(len(d.text))] == list(zip(starts, ends))
        assert d.run_lengths(0, len(d.text)) == runs
