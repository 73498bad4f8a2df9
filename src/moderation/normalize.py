"""One normalization pass with an offset map back to the text as received.

The pass produces three views of the received text:

``folded``  same length as the received text: each code point mapped through one table
            (NFKC compatibility forms, full/half width, case, traditional -> simplified from
            OpenCC's character dictionary, look-alike digits and letters, emoji that stand for
            characters), then Chinese numerals inside number runs turned into digits.
``text``    ``folded`` without noise (spaces, punctuation, symbols, emoji, invisible code
            points) and with runs of one repeated Han character collapsed to one.
``canon``   ``text`` with every Han character replaced by the canonical character of its
            toneless pinyin, so that homophones (薇信/威信/微信) meet.

The pass is one call into the compiled module ``moderation._normalize`` (without it: the
regex passes of ``Normalizer.normalize_python``, which give the same views); the offset map is
built lazily, only when a hit needs to be mapped back.
"""
from __future__ import annotations

import bisect
import hashlib
import os
import pickle
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    from . import _normalize as _native
except ImportError:  # built without a C compiler: the regex passes do the same work
    _native = None

CACHE_VERSION = 6

# Chinese numerals that become digits inside number runs (written-out phone numbers, QQ ids).
NUMERALS = {
    "零": "0", "〇": "0", "○": "0", "洞": "0",
    "一": "1", "壹": "1", "幺": "1", "么": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6",
    "七": "7", "柒": "7", "拐": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9", "勾": "9",
}
# A run needs this many numerals or digits before any of it is read as a number: 一起 stays.
NUMERAL_RUN_MIN = 5
# Characters only counted as numerals when they sit inside a longer run of strict numerals.
_WEAK_NUMERALS = set("洞么拐勾两")
_NUM_CLASS = "0-9" + "".join(k for k in NUMERALS if k not in _WEAK_NUMERALS)
_NUM_CLASS_ALL = "0-9" + "".join(NUMERALS)
_SEP = r"[\W_]*"
NUMERAL_RUN_RE = re.compile(
    f"[{_NUM_CLASS_ALL}](?:{_SEP}[{_NUM_CLASS_ALL}]){{{NUMERAL_RUN_MIN - 1},}}"
)
_HAS_CN_NUMERAL_RE = re.compile(f"[{''.join(NUMERALS)}]")
_NUMERAL_TABLE = str.maketrans(NUMERALS)

# Noise: anything that is not a letter or digit (Han characters are letters) after folding.
NOISE_RE = re.compile(r"[\W_]+")
HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{HAN_RANGES}]")
REPEAT_RE = re.compile(f"([{HAN_RANGES}])\\1+")

# Extra digit look-alikes NFKC leaves alone (dingbat circled digits and friends).
_DINGBAT_DIGITS = {}
for _base, _start in ((1, 0x2776), (1, 0x2780), (1, 0x278A), (1, 0x24F5)):
    for _i in range(9):
        _DINGBAT_DIGITS[chr(_start + _i)] = str(_base + _i)
_DINGBAT_DIGITS.update({"⓿": "0", "🄀": "0", "⓪": "0", "🄋": "0", "🄌": "0"})

# Radical forms written for the characters they come from when a word is split into its
# components (佬 -> 亻老); the decomposition table spells them as the full characters.
RADICAL_FORMS = {
    "亻": "人", "氵": "水", "扌": "手", "忄": "心", "犭": "犬", "讠": "言", "钅": "金",
    "饣": "食", "纟": "丝", "衤": "衣", "礻": "示", "刂": "刀", "灬": "火", "⺮": "竹",
    "⺌": "小", "⺗": "心", "⻊": "足", "⻏": "阝", "⻖": "阝", "邑": "阝", "阜": "阝",
    # The decomposition table spells these radicals as full characters too (瘫 -> 病难).
    "疒": "病", "冫": "冰", "辶": "辵", "⻌": "辵", "⻍": "辵", "罒": "网", "⺲": "网",
    "牜": "牛", "⺧": "牛",
}

# Texts checked together (``Moderator.check_texts``) are joined with this character: a letter,
# so the noise pass keeps it and number runs, repeats and word matches stop at it, that no
# Chinese text writes. A chunk in which a text holds it anyway is checked one text at a time.
BATCH_SEP = "\u01c2"

VIA_ORDER = (
    "width", "case", "traditional", "lookalike", "numeral", "noise", "repeat",
    "homophone", "pinyin", "split",
)


