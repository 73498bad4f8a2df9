"""The peers: what a Python shop would otherwise use to find listed words in text.

Each peer is built from a list of words and has ``find(text) -> list[(start, end)]``, half-open
code-point spans into the text it matched (for the plain pipeline: its normalized text, which
NFKC may make shorter or longer than the input). ``overlapping`` says whether it reports every
occurrence (Aho–Corasick, the dict trie) or leftmost-longest non-overlapping ones (flashtext,
the regex alternation), so tests can hold each to the right brute-force reference.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable, Sequence

Span = tuple[int, int]


class PyAhoScan:
    """Bare pyahocorasick: overlapping matches, no normalization."""

    name = "pyahocorasick (bare scan)"
    overlapping = True

    def __init__(self, words: Sequence[str]) -> None:
        import ahocorasick

        a = ahocorasick.Automaton()
        for w in words:
            a.add_word(w, len(w))
        a.make_automaton()
        self._a = a

    def find(self, text: str) -> list[Span]:
        return [(end + 1 - n, end + 1) for end, n in self._a.iter(text)]


class RsScan:
    """Bare ahocorasick-rs: overlapping matches, no normalization (the matching-only limit)."""

    name = "ahocorasick-rs (bare scan)"
    overlapping = True

    def __init__(self, words: Sequence[str]) -> None:
        import ahocorasick_rs

        self._ac = ahocorasick_rs.AhoCorasick(list(words), matchkind=ahocorasick_rs.MatchKind.Standard)

    def find(self, text: str) -> list[Span]:
        return [(s, e) for _, s, e in self._ac.find_matches_as_indexes(text, overlapping=True)]


class FlashTextScan:
    """flashtext's KeywordProcessor (case-insensitive default): non-overlapping, longest."""

    name = "flashtext"
    overlapping = False

    def __init__(self, words: Sequence[str]) -> None:
        from flashtext import KeywordProcessor

        kp = KeywordProcessor()
        for w in words:
            kp.add_keyword(w)
        self._kp = kp

    def find(self, text: str) -> list[Span]:
        return [(s, e) for _, s, e in self._kp.extract_keywords(text, span_info=True)]


class RegexScan:
    """One alternation of all words, longest first: leftmost-longest, non-overlapping."""

    name = "regex alternation (re)"
    overlapping = False

    def __init__(self, words: Sequence[str]) -> None:
        alts = sorted(set(words), key=lambda w: (-len(w), w))
        self._re = re.compile("|".join(map(re.escape, alts)))

    def find(self, text: str) -> list[Span]:
        return [m.span() for m in self._re.finditer(text)]


_END = ""  # the end-of-word key; never a character of a word


class DictTrieScan:
    """The nested-dict DFA most hand-written Python filters use: walk the trie from every start."""

    name = "dict-trie DFA (pure Python)"
    overlapping = True

    def __init__(self, words: Sequence[str]) -> None:
        root: dict = {}
        for w in words:
            node = root
            for ch in w:
                node = node.setdefault(ch, {})
            node[_END] = True
        self._root = root

    def find(self, text: str) -> list[Span]:
        root = self._root
        out: list[Span] = []
        n = len(text)
        for i in range(n):
            node = root.get(text[i])
            j = i + 1
            while node is not None:
                if _END in node:
                    out.append((i, j))
                if j >= n:
                    break
                node = node.get(text[j])
                j += 1
        return out


class PlainPipeline:
    """The reference a Python shop would write: NFKC, OpenCC t2s, then pyahocorasick."""

    name = "plain pipeline (NFKC + OpenCC + pyahocorasick)"
    overlapping = True

    def __init__(self, words: Sequence[str]) -> None:
        from opencc import OpenCC

        self._cc = OpenCC("t2s")
        # The words go through the same normalization as the texts.
        self._scan_words = sorted({self.prepare(w) for w in words} - {""})
        self._scan = PyAhoScan(self._scan_words)

    def prepare(self, text: str) -> str:
        return self._cc.convert(unicodedata.normalize("NFKC", text))

    def find(self, text: str) -> list[Span]:
        return self._scan.find(self.prepare(text))


PEERS: tuple[Callable[[Sequence[str]], object], ...] = (
    RsScan, PyAhoScan, FlashTextScan, RegexScan, DictTrieScan, PlainPipeline,
)


def brute_overlapping(words: Sequence[str], text: str) -> list[Span]:
    """Every occurrence of every word."""
    out = set()
    for w in set(words):
        i = text.find(w)
        while i != -1:
            out.add((i, i + len(w)))
            i = text.find(w, i + 1)
    return sorted(out)


def brute_leftmost_longest(words: Sequence[str], text: str) -> list[Span]:
    """Scan left to right; at each place take the longest word, then jump past it."""
    ws = set(words)
    lengths = sorted({len(w) for w in ws}, reverse=True)
    out: list[Span] = []
    i = 0
    while i < len(text):
        for n in lengths:
            if i + n <= len(text) and text[i:i + n] in ws:
                out.append((i, i + n))
                i += n
                break
        else:
            i += 1
    return out
