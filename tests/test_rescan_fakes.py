"""Engines injected into rescans run as subprocesses (``--engine-factory``); no tests here.

``slow_fixture`` wraps the real ``Moderator`` over the fixture lists and sleeps a little per
check, so that a test can interrupt or kill a rescan part-way through.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

FIXTURE_WORDLISTS = Path(__file__).parent / "fixtures" / "wordlists"


class _Slow:
    def __init__(self, inner, delay: float) -> None:
        self._inner = inner
        self._delay = delay

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def check(self, text, **kw):
        time.sleep(self._delay)
        return self._inner.check(text, **kw)

    def check_texts(self, texts, **kw):
        time.sleep(self._delay * len(texts))
        return self._inner.check_texts(texts, **kw)


def slow_fixture(args):
    from moderation import Moderator

    wl = getattr(args, "wordlists", None) or str(FIXTURE_WORDLISTS)
    return _Slow(Moderator(wordlist_dir=wl), float(os.environ.get("RESCAN_TEST_DELAY", "0.002")))


class _Verdict:
    def __init__(self, text, scene, id):
        self.decision = "review" if "flag" in text else "pass"
        self._d = {"id": id, "decision": self.decision, "categories": [], "patterns": [], "hits": [],
                   "masked": text, "wordlist_version": "fake", "scene": scene}

    def to_dict(self):
        return self._d


class _Fast:
    """Checks nothing: for the streaming mechanics (memory, order) at high volume."""

    version = "fake"

    def check(self, text, scene="post", id=None, field=None, **kw):
        return _Verdict(text, scene, id)

    def check_texts(self, texts, scene="post", ids=None, fields=None, flagged_only=False, as_dicts=False):
        scenes = [scene] * len(texts) if isinstance(scene, str) else scene
        out = [_Verdict(t, sc, i) for t, sc, i in zip(texts, scenes, ids or [None] * len(texts))]
        if flagged_only:
            out = [v if v.decision != "pass" else None for v in out]
        return [v.to_dict() if v is not None else None for v in out] if as_dicts else out


def fast_fake(args):
    return _Fast()


class _Probe:
    """The real engine; in any process other than the one that built it (a forked worker),
    counts the files opened and modules imported from its first check on (audit hook), and
    tags every flagged verdict with that count and the worker's pid."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self._built_in = os.getpid()
        self._events: list[str] | None = None

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _hook(self) -> None:
        if self._events is None and os.getpid() != self._built_in:
            import sys

            events: list[str] = []
            self._events = events
            sys.addaudithook(lambda ev, args: events.append(f"{ev} {str(args[0])[:60]}") if ev in ("open", "import") else None)

    def _tag(self, v):
        if v is not None and self._events is not None and v.decision != "pass":
            v.extra["worker_pid"] = os.getpid()
            v.extra["loaded"] = list(self._events)
        return v

    def check(self, text, **kw):
        self._hook()
        return self._tag(self._inner.check(text, **kw))

    def check_texts(self, texts, **kw):
        self._hook()
        return [self._tag(v) for v in self._inner.check_texts(texts, **kw)]


def probe_fixture(args):
    from moderation import Moderator

    wl = getattr(args, "wordlists", None) or str(FIXTURE_WORDLISTS)
    return _Probe(Moderator(wordlist_dir=wl))
