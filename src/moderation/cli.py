"""The ``moderation`` command: check, scan, serve, rescan, worker, wordlist check."""
from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import IO, Any, Iterable

import orjson

from .types import SCENES

# The longest text `scan` accepts on one line; longer lines get an error line, not a crash.
SCAN_MAX_CHARS = 1_000_000


def _moderator(args: argparse.Namespace):
    from .engine import Moderator
    from .wordlists import WordlistError

    try:
        return Moderator(getattr(args, "wordlists", None))
    except WordlistError as exc:
        print("moderation: the word lists have errors:", file=sys.stderr)
        for e in exc.errors:
            print("  " + e, file=sys.stderr)
        raise SystemExit(2)


def cmd_check(args: argparse.Namespace) -> int:
    m = _moderator(args)
    text = args.text if args.text is not None else sys.stdin.read()
    v = m.check(text, scene=args.scene)
    if args.json:
        sys.stdout.write(orjson.dumps(v.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"decision: {v.decision}   scene: {v.scene}   wordlist_version: {v.wordlist_version}")
    if v.categories:
        print(f"categories: {', '.join(v.categories)}" + (f"   patterns: {', '.join(v.patterns)}" if v.patterns else ""))
    for h in v.hits:
        via = f"  via {'+'.join(h.via)}" if h.via else ""
        pat = f"/{h.pattern}" if h.pattern else ""
        print(f"  [{h.start}:{h.end}] {h.text!r}  {h.category}{pat}  {h.severity}  {h.rule}{via}")
    if v.masked != text:
        print(f"masked: {v.masked}")
    return 0


def _scan_item(raw: bytes, lineno: int, default_scene: str) -> tuple[Any, dict[str, Any] | str]:
    """Parse one input line: (id, item) or (id, error message)."""
    checked = True  # orjson reads the bytes itself: valid UTF-8, never a lone surrogate
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # The slow path names what is wrong: bad bytes, a blank line, bad JSON, or escaped lone
        # surrogates (orjson refuses them; the stdlib parser accepts and we report them below).
        checked = False
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"line {lineno}: not valid UTF-8 (byte {exc.start})"
        if not line.strip():
            return None, ""
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            try:
                item = json.loads(line)
            except ValueError:
                return None, f"line {lineno}: not valid JSON ({exc.msg})"
    if not isinstance(item, dict):
        return None, f"line {lineno}: each line must be a JSON object"
    ident = item.get("id")
    text = item.get("text")
    if not isinstance(text, str):
        return ident, f"line {lineno}: 'text' must be a string" if "text" in item else f"line {lineno}: missing 'text'"
    if len(text) > SCAN_MAX_CHARS:
        return ident, f"line {lineno}: text longer than {SCAN_MAX_CHARS} characters"
    if not checked:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return ident, f"line {lineno}: text contains lone surrogate code points"
    scene = item.get("scene") or default_scene
    if scene not in SCENES:
        return ident, f"line {lineno}: unknown scene {scene!r}; use one of {', '.join(SCENES)}"
    item["scene"] = scene
    return ident, item


def scan_stream(moderator, src: Iterable[bytes], out: IO[bytes], default_scene: str = "post") -> dict[str, int]:
    """JSON Lines in, JSON Lines out, in order, constant memory; bad lines get error lines."""
    counts = {"lines": 0, "errors": 0, "pass": 0, "review": 0, "block": 0}
    buf: list[bytes | None] = []
    # Lines without a conversation are checked together (``check_texts``) when the buffer is
    # written; a conversation's messages are checked at once, in order, since each one's
    # verdict depends on those before it.
    batch: list[tuple[int, dict]] = []

    def flush() -> None:
        if batch:
            items = [it for _, it in batch]
            verdicts = moderator.check_texts(
                [it["text"] for it in items], scene=[it["scene"] for it in items],
                ids=[it.get("id") for it in items], fields=[it.get("field") for it in items], as_dicts=True)
            dumps = orjson.dumps
            for (slot, _), d in zip(batch, verdicts):
                counts[d["decision"]] += 1
                buf[slot] = dumps(d)
            batch.clear()
        out.write(b"\n".join(buf) + b"\n")  # type: ignore[arg-type]
        buf.clear()

    for lineno, raw in enumerate(src, 1):
        ident, item = _scan_item(raw, lineno, default_scene)
        if item == "":
            continue
        counts["lines"] += 1
        if isinstance(item, str):
            counts["errors"] += 1
            buf.append(orjson.dumps({"id": ident, "error": item}))
        elif item.get("conversation_id") is None:
            batch.append((len(buf), item))
            buf.append(None)
        else:
            v = moderator.check_item(item, default_scene)
            counts[v.decision] += 1
            buf.append(orjson.dumps(v.to_dict()))
        if len(buf) >= 512:
            flush()
    if buf:
        flush()
    out.flush()
    return counts


def cmd_scan(args: argparse.Namespace) -> int:
    m = _moderator(args)
    # The engine lives as long as the scan: keep its objects out of the garbage collector's
    # full passes, each of which would otherwise walk all of them (50 ms with 90,000 entries).
    gc.collect()
    gc.freeze()
    src = open(args.input, "rb") if args.input and args.input != "-" else sys.stdin.buffer
    dst = open(args.output, "wb") if args.output and args.output != "-" else sys.stdout.buffer
    try:
        counts = scan_stream(m, src, dst, args.scene)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout.buffer:
            dst.close()
    if args.summary:
        print(orjson.dumps(counts).decode(), file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import run

    run(host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_wordlist_check(args: argparse.Namespace) -> int:
    from .wordlists import WordlistError, load_wordlist, redundant_entries

    try:
        wl = load_wordlist(args.wordlists)
    except WordlistError as exc:
        for e in exc.errors:
            print(e)
        print(f"{len(exc.errors)} problem(s) found", file=sys.stderr)
        return 1
    counts = wl.counts()
    print(f"ok: wordlist_version {wl.version}")
    for k, n in counts.items():
        print(f"  {k:15} {n}")
    notes = redundant_entries(wl)
    for note in notes:
        print(f"note: {note}")
    if notes:
        print(f"{len(notes)} entr{'y' if len(notes) == 1 else 'ies'} found through normalization of another", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moderation", description=__doc__)
    p.add_argument("--wordlists", default=None, help="word-list folder (default: MODERATION_WORDLISTS or ./wordlists)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="check one text and print the verdict")
    c.add_argument("--scene", choices=SCENES, default="post")
    c.add_argument("--json", action="store_true", help="print the verdict JSON")
    c.add_argument("text", nargs="?", help="the text (standard input when absent)")
    c.set_defaults(func=cmd_check)

    s = sub.add_parser("scan", help="JSON Lines in, verdict lines out, in order")
    s.add_argument("--input", default=None)
    s.add_argument("--output", default=None)
    s.add_argument("--scene", choices=SCENES, default="post", help="scene for lines that name none")
    s.add_argument("--summary", action="store_true", help="print counts to standard error at the end")
    s.set_defaults(func=cmd_scan)

    v = sub.add_parser("serve", help="run the HTTP service")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--workers", type=int, default=1)
    v.set_defaults(func=cmd_serve)

    w = sub.add_parser("wordlist", help="word-list tools")
    wsub = w.add_subparsers(dest="wordlist_command", required=True)
    wc = wsub.add_parser("check", help="validate the lists; name file and line of every error")
    wc.set_defaults(func=cmd_wordlist_check)

    try:
        from . import rescan
    except ImportError:
        rescan = None  # type: ignore[assignment]
    if rescan is not None and hasattr(rescan, "add_rescan_arguments"):
        r = sub.add_parser("rescan", help="batch rescan of stored profiles")
        rescan.add_rescan_arguments(r)
        r.set_defaults(func=rescan.run_rescan)
        k = sub.add_parser("worker", help="consume rescan chunks from Redis")
        rescan.add_worker_arguments(k)
        k.set_defaults(func=rescan.run_worker)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
