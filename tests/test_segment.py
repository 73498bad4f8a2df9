"""Our boundary segmentation against jieba itself (HMM off), and the dictionary look-up."""
import jieba
import pytest
from hypothesis import given, settings, strategies as st

from moderation import segment

jieba.initialize()


def _jieba_edges(text):
    starts, ends = set(), set()
    for _, s, e in jieba.tokenize(text, HMM=False):
        starts.add(s)
        ends.add(e)
    return starts, ends


def _our_edges(text):
    """Whole-text edges the way the engine sees them: blocks cut by the segmenter, every other
    character a token of its own (\\r\\n one token)."""
    starts, ends = set(), set()
    pos = 0
    for m in segment.BLOCK_RE.finditer(text):
        _add_singles(text, pos, m.start(), starts, ends)
        s0 = m.start()
        bs, be = segment.dictionary().token_edges(m.group())
        starts |= {s0 + s for s in bs}
        ends |= {s0 + e for e in be}
        pos = m.end()
    _add_singles(text, pos, len(text), starts, ends)
    return starts, ends


def _add_singles(text, a, b, starts, ends):
    i = a
    while i < b:
        step = 2 if text[i:i + 2] == "\r\n" and i + 2 <= b else 1
        starts.add(i)
        ends.add(i + step)
        i += step


SENTENCES = [
    "我住在上海浦东新区", "三级甲等医院的护士", "南京市长江大桥", "小鸡炖蘑菇很好吃", "周末一起去吃鸡吧",
    "abc123 我们去4s店", "研究生命起源", "他说的确实在理", "结婚的和尚未结婚的", "VX号是love520",
    "今天天气不错\r\n明天呢", "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
]


@pytest.mark.parametrize("text", SENTENCES)
def test_edges_equal_jiebas(text):
    assert _our_edges(text) == _jieba_edges(text)


_CHARS = list("我住在上海的研究生命起源结婚和尚未三级甲等医院南京市长江大桥小鸡炖蘑菇吃吧去死人妖基佬")
_CHARS += list("abcXYZ019 ，。！\r\n+#&._%-") + ["🐔", "😀"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_CHARS), max_size=30).map("".join))
def test_edges_equal_jiebas_on_random_text(text):
    assert _our_edges(text) == _jieba_edges(text)


def test_word_freq_matches_jieba():
    for w in ("妹妹", "女权", "狗狗", "约约", "电影", "吃鸡", "一"):
        assert segment.word_freq(w) == (jieba.get_FREQ(w) or 0)


def test_dictionary_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("MODERATION_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(segment, "_DICT", None)
    first = segment.dictionary()
    assert list(tmp_path.glob("jieba-dict-*.words"))
    monkeypatch.setattr(segment, "_DICT", None)
    monkeypatch.setattr(segment, "_build", lambda: pytest.fail("the cache was not read"))
    second = segment.dictionary()  # from the cached file this time
    assert second.total == first.total and second.freq == first.freq


def test_damaged_dictionary_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MODERATION_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(segment, "_DICT", None)
    first = segment.dictionary()
    (path,) = tmp_path.glob("jieba-dict-*.words")
    path.write_bytes(path.read_bytes()[:1000])  # cut short
    monkeypatch.setattr(segment, "_DICT", None)
    assert segment.dictionary().freq == first.freq


# -- the compiled cut (moderation._segment) against the Python one ---------------------------

_BLOCK_CHARS = list("我住在上海的研究生命起源结婚和尚未三级甲等医院南京市长江大桥小鸡炖蘑菇吃吧去死人妖基佬电影好")
_BLOCK_CHARS += list("abcXYZ019+#&._%-") + ["\u9fd5", "鿕"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_BLOCK_CHARS), max_size=40).map("".join) | st.text(max_size=30))
def test_compiled_cut_equals_python_cut(block):
    from moderation import _segment  # built by make install: CI fails here if it is not

    d = segment.dictionary()
    assert segment._native is _segment and segment._USE_NATIVE
    assert d.token_edges(block) == d.token_edges_python(block)


def test_compiled_cut_on_sentences_and_bad_arguments():
    from moderation import _segment

    d = segment.dictionary()
    for s in SENTENCES:
        for m in segment.BLOCK_RE.finditer(s):
            assert d.token_edges(m.group()) == d.token_edges_python(m.group())
    assert _segment.token_edges("", d.freq, d.log_total) == (set(), set())
    with pytest.raises(TypeError):
        _segment.token_edges("好", {"好": "many"}, d.log_total)
    with pytest.raises(TypeError):
        _segment.token_edges(b"x", d.freq, d.log_total)
