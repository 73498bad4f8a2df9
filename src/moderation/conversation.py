"""Bounded windows over the recent messages of each conversation.

A contact id split over several messages ("我的v" / "abc" / "123456") or a scam script that
builds up over a chat only shows when the recent messages of a sender are read together. The
conversation detector (``detectors/scam.py``) reads the window of a conversation, then appends
what it needs to remember of the message it just checked.

The store keeps, per conversation, the last ``max_messages`` messages no older than
``max_age_seconds`` (both configurable). It never keeps whole texts: a ``Message`` holds ids, a
timestamp, the scam cue groups found in the message and the folded tail of the message (at
most ``TAIL_CHARS`` code points), which is all the split-id check needs.

Implementations: ``MemoryConversationStore`` here; a Redis one lives in ``api/`` and only has
to implement ``window``, ``append`` and ``clear`` with the contract in their docstrings
(``Message.to_json``/``from_json`` give the wire form). A store whose backend is unreachable
raises ``ConnectionError``; the engine then answers from the message alone and marks the
verdict ``context_missing``.
"""
from __future__ import annotations

import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass

DEFAULT_MAX_MESSAGES = 10
DEFAULT_MAX_AGE_SECONDS = 30 * 60.0
DEFAULT_MAX_CONVERSATIONS = 100_000
# How much of each message's folded text the window keeps for ids split across messages.
TAIL_CHARS = 48


@dataclass(frozen=True, slots=True)
class Message:
    """What a window remembers of one message."""

    message_id: str | None
    user_id: str | None
    timestamp: float
    # The last TAIL_CHARS code points of the message's ``doc.folded``.
    tail: str = ""
    # Scam cue groups found in the message ("platform", "returns", "contact" …), sorted.
    cues: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {"m": self.message_id, "u": self.user_id, "t": self.timestamp, "x": self.tail, "c": list(self.cues)},
            ensure_ascii=False, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Message":
        """Parse ``to_json`` output; anything else raises ``ValueError``."""
        d = json.loads(raw)
        if not isinstance(d, dict):
            raise ValueError("a stored message must be a JSON object")
        mid, uid, tail, cues = d.get("m"), d.get("u"), d.get("x", ""), d.get("c", [])
        if not (mid is None or isinstance(mid, str)) or not (uid is None or isinstance(uid, str)):
            raise ValueError("message and user ids must be strings")
        if not isinstance(tail, str) or not isinstance(cues, list) or not all(isinstance(c, str) for c in cues):
            raise ValueError("malformed stored message")
        t = d.get("t", 0.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise ValueError("timestamp must be a number")
        return cls(mid, uid, float(t), tail, tuple(cues))


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Window bounds: last ``max_messages`` messages and ``max_age_seconds`` seconds."""

    max_messages: int = DEFAULT_MAX_MESSAGES
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if self.max_age_seconds <= 0:
            raise ValueError("max_age_seconds must be positive")

    @classmethod
    def from_env(cls) -> "WindowConfig":
        """``MODERATION_CONVERSATION_MESSAGES`` and ``MODERATION_CONVERSATION_SECONDS``."""
        n = os.environ.get("MODERATION_CONVERSATION_MESSAGES")
        t = os.environ.get("MODERATION_CONVERSATION_SECONDS")
        try:
            return cls(
                int(n) if n else DEFAULT_MAX_MESSAGES,
                float(t) if t else DEFAULT_MAX_AGE_SECONDS,
            )
        except ValueError as e:
            raise ValueError(f"bad conversation window setting: {e}") from None


class ConversationStore(ABC):
    """Per-conversation windows of recent ``Message``s."""

    config: WindowConfig

    @abstractmethod
    def window(self, conversation_id: str, now: float | None = None) -> list[Message]:
        """The conversation's messages inside the window at ``now`` (default: the clock), oldest
        first: at most ``config.max_messages``, none with ``timestamp < now - max_age_seconds``.
        An unknown conversation has an empty window. Must not modify the window. Raises
        ``ConnectionError`` when the backend cannot be reached."""

    @abstractmethod
    def append(self, conversation_id: str, message: Message) -> None:
        """Add ``message`` as the newest of the conversation, then drop the oldest beyond
        ``max_messages`` and those older than ``max_age_seconds`` before ``message.timestamp``.
        The whole conversation may expire ``max_age_seconds`` after its newest message. Raises
        ``ConnectionError`` when the backend cannot be reached."""

    @abstractmethod
    def clear(self, conversation_id: str) -> None:
        """Forget the conversation (no error when it is unknown)."""


class MemoryConversationStore(ConversationStore):
    """In-process windows; thread-safe; at most ``max_conversations`` conversations (the least
    recently used one is forgotten first)."""

    def __init__(
        self,
        max_messages: int | None = None,
        max_age_seconds: float | None = None,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
        config: WindowConfig | None = None,
    ) -> None:
        base = config or WindowConfig.from_env()
        self.config = WindowConfig(
            max_messages if max_messages is not None else base.max_messages,
            max_age_seconds if max_age_seconds is not None else base.max_age_seconds,
        )
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        self.max_conversations = max_conversations
        self._data: OrderedDict[str, deque[Message]] = OrderedDict()
        self._lock = threading.Lock()

    def window(self, conversation_id: str, now: float | None = None) -> list[Message]:
        now = time.time() if now is None else now
        cutoff = now - self.config.max_age_seconds
        with self._lock:
            q = self._data.get(conversation_id)
            if not q:
                return []
            return [m for m in q if m.timestamp >= cutoff][-self.config.max_messages:]

    def append(self, conversation_id: str, message: Message) -> None:
        cutoff = message.timestamp - self.config.max_age_seconds
        with self._lock:
            q = self._data.get(conversation_id)
            if q is None:
                q = deque(maxlen=self.config.max_messages)
                self._data[conversation_id] = q
                while len(self._data) > self.max_conversations:
                    self._data.popitem(last=False)
            else:
                self._data.move_to_end(conversation_id)
            q.append(message)
            while q and q[0].timestamp < cutoff:
                q.popleft()

    def clear(self, conversation_id: str) -> None:
        with self._lock:
            self._data.pop(conversation_id, None)
