"""Every matcher backend equals brute force (overlapping, half-open spans)."""
import pytest
from hypothesis import given, settings, strategies as st

from moderation.matcher import BACKENDS, brute_force, build_matcher, frequent_first

alphabet = st.sampled_from(list("ab约炮微信x1"))
words = st.lists(st.text(alphabet, min_size=1, max_size=4), min_size=1, max_size=12, unique=True)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(patterns=words, text=st.text(alphabet, max_size=60))
def test_backend_equals_brute_force(backend, patterns, text):
    m = build_matcher(patterns, backend)
    assert sorted(m.find(text)) == brute_force(patterns, text)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_and_overlapping(backend):
    pats = ["约炮", "约", "炮友", "约炮友"]
    got = sorted(build_matcher(pats, backend).find("想约炮友"))
    assert got == [(1, 2, 1), (1, 3, 0), (1, 4, 3), (2, 4, 2)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_pattern_list(backend):
    assert build_matcher([], backend).find("anything") == []


def test_unknown_backend():
    with pytest.raises(ValueError):
        build_matcher(["a"], "nope")


@settings(max_examples=200, deadline=None)
@given(patterns=words, extra=st.lists(st.text(alphabet, min_size=1, max_size=4), max_size=12),
       text=st.text(alphabet, max_size=60))
def test_extra_patterns_found_apart(patterns, extra, text):
    """pyahocorasick with extra patterns (a detector's cues, duplicates and words among them):
    ``find`` gives the patterns alone, ``find_both`` both, each in its own ids."""
    m = build_matcher(patterns, "pyahocorasick", extra)
    assert sorted(m.find(text)) == brute_force(patterns, text)
    # Added in another order (frequent characters first), the ids and matches stay.
    freq = {c: i for i, c in enumerate(text)}
    order = frequent_first(patterns, freq)
    assert sorted(order) == list(range(len(patterns)))
    assert sorted(build_matcher(patterns, "pyahocorasick", extra, order).find(text)) == brute_force(patterns, text)
    words, more = m.find_both(text)
    assert sorted(words) == brute_force(patterns, text)
    assert sorted(more) == brute_force(extra, text)


def test_extra_patterns_need_pyahocorasick():
    with pytest.raises(ValueError):
        build_matcher(["a"], "rs", ["b"])
    with pytest.raises(ValueError):
        build_matcher(["a"], "pyahocorasick", [""])


def test_frequent_first_orders_by_character_frequency():
    pats = ["ab", "ba", "ca", "aa", "cb"]
    order = frequent_first(pats, {"c": 30, "a": 20, "b": 10})
    assert [pats[i] for i in order] == ["ca", "cb", "aa", "ab", "ba"]
