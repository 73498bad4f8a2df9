"""Normalization: folding tables, noise, repeats, numerals, homophones, and the offset map."""
import pytest
from hypothesis import given, settings, strategies as st

from moderation.normalize import Normalizer, normalize

N = Normalizer({"🐔": "鸡"})


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("ＡＢＣ１２３", "abc123"),          # full width + case
        ("約會", "约会"),                    # traditional -> simplified (OpenCC data)
        ("①②③⑴⒈❶➀", "1231111"),           # circled / parenthesized / dingbat digits
        ("Ⓐ𝐁𝒄", "abc"),                     # circled and mathematical letters
        ("🐔", "鸡"),                        # look-alike table
        ("幺三八零零一三八零零零", "13800138000"),  # written-out phone number
        ("一起去吃饭", "一起去吃饭"),         # a lone numeral stays a character
        ("三三两两", "三三两两"),             # too short to be a number run
    ],
)
def test_fold(raw, folded):
    assert N.fold(raw) == folded
    assert len(N.fold(raw)) == len(raw)


@pytest.mark.parametrize(
    "raw, text",
    [
        ("约.炮", "约炮"), ("约 炮", "约炮"), ("约❤炮", "约炮"), ("约\u200b炮", "约炮"),
        ("约约约炮", "约炮"), ("咪咪", "咪"), ("a b", "ab"), ("hello", "hello"),
    ],
)
def test_text_view(raw, text):
    assert N.normalize(raw).text == text


def test_homophones_meet():
    assert N.normalize("薇信").canon == N.normalize("微信").canon == N.normalize("威信").canon
    assert N.normalize("约炮").canon != N.normalize("约会").canon


@pytest.mark.parametrize("raw", ["约.炮", "  约 约 约炮!! ", "ｙｕｅ pao", "abc", "", "，，，", "傻傻逼", "a约b"])
def test_span_maps_back(raw):
    doc = N.normalize(raw)
    for s in range(len(doc.text)):
        for e in range(s + 1, len(doc.text) + 1):
            os_, oe = doc.span(s, e)
            assert 0 <= os_ < oe <= len(raw)
            # the mapped span, normalized again, contains the same characters
            assert N.normalize(raw[os_:oe]).text == N.normalize(doc.text[s:e]).text or doc.repeats


text_st = st.text(
    alphabet=st.sampled_from(list("约炮微信薇一二三四五六七八九零幺 .,-❤\u200b①Ａa1b約會妈妈") + ["🐔", "😀"]),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(text_st)
def test_normalization_idempotent(raw):
    once = N.normalize(raw)
    twice = N.normalize(once.text)
    assert twice.text == once.text
    assert N.fold(once.folded) == once.folded


@settings(max_examples=300, deadline=None)
@given(text_st)
def test_offset_map_is_monotonic_and_total(raw):
    doc = N.normalize(raw)
    assert len(doc.canon) == len(doc.text)
    prev_end = 0
    for i in range(len(doc.text)):
        s, e = doc.span(i, i + 1)
        assert s >= prev_end and e > s
        prev_end = e


def test_default_normalize_available():
    assert normalize("ＡＢ").folded == "ab"


def _reference_map(folded: str) -> tuple[list[int], list[int], list[int]]:
    """The offset map the plain way: one step per received character."""
    import re

    starts: list[int] = []
    ends: list[int] = []
    runs: list[int] = []
    last = ""
    for i, ch in enumerate(folded):
        if not re.match(r"[^\W_]", ch):
            continue
        if ch == last and re.match(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", ch):
            ends[-1] = i + 1
            runs[-1] += 1
        else:
            starts.append(i)
            ends.append(i + 1)
            runs.append(1)
            last = ch
    return starts, ends, runs


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="好好约炮 .,❤a1①\u200b一二哈", max_size=40) | text_st)
def test_offset_map_equals_reference(raw):
    doc = normalize(raw)
    starts, ends, runs = _reference_map(doc.folded)
    assert len(starts) == len(doc.text)
    if doc.text:
        assert [doc.span(i, i + 1) for i in range(len(doc.text))] == list(zip(starts, ends))
        assert doc.run_lengths(0, len(doc.text)) == runs
        # Any span maps from the first character's start to the last one's end.
        n = len(doc.text)
        for a in range(n):
            for b in range(a + 1, min(n, a + 6) + 1):
                assert doc.span(a, b) == (starts[a], ends[b - 1]), (raw, a, b)
                assert doc.run_lengths(a, b) == runs[a:b], (raw, a, b)


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("🅖❼❽.🅣🅞🅟", "g78.top"),   # negative circled letters (the project's look-alike table)
        ("+∨ wykg", "+v wykg"),     # logical-or sign for v
        ("十㣲 k7", "十微 k7"),       # a rare variant of 微
        ("📝👴", "记老"),           # emoji read as the character they show
    ],
)
def test_fold_with_project_lookalikes(raw, folded):
    assert normalize(raw).folded == folded
