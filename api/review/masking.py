"""Masking of personal data shown to moderators: phone numbers, ids and e-mails.

Masks keep the text's length in code points, so hit offsets (``start``/``end``) still index the
masked text and the page can highlight hits in it. Digits keep the familiar shape: a mobile
number becomes ``138****5678``. Full-width and written-out digits are recognised through a
same-length "shadow" of the text, so ``一三八一二三四五六七八`` is masked too.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Iterable

MASK = "*"

_CN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}


def _shadow_char(c: str) -> str:
    o = ord(c)
    if 0xFF01 <= o <= 0xFF5E:  # full-width ASCII
        return chr(o - 0xFEE0)
    if 0x2460 <= o <= 0x2468:  # ①-⑨
        return chr(ord("1") + o - 0x2460)
    return _CN_DIGITS.get(c, c)


def _shadow(text: str) -> str:
    return "".join(_shadow_char(c) for c in text)


_EMAIL = re.compile(r"([A-Za-z0-9._%+\-]+)@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Seven or more digits, possibly split by spaces or dashes: mobile and landline numbers, QQ
# numbers, bank cards, identity cards (which may end in X). Shorter runs are amounts and ages.
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){6,}(?:[ \-]?[Xx])?(?![0-9])")
# An id written after a contact label: 微信 abc123, QQ：123456, tel 12345.
_LABELLED_ID = re.compile(
    r"(?i)(?:微信|威信|薇信|维信|v信|vx|wx|weixin|wechat|qq|扣扣|企鹅|line|telegram|tg|whatsapp|"
    r"电话|手机|tel|id|账号|帐号)\s*(?:号码|号)?\s*[:：]?\s*([A-Za-z0-9_\-]{4,})"
)
_ID_RUN = re.compile(r"[A-Za-z0-9_\-]{4,}")


def _mask_positions(out: list[str], positions: list[int], head: int, tail: int) -> None:
    n = len(positions)
    if n <= head + tail:
        head, tail = (1, 1) if n > 2 else (0, 0)
    for p in positions[head:n - tail]:
        out[p] = MASK


def _mask_run(out: list[str], shadow: str, start: int, end: int) -> None:
    """Mask the letters and digits of ``[start, end)``, keeping a recognisable head and tail."""
    positions = [i for i in range(start, end) if shadow[i].isascii() and shadow[i].isalnum()]
    digits_only = all(shadow[i].isdigit() or shadow[i] in "Xx" for i in positions)
    if digits_only and len(positions) >= 11:
        _mask_positions(out, positions, 3, 4)  # 138****5678, 110***********1234
    elif len(positions) >= 7:
        _mask_positions(out, positions, 2, 2)
    else:
        _mask_positions(out, positions, 1, 1)


def mask_text(text: str, spans: Iterable[tuple[int, int]] = ()) -> str:
    """``text`` with phone numbers, ids and e-mails masked; same length in code points.

    ``spans`` are extra ``[start, end)`` ranges known to hold contact details (the verdict's
    ``contact`` hits); id-like runs inside them are masked even when short.
    """
    if not text:
        return text
    shadow = _shadow(text)
    out = list(text)
    for m in _EMAIL.finditer(shadow):
        s, e = m.span(1)
        for p in range(s + 1, e):
            out[p] = MASK
    for m in _LONG_DIGITS.finditer(shadow):
        _mask_run(out, shadow, *m.span())
    for m in _LABELLED_ID.finditer(shadow):
        _mask_run(out, shadow, *m.span(1))
    n = len(text)
    for s, e in spans:
        if not (0 <= s < e <= n):
            continue
        for m in _ID_RUN.finditer(shadow, s, e):
            _mask_run(out, shadow, *m.span())
    return "".join(out)


def contact_spans(verdict: dict[str, Any]) -> list[tuple[int, int]]:
    spans = []
    for hit in verdict.get("hits") or ():
        if isinstance(hit, dict) and hit.get("pattern") == "contact":
            s, e = hit.get("start"), hit.get("end")
            if isinstance(s, int) and isinstance(e, int):
                spans.append((s, e))
    return spans


def mask_verdict(verdict: dict[str, Any], text: str | None, masked_text: str | None) -> dict[str, Any]:
    """A copy of ``verdict`` whose hit texts and ``masked`` field carry no unmasked contact data."""
    v = copy.deepcopy(verdict)
    n = len(text) if text is not None else -1
    for hit in v.get("hits") or ():
        if not isinstance(hit, dict):
            continue
        s, e = hit.get("start"), hit.get("end")
        if masked_text is not None and isinstance(s, int) and isinstance(e, int) and 0 <= s <= e <= n:
            hit["text"] = masked_text[s:e]
        elif isinstance(hit.get("text"), str):
            hit["text"] = mask_text(hit["text"], [(0, len(hit["text"]))] if hit.get("pattern") == "contact" else ())
    if "masked" in v:
        vm = v.get("masked")
        if masked_text is not None and isinstance(vm, str) and text is not None and len(vm) == len(text):
            # Keep the engine's blocked spans and add ours.
            v["masked"] = "".join(a if a != o else b for a, o, b in zip(vm, text, masked_text))
        elif masked_text is not None:
            v["masked"] = masked_text
        elif isinstance(vm, str):
            v["masked"] = mask_text(vm)
    return v


def scrub_verdict(verdict: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``verdict`` without any user text (retention): hit texts and ``masked`` go."""
    v = copy.deepcopy(verdict)
    for hit in v.get("hits") or ():
        if isinstance(hit, dict) and "text" in hit:
            hit["text"] = None
    if "masked" in v:
        v["masked"] = None
    return v
