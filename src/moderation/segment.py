"""Word boundaries from jieba's dictionary, without importing jieba on the hot path.

The engine asks two things of a Chinese word segmenter: how frequent a string is as a word
(homophone readings that are themselves common words are rejected), and where the token edges
of a short block of text fall (rules with the ``boundary`` flag, homophones). Both use jieba's
dictionary and its maximum-probability segmentation without the HMM; this module keeps the
dictionary as a pickle in the cache folder (about 0.3 s to load; a marshal file took 0.86 s, and
importing and initializing jieba takes longer still), and segments blocks itself, the same way
jieba does:

- text is cut into blocks of jieba's word characters; any other character is a token by itself
  (``\\r\\n`` is one token);
- inside a block, every dictionary word starting at each position forms a graph, and the path
  with the highest product of word probabilities wins (ties to the longer word);
- consecutive single Latin letters or digits on that path are one token.

``tests/test_segment.py`` checks it against jieba itself on random text.
"""
from __future__ import annotations

import math
import os
import pickle
import re
import threading
from pathlib import Path

try:
    from . import _segment as _native
except ImportError:  # built without a C compiler: the Python cut below does the same
    _native = None
_USE_NATIVE = os.environ.get("MODERATION_SEGMENT") != "python"

# jieba's "word characters" for its default (non-HMM) cut.
BLOCK_RE = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+")
_ALNUM = re.compile(r"[a-zA-Z0-9]")

_LOCK = threading.Lock()
_DICT: "Dictionary | None" = None


class Dictionary:
    """Word frequencies (prefixes of words are present with frequency 0) and their total."""

    def __init__(self, freq: dict[str, int], total: int) -> None:
        self.freq = freq
        self.total = total
        self.log_total = math.log(total)

    def word_freq(self, word: str) -> int:
        return self.freq.get(word) or 0

    def token_edges(self, block: str) -> tuple[set[int], set[int]]:
        """Start and end offsets of the tokens of one block of word characters."""
        if _native is not None and _USE_NATIVE:
            return _native.token_edges(block, self.freq, self.log_total)
        return self.token_edges_python(block)

    def token_edges_python(self, block: str) -> tuple[set[int], set[int]]:
        """``token_edges`` without the compiled cut (the reference the tests hold it to)."""
        n = len(block)
        freq = self.freq
        log_total = self.log_total
        log = math.log
        # Best path from each position to the end: (log probability, end index of first word).
        best: list[tuple[float, int]] = [(0.0, 0)] * (n + 1)
        for k in range(n - 1, -1, -1):
            choice: tuple[float, int] | None = None
            i = k
            frag = block[k]
            while frag in freq:
                f = freq[frag]
                if f:
                    cand = (log(f) - log_total + best[i + 1][0], i)
                    if choice is None or cand > choice:
                        choice = cand
                i += 1
                if i >= n:
                    break
                frag = block[k:i + 1]
            if choice is None:
                # Not in the dictionary at all: the character alone, with frequency 1.
                choice = (-log_total + best[k + 1][0], k)
            best[k] = choice
        starts: set[int] = set()
        ends: set[int] = set()
        x = 0
        run_start = -1  # start of a run of single Latin letters or digits
        while x < n:
            y = best[x][1] + 1
            if y - x == 1 and _ALNUM.match(block[x]):
                if run_start < 0:
                    run_start = x
            else:
                if run_start >= 0:
                    starts.add(run_start)
                    ends.add(x)
                    run_start = -1
                starts.add(x)
                ends.add(y)
            x = y
        if run_start >= 0:
            starts.add(run_start)
            ends.add(n)
        return starts, ends


def _cache_path() -> Path:
    from importlib.util import find_spec

    from .normalize import _cache_dir

    # Located without importing jieba (its import alone costs about half a second).
    spec = find_spec("jieba")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("jieba")
    src = Path(spec.origin).parent / "dict.txt"
    st = src.stat()
    # The words as one UTF-8 text (one per line) and their counts as an array: the
    # 500,000-entry table loads in about 0.08 s; a pickle of the dict took 0.2-0.3 s, marshal 0.86 s.
    return _cache_dir() / f"jieba-dict-{st.st_size}-{int(st.st_mtime)}.words"


def _load(path: Path) -> tuple[dict[str, int], int]:
    from array import array

    with open(path, "rb") as fh:
        words, counts, total = pickle.load(fh)
    freq = array("Q")
    freq.frombytes(counts)
    keys = words.decode("utf-8").split("\n")
    if len(keys) != len(freq):
        raise ValueError("dictionary cache: words and counts differ in number")
    return dict(zip(keys, freq.tolist())), total


def _dump(path: Path, freq: dict[str, int], total: int) -> None:
    from array import array

    with open(path, "wb") as fh:
        pickle.dump(("\n".join(freq).encode("utf-8"), array("Q", freq.values()).tobytes(), total), fh,
                    protocol=pickle.HIGHEST_PROTOCOL)


def _build() -> Dictionary:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return Dictionary(dict(jieba.dt.FREQ), jieba.dt.total)


def dictionary() -> Dictionary:
    """The shared dictionary, loaded once per process."""
    global _DICT
    if _DICT is not None:
        return _DICT
    with _LOCK:
        if _DICT is not None:
            return _DICT
        path = _cache_path()
        try:
            d = Dictionary(*_load(path))
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            d = _build()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                _dump(tmp, d.freq, d.total)
                os.replace(tmp, path)
            except OSError:
                pass
        _DICT = d
        return d


def word_freq(word: str) -> int:
    """How often ``word`` occurs as a word in jieba's dictionary (0 when it is not a word)."""
    return dictionary().word_freq(word)
