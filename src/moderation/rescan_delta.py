"""Delta rescans: flag exactly what a list change newly flags, without a full rescan.

History
    Every rescan (and ``record_version`` from anything else, e.g. ``moderation wordlist check``)
    records the lists of the running ``wordlist_version`` in the history directory: one file
    ``<version>.json.gz`` holding the text of every list file, the policy and any overlay.
    The directory is ``MODERATION_HISTORY_DIR``, else ``<wordlist dir>/.history``.

What ``--since OLD`` does
    It compares OLD's lists with the current ones and builds the set of *changed rules*: entries
    added, entries whose severity, flags, pattern or scenes changed, and entries whose policy
    action rose in some scene. Three stages then decide each profile:

    1. a prefilter on the received text (:class:`FormPrefilter`): a profile can only hit a
       changed rule when it holds, for one of the rule's matching forms, characters that
       normalize (folding, numerals, homophones) to the form's characters in order with only
       noise or repeats between them; one regex scan for each form's rarest character (rarest
       in a sample of the input when one is given) and a walk over the form around each find,
       far cheaper than normalizing the text. In a JSON Lines rescan it runs on whole chunks
       first: the compiled scan ``moderation._deltascan`` (or, without it, one regex per
       chunk, :meth:`FormPrefilter.chunk_regex`) validates the common record shapes and walks
       each form to the right of its anchor, so only the lines it lists are parsed and tested
       one by one;
    2. an engine restricted to the changed rules (``Wordlist.filtered``, no detectors) plus a test
       for the matching form of every allow-list entry that was removed or narrowed (skipped
       after the whole-form prefilter, which seldom passes a text that holds no changed rule);
    3. candidates are checked by the full current engine and by the full OLD engine (rebuilt from
       the history); a profile is output when its decision is now stricter than before
       (pass -> review/block, review -> block), with ``previous_decision``.

    Stage 3 makes the output exactly what comparing two full rescans gives; stages 1–2 only have
    to let through every profile whose decision can have risen, which they do because a rise needs
    a hit of a changed rule, a hit no longer suppressed by a removed allow entry, or a policy rise.

    When the change cannot be narrowed that way, every profile goes to stage 3 (still exact,
    about twice the cost of a full rescan) and a message says why: the look-alike table changed
    (normalization differs), or the policy rose for hits that detectors can produce. Without a
    history entry for OLD the rescan falls back to a full rescan (all flagged profiles).
    Changes of code (detectors, normalization) are not list changes; ``--since`` does not see them.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson

from .types import CATEGORIES, DECISION_RANK, PATTERN_CATEGORY, SCENES, SEVERITIES

LIST_FILES = tuple(f"{c}.txt" for c in CATEGORIES) + ("allow.txt", "lookalikes.txt", "policy.toml")
_SAFE_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


# --------------------------------------------------------------------------------------------
# History


def history_dir(wordlist_dir: str | os.PathLike | None, override: str | None = None) -> Path:
    """Where version snapshots are kept (see the module docstring)."""
    if override:
        return Path(override)
    env = os.environ.get("MODERATION_HISTORY_DIR")
    if env:
        return Path(env)
    if wordlist_dir is None:
        from .wordlists import default_wordlist_dir

        wordlist_dir = default_wordlist_dir()
    return Path(wordlist_dir) / ".history"


def _snapshot_path(history: Path, version: str) -> Path:
    if not _SAFE_VERSION.match(version):
        raise ValueError(f"not a wordlist_version: {version!r}")
    return history / f"{version}.json.gz"


def snapshot_of(wordlist_dir: str | os.PathLike | None, wordlist: Any) -> dict[str, Any] | None:
    """The files behind ``wordlist`` as a snapshot dict, or None if the files changed since."""
    from .wordlists import default_wordlist_dir

    d = Path(wordlist_dir) if wordlist_dir else default_wordlist_dir()
    files: dict[str, str] = {}
    digest = hashlib.sha256()
    for name in LIST_FILES:
        p = d / name
        data = p.read_bytes() if p.exists() else b""
        digest.update(name.encode())
        digest.update(data)
        if p.exists():
            files[name] = data.decode("utf-8")
    if getattr(wordlist, "files_digest", None) and digest.hexdigest() != wordlist.files_digest:
        return None
    return {
        "version": wordlist.version,
        "files": files,
        "overlay": [dict(x) for x in getattr(wordlist, "overlay", ())],
    }


def record_version(wordlist_dir: str | os.PathLike | None, wordlist: Any, history: Path | None = None) -> Path | None:
    """Keep the lists of ``wordlist.version`` in the history; return the file (None if unchanged files moved on)."""
    history = history or history_dir(wordlist_dir)
    path = _snapshot_path(history, wordlist.version)
    if path.exists():
        return path
    snap = snapshot_of(wordlist_dir, wordlist)
    if snap is None:
        return None
    history.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with gzip.open(tmp, "wb") as fh:
        fh.write(orjson.dumps(snap))
    os.replace(tmp, path)
    return path


def load_snapshot(version: str, history: Path) -> dict[str, Any] | None:
    try:
        path = _snapshot_path(history, version)
    except ValueError:
        return None
    try:
        with gzip.open(path, "rb") as fh:
            return orjson.loads(fh.read())
    except FileNotFoundError:
        return None


def wordlist_from_snapshot(snap: dict[str, Any]) -> Any:
    """Rebuild the ``Wordlist`` of a snapshot (its version is the recorded one)."""
    from dataclasses import replace

    from .wordlists import load_wordlist

    with tempfile.TemporaryDirectory(prefix="moderation-snap-") as tmp:
        for name, text in snap["files"].items():
            if name in LIST_FILES:
                Path(tmp, name).write_text(text, encoding="utf-8")
        wl = load_wordlist(tmp, snap.get("overlay") or None)
    return replace(wl, version=snap["version"])


# --------------------------------------------------------------------------------------------
# Planning


def _entry_key(e: Any) -> tuple:
    return (e.term, e.category, e.severity, e.group, tuple(sorted(e.flags)), e.pattern,
            tuple(sorted(e.scenes)) if e.scenes is not None else None)


def _allow_key(a: Any) -> tuple:
    return (a.term, tuple(sorted(a.scenes)) if a.scenes is not None else None,
            tuple(sorted(a.fields)) if a.fields is not None else None)


def policy_rises(old: Any, new: Any) -> set[tuple[str, str, str, str | None]]:
    """Every (scene, category, severity, pattern) whose action is stricter under ``new``."""
    out = set()
    for scene in SCENES:
        for cat in CATEGORIES:
            pats = [None] + [p for p, c in PATTERN_CATEGORY.items() if c == cat]
            for sev in SEVERITIES:
                for pat in pats:
                    if DECISION_RANK[new.action(scene, cat, sev, pat)] > DECISION_RANK[old.action(scene, cat, sev, pat)]:
                        out.add((scene, cat, sev, pat))
    return out


@dataclass
class DeltaPlan:
    """What a delta rescan runs; built in the parent before the workers fork."""

    since: str
    old: Any  # full Moderator of the old version
    changed_rules: set[str]
    removed_allow: list[str]  # matching forms (``doc.text`` space) of removed allow entries
    mode: str  # "delta" (prefilter + restricted engine) or "compare" (every profile, both engines)
    reason: str = ""
    restricted: Any = None  # Moderator over the changed rules, no detectors
    prefilter: Any = None  # a Prefilter; None: every profile goes to stage 2
    stats: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        return f"{self.mode}:{self.since}:{len(self.changed_rules)}:{len(self.removed_allow)}"

    def _candidate(self, checker: Any, scene: str, fields: list) -> bool:
        if self.mode == "compare":
            return True
        pre = self.prefilter
        if pre is not None and not any(pre.search(t) for _, t in fields):
            return False
        if isinstance(pre, FormPrefilter):
            # Its walk finds whole forms: nearly every text it passes holds a changed rule's
            # form (three in four with the benchmark's change), so the restricted engine below
            # would mostly confirm it at the cost of one more check per text (a fifth of a
            # delta rescan's time). Stage 3 decides exactly either way.
            return True
        norm = checker.moderator.normalizer
        # The restricted engine's automaton: no match in canon means no hit (the engine only
        # turns matches into hits), so the full restricted check runs only on a match.
        engine = self.restricted._engine if self.restricted is not None else None  # noqa: SLF001
        for fname, t in fields:
            if pre is not None and not pre.search(t):
                continue
            doc = norm.normalize(t)
            if self.removed_allow and any(a in doc.text for a in self.removed_allow):
                return True
            if engine is not None and engine.find(doc.canon, doc.text) and self.restricted.check(t, scene=scene, field=fname).hits:
                return True
        return False

    def chunk_regex(self) -> re.Pattern | None:
        """The prefilter as one regex over a chunk of JSON Lines (see
        :meth:`FormPrefilter.chunk_regex`), or None when records must be parsed one by one."""
        if self.mode != "delta" or self.prefilter is None:
            return None
        pre = self.prefilter
        if isinstance(pre, FormPrefilter):
            return pre.chunk_regex()
        if pre.table is None:  # any character of ``first``: the class regex (it may over-match)
            return _char_class_regex(pre.first)
        return None

    def native_tables(self) -> tuple | None:
        """Tables for ``moderation._deltascan.scan`` (the chunk regex's test, compiled), or None."""
        if self.mode != "delta" or self.prefilter is None:
            return None
        pre = self.prefilter
        if isinstance(pre, FormPrefilter):
            return pre.native_tables()
        if pre.table is None:  # any character of ``first``
            return _native_tables([("x", 0)], lambda c: pre.first, {}) if pre.first else _native_tables([], frozenset, {})
        return None

    def quick_reject(self, obj: Any) -> bool:
        """True for a valid record no changed rule can touch (the common case, kept cheap)."""
        if self.mode != "delta" or type(obj) is not dict:
            return False
        rid = obj.get("id")
        if type(rid) is not str and type(rid) is not int:
            return False
        sc = obj.get("scene")
        if sc and sc not in SCENES:
            return False
        pre = self.prefilter
        t = obj.get("text")
        if type(t) is str:
            f = obj.get("field")
            if "fields" in obj or (f is not None and type(f) is not str):
                return False
            return not pre.search(t)
        fs = obj.get("fields")
        if type(fs) is not dict or not fs or "text" in obj:
            return False
        for v in fs.values():
            if type(v) is not str or pre.search(v):
                return False
        return True

    def check(self, checker: Any, rid: Any, scene: str, fields: list, multi: bool, stats: Counter) -> dict[str, Any]:
        """The new verdict line when the decision rose since ``since``, else ``{"decision": "pass"}``."""
        if not self._candidate(checker, scene, fields):
            return {"decision": "pass"}
        stats["candidates"] += 1
        new = checker.evaluate(checker.moderator, rid, scene, fields, multi)
        if new["decision"] == "pass":
            return {"decision": "pass"}
        old = checker.evaluate(self.old, rid, scene, fields, multi)
        if DECISION_RANK[new["decision"]] <= DECISION_RANK[old["decision"]]:
            return {"decision": "pass"}
        new["previous_decision"] = old["decision"]
        return new


def _literal(normalizer: Any, term: str) -> str:
    from .engine import _collapse
    from .normalize import NOISE_RE

    return _collapse(NOISE_RE.sub("", normalizer.fold(term)))[0]


def build_plan(moderator: Any, old_wl: Any, since: str, sample: str | None = None) -> DeltaPlan:
    """Compare the old lists with the moderator's and build the cheapest exact plan.

    ``sample``: some of the input's text; the prefilter anchors each form on the character
    that is rarest there (without it, on jieba's character frequencies)."""
    from .engine import Moderator

    new_wl = moderator.wordlist
    # The old version is judged by the same detectors as the new one: with others, a detector
    # hit only one side has would look like a change of the lists.
    old = Moderator.from_wordlist(old_wl, detectors=getattr(moderator, "_detectors", None))
    old_entries = {e.rule: _entry_key(e) for e in old_wl.entries}
    changed = {e.rule for e in new_wl.entries if old_entries.get(e.rule) != _entry_key(e)}
    rises = policy_rises(old_wl.policy, new_wl.policy)
    if rises:
        for e in new_wl.entries:
            if any((s, e.category, e.severity, e.pattern) in rises for s in SCENES):
                changed.add(e.rule)
    new_allow = {_allow_key(a) for a in new_wl.allow}
    norm = moderator.normalizer
    removed_allow = sorted({_literal(norm, a.term) for a in old_wl.allow if _allow_key(a) not in new_allow} - {""})

    reason = ""
    if dict(old_wl.lookalikes) != dict(new_wl.lookalikes):
        reason = "the look-alike table changed, so normalization differs"
    elif rises and getattr(moderator._engine, "detectors", ()):  # noqa: SLF001
        reason = "the policy became stricter for hits that detectors can produce"
    if reason:
        return DeltaPlan(since, old, changed, removed_allow, "compare", reason)
    prefilter = trigger_regex(new_wl.filtered(changed), norm, removed_allow, sample=sample) if (changed or removed_allow) else None
    if not changed and not removed_allow:
        prefilter = Prefilter(frozenset())  # nothing can have become stricter
    # Stage 2 runs only behind a prefilter that is not the whole-form one (see _candidate).
    restricted = None
    if changed and not isinstance(prefilter, FormPrefilter):
        restricted = Moderator.from_wordlist(_restricted_wordlist(new_wl, changed), detectors=())
    return DeltaPlan(since, old, changed, removed_allow, "delta", "", restricted, prefilter)


def _restricted_wordlist(wl: Any, rules: set[str]) -> Any:
    """``wl.filtered(rules)`` under a version of its own: the engine caches compiled variants by
    version and file digest, and the subset must not reuse the full list's compilation."""
    from dataclasses import replace

    sub = wl.filtered(rules)
    tag = hashlib.sha256("\n".join(sorted(rules)).encode()).hexdigest()[:12]
    return replace(sub, version=f"{wl.version}-delta-{tag}", files_digest=f"{wl.files_digest}-delta-{tag}")


def plan_delta(moderator: Any, since: str, history: Path, wordlist_dir: Any = None,
               log: Callable[[str], None] = print, sample: str | None = None) -> DeltaPlan | None:
    """The plan for ``--since``; None (with a message) means: do a full rescan."""
    if since == moderator.version:
        log(f"rescan: the lists are still at {since}; nothing can have become stricter")
    snap = load_snapshot(since, history)
    if snap is None:
        log(f"rescan: no record of wordlist_version {since} in {history}; running a full rescan instead")
        return None
    return plan_from_snapshot(moderator, snap, log, sample)


def plan_from_snapshot(moderator: Any, snap: dict[str, Any], log: Callable[[str], None] = print,
                       sample: str | None = None) -> DeltaPlan:
    plan = build_plan(moderator, wordlist_from_snapshot(snap), snap["version"], sample)
    if plan.mode == "compare":
        log(f"rescan: {plan.reason}: every profile is checked with both versions (exact, but no faster than a full rescan)")
    else:
        log(f"rescan: delta since {plan.since}: {len(plan.changed_rules)} changed rule(s), "
            f"{len(plan.removed_allow)} removed allow-list entr(y/ies)")
    return plan


# --------------------------------------------------------------------------------------------
# The character prefilter


def _preimages(normalizer: Any) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Inverse of the fold table and of the homophone table (characters only)."""
    finv: dict[str, set[str]] = {}
    for src, dst in normalizer.fold_table.items():
        if isinstance(dst, str) and len(dst) == 1:
            finv.setdefault(dst, set()).add(chr(src))
    hinv: dict[str, set[str]] = {}
    for src, dst in normalizer.homophone_table.items():
        hinv.setdefault(dst, set()).add(chr(src))
    return finv, hinv


def chars_reaching(c: str, normalizer: Any, finv: dict[str, set[str]], hinv: dict[str, set[str]]) -> set[str]:
    """Every received character that normalization can turn into canon character ``c``."""
    from .normalize import NUMERALS

    fold, hom = normalizer.fold_table, normalizer.homophone_table
    ys = {y for y in hinv.get(c, ())}
    if ord(c) not in hom:
        ys.add(c)
    if c.isdigit():  # numeral runs turn 一 into 1 after folding
        ys |= {k for k, v in NUMERALS.items() if v == c}
    out: set[str] = set()
    for y in ys:
        out |= finv.get(y, set())
        if ord(y) not in fold:
            out.add(y)
    return out


# Tags for the pair stage: CJK Extension B code points (word characters, so noise removal keeps
# them); raw occurrences of the range that are not tags are mapped away first.
TAG_BASE = 0x20000
_EMPTY: frozenset = frozenset()
NOISE_ONLY = re.compile(r"[\W_]*")


class Prefilter:
    """Cheap test on the received text: False means no changed rule can match it.

    Each matching form of a changed rule is covered by one chosen pair of adjacent characters
    (or by one character for one-character forms). Every received character that normalization
    can turn into a pair's character gets a bit mask of the pair sides it can stand for. A
    text passes when a character of some pair's rarer side (``rare_rx``) has, past only noise
    and repeats, the partner on the right side: exactly what an occurrence of the form in
    ``canon`` needs, so every text a changed rule can match passes.
    """

    def __init__(self, first: frozenset, table: dict[int, str] | None = None,
                 starts: dict[str, frozenset] | None = None, ends: dict[str, frozenset] | None = None,
                 singles: frozenset = _EMPTY, n_tags: int = 0):
        from .normalize import NOISE_RE

        self.first = first
        self.table = table
        self.starts = starts or {}
        self.ends = ends or {}
        self.singles = singles
        self.noise = NOISE_RE
        lo, hi = TAG_BASE, TAG_BASE + max(n_tags, 1) - 1
        tag = f"[\\U{lo:08x}-\\U{hi:08x}]"
        # Runs of tags with only noise between: searched in the translated text, no copy made.
        self.tagrun = re.compile(f"{tag}(?:[\\W_]*{tag}){'*' if singles else '+'}")
        self._masks()

    def _masks(self) -> None:
        """Per received character, a bit mask of the pair sides it can stand for."""
        pids = sorted({p for t in self.starts for p in self.starts[t] | self.ends[t]})
        bit = {p: i for i, p in enumerate(pids)}
        self.single_bit = 1 << (2 * len(pids))
        self.evens = sum(1 << (2 * i) for i in range(len(pids)))
        self.mask_of: dict[str, int] = {}
        for cp, tag in (self.table or {}).items():
            if tag not in self.starts:
                continue
            m = self.single_bit if tag in self.singles else 0
            for p in self.starts[tag]:
                m |= 1 << (2 * bit[p])
            for p in self.ends[tag]:
                m |= 1 << (2 * bit[p] + 1)
            self.mask_of[chr(cp)] = m
        self.keys = frozenset(self.mask_of)
        self.rare_rx = _char_class_regex(self.first & self.keys)
        # Noise is decided on the folded character; these differ from ``not ch.isalnum()``.
        self.noisy = {chr(cp): t == " " for cp, t in (self.table or {}).items() if t in (" ", "0")}

    def search(self, text: str) -> bool:
        if self.table is None:
            return not self.first.isdisjoint(text)
        # Every chosen pair has its rarer side in ``first``: find those characters (one regex
        # scan, no copy of the text), then look right (as a pair's first character) and left
        # (as its second) past noise and repeats for the partner.
        mask_of, evens = self.mask_of, self.evens
        for mt in self.rare_rx.finditer(text):
            i = mt.start()
            m = mask_of.get(text[i], 0)
            if m & self.single_bit:
                return True
            if m & evens and self._right(text, i, m & evens):
                return True
            need = (m >> 1) & evens
            if need and self._left(text, i, need):
                return True
        return False

    def _right(self, text: str, i: int, open_: int) -> bool:
        mask_of, evens, noisy = self.mask_of, self.evens, self.noisy
        n = len(text)
        j = i + 1
        while j < n:
            d = text[j]
            md = mask_of.get(d)
            if md is not None:
                if (open_ << 1) & md:
                    return True
                open_ = md & evens  # a repeat of the first character keeps the pair open
                if not open_:
                    return False
            elif not noisy.get(d, not d.isalnum()):
                return False
            j += 1
        return False

    def _left(self, text: str, i: int, need: int) -> bool:
        mask_of, noisy = self.mask_of, self.noisy
        j = i - 1
        while j >= 0:
            d = text[j]
            md = mask_of.get(d)
            if md is not None:
                return bool(md & need)  # the nearest kept character (repeats collapse onto it)
            if not noisy.get(d, not d.isalnum()):
                return False
            j -= 1
        return False


def _char_class_regex(chars: set[str] | frozenset) -> re.Pattern:
    """A fast regex for "any of these characters": one class of the BMP characters (sre keeps a
    bitmap for it) and, separately, a few coarse ranges around the others (sre scans a class with
    characters above U+FFFF linearly). The ranges may over-match; callers look the character up."""
    if not chars:
        return re.compile(r"(?!x)x")
    bmp = sorted(c for c in chars if ord(c) < 0x10000)
    astral = sorted(ord(c) for c in chars if ord(c) >= 0x10000)
    ranges: list[list[int]] = []
    for cp in astral:
        if ranges and cp - ranges[-1][1] <= 0x400:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    alts = []
    if bmp:
        alts.append("[" + "".join(re.escape(c) for c in bmp) + "]")
    if ranges:
        alts.append("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")
    return re.compile("|".join(alts))


_ALNUM_BMP: bytes | None = None


def _alnum_bmp() -> bytes:
    """One bit per BMP code point: ``str.isalnum()`` (what normalization's noise test asks)."""
    global _ALNUM_BMP
    if _ALNUM_BMP is None:
        from ._deltascan import alnum_bmp  # the tables serve the compiled scan only

        _ALNUM_BMP = alnum_bmp()
    return _ALNUM_BMP


def _native_tables(forms: list[tuple[str, int]], spell: Callable[[str], frozenset], noisy: dict[str, bool]) -> tuple:
    """``moderation._deltascan`` tables (see its source) for ``forms``, each with its anchor
    index; ``spell(c)``: the received characters that spell form character ``c``; ``noisy``:
    the characters whose noise status differs from ``not isalnum()``."""
    from array import array

    ids: dict[str, int] = {}
    for f, _ in forms:
        for c in f:
            ids.setdefault(c, len(ids))
    words = max(1, (len(ids) + 63) // 64)
    entry: dict[str, int] = {}
    mask_a, flags = [0], [0]
    spells = [0] * words

    def at(x: str) -> int:
        if x not in entry:
            entry[x] = len(mask_a)
            mask_a.append(0)
            flags.append(0)
            spells.extend([0] * words)
        return entry[x]

    data: list[int] = []
    by_bit: list[list[int]] = [[] for _ in range(64)]
    for i, (f, k) in enumerate(forms):
        bit = i % 64  # forms beyond 64 share bits; the scan checks each form's own anchor
        by_bit[bit].append(len(data))
        data += [k, len(f)] + [ids[c] for c in f]
        for x in spell(f[k]):
            e = at(x)
            mask_a[e] |= 1 << bit
            if len(f) == 1:
                flags[e] |= 1
        for c in f:
            for x in spell(c):
                e = at(x)
                spells[e * words + ids[c] // 64] |= 1 << (ids[c] % 64)
    for x, is_noise in noisy.items():
        flags[at(x)] |= 2 if is_noise else 4
    if len(mask_a) > 0xFFFF:
        raise ValueError("too many characters for the chunk scan's tables")
    bmp = array("H", bytes(2 * 0x10000))
    high = sorted((ord(x), i) for x, i in entry.items() if ord(x) >= 0x10000)
    for x, i in entry.items():
        if ord(x) < 0x10000:
            bmp[ord(x)] = i
    starts, flat = [0], []
    for lst in by_bit:
        flat += lst
        starts.append(len(flat))
    return (bmp.tobytes(), array("I", [c for c, _ in high]).tobytes(), array("H", [i for _, i in high]).tobytes(),
            array("Q", mask_a).tobytes(), array("Q", spells).tobytes(), bytes(flags), _alnum_bmp(),
            array("i", data).tobytes(), array("i", starts).tobytes(), array("i", flat).tobytes())


def _astral_ranges(chars: set[str] | frozenset) -> str:
    """A class of coarse ranges around the characters above U+FFFF (gaps under 0x400 closed)."""
    ranges: list[list[int]] = []
    for cp in sorted(ord(c) for c in chars if ord(c) >= 0x10000):
        if ranges and cp - ranges[-1][1] <= 0x400:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


def _class_re(chars: set[str], extra: str = "") -> str:
    """A regex class of ``chars`` (plus ``extra``, raw class syntax); characters above U+FFFF
    become one range for all of them (a superset: ``re`` scans a class that lists them one by one)."""
    low = sorted(c for c in chars if ord(c) < 0x10000)
    high = "\\U00010000-\\U0010ffff" if any(ord(c) >= 0x10000 for c in chars) else ""
    return "[" + extra + "".join(re.escape(c) for c in low) + high + "]"


def _pair_table(normalizer: Any, chosen: list[tuple[str, ...]], reach: Callable[[str], set[str]]) -> tuple:
    """Translate table, tag -> pair ids started / ended, single-form tags, number of tags."""
    sig: dict[str, tuple[set[int], set[int], bool]] = {}
    for pid, k in enumerate(chosen):
        if len(k) == 1:
            for x in reach(k[0]):
                sig.setdefault(x, (set(), set(), False))
                a, b, _ = sig[x]
                sig[x] = (a, b, True)
            continue
        for x in reach(k[0]):
            sig.setdefault(x, (set(), set(), False))[0].add(pid)
        for x in reach(k[1]):
            sig.setdefault(x, (set(), set(), False))[1].add(pid)
    tags: dict[tuple, str] = {}
    table: dict[int, str] = {}
    starts: dict[str, frozenset] = {}
    ends: dict[str, frozenset] = {}
    singles: set[str] = set()
    for x, (a, b, single) in sig.items():
        key = (frozenset(a), frozenset(b), single)
        if key not in tags:
            t = chr(TAG_BASE + len(tags))
            tags[key] = t
            starts[t], ends[t] = key[0], key[1]
            if single:
                singles.add(t)
        table[ord(x)] = tags[key]
    # Keep the noise status normalization gives: it is decided on the folded character.
    for cp, f in normalizer.fold_table.items():
        if cp in table:
            continue
        raw_noise = not chr(cp).isalnum()
        fold_noise = not f.isalnum()
        if raw_noise != fold_noise:
            table[cp] = " " if fold_noise else "0"
    for cp in range(TAG_BASE, TAG_BASE + len(tags)):
        table.setdefault(cp, "0")
    return table, starts, ends, frozenset(singles), len(tags)


_CHAR_FREQ: dict[str, int] | None = None


def _char_freq() -> dict[str, int]:
    """jieba's character frequencies (its one-character words), once per process: taken from
    the segmenter's dictionary, which the rescan loads anyway, instead of importing jieba and
    reading its dict.txt (about 0.45 s of a delta's set-up)."""
    global _CHAR_FREQ
    if _CHAR_FREQ is None:
        from .segment import dictionary

        _CHAR_FREQ = {w: f for w, f in dictionary().freq.items() if len(w) == 1 and f}
    return _CHAR_FREQ


def input_sample(path: str | None, size: int = 1 << 20) -> str | None:
    """Up to ``size`` bytes from the start of an input file as text (for choosing anchors)."""
    if not path or path == "-":
        return None
    try:
        with open(path, "rb") as f:
            return f.read(size).decode("utf-8", "replace")
    except OSError:
        return None


def trigger_regex(changed_wl: Any, normalizer: Any, removed_allow: list[str], with_pairs: Any = True,
                  sample: str | None = None) -> Any:
    """A prefilter passed by every text in which a changed rule or a removed allow term can match.

    Every matching form (canon space) of a changed rule occurs in the text's ``canon``; so the
    received text holds, for each adjacent pair of the form's characters, characters that
    normalize to them with only noise or repeats between. One pair per form is enough; pairs
    are chosen greedily to be rare (jieba character frequencies).
    """
    from dataclasses import replace

    from .engine import compile_variants

    freq = _char_freq()
    finv, hinv = _preimages(normalizer)
    forms: list[str] = compile_variants(replace(changed_wl, allow=()), normalizer)[0] if changed_wl.entries else []
    forms += [a.translate(normalizer.homophone_table) for a in removed_allow]
    forms = sorted({f for f in forms if f})
    if not forms:
        return Prefilter(frozenset())
    cache: dict[str, set[str]] = {}

    def reach(ch: str) -> set[str]:
        if ch not in cache:
            cache[ch] = chars_reaching(ch, normalizer, finv, hinv)
        return cache[ch]

    costs: dict[str, int] = {}
    seen = Counter(sample) if sample else None

    def cost(ch: str) -> int:
        if ch not in costs:
            if seen is not None:
                # How often the input spells it; jieba's frequency only breaks ties.
                costs[ch] = sum(seen.get(x, 0) * 10_000_000 + freq.get(x, 0) for x in reach(ch)) + len(reach(ch)) + 1
            else:
                # Latin letters and digits are common in profiles although rare in jieba's dictionary.
                costs[ch] = sum(freq.get(x, 0) + (200_000 if x.isascii() else 0) for x in reach(ch)) + len(reach(ch)) + 1
        return costs[ch]

    def keys(f: str) -> set[tuple[str, ...]]:
        if not with_pairs or len(f) == 1:
            return {(c,) for c in f}
        return {(f[i], f[i + 1]) for i in range(len(f) - 1)}

    def kcost(k: tuple[str, ...]) -> int:
        return cost(k[0]) if len(k) == 1 else cost(k[0]) * cost(k[1])

    # Greedy weighted set cover: each form must contain one chosen character (or pair).
    uncovered = set(forms)
    by_key: dict[tuple[str, ...], set[str]] = {}
    for f in forms:
        for k in keys(f):
            by_key.setdefault(k, set()).add(f)
    chosen: list[tuple[str, ...]] = []
    while uncovered:
        best = min(by_key, key=lambda k: kcost(k) / max(len(by_key[k] & uncovered), 1e-9))
        covered = by_key.pop(best) & uncovered
        if covered:
            chosen.append(best)
            uncovered -= covered
    first: set[str] = set()
    for k in chosen:
        first |= min((reach(c) for c in k), key=lambda r: sum(freq.get(x, 0) for x in r) + len(r))
    if not with_pairs:
        return Prefilter(frozenset(first))
    if with_pairs == "pairs":  # the older, weaker filter (kept for comparison)
        table, starts, ends, singles, n_tags = _pair_table(normalizer, chosen, reach)
        return Prefilter(frozenset(first), table, starts, ends, singles, n_tags)
    # The chance that a received character spells a given one is about cost / total.
    total = 10_000_000 * len(sample) if seen is not None else sum(freq.values()) + 1
    return FormPrefilter(forms, reach, cost, normalizer, total=max(total, 1))


class FormPrefilter:
    """Cheap test on the received text: False means no changed rule can match it.

    Each matching form (canon space) of a changed rule gets an *anchor*: its character whose
    spellings are rarest. One regex scan finds every received character that can spell an
    anchor; around each find the whole form is walked, left and right, over the received text:
    each next form character must be spelled by the next kept character, with only noise
    (characters that fold to non-word characters) or repeats (characters spelling the form
    character just matched) between. That is what an occurrence of the form in ``canon`` needs
    (canon = fold, drop noise, collapse repeats, homophones), so every text a changed rule can
    match passes; a character whose folding is not one character (none today) passes too.

    Pairs of characters (:class:`Prefilter`) let through every text with a common pair such as
    天好 (a split-character variant of 番号 holds it); whole forms seldom occur by chance.
    """

    def __init__(self, forms: list[str], reach: Callable[[str], set[str]], cost: Callable[[str], int], normalizer: Any,
                 total: float = 1e12):
        cls: dict[str, set[str]] = {}
        for f in forms:
            for c in f:
                for x in reach(c):
                    cls.setdefault(x, set()).add(c)
        self.cls = {x: frozenset(v) for x, v in cls.items()}
        anchors: dict[str, list[tuple[str, int]]] = {}
        self.singles: set[str] = set()
        for f in forms:
            k = min(range(len(f)), key=lambda i: cost(f[i]))
            for x in reach(f[k]):
                if len(f) == 1:
                    self.singles.add(x)
                anchors.setdefault(x, []).append((f, k))
        self.anchors = {x: tuple(v) for x, v in anchors.items()}
        # The chunk regex's anchor of each form: it checks the form to the right of its anchor,
        # so the anchor is a character with a right neighbour, chosen for few finds (each costs a
        # test of the anchor's alternatives in C) and fewer matches (each a line parsed and walked
        # in Python, about 30 times the cost): cost(a) * (0.03 + P(next character)).
        self.rx_anchor = {
            f: min(range(len(f) - 1), key=lambda i, f=f: cost(f[i]) * (0.03 + cost(f[i + 1]) / total)) if len(f) > 1 else 0
            for f in forms}
        self.spell = {c: frozenset(reach(c)) for f in forms for c in f}
        self.rx_weight = {f: cost(f[k]) for f, k in self.rx_anchor.items()}
        # Noise is decided on the folded character; these differ from ``not ch.isalnum()``.
        self.noisy: dict[str, bool] = {}
        self.wild: set[str] = set()
        for cp, folded in normalizer.fold_table.items():
            ch = chr(cp)
            if not isinstance(folded, str) or len(folded) != 1:
                if folded and NOISE_ONLY.fullmatch(folded) is None:
                    self.wild.add(ch)  # may spell anything: always a candidate
                else:
                    self.noisy[ch] = True
                continue
            raw_noise = not ch.isalnum()
            fold_noise = not folded.isalnum()
            if raw_noise != fold_noise:
                self.noisy[ch] = fold_noise
        self.first = frozenset(self.anchors) | frozenset(self.wild)
        self.rare_rx = _char_class_regex(self.first)
        self._chunk_rx: Any = False  # built on first use (chunk_regex)

    def chunk_regex(self) -> re.Pattern | None:
        """One regex over a whole chunk of JSON Lines: every received text for which
        :meth:`search` is True holds a match (it may match more: callers run :meth:`search` on
        the line of each match). None when there is no such regex (a wild character).

        The walk of :meth:`search` to the right of each anchor is done here by ``re``: after an
        anchor character, a lookahead for the rest of one of its forms, each next form character
        a class of the characters that spell it, with noise (``[\\W_]`` and characters that fold
        to noise) and repeats of the previous form character between. Without it nearly every
        profile holds some anchor (homophone classes are large: 边 spells 便) and paid a walk in
        Python; with it about one line in fifty gets a look. The left walk stays in Python.
        Characters above U+FFFF stand for themselves only in the anchors' own test (a class
        holding them is a linear scan in ``re``); elsewhere one range stands for all of them.
        """
        if self._chunk_rx is not False:
            return self._chunk_rx
        if self.wild:
            self._chunk_rx = None
            return None
        spell = self.spell  # form character -> received characters that spell it
        noise = frozenset(x for x, v in self.noisy.items() if v)

        def gap(c: str) -> str:  # noise or repeats of form character c
            return _class_re(spell[c] | noise, "\\W_") + "*"

        def rest(form: str, j: int) -> str:  # form[j:], each character after a gap
            return "".join(gap(form[i - 1]) + _class_re(spell[form[i]]) for i in range(j, len(form)))

        groups: dict[frozenset, list[tuple[str, int]]] = {}
        for form, k in sorted(self.rx_anchor.items()):
            groups.setdefault(spell[form[k]], []).append((form, k))
        # The commonest anchors first; each group's test ends the search at this find when its
        # anchor matched (``(?<![…])`` before the next), so a find costs the tests of the groups
        # before its own, not of all.
        order = sorted(groups, key=lambda xs: (-max(self.rx_weight[f] for f, _ in groups[xs]), sorted(xs)))
        tests: list[tuple[str, str]] = []  # (anchor class, what must follow)
        high_ranges = _astral_ranges({x for xs in groups for x in xs})
        astral: list[str] = []
        for xs in order:
            bodies = sorted({rest(f, k + 1) for f, k in groups[xs]})
            look = "" if "" in bodies else "(?=" + "|".join(bodies) + ")"
            low = "".join(re.escape(x) for x in sorted(xs) if ord(x) < 0x10000)
            high = "".join(sorted(x for x in xs if ord(x) >= 0x10000))
            if low:
                tests.append(("[" + low + "]", look))
            if high:
                astral.append("(?<=[" + high + "])" + look)
        if astral:  # first: rare, and a coarse range keeps emoji from being finds at all
            tests.insert(0, (high_ranges, "(?:" + "|".join(astral) + ")"))
        if not tests:
            self._chunk_rx = re.compile(r"(?!x)x")
            return self._chunk_rx
        chain = ""
        for cls_, look in reversed(tests):
            chain = f"(?<={cls_}){look}" + (f"|(?<!{cls_})(?:{chain})" if chain else "")
        first = sorted({x for xs in groups for x in xs if ord(x) < 0x10000})
        prefix = "[" + "".join(re.escape(x) for x in first) + (high_ranges[1:-1] if astral else "") + "]"
        self._chunk_rx = re.compile(prefix + "(?:" + chain + ")", re.DOTALL)
        return self._chunk_rx

    def native_tables(self) -> tuple | None:
        """The tables of the compiled chunk scan (``moderation._deltascan``; see its source):
        each form with the anchor the chunk regex uses, and per received character the form
        characters it spells. None when a wild character makes the scan unsound."""
        if self.wild:
            return None
        return _native_tables(sorted(self.rx_anchor.items()), self.spell.__getitem__, self.noisy)

    def search(self, text: str) -> bool:
        anchors, singles, wild = self.anchors, self.singles, self.wild
        for mt in self.rare_rx.finditer(text):
            i = mt.start()
            ch = text[i]
            if ch in singles or ch in wild:
                return True
            for form, k in anchors.get(ch, ()):
                if self._right(text, i, form, k) and self._left(text, i, form, k):
                    return True
        return False

    def _right(self, text: str, i: int, form: str, k: int) -> bool:
        last = len(form) - 1
        if k == last:
            return True
        cls, noisy, wild = self.cls, self.noisy, self.wild
        n = len(text)
        j = i + 1
        while j < n:
            d = text[j]
            cs = cls.get(d)
            if cs is not None:
                if form[k + 1] in cs:
                    k += 1
                    if k == last:
                        return True
                elif form[k] not in cs:  # neither the next character nor a repeat
                    return False
            elif d in wild:
                return True
            elif not noisy.get(d, not d.isalnum()):
                return False
            j += 1
        return False

    def _left(self, text: str, i: int, form: str, k: int) -> bool:
        if k == 0:
            return True
        cls, noisy, wild = self.cls, self.noisy, self.wild
        j = i - 1
        while j >= 0:
            d = text[j]
            cs = cls.get(d)
            if cs is not None:
                if form[k - 1] in cs:
                    k -= 1
                    if k == 0:
                        return True
                elif form[k] not in cs:
                    return False
            elif d in wild:
                return True
            elif not noisy.get(d, not d.isalnum()):
                return False
            j -= 1
        return False
