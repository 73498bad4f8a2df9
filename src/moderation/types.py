"""Frozen result values shared by the engine, the detectors, the CLI and the service."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("discrimination", "illegal", "political", "porn", "fraud")
SCENES = ("profile", "post", "chat")
DECISIONS = ("pass", "review", "block")
SEVERITIES = ("low", "medium", "high")
# Contract patterns and the category each belongs to; more may be added, never renamed.
PATTERN_CATEGORY = {
    "contact": "fraud",
    "investment": "fraud",
    "money_request": "fraud",
    "escort": "porn",
    "part_time_job": "fraud",
    "phishing": "fraud",
    "romance_lure": "fraud",
    "gambling": "illegal",
}
DECISION_RANK = {"pass": 0, "review": 1, "block": 2}
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding, with half-open code-point offsets into the text as received."""

    start: int
    end: int
    text: str
    category: str
    rule: str
    severity: str
    pattern: str | None = None
    via: tuple[str, ...] = ()
    # Human explanation of why it fired (detector cues, list entry); shown to moderators.
    detail: str | None = None
    # For conversation hits: ids of earlier messages that contributed.
    context: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "category": self.category,
            "pattern": self.pattern,
            "rule": self.rule,
            "severity": self.severity,
            "via": list(self.via),
        }
        if self.detail:
            d["detail"] = self.detail
        if self.context:
            d["context"] = list(self.context)
        return d


@dataclass(frozen=True, slots=True)
class Verdict:
    """The contract's verdict for one text."""

    decision: str
    hits: tuple[Hit, ...]
    masked: str
    wordlist_version: str
    scene: str = "post"
    id: Any = None
    # True when conversation context was wanted but its store was unreachable.
    context_missing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        return sorted({h.category for h in self.hits})

    @property
    def patterns(self) -> list[str]:
        return sorted({h.pattern for h in self.hits if h.pattern})

    def to_dict(self) -> dict[str, Any]:
        hits = self.hits
        d: dict[str, Any] = {
            "id": self.id,
            "decision": self.decision,
            # Most verdicts have no hit: skip building and sorting empty sets.
            "categories": self.categories if hits else [],
            "patterns": self.patterns if hits else [],
            "hits": [h.to_dict() for h in hits] if hits else [],
            "masked": self.masked,
            "wordlist_version": self.wordlist_version,
            "scene": self.scene,
        }
        if self.context_missing:
            d["context_missing"] = True
        if self.extra:
            d.update(self.extra)
        return d


# The engine builds one Verdict per text: a frozen dataclass's generated __init__ sets each
# field through object.__setattr__ (about 2.8 us for these eight); the slots' own setters
# do the same in about a third of the time. Same object, same immutability afterwards.
_VERDICT_SETTERS = tuple(
    getattr(Verdict, name).__set__
    for name in ("decision", "hits", "masked", "wordlist_version", "scene", "id", "context_missing", "extra")
)


def pass_dict(text: str, wordlist_version: str, scene: str, id: Any) -> dict[str, Any]:
    """``to_dict()`` of a ``pass`` verdict without hits, made directly (bulk callers)."""
    return {"id": id, "decision": "pass", "categories": [], "patterns": [], "hits": [],
            "masked": text, "wordlist_version": wordlist_version, "scene": scene}


def make_verdict(
    decision: str, hits: tuple[Hit, ...], masked: str, wordlist_version: str, scene: str,
    id: Any, context_missing: bool,
) -> Verdict:
    """``Verdict(...)`` without the generated __init__'s cost; used on the engine's hot path."""
    v = _new(Verdict)
    s0, s1, s2, s3, s4, s5, s6, s7 = _VERDICT_SETTERS
    s0(v, decision)
    s1(v, hits)
    s2(v, masked)
    s3(v, wordlist_version)
    s4(v, scene)
    s5(v, id)
    s6(v, context_missing)
    s7(v, {})
    return v


_new = object.__new__


_HIT_SETTERS = tuple(
    getattr(Hit, name).__set__
    for name in ("start", "end", "text", "category", "rule", "severity", "pattern", "via", "detail", "context")
)


def make_hit(
    start: int, end: int, text: str, category: str, rule: str, severity: str,
    pattern: str | None, via: tuple[str, ...], detail: str | None, context: tuple[str, ...] = (),
) -> Hit:
    """``Hit(...)`` without the generated __init__'s cost (the engine builds one per list hit)."""
    h = _new(Hit)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = _HIT_SETTERS
    s0(h, start)
    s1(h, end)
    s2(h, text)
    s3(h, category)
    s4(h, rule)
    s5(h, severity)
    s6(h, pattern)
    s7(h, via)
    s8(h, detail)
    s9(h, context)
    return h
