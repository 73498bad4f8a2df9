"""Aho–Corasick matching behind one small interface.

Every backend reports *overlapping* matches as half-open ``(start, end, pattern_id)`` tuples in
code points; pattern ids index the table the caller built the matcher from. Automata are built
once and never mutated: a reload builds a new matcher and swaps the reference.
"""
from __future__ import annotations

from typing import Protocol, Sequence

BACKENDS = ("rs", "pyahocorasick")
# The word-list automaton's backend. Measured in benchmarks/RESULTS.md: inside
# ``Moderator.check`` the two scan within 2 % of each other (ahocorasick-rs 4.0 us, pyahocorasick
# 4.5 us a message with 50,000 entries, of about 45 us in all), but only pyahocorasick's automaton
# pickles, so a warm start loads it from the disk cache (0.8 s) instead of rebuilding it (1.9 s):
# the start-up target decides. MODERATION_MATCHER=rs chooses the other.
DEFAULT_BACKEND = "pyahocorasick"
# Small automata built at import (detector cue and trigger words): ahocorasick-rs, the faster scan.
SMALL_BACKEND = "rs"


class Matcher(Protocol):
    backend: str

    def find(self, text: str) -> list[tuple[int, int, int]]: ...


# Up to this many patterns ahocorasick-rs builds a full DFA: about 40 % faster to scan than its
# contiguous NFA (1.9 against 3.0 us a profile over our lists and the scam cues) for 37 MB at
# 11,000 patterns; at 150,000 (the 50,000-entry benchmark list) it would take 670 MB and 4 s.
DFA_MAX_PATTERNS = 20_000


class RsMatcher:
    """ahocorasick-rs: the fastest bare scan measured here (see benchmarks/RESULTS.md)."""

    backend = "rs"
    picklable = False

    def __init__(self, patterns: Sequence[str]) -> None:
        import ahocorasick_rs

        impl = ahocorasick_rs.Implementation
        kind = impl.DFA if len(patterns) <= DFA_MAX_PATTERNS else impl.ContiguousNFA
        self._ac = ahocorasick_rs.AhoCorasick(list(patterns), matchkind=ahocorasick_rs.MatchKind.Standard,
                                              implementation=kind)
        self._empty = not patterns

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._empty:
            return []
        return [(s, e, p) for p, s, e in self._ac.find_matches_as_indexes(text, overlapping=True)]


class PyAhoMatcher:
    """pyahocorasick: the design's original matcher; ``iter`` gives inclusive end indices."""

    backend = "pyahocorasick"
    picklable = True  # the automaton pickles, so a warm start skips building it

    def __init__(self, patterns: Sequence[str]) -> None:
        import ahocorasick

        a = ahocorasick.Automaton()
        for i, p in enumerate(patterns):
            a.add_word(p, (i, len(p)))
        self._empty = not patterns
        if not self._empty:
            a.make_automaton()
        self._a = a

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._empty:
            return []
        return [(end + 1 - n, end + 1, i) for end, (i, n) in self._a.iter(text)]


def build_matcher(patterns: Sequence[str], backend: str = SMALL_BACKEND) -> Matcher:
    """Build an immutable matcher; ``patterns`` must be non-empty strings, no duplicates needed."""
    if any(not p for p in patterns):
        raise ValueError("empty pattern")
    if backend == "rs":
        return RsMatcher(patterns)
    if backend == "pyahocorasick":
        return PyAhoMatcher(patterns)
    raise ValueError(f"unknown matcher backend {backend!r}; use one of {', '.join(BACKENDS)}")


def brute_force(patterns: Sequence[str], text: str) -> list[tuple[int, int, int]]:
    """Reference for tests: every occurrence of every pattern."""
    out = []
    for pid, p in enumerate(patterns):
        start = text.find(p)
        while start != -1:
            out.append((start, start + len(p), pid))
            start = text.find(p, start + 1)
    return sorted(out)
