"""What the moderate endpoints share: input clean-up, cache, conversation store, engine call,
metrics and the hand-off of ``review`` verdicts to the review queue."""
from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool

from .cache import VerdictCache, cache_key
from .errors import ApiError, where
from .models import ModerateRequest

log = logging.getLogger("moderation.api")

_SURROGATE = re.compile("[\ud800-\udfff]")
# A batch this large runs in a worker thread so the event loop keeps accepting connections.
THREAD_BATCH = 32


def clean_text(text: str) -> str:
    """Replace lone surrogates (valid JSON, not valid Unicode text) by U+FFFD, one for one, so
    every offset in the verdict still indexes the text as received. NUL and other control
    characters are left to the engine, which treats them as noise."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


class ModerationService:
    def __init__(self, app_state: Any):
        self.state = app_state
        s = app_state.settings
        self.max_chars = s.max_text_chars
        self.cache: VerdictCache | None = app_state.cache
        self.conversation = app_state.conversation

    @property
    def engine(self):
        return self.state.engine.moderator

    def too_long(self, text: str) -> str:
        return f"text has {len(text)} characters; the limit is {self.max_chars}"

    def _check(self, m, it: ModerateRequest, text: str) -> dict[str, Any]:
        conv = self.conversation if it.conversation_id is not None else None
        v = m.check(text, scene=it.scene, id=it.id, field=it.field, user_id=it.user_id,
                    conversation_id=it.conversation_id, message_id=it.message_id,
                    conversation=conv)
        return v.to_dict()

    def _check_all(self, m, work: list[tuple[int, ModerateRequest, str]], out: list) -> None:
        # Items without a conversation are checked together (``check_texts``: one
        # normalization and one automaton pass per chunk); conversation messages one by one,
        # in order. If the batch call fails, every item is tried alone below.
        plain = [(i, it, text) for i, it, text in work if it.conversation_id is None]
        if len(plain) > 1:
            try:
                verdicts = m.check_texts([t for _, _, t in plain], scene=[it.scene for _, it, _ in plain],
                                         ids=[it.id for _, it, _ in plain], fields=[it.field for _, it, _ in plain],
                                         as_dicts=True)
            except Exception as exc:  # noqa: BLE001
                log.error("batch check failed, checking one by one: %s", type(exc).__name__)
            else:
                for (i, _, _), d in zip(plain, verdicts):
                    out[i] = d
                work = [w for w in work if w[1].conversation_id is not None]
        for i, it, text in work:
            try:
                out[i] = self._check(m, it, text)
            except Exception as exc:  # one bad item must not sink a batch
                log.error("check failed: %s\n%s", type(exc).__name__, where(exc))
                out[i] = {"id": it.id, "error": {"code": "internal_error", "message": "could not check this item"}}

    async def moderate_one(self, it: ModerateRequest) -> dict[str, Any]:
        """One text; the common case (no cache, no Redis-backed window) without the batch
        bookkeeping."""
        if self.cache is not None or (it.conversation_id is not None and self.state.link is not None):
            return (await self.moderate([it], single=True))[0]
        text = clean_text(it.text)
        if len(text) > self.max_chars:
            raise ApiError(413, "text_too_long", self.too_long(text))
        d = self._check(self.engine, it, text)
        self.state.metrics.count_verdict(d)
        reviews = getattr(self.state, "reviews", None)
        if reviews is not None and d["decision"] != "pass":
            rid = await self._enqueue(reviews, d, text, it)
            if rid is not None:
                d["review_id"] = rid
        return d

    async def moderate(self, items: list[ModerateRequest], single: bool = False) -> list[dict[str, Any]]:
        m = self.engine
        version = m.version
        out: list[dict[str, Any] | None] = [None] * len(items)
        texts: list[str | None] = []
        for i, it in enumerate(items):
            text = clean_text(it.text)
            if len(text) > self.max_chars:
                if single:
                    raise ApiError(413, "text_too_long", self.too_long(text))
                out[i] = {"id": it.id, "error": {"code": "text_too_long", "message": self.too_long(text)}}
                texts.append(None)
            else:
                texts.append(text)

        keys: dict[int, str] = {}
        if self.cache is not None:
            for i, it in enumerate(items):
                if texts[i] is not None and it.conversation_id is None:
                    keys[i] = cache_key(version, it.scene, it.field, texts[i])
            if keys:
                idx = list(keys)
                got = await self.cache.get_many([keys[i] for i in idx])
                for i, d in zip(idx, got):
                    if d is not None:
                        d["id"] = items[i].id
                        out[i] = d

        work = [(i, items[i], texts[i]) for i in range(len(items)) if out[i] is None]
        if work:
            # Conversation windows in Redis are blocking calls: keep them off the event loop.
            threaded = len(work) >= THREAD_BATCH or (
                self.state.link is not None and any(it.conversation_id is not None for _, it, _ in work))
            if single:
                # One text: a failure is the request's failure, not an item error.
                i, it, text = work[0]
                out[i] = await run_in_threadpool(self._check, m, it, text) if threaded else self._check(m, it, text)
            elif threaded:
                await run_in_threadpool(self._check_all, m, work, out)
            else:
                self._check_all(m, work, out)
            if self.cache is not None:
                await self.cache.put_many([(keys[i], out[i]) for i, _, _ in work
                                           if i in keys and "error" not in out[i]])

        self.state.metrics.count_verdicts([d for d in out if "error" not in d])
        reviews = getattr(self.state, "reviews", None)
        # The queue decides: review verdicts always, block verdicts when appeals are on.
        flagged = [i for i, d in enumerate(out) if "error" not in d and d["decision"] != "pass"] \
            if reviews is not None else []
        if len(flagged) > 1 and not inspect.iscoroutinefunction(reviews.enqueue):
            # A blocking store: every item of the batch in one trip to a worker thread.
            rids = await run_in_threadpool(
                lambda: [self._enqueue_sync(reviews, out[i], texts[i], items[i]) for i in flagged])
        else:
            rids = [await self._enqueue(reviews, out[i], texts[i], items[i]) for i in flagged]
        for i, rid in zip(flagged, rids):
            if rid is not None:
                out[i]["review_id"] = rid  # type: ignore[index]
        return out  # type: ignore[return-value]

    @staticmethod
    def _meta(it: ModerateRequest) -> dict[str, Any]:
        meta: dict[str, Any] = {"scene": it.scene, "id": it.id, "field": it.field,
                                "user_id": it.user_id, "conversation_id": it.conversation_id}
        if it.context:
            meta["context"] = [clean_text(c) if isinstance(c, str) else
                               {"text": clean_text(c.text), "user_id": c.user_id} for c in it.context]
        return meta

    def _enqueue_sync(self, reviews, verdict: dict[str, Any], text: str, it: ModerateRequest) -> Any:
        try:
            return reviews.enqueue(verdict, text=text, meta=self._meta(it))
        except Exception as exc:
            # The verdict still stands; the platform holds the text either way.
            log.error("review enqueue failed: %s", type(exc).__name__)
            return None

    async def _enqueue(self, reviews, verdict: dict[str, Any], text: str, it: ModerateRequest) -> Any:
        if not inspect.iscoroutinefunction(reviews.enqueue):
            # The queue's store does blocking I/O: keep it off the event loop.
            return await run_in_threadpool(self._enqueue_sync, reviews, verdict, text, it)
        try:
            return await reviews.enqueue(verdict, text=text, meta=self._meta(it))
        except Exception as exc:
            # The verdict still stands; the platform holds the text either way.
            log.error("review enqueue failed: %s", type(exc).__name__)
            return None