def _opencc_dictionary(name: str) -> Path:
    import opencc

    return Path(opencc.__file__).parent / "dictionary" / name


def _load_ts_chars() -> dict[str, str]:
    """Traditional -> simplified, one character each, from OpenCC's data (first candidate)."""
    table: dict[str, str] = {}
    with open(_opencc_dictionary("TSCharacters.txt"), encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                continue
            src, dst = parts[0], parts[1].split(" ")[0]
            if len(src) == 1 and len(dst) == 1 and src != dst:
                table[src] = dst
    return table


def _build_fold_tables() -> tuple[dict[int, str], dict[int, str]]:
    """Return (fold table, kind of each folded code point) for NFKC, case and T->S."""
    ts = _load_ts_chars()
    fold: dict[int, str] = {}
    kind: dict[int, str] = {}
    for cp in range(0x20, 0x323B0):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        out = c
        k = None
        n = unicodedata.normalize("NFKC", c)
        if n != c:
            kept = [ch for ch in n if ch.isalnum()]
            if len(kept) == 1:
                out = kept[0]
                k = "width"
        lo = out.lower()
        if len(lo) == 1 and lo != out:
            out = lo
            k = k or "case"
        simp = ts.get(out)
        if simp is not None:
            out = simp
            k = "traditional" if k in (None, "case") else k
        if out != c:
            fold[cp] = out
            kind[cp] = k or "width"
    for c, d in _DINGBAT_DIGITS.items():
        fold[ord(c)] = d
        kind[ord(c)] = "lookalike"
    return fold, kind


def _jieba_char_freq() -> dict[str, int]:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    freq: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split(" ", 2)
            if len(parts) >= 2 and len(parts[0]) == 1:
                freq[parts[0]] = int(parts[1])
    return freq


def _build_homophone_table() -> tuple[dict[int, str], dict[str, str]]:
    """Han character -> canonical character of its toneless pinyin, and char -> pinyin."""
    from pypinyin import Style, lazy_pinyin

    freq = _jieba_char_freq()
    by_sound: dict[str, list[str]] = {}
    sound_of: dict[str, str] = {}
    for cp in list(range(0x4E00, 0xA000)) + list(range(0x3400, 0x4DC0)):
        c = chr(cp)
        py = lazy_pinyin(c, style=Style.NORMAL, errors="ignore")
        if not py or not py[0].isascii() or not py[0].isalpha():
            continue
        s = py[0].replace("ü", "v")
        sound_of[c] = s
        by_sound.setdefault(s, []).append(c)
    table: dict[int, str] = {}
    for s, chars in by_sound.items():
        canon = max(chars, key=lambda ch: (freq.get(ch, 0), -ord(ch)))
        for c in chars:
            if c != canon:
                table[ord(c)] = canon
    # Digits sound like their numerals and stand for words that do (去4 for 去死, 2货 for 二货):
    # they share the numeral's canonical character. The engine accepts such a homophone only
    # where the matched text also holds a Han character, so bare numbers (64, 88) never match.
    for d, numeral in zip("0123456789", "零一二三四五六七八九"):
        table[ord(d)] = table.get(ord(numeral), numeral)
    return table, sound_of


def _cache_dir() -> Path:
    d = os.environ.get("MODERATION_CACHE_DIR")
    if d:
        return Path(d)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moderation"


@dataclass(frozen=True)
class Tables:
    fold: dict[int, str]
    fold_kind: dict[int, str]
    homophone: dict[int, str]
    pinyin: dict[str, str]
    canon_str: str


@lru_cache(maxsize=1)
def base_tables() -> Tables:
    """The code-point tables, built once per machine and cached on disk (about 1 s cold)."""
    # Keyed by this file's own digest too: changed table-building code never reads stale tables.
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    path = _cache_dir() / f"normalize-tables-v{CACHE_VERSION}-{digest}.pickle"
    try:
        with open(path, "rb") as fh:
            t = pickle.load(fh)
        if isinstance(t, Tables):
            return t
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass
    fold, kind = _build_fold_tables()
    homophone, sound = _build_homophone_table()
    t = Tables(fold, kind, homophone, sound, _str_table(homophone))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(t, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
    return t


@dataclass(eq=False)
class NormalizedText:
    """The received text and its normalized views; see the module docstring."""

    original: str
    folded: str
    text: str
    canon: str
    # True when runs of a repeated Han character were collapsed in ``text``.
    repeats: bool = False
    _runs: tuple[list[int], list[int], list[int]] | None = field(default=None, repr=False)
    _gaps: tuple[list[int], list[int]] | None = field(default=None, repr=False)
    # Given by batch callers, who have them at hand: the noise-free string (before repeats
    # were collapsed), and where each of its characters sits in ``folded``.
    _stripped: str | None = field(default=None, repr=False)
    _kept: list[int] | None = field(default=None, repr=False)
    _kept_from: tuple[Any, int, int] | None = field(default=None, repr=False)  # (array, start, shift)

    def _repeat_runs(self) -> tuple[list[int], list[int], list[int]]:
        """The collapsed runs: their position in ``text``, their length, and how many
        characters were removed before each run (by collapsing, in the noise-free string)."""
        if self._runs is None and _native is not None and self._kept_from is None:
            self._layout()
        if self._runs is None:
            tpos: list[int] = []
            lens: list[int] = []
            before: list[int] = []
            removed = 0
            # Runs found in the noise-free string, as ``normalize`` found them.
            stripped = self._stripped if self._stripped is not None else NOISE_RE.sub("", self.folded)
            for m in REPEAT_RE.finditer(stripped):
                a, b = m.span()
                tpos.append(a - removed)
                lens.append(b - a)
                before.append(removed)
                removed += b - a - 1
            self._runs = (tpos, lens, before)
        return self._runs

    def _layout(self) -> list[int]:
        """The compiled offset map, both halves at once: ``_kept`` and ``_runs``; returns ``_kept``."""
        kept, *runs = _native.layout(self.folded)
        self._kept = kept
        if self._runs is None:
            self._runs = tuple(runs)  # type: ignore[assignment]
        return kept

    def _stripped_span(self, start: int, end: int) -> tuple[int, int]:
        """A half-open span of ``text`` in the noise-free string (runs uncollapsed): from the
        first character of the run ``start`` stands for to the last of ``end - 1``'s run."""
        tpos, lens, before = self._repeat_runs()
        i = bisect.bisect_right(tpos, start) - 1
        if i < 0:
            a = start
        elif tpos[i] == start:
            a = start + before[i]
        else:
            a = start + before[i] + lens[i] - 1
        last = end - 1
        j = bisect.bisect_right(tpos, last) - 1
        if j < 0:
            b = last
        else:
            b = last + before[j] + lens[j] - 1  # the run's last character, or past the run
        return a, b + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of ``text``/``canon`` to the received text."""
        if self.repeats:
            start, end = self._stripped_span(start, end)
        # Then shift by the noise before each end (a few runs and a binary search), without
        # a per-character map.
        return self._shifted(start), self._shifted(end - 1) + 1

    def _shifted(self, p: int) -> int:
        """Where character ``p`` of the noise-free string sits in ``folded``."""
        if self._kept is not None:
            return self._kept[p]
        if self._kept_from is not None:
            arr, a, shift = self._kept_from
            self._kept = (arr[a:a + len(self._stripped or "")] - shift).tolist()
            return self._kept[p]
        if _native is not None:
            return self._layout()[p]
        gaps = self._gaps
        if gaps is None:
            kept_before: list[int] = []  # kept characters before each noise run
            shift: list[int] = []  # noise characters up to the end of each noise run
            removed = 0
            for m in NOISE_RE.finditer(self.folded):
                a, b = m.span()
                kept_before.append(a - removed)
                removed += b - a
                shift.append(removed)
            gaps = self._gaps = (kept_before, shift)
        i = bisect.bisect_right(gaps[0], p) - 1
        return p + gaps[1][i] if i >= 0 else p

    def run_lengths(self, start: int, end: int) -> list[int]:
        """How many times each character of a ``text`` span was repeated before collapsing."""
        out = [1] * (end - start)
        if self.repeats:
            tpos, lens, _ = self._repeat_runs()
            for k in range(bisect.bisect_left(tpos, start), bisect.bisect_left(tpos, end)):
                out[tpos[k] - start] = lens[k]
        return out


class Normalizer:
    """Holds the tables; ``normalize(text)`` is the one pass."""

    def __init__(self, lookalikes: dict[str, str] | None = None) -> None:
        t = base_tables()
        fold = dict(t.fold)
        kind = dict(t.fold_kind)
        for src, dst in {**RADICAL_FORMS, **(lookalikes or {})}.items():
            # A look-alike maps to what its target itself folds to (Ａ -> a, 們 -> 们).
            dst = fold.get(ord(dst), dst) if len(dst) == 1 else dst
            fold[ord(src)] = dst
            kind[ord(src)] = "lookalike"
        # Lone surrogates (valid in a Python str, not in Unicode text; the automata refuse
        # them) read as U+FFFD, one for one: offsets still index the received text.
        for cp in range(0xD800, 0xE000):
            fold[cp] = "\ufffd"
            kind[cp] = "noise"
        self.fold_table = fold
        self.fold_kind = kind
        self.homophone_table = t.homophone
        self.pinyin_of = t.pinyin
        self._canon_str = t.canon_str
        # Folding changes few characters of ordinary text, so finding them with one regex
        # (BMP members compile to a bitmap; astral characters such as emoji go to the
        # callback) beats translating every character: about 2 us against 10 us per message.
        bmp = "".join(re.escape(chr(c)) for c in sorted(fold) if c < 0x10000 and not 0xD800 <= c <= 0xDFFF)
        self._fold_re = re.compile(f"[{bmp}\ud800-\udfff]|[\U00010000-\U0010FFFF]")
        self._fold_get = fold.get
        # The compiled pass (moderation._normalize) builds the same views in one walk, about
        # a tenth of the time; without it (no C compiler at install, or
        # MODERATION_NORMALIZE=python) the regex passes below do.
        self._native = None
        if _native is not None and os.environ.get("MODERATION_NORMALIZE") != "python":
            self._native = _native.tables(fold, self._canon_str)

    def _fold_char(self, m: re.Match[str]) -> str:
        c = m.group()
        return self._fold_get(ord(c), c)

    def fold(self, text: str) -> str:
        folded = self._fold_re.sub(self._fold_char, text)
        if _HAS_CN_NUMERAL_RE.search(folded):
            folded = NUMERAL_RUN_RE.sub(_numeral_run, folded)
        return folded

    def normalize(self, text: str) -> NormalizedText:
        if self._native is not None:
            folded, stripped, collapsed, canon, repeats = _native.normalize(text, self._native)
            doc = NormalizedText(text, folded, collapsed, canon, repeats)
            if repeats:
                doc._stripped = stripped
            return doc
        return self.normalize_python(text)

    def normalize_python(self, text: str) -> NormalizedText:
        """``normalize`` without the compiled pass (the reference the tests hold it to)."""
        folded = self.fold(text)
        stripped = NOISE_RE.sub("", folded)
        if stripped is not folded and len(stripped) == len(folded):
            stripped = folded
        # Search first (most texts repeat nothing), then substitute with a callable: a "\1"
        # template is expanded in Python for every match, about 1.5 us more per text.
        if REPEAT_RE.search(stripped) is None:
            collapsed = stripped
        else:
            collapsed = REPEAT_RE.sub(_first_of_run, stripped)
        canon = collapsed.translate(self._canon_str)
        return NormalizedText(text, folded, collapsed, canon, collapsed is not stripped)

    def normalize_joined(self, joined: str) -> tuple[str, str, str, str, Any] | None:
        """``(folded, stripped, text, canon, kept)`` of a long string (many texts joined by
        ``BATCH_SEP``): the same views ``normalize`` gives, computed as table look-ups over
        the code points with numpy, about ten times faster per character than the regex and
        ``str.translate`` passes, which pay off only on long strings. ``stripped`` is
        ``text`` before repeats were collapsed; ``kept`` (an array) where each of its
        characters sits in ``folded``. None when a code point folds to several
        characters or the text has lone surrogates: the caller then normalizes text by text.

        With the compiled pass the views come from it, as for one text (about a quarter of
        the numpy path's time, and no code-point tables to build), and ``kept`` is None:
        each text's own offset map is made when one of its hits needs it.
        """
        if self._native is not None:
            folded, stripped, text, canon, _ = _native.normalize(joined, self._native)
            return folded, stripped, text, canon, None
        np = _numpy()
        t = self._np_tables()
        try:
            a = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError:
            return None
        if t.fold_multi[a].any():
            return None
        a = t.fold[a]
        folded = a.tobytes().decode("utf-32-le")
        if _HAS_CN_NUMERAL_RE.search(folded):
            renum = NUMERAL_RUN_RE.sub(_numeral_run, folded)
            if renum is not folded and renum != folded:
                folded = renum
                a = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
        word = t.word[a]
        kept = np.flatnonzero(word)
        s = a[word]
        han = t.han[s]
        dup = han[1:] & (s[1:] == s[:-1])
        if dup.any():
            keep = np.ones(len(s), dtype=bool)
            keep[1:] = ~dup
            stripped = s.tobytes().decode("utf-32-le")
            s = s[keep]
            text = s.tobytes().decode("utf-32-le")
        else:
            text = stripped = s.tobytes().decode("utf-32-le")
        canon = t.canon[s].tobytes().decode("utf-32-le")
        return folded, stripped, text, canon, kept

    def prepare_joined(self) -> None:
        """Build what ``normalize_joined`` needs: nothing with the compiled pass, the
        code-point arrays (0.3 s, 12 MB) without it."""
        if self._native is None:
            self._np_tables()

    def _np_tables(self) -> "_NpTables":
        t = self.__dict__.get("_np")
        if t is None:
            t = self._np = _NpTables(self)
        return t

    def canonical(self, s: str) -> str:
        """The matching form of a list entry: folded, noise removed, repeats kept, homophones."""
        return NOISE_RE.sub("", self.fold(s)).translate(self.homophone_table)

    def via_in_span(self, doc: NormalizedText, ostart: int, oend: int) -> set[str]:
        """Which folding normalizations changed characters of a received span."""
        via: set[str] = set()
        orig = doc.original
        folded = doc.folded
        kind = self.fold_kind
        if orig[ostart:oend] == folded[ostart:oend]:
            if NOISE_RE.search(folded, ostart, oend):
                via.add("noise")
            return via
        for i in range(ostart, oend):
            c = orig[i]
            f = folded[i]
            if c == f:
                continue
            k = kind.get(ord(c))
            if k is None or (c.translate(self.fold_table) == c):
                via.add("numeral")
            elif f.isdigit() and not c.translate(self.fold_table).isdigit():
                via.add("numeral")
            else:
                via.add(k)
        if NOISE_RE.search(folded, ostart, oend):
            via.add("noise")
        return via


@lru_cache(maxsize=1)
def _numpy():
    import numpy

    return numpy


@lru_cache(maxsize=1)
def _word_mask():
    """Code points the noise pass keeps: exactly what ``NOISE_RE`` does not match, found by
    running it over every code point once (about 0.1 s, once per process)."""
    np = _numpy()
    cps = np.concatenate([np.arange(0xD800, dtype=np.uint32), np.arange(0xE000, 0x110000, dtype=np.uint32)])
    # Decoded from the array: a join over a million one-character strings peaked at 80 MB.
    kept = NOISE_RE.sub("", cps.tobytes().decode("utf-32-le"))
    mask = np.zeros(0x110000, dtype=bool)
    mask[np.frombuffer(kept.encode("utf-32-le"), dtype=np.uint32)] = True
    return mask


class _NpTables:
    """A normalizer's tables as arrays over all code points, for ``normalize_joined``."""

    def __init__(self, nz: "Normalizer") -> None:
        np = _numpy()
        fold = np.arange(0x110000, dtype=np.uint32)
        multi = np.zeros(0x110000, dtype=bool)
        for cp, out in nz.fold_table.items():
            if len(out) == 1:
                fold[cp] = ord(out)
            else:
                multi[cp] = True
        self.fold = fold
        self.fold_multi = multi
        self.word = _word_mask()
        han = np.zeros(0x110000, dtype=bool)
        for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)):
            han[lo:hi + 1] = True
        self.han = han
        canon = np.arange(0x110000, dtype=np.uint32)
        cs = nz._canon_str
        canon[:len(cs)] = np.frombuffer(cs.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        self.canon = canon


def _first_of_run(m: re.Match[str]) -> str:
    return m.group(1)


def _str_table(mapping: dict[int, str]) -> str:
    """A translate table as a str: indexed faster than a dict is looked up; code points past
    its end raise IndexError, which ``str.translate`` reads as "leave unchanged"."""
    size = max(mapping, default=0) + 1
    return "".join(mapping.get(i, chr(i)) for i in range(size))


def _numeral_run(m: re.Match[str]) -> str:
    s = m.group()
    count = sum(1 for ch in s if ch.isdigit() or ch in NUMERALS)
    strict = sum(1 for ch in s if ch.isdigit() or (ch in NUMERALS and ch not in _WEAK_NUMERALS))
    if count < NUMERAL_RUN_MIN or strict < 3:
        return s
    return s.translate(_NUMERAL_TABLE)


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    from .wordlists import default_wordlist_dir, load_lookalikes

    return Normalizer(load_lookalikes(default_wordlist_dir()))


def normalize(text: str) -> NormalizedText:
    """Normalize with the project's default look-alike table."""
    return default_normalizer().normalize(text)
