"""Normalization: folding tables, noise, repeats, numerals, homophones, and the offset map."""
import pytest
from hypothesis import given, settings, strategies as st

from moderation.normalize import NOISE_RE, Normalizer, normalize

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


# -- the compiled pass (moderation._normalize) against the regex passes ----------------------

def _views(doc):
    return (doc.original, doc.folded, doc.text, doc.canon, doc.repeats)


# Everything the pass treats specially: numerals (strict and weak) and digits for number runs,
# noise of several kinds (underscore included), Han repeats, width, case, traditional forms,
# look-alikes, astral letters and emoji, lone surrogates, combining marks.
_NATIVE_ALPHABET = list(
    "一二三四五六七八九零〇○两么洞拐勾幺壹贰0123456789 -_.,，:、\t\n❤\u200b\u0301好好哈哈约炮微薇"
    "abcXYZＡ１２①❶約會們亻"
) + ["🐔", "😀", "𝐁", "𝟏", "\ud800", "\udfff", "\U0002a6d6", "\u3400", "\uf900", "\ufa0e"]


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from(_NATIVE_ALPHABET), max_size=60)
       | st.text(max_size=60)
       | st.text(alphabet=st.characters(min_codepoint=0x2000, max_codepoint=0xFFFF), max_size=40))
def test_compiled_pass_equals_regex_passes(raw):
    from moderation import _normalize  # built by make install: CI fails here if it is not

    assert N._native is not None
    fast, ref = N.normalize(raw), N.normalize_python(raw)
    assert _views(fast) == _views(ref)
    assert len(fast.folded) == len(raw)
    # The views it gives back are the same objects where nothing changed.
    assert (fast.folded is raw) == (ref.folded == raw)
    if fast.repeats:
        assert fast._stripped == NOISE_RE.sub("", fast.folded)
        n = len(fast.text)
        assert [fast.span(i, i + 1) for i in range(n)] == [ref.span(i, i + 1) for i in range(n)]
    assert _normalize is not None


@pytest.mark.parametrize("raw", [
    "幺三八零零一三八零零零", "电话 1 3 8-零零一三-八零零零", "两两两两两", "一二三四五", "洞洞洞123",
    "13800138000", "三三两两", "好好好好" * 200, "a" * 513 + "约约炮", "", "_", "\ud800约",
])
def test_compiled_pass_examples(raw):
    assert _views(N.normalize(raw)) == _views(N.normalize_python(raw))


def test_compiled_tables_reject_multi_character_folds():
    from moderation import _normalize

    with pytest.raises(ValueError):
        _normalize.tables({ord("a"): "bc"}, "")
    with pytest.raises(ValueError):
        _normalize.tables({-1: "b"}, "")
    with pytest.raises(TypeError):
        _normalize.normalize(b"bytes", _normalize.tables({}, ""))
    with pytest.raises(ValueError):  # a capsule of another kind
        _normalize.normalize("x", object())


def test_python_path_when_asked(monkeypatch):
    monkeypatch.setenv("MODERATION_NORMALIZE", "python")
    nz = Normalizer({"🐔": "鸡"})
    assert nz._native is None
    assert _views(nz.normalize("約會🐔 幺三八零零一三八零零零")) == _views(N.normalize("約會🐔 幺三八零零一三八零零零"))


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet=st.sampled_from(_NATIVE_ALPHABET), max_size=60) | st.text(max_size=40))
def test_compiled_layout_equals_regex_layout(raw):
    import importlib

    nm = importlib.import_module("moderation.normalize")  # the package's `normalize` is the function
    doc = N.normalize(raw)
    ref = nm.NormalizedText(doc.original, doc.folded, doc.text, doc.canon, doc.repeats)
    saved, nm._native = nm._native, None
    try:
        ref_runs = ref._repeat_runs()
        ref_map = [ref.span(i, j) for i in range(len(ref.text)) for j in range(i + 1, min(len(ref.text), i + 4) + 1)]
    finally:
        nm._native = saved
    assert ref._kept is None  # the reference really took the regex path
    kept, *runs = nm._native.layout(doc.folded)
    assert tuple(runs) == ref_runs
    assert len(kept) == len(NOISE_RE.sub("", doc.folded))
    assert [doc.span(i, j) for i in range(len(doc.text)) for j in range(i + 1, min(len(doc.text), i + 4) + 1)] == ref_map
