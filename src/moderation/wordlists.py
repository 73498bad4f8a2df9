"""Load and validate the word lists in ``wordlists/``; every error names its file and line."""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from .types import CATEGORIES, DECISIONS, PATTERN_CATEGORY, SCENES, SEVERITIES

PARSE_VERSION = 2
KNOWN_FLAGS = {"boundary", "exact", "nohomophone", "nopinyin", "nosplit"}
_GROUP_RE = re.compile(r"^[a-z0-9_]+$")


class WordlistError(ValueError):
    """One or more problems in the word lists; ``errors`` holds ``file:line: message``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True, slots=True)
class Entry:
    """One list entry: a term of a category with severity and match flags."""

    term: str
    category: str
    severity: str
    group: str = "general"
    flags: frozenset[str] = frozenset()
    pattern: str | None = None
    scenes: frozenset[str] | None = None
    source: str = ""

    @property
    def rule(self) -> str:
        return f"{self.category}.{self.group}:{self.term}"

    def __reduce__(self):  # plain constructor call: much faster to unpickle than the default
        return (Entry, (self.term, self.category, self.severity, self.group, self.flags,
                        self.pattern, self.scenes, self.source))


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """An allow-list entry: suppresses hits whose span it covers."""

    term: str
    scenes: frozenset[str] | None = None
    fields: frozenset[str] | None = None
    source: str = ""

    def __reduce__(self):
        return (AllowEntry, (self.term, self.scenes, self.fields, self.source))


@dataclass(frozen=True)
class Policy:
    """Scene -> action tables, validated."""

    severity: dict[str, dict[str, str]]
    pattern: dict[str, dict[str, str]]
    category: dict[str, dict[str, dict[str, str]]]

    def action(self, scene: str, category: str, severity: str, pattern: str | None) -> str:
        if pattern is not None:
            p = self.pattern.get(scene, {}).get(pattern)
            if p is not None:
                return p
        c = self.category.get(scene, {}).get(category)
        if c is not None and severity in c:
            return c[severity]
        return self.severity[scene][severity]

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "pattern": self.pattern, "category": self.category}


@dataclass(frozen=True)
class Wordlist:
    """Everything the engine compiles: entries, allow-list, look-alikes, policy and version."""

    entries: tuple[Entry, ...]
    allow: tuple[AllowEntry, ...]
    lookalikes: dict[str, str]
    policy: Policy
    version: str
    files_digest: str = ""
    overlay: tuple[dict[str, Any], ...] = field(default=())

    def filtered(self, rule_ids: set[str]) -> "Wordlist":
        """The same lists restricted to some rules (allow-list and policy kept)."""
        return replace(self, entries=tuple(e for e in self.entries if e.rule in rule_ids))

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in CATEGORIES}
        for e in self.entries:
            out[e.category] += 1
        out["allow"] = len(self.allow)
        return out


def default_wordlist_dir() -> Path:
    env = os.environ.get("MODERATION_WORDLISTS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "wordlists"
        if (cand / "policy.toml").exists():
            return cand
    return Path.cwd() / "wordlists"


def _split_fields(line: str) -> list[str]:
    return [p.strip() for p in line.split("|")]


def _strip_comment(raw: str) -> str:
    line = raw.rstrip("\n").rstrip("\r")
    if line.lstrip().startswith("#"):
        return ""
    m = re.search(r"\s#", line)
    if m:
        line = line[: m.start()]
    return line.strip()


def _parse_scenes(value: str, where: str, errors: list[str]) -> frozenset[str] | None:
    scenes = frozenset(s for s in value.split("+") if s)
    bad = scenes - set(SCENES)
    if bad or not scenes:
        errors.append(f"{where}: unknown scene {', '.join(sorted(bad)) or value!r}; use {'+'.join(SCENES)}")
        return None
    return scenes


def parse_entries(path: Path, category: str, errors: list[str], lines: Iterable[str] | None = None) -> list[Entry]:
    """Parse one category file; problems are appended to ``errors``."""
    out: list[Entry] = []
    group, severity, flags, pattern = "general", "medium", frozenset(), None
    seen: dict[str, int] = {}
    if lines is None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            errors.append(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})")
            return out
    for no, raw in enumerate(lines, 1):
        where = f"{path}:{no}"
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("@"):
            name, _, value = line[1:].partition(" ")
            value = value.strip()
            if name == "group":
                if not _GROUP_RE.match(value):
                    errors.append(f"{where}: @group wants lower-case ascii letters, digits, _; got {value!r}")
                else:
                    group = value
            elif name == "severity":
                if value not in SEVERITIES:
                    errors.append(f"{where}: unknown severity {value!r}; use {', '.join(SEVERITIES)}")
                else:
                    severity = value
            elif name == "flags":
                flags = frozenset() if value in ("-", "") else frozenset(f.strip() for f in value.split(","))
                for f in flags - KNOWN_FLAGS:
                    errors.append(f"{where}: unknown flag {f!r}")
                flags = flags & KNOWN_FLAGS
            elif name == "pattern":
                if value in ("-", ""):
                    pattern = None
                elif value not in PATTERN_CATEGORY:
                    errors.append(f"{where}: unknown pattern {value!r}; use {', '.join(PATTERN_CATEGORY)}")
                else:
                    pattern = value
            else:
                errors.append(f"{where}: unknown directive @{name}")
            continue
        parts = _split_fields(line)
        term = parts[0]
        if not term:
            errors.append(f"{where}: empty term (fields are separated by ' | ')")
            continue
        sev = severity
        e_flags = set(flags)
        e_pattern = pattern
        scenes: frozenset[str] | None = None
        if len(parts) > 3:
            errors.append(f"{where}: too many fields (term | severity | flags)")
            continue
        if len(parts) >= 2 and parts[1]:
            if parts[1] not in SEVERITIES:
                errors.append(f"{where}: unknown severity {parts[1]!r}; use {', '.join(SEVERITIES)}")
                continue
            sev = parts[1]
        if len(parts) == 3 and parts[2]:
            ok = True
            for f in (x.strip() for x in parts[2].split(",")):
                if not f:
                    continue
                if f.startswith("scene="):
                    scenes = _parse_scenes(f[6:], where, errors)
                    ok = ok and scenes is not None
                elif f.startswith("pattern="):
                    if f[8:] not in PATTERN_CATEGORY:
                        errors.append(f"{where}: unknown pattern {f[8:]!r}")
                        ok = False
                    e_pattern = f[8:]
                elif f in KNOWN_FLAGS:
                    e_flags.add(f)
                else:
                    errors.append(f"{where}: unknown flag {f!r}")
                    ok = False
            if not ok:
                continue
        if e_pattern is not None and PATTERN_CATEGORY[e_pattern] != category:
            errors.append(
                f"{where}: pattern {e_pattern!r} belongs to category {PATTERN_CATEGORY[e_pattern]!r}, not {category!r}"
            )
            continue
        key = term.lower()
        if key in seen:
            errors.append(f"{where}: duplicate entry {term!r} (first at line {seen[key]})")
            continue
        seen[key] = no
        out.append(Entry(term, category, sev, group, frozenset(e_flags), e_pattern, scenes, f"{path.name}:{no}"))
    return out


def parse_allow(path: Path, errors: list[str]) -> list[AllowEntry]:
    out: list[AllowEntry] = []
    if not path.exists():
        return out
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path}:{no}"
        line = _strip_comment(raw)
        if not line:
            continue
        parts = _split_fields(line)
        scenes = fields = None
        ok = True
        for p in parts[1:]:
            if p.startswith("scene="):
                scenes = _parse_scenes(p[6:], where, errors)
                ok = ok and scenes is not None
            elif p.startswith("field="):
                fields = frozenset(x for x in p[6:].split("+") if x)
            else:
                errors.append(f"{where}: unknown allow-list option {p!r} (scene=… or field=…)")
                ok = False
        if ok and parts[0]:
            out.append(AllowEntry(parts[0], scenes, fields, f"{path.name}:{no}"))
    return out


def load_lookalikes(directory: Path, errors: list[str] | None = None) -> dict[str, str]:
    path = Path(directory) / "lookalikes.txt"
    out: dict[str, str] = {}
    if not path.exists():
        return out
    errs = errors if errors is not None else []
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) < 2 or not parts[0] or not parts[1].strip():
            errs.append(f"{path}:{no}: want 'source<TAB>target'")
            continue
        src, dst = parts[0], parts[1].strip().split(" ")[0]
        if len(src) != 1 or len(dst) != 1:
            errs.append(f"{path}:{no}: source and target must be one character each")
            continue
        out[src] = dst
    if errors is None and errs:
        raise WordlistError(errs)
    return out


def parse_policy(path: Path, errors: list[str]) -> Policy | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        errors.append(f"{path}: missing")
        return None
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{path}: {exc}")
        return None
    scenes = data.get("scenes")
    if not isinstance(scenes, dict):
        errors.append(f"{path}: needs [scenes.<scene>.severity] tables")
        return None
    sev: dict[str, dict[str, str]] = {}
    pat: dict[str, dict[str, str]] = {}
    cat: dict[str, dict[str, dict[str, str]]] = {}

    def action(v: Any, where: str) -> str | None:
        if v not in DECISIONS:
            errors.append(f"{path}: {where}: action {v!r} is not one of {', '.join(DECISIONS)}")
            return None
        return v

    for scene in scenes:
        if scene not in SCENES:
            errors.append(f"{path}: unknown scene {scene!r}")
    for scene in SCENES:
        s = scenes.get(scene)
        if not isinstance(s, dict) or not isinstance(s.get("severity"), dict):
            errors.append(f"{path}: scene {scene!r} needs a severity table")
            continue
        sev[scene] = {}
        for level in SEVERITIES:
            a = action(s["severity"].get(level), f"scenes.{scene}.severity.{level}")
            if a:
                sev[scene][level] = a
        pat[scene] = {}
        for p, v in (s.get("pattern") or {}).items():
            if p not in PATTERN_CATEGORY:
                errors.append(f"{path}: scenes.{scene}.pattern: unknown pattern {p!r}")
            elif a := action(v, f"scenes.{scene}.pattern.{p}"):
                pat[scene][p] = a
        cat[scene] = {}
        for c, table in (s.get("category") or {}).items():
            if c not in CATEGORIES:
                errors.append(f"{path}: scenes.{scene}.category: unknown category {c!r}")
                continue
            if not isinstance(table, dict):
                errors.append(f"{path}: scenes.{scene}.category.{c} must map severity to action")
                continue
            cat[scene][c] = {}
            for level, v in table.items():
                if level not in SEVERITIES:
                    errors.append(f"{path}: scenes.{scene}.category.{c}: unknown severity {level!r}")
                elif a := action(v, f"scenes.{scene}.category.{c}.{level}"):
                    cat[scene][c][level] = a
    return Policy(sev, pat, cat)


def overlay_entries(overlay: Iterable[dict[str, Any]], errors: list[str]) -> tuple[list[Entry], list[AllowEntry]]:
    """Entries added at run time (the service's admin edits), validated like file lines."""
    entries: list[Entry] = []
    allow: list[AllowEntry] = []
    for i, item in enumerate(overlay):
        where = f"overlay[{i}]"
        kind = item.get("kind", "entry")
        if kind in ("remove", "remove_allow"):
            continue
        if kind not in ("entry", "allow"):
            errors.append(f"{where}: unknown kind {kind!r} (entry, allow, remove, remove_allow)")
            continue
        term = str(item.get("term", "")).strip()
        if not term:
            errors.append(f"{where}: empty term")
            continue
        if kind == "allow":
            scenes = item.get("scenes")
            fields = item.get("fields")
            allow.append(AllowEntry(term, frozenset(scenes) if scenes else None,
                                    frozenset(fields) if fields else None, where))
            continue
        cat = item.get("category")
        if cat not in CATEGORIES:
            errors.append(f"{where}: unknown category {cat!r}")
            continue
        flags = item.get("flags") or []
        line = " | ".join([term, item.get("severity") or "medium", ",".join(flags)])
        grp = item.get("group") or "custom"
        lines = [f"@group {grp}"]
        if item.get("pattern"):
            lines.append(f"@pattern {item['pattern']}")
        lines.append(line)
        entries.extend(parse_entries(Path(where), cat, errors, lines))
    return entries, allow


LIST_FILES = [f"{c}.txt" for c in CATEGORIES] + ["allow.txt", "lookalikes.txt", "policy.toml"]


def load_wordlist(directory: str | Path | None = None, overlay: Iterable[dict[str, Any]] | None = None) -> Wordlist:
    """Load, validate and version the lists; raise ``WordlistError`` naming every problem.

    A list that validated once is kept, parsed, in the cache folder under the hash of its
    files, so a warm start skips parsing.
    """
    d = Path(directory) if directory else default_wordlist_dir()
    if not d.is_dir():
        raise WordlistError([f"{d}: word-list folder not found"])
    overlay_list = tuple(dict(x) for x in (overlay or ()))
    key = hashlib.sha256()
    key.update(str(PARSE_VERSION).encode())
    for name in LIST_FILES:
        p = d / name
        key.update(name.encode())
        key.update(p.read_bytes() if p.exists() else b"-")
    key.update(" ".join(sorted(p.name for p in d.iterdir())).encode())
    key.update(repr([sorted(x.items()) for x in overlay_list]).encode())
    from .normalize import _cache_dir

    cache = _cache_dir() / f"wordlist-{key.hexdigest()[:24]}.pickle"
    try:
        with open(cache, "rb") as fh:
            wl = pickle.load(fh)
        if isinstance(wl, Wordlist):
            return wl
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass
    wl = _parse_wordlist(d, overlay_list)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(wl, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        pass
    return wl


def _parse_wordlist(d: Path, overlay_list: tuple[dict[str, Any], ...]) -> Wordlist:
    errors: list[str] = []
    entries: list[Entry] = []
    digest = hashlib.sha256()
    for cat in CATEGORIES:
        p = d / f"{cat}.txt"
        if not p.exists():
            errors.append(f"{p}: missing (one file per category)")
            continue
        entries.extend(parse_entries(p, cat, errors))
    for name in sorted(p.name for p in d.iterdir() if p.suffix == ".txt" and p.name != "README.md"):
        if name[:-4] not in CATEGORIES and name not in ("allow.txt", "lookalikes.txt"):
            errors.append(f"{d / name}: unknown list file (categories are {', '.join(CATEGORIES)})")
    allow = parse_allow(d / "allow.txt", errors)
    look = load_lookalikes(d, errors)
    policy = parse_policy(d / "policy.toml", errors)
    o_entries, o_allow = overlay_entries(overlay_list, errors)
    if errors:
        raise WordlistError(errors)
    assert policy is not None
    for name in LIST_FILES:
        p = d / name
        digest.update(name.encode())
        digest.update(p.read_bytes() if p.exists() else b"")
    files_digest = digest.hexdigest()
    # Overlay entries replace file entries with the same rule id.
    by_rule = {e.rule: e for e in entries}
    for e in o_entries:
        by_rule[e.rule] = e
    removed = {str(x.get("rule")) for x in overlay_list if x.get("kind") == "remove"}
    all_entries = tuple(e for r, e in by_rule.items() if r not in removed)
    removed_allow = {str(x.get("term")) for x in overlay_list if x.get("kind") == "remove_allow"}
    all_allow = tuple(a for a in list(allow) + o_allow if a.term not in removed_allow)
    h = hashlib.sha256(files_digest.encode())
    from . import __version__

    h.update(__version__.encode())
    for x in overlay_list:
        h.update(repr(sorted(x.items())).encode())
    return Wordlist(all_entries, all_allow, look, policy, h.hexdigest()[:16], files_digest, overlay_list)


def check_wordlists(directory: str | Path | None = None) -> list[str]:
    """All problems in the lists, as ``file:line: message`` strings (empty when valid)."""
    try:
        load_wordlist(directory)
    except WordlistError as exc:
        return exc.errors
    return []


def redundant_entries(wl: "Wordlist") -> list[str]:
    """Entries another entry of the same category already finds through normalization
    (煞笔 is a homophone of 傻逼, 約炮 the traditional form of 约炮): each as a note naming both
    places. Variants should come from normalization, not from duplicated entries. Only entries
    whose own homophones are matched count (not ``exact``/``nohomophone``, two or more Han
    characters), and the two must agree on severity, scenes and pattern, or the duplicate
    carries a deliberate difference."""
    import re

    from .normalize import Normalizer

    norm = Normalizer(wl.lookalikes)
    han = re.compile(r"[\u3400-\u9fff]")
    first: dict[tuple[str, str], "Entry"] = {}
    notes: list[str] = []
    for e in wl.entries:
        canon = norm.canonical(e.term)
        homophones = not ({"exact", "nohomophone"} & e.flags) and len(han.findall(canon)) >= 2
        key = (e.category, canon)
        prev = first.get(key)
        if prev is None:
            first[key] = e
            continue
        same_terms = norm.fold(prev.term) == norm.fold(e.term)
        if not homophones and not same_terms:
            continue
        if (prev.severity, prev.scenes, prev.pattern) != (e.severity, e.scenes, e.pattern):
            continue
        notes.append(f"{e.source}: {e.term!r} is found through {prev.term!r} ({prev.source}) already")
    return notes
