"""The detectors the engine runs after the word lists: they find, the engine decides."""
from __future__ import annotations

from typing import Any, Mapping

from .base import CheckContext, Detector
from .contact import ContactDetector
from .scam import ConversationDetector, ScamDetector


def default_detectors(config: Mapping[str, Any] | None = None) -> list[Detector]:
    """The detectors the engine builds once: contact, scam and conversation.

    ``config`` may turn detectors off by name: ``{"disable": ["conversation"]}``.
    """
    disabled = set((config or {}).get("disable", ()))
    dets: list[Detector] = [ContactDetector(), ScamDetector(), ConversationDetector()]
    return [d for d in dets if d.name not in disabled]


__all__ = [
    "CheckContext", "ContactDetector", "ConversationDetector", "Detector", "ScamDetector",
    "default_detectors",
]
