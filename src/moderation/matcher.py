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

    def __init__(self, patterns: Sequence[str], extra: Sequence[str] = (), order: Sequence[int] | None = None) -> None:
        """``extra``: more patterns the same scan finds for ``find_both`` (a detector's cue
        words), ids 0, 1, ... of their own; ``find`` leaves them out. A string in both keeps
        its pattern id and lists its extra ids: values are ``(id, length)`` or ``(id or -1,
        length, extra ids)``.

        ``order``: the order to add the patterns in (their ids stay their places in
        ``patterns``). A node of pyahocorasick's trie looks its children up one after another
        in the order they were added, so adding the patterns whose characters are frequent
        in text first makes the scan faster (``frequent_first``)."""
        import ahocorasick

        a = ahocorasick.Automaton()
        for i in range(len(patterns)) if order is None else order:
            p = patterns[i]
            a.add_word(p, (i, len(p)))
        for j, p in enumerate(extra):
            v = a.get(p, None)
            a.add_word(p, (-1, len(p), (j,)) if v is None else (v[0], v[1], (*(v[2] if len(v) > 2 else ()), j)))
        self._empty = not patterns and not extra
        self.n_extra = len(extra)
        if not self._empty:
            a.make_automaton()
        self._a = a

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self._empty:
            return []
        if self.n_extra:
            return [(end + 1 - v[1], end + 1, v[0]) for end, v in self._a.iter(text) if v[0] >= 0]
        return [(end + 1 - n, end + 1, i) for end, (i, n) in self._a.iter(text)]

    def find_both(self, text: str) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """The pattern matches (as ``find``) and the extra patterns' matches, from one scan."""
        words: list[tuple[int, int, int]] = []
        more: list[tuple[int, int, int]] = []
        if self._empty:
            return words, more
        for end, v in self._a.iter(text):
            if v[0] >= 0:
                words.append((end + 1 - v[1], end + 1, v[0]))
            if len(v) > 2:
                for j in v[2]:
                    more.append((end + 1 - v[1], end + 1, j))
        return words, more


def frequent_first(patterns: Sequence[str], freq: dict[str, int]) -> list[int]:
    """Indexes of ``patterns`` ordered by how frequent their characters are (``freq``), the
    first character first: each node's children then come most frequent first."""
    chars = sorted({c for p in patterns for c in p}, key=lambda c: (-freq.get(c, 0), c))
    rank = {ord(c): chr(0x10000 + r) for r, c in enumerate(chars)}
    keys = [p.translate(rank) for p in patterns]
    return sorted(range(len(patterns)), key=keys.__getitem__)


def build_matcher(patterns: Sequence[str], backend: str = SMALL_BACKEND, extra: Sequence[str] = (),
                  order: Sequence[int] | None = None) -> Matcher:
    """Build an immutable matcher; ``patterns`` must be non-empty strings, no duplicates needed.
    ``extra`` (pyahocorasick only): patterns for ``find_both``; ``order``: see ``PyAhoMatcher``."""
    if any(not p for p in patterns) or any(not p for p in extra):
        raise ValueError("empty pattern")
    if backend == "rs":
        if extra:
            raise ValueError("extra patterns need the pyahocorasick backend")
        return RsMatcher(patterns)
    if backend == "pyahocorasick":
        return PyAhoMatcher(patterns, extra, order)
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
