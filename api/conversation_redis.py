"""Conversation windows in Redis, shared by every worker and machine.

One list per conversation (``moderation:conv:<id>``) of ``Message.to_json()`` strings, newest
last, trimmed to ``max_messages`` and expiring ``max_age_seconds`` after its newest message.
Age is filtered on read, so no per-message expiry is needed. When Redis cannot be reached every
method raises ``ConnectionError`` (``RedisUnavailable``), and the engine answers from the
message alone with ``context_missing``.
"""
from __future__ import annotations

import math
import time

from moderation.conversation import ConversationStore, Message, WindowConfig

from .redis_link import RedisLink

PREFIX = "moderation:conv:"


class RedisConversationStore(ConversationStore):
    def __init__(self, link: RedisLink, config: WindowConfig | None = None):
        self.link = link
        self.config = config or WindowConfig.from_env()

    def _key(self, conversation_id: str) -> str:
        return PREFIX + conversation_id

    def window(self, conversation_id: str, now: float | None = None) -> list[Message]:
        now = time.time() if now is None else now
        cutoff = now - self.config.max_age_seconds
        n = self.config.max_messages
        raw = self.link.call_sync(lambda r: r.lrange(self._key(conversation_id), -n, -1))
        out = []
        for b in raw:
            try:
                m = Message.from_json(b)
            except (ValueError, TypeError, KeyError):
                continue  # a corrupt entry costs its context, not the request
            if m.timestamp >= cutoff:
                out.append(m)
        return out[-n:]

    def append(self, conversation_id: str, message: Message) -> None:
        key = self._key(conversation_id)
        ttl = max(1, math.ceil(self.config.max_age_seconds))
        n = self.config.max_messages

        def run(r):
            p = r.pipeline(transaction=True)
            p.rpush(key, message.to_json())
            p.ltrim(key, -n, -1)
            p.expire(key, ttl)
            p.execute()

        self.link.call_sync(run)

    def clear(self, conversation_id: str) -> None:
        self.link.call_sync(lambda r: r.delete(self._key(conversation_id)))
