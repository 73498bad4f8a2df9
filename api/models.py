"""Request bodies. Field names follow the contract's scan lines; limits live in Settings."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Scene = Literal["profile", "post", "chat"]
# Ids are echoed back; accept the JSON scalars a backend is likely to use.
# Cap on identifier strings (ids, user ids, field names): they are keys, not content.
ID_MAX = 256
# 64-bit integers only: an id is echoed back, and larger ones do not survive most JSON stacks.
ItemId = Annotated[str, Field(max_length=ID_MAX)] | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None


class ContextMessage(BaseModel):
    """A message near the checked one, shown to a moderator if the verdict is queued."""

    # Length checked by hand: pydantic's length constraint refuses lone surrogates, which the
    # message text, like ``text`` itself, may carry (they are replaced before use).
    text: str = Field(description="At most 10,000 characters.")
    user_id: str | None = Field(default=None, max_length=ID_MAX)

    @field_validator("text")
    @classmethod
    def _length(cls, v: str) -> str:
        if len(v) > 10_000:
            raise ValueError("at most 10,000 characters")
        return v


class ModerateRequest(BaseModel):
    """One text to check."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(description="The text as the user wrote it; offsets in the verdict index it.")
    scene: Scene = "post"
    id: ItemId = Field(default=None, description="Echoed in the verdict.")
    field: str | None = Field(default=None, max_length=ID_MAX, description="Profile field name, e.g. nickname, bio.")
    user_id: str | None = Field(default=None, max_length=ID_MAX)
    conversation_id: str | None = Field(default=None, max_length=ID_MAX,
                                        description="Chat: messages of one conversation are judged together.")
    message_id: str | None = Field(default=None, max_length=ID_MAX)
    context: list[str | ContextMessage] | None = Field(
        default=None, max_length=10,
        description="Up to 10 surrounding messages, only for a moderator if the verdict is queued "
                    "(not used for the verdict).")


class BatchRequest(BaseModel):
    """Up to ``batch_max`` texts; verdicts come back in the same order."""

    model_config = ConfigDict(extra="ignore")

    items: list[ModerateRequest] = Field(description="Texts to check, in order.")


class ProfileRequest(BaseModel):
    """All text fields of one profile: a verdict per field and an overall decision."""

    model_config = ConfigDict(extra="ignore")

    id: ItemId = None
    user_id: str | None = Field(default=None, max_length=ID_MAX)
    scene: Scene = "profile"
    fields: dict[str, str] = Field(description="Field name → text, e.g. {\"nickname\": …, \"bio\": …}.")


Category = Literal["discrimination", "illegal", "political", "porn", "fraud"]
Severity = Literal["low", "medium", "high"]
# Word-list terms and names: short, printable.
TERM_MAX = 100
NAME_PATTERN = r"^[a-z0-9_]{1,32}$"


class WordlistItemIn(BaseModel):
    """A runtime word-list edit.

    - ``entry``: a term to find (``category`` required; an entry with the same category, group
      and term as a file entry replaces it, which is how a file entry's severity is changed);
    - ``allow``: an allow-list term (optionally scoped to ``scenes`` / profile ``fields``);
    - ``remove``: switch off a file entry by its ``rule`` id (e.g. ``porn.escort:约炮``);
    - ``remove_allow``: switch off a file allow-list term.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["entry", "allow", "remove", "remove_allow"] = "entry"
    term: str | None = Field(default=None, min_length=1, max_length=TERM_MAX)
    category: Category | None = Field(default=None, description="Required for kind=entry.")
    severity: Severity | None = Field(default=None, description="kind=entry; default medium.")
    flags: list[Literal["boundary", "exact", "nohomophone", "nopinyin", "nosplit"]] = Field(
        default_factory=list, max_length=5)
    group: str | None = Field(default=None, pattern=NAME_PATTERN)
    pattern: str | None = Field(default=None, pattern=NAME_PATTERN, description="Scam pattern, e.g. escort.")
    scenes: list[Scene] | None = Field(default=None, max_length=3, description="Only in these scenes.")
    fields: list[str] | None = Field(default=None, max_length=20,
                                     description="kind=allow: only in these profile fields.")
    rule: str | None = Field(default=None, max_length=200, description="kind=remove: the rule id to switch off.")


class WordlistItemPatch(BaseModel):
    """Change some fields of an existing runtime item (its kind stays)."""

    model_config = ConfigDict(extra="forbid")

    term: str | None = Field(default=None, min_length=1, max_length=TERM_MAX)
    category: Category | None = None
    severity: Severity | None = None
    flags: list[Literal["boundary", "exact", "nohomophone", "nopinyin", "nosplit"]] | None = Field(
        default=None, max_length=5)
    group: str | None = Field(default=None, pattern=NAME_PATTERN)
    pattern: str | None = Field(default=None, pattern=NAME_PATTERN)
    scenes: list[Scene] | None = Field(default=None, max_length=3)
    fields: list[str] | None = Field(default=None, max_length=20)
    rule: str | None = Field(default=None, max_length=200)


def compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
