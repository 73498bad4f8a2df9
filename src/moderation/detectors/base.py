"""The one small interface every detector implements: find hits, decide nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..conversation import ConversationStore
    from ..normalize import NormalizedText
    from ..types import Hit


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a detector may know about the text besides its content."""

    scene: str = "post"
    field: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    # Unix seconds of the message; None means "now".
    timestamp: float | None = None
    # Window store for conversation detectors; None when the caller keeps no context.
    conversation: "ConversationStore | None" = None


class Detector(Protocol):
    """A detector returns hits with offsets into ``doc.original``; the engine decides."""

    name: str

    def find(self, doc: "NormalizedText", ctx: CheckContext) -> list["Hit"]: ...
