"""Batch rescans of stored profiles: streaming, all cores, resumable, delta, distributed.

``moderation rescan --input FILE --output FILE`` reads JSON Lines or CSV and writes one line for
every input whose decision is not ``pass`` (and one ``{"id": …, "error": …}`` line for every bad
input), in input order.

Input records
    JSON Lines: ``{"id": …, "text": …}`` with optional ``scene`` (default ``profile``) and
    ``field``, or ``{"id": …, "fields": {"nickname": …, "bio": …}}`` instead of ``text``.
    CSV (header row required): an ``id`` column and a ``text`` column (optional ``scene`` and
    ``field`` columns), or an ``id`` column and one column per profile field (every column other
    than ``id``, ``scene``, ``user_id`` and ``conversation_id``; empty cells are skipped).
    A line or row that is not UTF-8, not JSON, or lacks an id or text gets an error line
    (``{"id": … or null, "error": …, "line": N}``, N the input line, or the data row for CSV);
    nothing is dropped. A UTF-8 byte order mark at the start of the file is skipped.

Output lines
    A single-text input gives its contract verdict (``Verdict.to_dict()``).
    A multi-field input gives one combined line::

        {"id": …, "decision": <strictest field decision>,
         "categories": [...], "patterns": [...],        # unions over all fields
         "hits": [{…, "field": "bio"}, …],                # every hit, tagged with its field;
                                                           # offsets index that field's text
         "fields": {"bio": {"decision": …, "categories": …, "patterns": …, "hits": […],
                            "masked": …}, …},            # per-field verdicts, every field
         "wordlist_version": …, "scene": …}

    There is no top-level ``masked`` for a multi-field line: each field's masked text is in
    ``fields``. A delta rescan (``--since``) adds ``"previous_decision"``.

Engine sharing
    The ``Moderator`` is built once in the parent, then warmed (:meth:`RecordChecker.warm`: what
    the engine loads on first use, such as jieba's dictionary and the detectors' tables), then
    ``gc.freeze()``, then the worker pool is forked (``multiprocessing`` fork context): workers
    share the automaton and tables copy-on-write and load nothing themselves (a test checks
    that a worker imports no module and loads no table while checking). For a JSON Lines file
    the parent hands out byte ranges of about 1 MB of whole lines, found with a seek and one
    ``readline`` each, and every worker reads its ranges itself (``os.pread``) and counts their
    lines; the parent renumbers the few error lines (``fix_lines``). Standard input goes to the
    workers as raw 1 MB blocks, CSV as parsed cells. Parsing records and writing verdicts is the
    workers' work; the parent only hands out, writes and keeps the checkpoint. (Reading,
    cutting and counting 1 MB blocks in the parent had cost it about 0.4 µs a profile, and
    256 KB blocks 0.4 ms each in the pool's threads: a third of a delta rescan's time.)

Checkpoints
    With ``--output FILE`` the rescan keeps ``FILE.checkpoint`` (input position, output length,
    counters), replaced atomically after chunks are written. ``--resume`` truncates the output to
    the recorded length and continues from the recorded input position, so after Ctrl-C or a kill
    no line is lost and none is written twice. The checkpoint is removed when the rescan ends.

Delta rescans (``--since VERSION``)
    Every rescan records a snapshot of the word lists it ran with in the history directory
    (``MODERATION_HISTORY_DIR``, default ``<wordlist dir>/.history``; one gzip JSON file per
    version, see :func:`record_version`). ``--since`` compares that snapshot with the current
    lists; see :mod:`moderation.rescan_delta` for what is scanned and when it falls back.
"""
from __future__ import annotations

import argparse
import csv
import gc
import importlib
import io
import os
import re
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import orjson

try:  # the compiled chunk scan of delta rescans (setup.py); without it, the regex path
    from . import _deltascan
except ImportError:  # pragma: no cover - a source tree that was not built
    _deltascan = None

DEFAULT_SCENE = "profile"
SCENES = ("profile", "post", "chat")
DECISION_RANK = {"pass": 0, "review": 1, "block": 2}
# CSV columns that describe the record rather than hold profile text.
CSV_META_COLUMNS = frozenset({"id", "scene", "field", "user_id", "conversation_id"})
CHUNK_BYTES = 1024 * 1024  # per chunk the pool's threads cost about 0.4 ms in the parent
CSV_CHUNK_ROWS = 2000
CHECKPOINT_INTERVAL_S = 1.0
CHECKPOINT_FORMAT = 1
# A CSV row that could not be parsed, carried as a JSON record (distributed mode).
ROW_ERROR_KEY = "__row_error__"
UTF8_BOM = b"\xef\xbb\xbf"
# Longest CSV cell accepted (the csv module's default, 128 KiB, is below some stored bios).
CSV_FIELD_LIMIT = 16 * 1024 * 1024


class RescanError(Exception):
    """A problem with the rescan's arguments or files: reported as one line, exit code 2."""


# --------------------------------------------------------------------------------------------
# Checking records


class RecordError(ValueError):
    """One input record cannot be checked; it becomes an error line."""


def record_fields(obj: Any, default_scene: str) -> tuple[Any, str, list[tuple[str | None, str]], bool]:
    """Validate one input record: ``(id, scene, [(field, text), …], multi_field)``."""
    if not isinstance(obj, dict):
        raise RecordError("line is not a JSON object")
    rid = obj.get("id")
    if rid is None:
        raise RecordError("missing id")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise RecordError("id must be a string or an integer")
    scene = obj.get("scene") or default_scene
    if scene not in SCENES:
        raise RecordError(f"unknown scene {scene!r}; expected one of {', '.join(SCENES)}")
    has_text = "text" in obj
    has_fields = "fields" in obj
    if has_text and has_fields:
        raise RecordError('give either "text" or "fields", not both')
    if has_text:
        text = obj["text"]
        if not isinstance(text, str):
            raise RecordError('"text" must be a string')
        fname = obj.get("field")
        if fname is not None and not isinstance(fname, str):
            raise RecordError('"field" must be a string')
        return rid, scene, [(fname, text)], False
    if has_fields:
        fields = obj["fields"]
        if not isinstance(fields, dict) or not fields:
            raise RecordError('"fields" must be a non-empty object of field name to text')
        out = []
        for name, text in fields.items():
            if not isinstance(text, str):
                raise RecordError(f'field {name!r} must be a string')
            out.append((name, text))
        return rid, scene, out, True
    raise RecordError('missing "text" (or "fields")')


def _combine(rid: Any, scene: str, version: str, per_field: list[tuple[str, Any]]) -> dict[str, Any]:
    """The combined output line of a multi-field record (see the module docstring)."""
    decision = "pass"
    cats: set[str] = set()
    pats: set[str] = set()
    hits: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for name, verdict in per_field:
        d = verdict.to_dict()
        if DECISION_RANK[d["decision"]] > DECISION_RANK[decision]:
            decision = d["decision"]
        cats.update(d["categories"])
        pats.update(d["patterns"])
        for h in d["hits"]:
            hits.append({**h, "field": name})
        fields[name] = {k: d[k] for k in ("decision", "categories", "patterns", "hits", "masked")}
    return {
        "id": rid,
        "decision": decision,
        "categories": sorted(cats),
        "patterns": sorted(pats),
        "hits": hits,
        "fields": fields,
        "wordlist_version": version,
        "scene": scene,
    }


@dataclass
class ChunkResult:
    """What a worker returns for one chunk: output bytes (in input order) and counters."""

    out: bytes
    stats: Counter
    n_lines: int = -1  # lines in a JSON Lines chunk (blank ones too); -1: not counted


# Whole lines of the two common record shapes, with no escapes or spaces: valid records
# whatever their strings hold (a delta rescan passes them unparsed when its prefilter finds nothing).
_JSTR = r'"[^"\\\x00-\x1f]*"'
SIMPLE_LINES = re.compile(
    r'(?:\{"id":(?:' + _JSTR + r'|-?(?:0|[1-9][0-9]{0,17})),"(?:text":' + _JSTR
    + r'|fields":\{' + _JSTR + ":" + _JSTR + "(?:," + _JSTR + ":" + _JSTR + r')*\})\}(?:\n|\Z))*')

# The output of a record that passes: not written, only counted.
PASS: dict[str, Any] = {"decision": "pass"}
SCENE_SET = frozenset(SCENES)
# Texts checked in the parent before forking, so that what the engine builds on first use
# (jieba, detector tables, boundary and homophone tests) is built once and shared (our own words).
WARM_TEXTS = (
    "加我薇信：lucky_girl1995，qq 123456789，电话13800138000，www.example.com",
    "稳赚不赔的投资项目，导师带单，日赚三千，先交保证金，借我点钱发个红包",
    "全套服务，约炮吗，拳套练习，兼职刷单，点击链接领取补贴",
    "喜欢旅行和读书，周末一起去爬山吧",
)


class RecordChecker:
    """Checks records with one engine; picklable state lives in the forked parent."""

    def __init__(self, moderator: Any, default_scene: str = DEFAULT_SCENE, delta: Any = None):
        self.moderator = moderator
        self.default_scene = default_scene
        self.delta = delta  # a rescan_delta.DeltaPlan or None
        self._chunk_rx: Any = False  # the delta's chunk regex (False: not built yet)
        self._native: Any = False  # the delta's tables for the compiled chunk scan (None: none)

    @property
    def version(self) -> str:
        return self.moderator.version

    def warm(self) -> None:
        """Load everything the engine loads lazily, in this process, before the workers fork.

        Word-list matching, jieba's dictionary (boundary checks, homophone word tests) and the
        detectors' tables are built on first use; warming them here means forked workers share
        them copy-on-write instead of each loading its own (``test_workers_load_nothing``).
        """
        if self.delta is not None:
            self._prepare_scan()
        for m in (self.moderator, getattr(self.delta, "old", None), getattr(self.delta, "restricted", None)):
            if m is None:
                continue
            warm = getattr(m, "warm", None)
            if callable(warm):
                try:
                    # A delta rescan never checks in batches: no check_texts tables for it.
                    warm(batch=self.delta is None)
                except TypeError:  # an engine whose warm() takes no options (test factories)
                    warm()
            prepare = getattr(m, "prepare_batch", None)
            if callable(prepare) and m is self.moderator and self.delta is None:
                # check_texts' automaton, shared by the forked workers. (A delta rescan checks
                # its few candidates one at a time: none for any of its engines.)
                prepare()
            for scene in SCENES:
                for text in WARM_TEXTS:
                    try:
                        m.check(text, scene=scene, id="warm", field="bio")
                    except Exception:  # noqa: BLE001 - warming is best effort
                        break

    def evaluate(self, moderator: Any, rid: Any, scene: str, fields: list, multi: bool) -> dict[str, Any]:
        """The output line of one record as a dict; ``PASS`` (shared, never mutated) for a pass."""
        if not multi:
            fname, text = fields[0]
            v = moderator.check(text, scene=scene, id=rid, field=fname)
            return PASS if v.decision == "pass" else v.to_dict()
        per_field = [(n, moderator.check(t, scene=scene, id=rid, field=n)) for n, t in fields]
        for _, v in per_field:
            if v.decision != "pass":
                return _combine(rid, scene, moderator.version, per_field)
        return PASS

    def _error(self, rid: Any, message: str, stats: Counter, line_no: int | None) -> bytes:
        stats["decision:error"] += 1
        if type(rid) not in (str, int):
            rid = None
        err: dict[str, Any] = {"id": rid, "error": message}
        if line_no is not None:
            err["line"] = line_no
        return orjson.dumps(err) + b"\n"

    def check_obj(self, obj: Any, stats: Counter, line_no: int | None = None) -> bytes | None:
        """One output line (with newline) for a record, or None when it passes."""
        prep = self._prepare(obj, stats, line_no)
        if type(prep) is bytes:
            return prep
        rid, scene, fields, multi = prep  # type: ignore[misc]
        return self._finish(rid, scene, fields, multi, stats, line_no)

    def _prepare(self, obj: Any, stats: Counter, line_no: int | None) -> bytes | tuple:
        """A record's ``(id, scene, fields, multi)``, or its error line (counted)."""
        stats["total"] += 1
        # The common shape first, with the fewest Python operations: {"id": str|int, "text": str}
        # and nothing else that needs checking; anything else goes through record_fields.
        if type(obj) is dict and ROW_ERROR_KEY not in obj:
            rid = obj.get("id")
            text = obj.get("text")
            if (type(rid) is str or type(rid) is int) and type(text) is str and "fields" not in obj \
                    and obj.get("field") is None:
                scene = obj.get("scene") or self.default_scene
                if scene in SCENE_SET:
                    fields: list = [(None, text)]
                    multi = False
                else:
                    return self._error(rid, f"unknown scene {scene!r}; expected one of {', '.join(SCENES)}", stats, line_no)
            else:
                try:
                    rid, scene, fields, multi = record_fields(obj, self.default_scene)
                except RecordError as e:
                    return self._error(obj.get("id"), str(e), stats, line_no)
        else:
            if type(obj) is dict:
                return self._error(obj.get("id"), str(obj[ROW_ERROR_KEY]), stats, line_no)
            return self._error(None, "line is not a JSON object", stats, line_no)
        return rid, scene, fields, multi

    def _finish(self, rid: Any, scene: str, fields: list, multi: bool, stats: Counter,
                line_no: int | None) -> bytes | None:
        """The output line of a prepared record, or None when it passes."""
        try:
            if self.delta is not None:
                d = self.delta.check(self, rid, scene, fields, multi, stats)
            else:
                d = self.evaluate(self.moderator, rid, scene, fields, multi)
            decision = d["decision"]
            if decision == "pass":
                stats["decision:pass"] += 1
                return None
            line = orjson.dumps(d) + b"\n"
        except Exception as e:  # noqa: BLE001 - one bad record must not stop millions
            return self._error(rid, f"could not check this record ({type(e).__name__})", stats, line_no)
        self._count_flagged(d, stats)
        return line

    def run_chunk(self, kind: str, payload: Any, first_line: int) -> ChunkResult:
        """Check one chunk: ``kind`` "jsonl" (payload: bytes), "csv" (payload: ``(header, rows)``,
        each row a list of cells or a BadRow) or "rows" (payload: list of record dicts).

        This loop runs once per profile, so it is kept lean: the common record
        (``{"id": …, "text": …}`` and nothing else) that passes costs one ``orjson.loads``, a few
        type tests and the engine's ``check``; counters are summed locally. Everything else
        (fields, scene, bad records, flagged verdicts, delta rescans) takes the general path.
        """
        stats: Counter = Counter()
        out: list[bytes] = []
        jsonl = kind == "jsonl"
        header = None
        quick = getattr(self.delta, "quick_reject", None)
        passed = 0  # fast-path passes (and delta quick rejects), counted once at the end
        numbered: Iterable[tuple[int, Any]] | None = None
        if jsonl:
            if quick is not None:
                found = self._delta_lines(payload, first_line)
                if found is not None:
                    numbered, passed = found
            if numbered is None:
                items = payload.split(b"\n")
                n_lines = len(items)
                numbered = enumerate(items, first_line)
            else:
                n_lines = passed + len(numbered)
        elif kind == "csv":
            header, items = payload  # rows become records here, in the workers
            numbered = enumerate(items, first_line)
            n_lines = -1
        else:
            numbered = enumerate(payload, first_line)
            n_lines = -1
        fast = self.delta is None
        scene = self.default_scene
        loads = orjson.loads
        # (slot in out, id, scene, fields, multi, line number) of the records checked at the end.
        pending: list[tuple[int, Any, str, list, bool, int]] = []
        n_plain = 0  # pending records not yet counted in stats["total"]
        for line_no, item in numbered:
            if jsonl:
                try:
                    obj = loads(item)
                except orjson.JSONDecodeError as e:
                    if not item or item.isspace():
                        continue  # blank lines: skipped (but they count in line numbers)
                    stats["total"] += 1
                    out.append(self._error(None, _json_error(item, e), stats, line_no))
                    continue
            else:
                if header is not None and type(item) is list:
                    item = _csv_row_to_record(header, item)
                if type(item) is BadRow:
                    stats["total"] += 1
                    out.append(self._error(item.rid, str(item), stats, line_no))
                    continue
                obj = item
            if fast:
                if type(obj) is dict and len(obj) == 2:
                    text = obj.get("text")
                    rid = obj.get("id")
                    if type(text) is str and (type(rid) is str or type(rid) is int):
                        # Checked together at the end of the chunk (``check_texts``); the
                        # placeholder keeps its line in order.
                        n_plain += 1
                        pending.append((len(out), rid, scene, [(None, text)], False, line_no))
                        out.append(None)
                        continue
                # Any other record: validated now, checked with the others.
                prep = self._prepare(obj, stats, line_no)
                if type(prep) is bytes:
                    out.append(prep)
                else:
                    pending.append((len(out), *prep, line_no))  # type: ignore[arg-type]
                    out.append(None)
                continue
            elif quick is not None and quick(obj):
                passed += 1
                continue
            line = self.check_obj(obj, stats, line_no)
            if line is not None:
                out.append(line)
        if pending:
            stats["total"] += n_plain
            stats["decision:pass"] += self._check_pending(pending, out, stats)
        if passed:
            stats["total"] += passed
            stats["decision:pass"] += passed
        return ChunkResult(b"".join([x for x in out if x is not None] if pending else out), stats, n_lines)

    def _prepare_scan(self) -> None:
        """Choose the delta's chunk scan once: the compiled scan's tables, else the chunk regex
        (each None where it does not apply; tests set them to choose a path)."""
        if self._native is False:
            get = getattr(self.delta, "native_tables", None)
            use = _deltascan is not None and os.environ.get("MODERATION_DELTA_SCAN") != "python"
            self._native = get() if use and get is not None else None
        if self._native is None and self._chunk_rx is False:
            get = getattr(self.delta, "chunk_regex", None)
            self._chunk_rx = get() if get is not None else None

    def _delta_lines(self, payload: bytes, first_line: int) -> tuple[list[tuple[int, bytes]], int] | None:
        """A delta rescan's chunk of JSON Lines without parsing every line: the numbered lines
        that need the per-line path, and how many lines passed. None: take the per-line path.

        Lines of the common shapes (``{"id":…,"text":"…"}``, ``{"id":…,"fields":{"…":"…",…}}``,
        no escapes, no spaces) are valid records whatever they hold; of those, only lines in
        which the prefilter may find a changed rule go to the per-line path (parse, prefilter on
        each text, ...), with every line of another shape. The rest pass, as their own quick
        reject would pass them. The compiled scan (``moderation._deltascan``) decides both in
        one pass over the bytes; without it ``SIMPLE_LINES`` and the plan's chunk regex do, over
        the decoded chunk (about three times slower). The tests hold all three paths equal.
        """
        self._prepare_scan()
        native = self._native
        if native is not None:
            n_lines, spans = _deltascan.scan(payload, native)
            return [(first_line + i, payload[s:e]) for i, s, e in spans], n_lines - len(spans)
        rx = self._chunk_rx
        if rx is None:
            return None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None  # the per-line path names the bad lines
        simple = SIMPLE_LINES.match
        search = rx.search
        n = len(text)
        todo: list[tuple[int, bytes]] = []
        passed = 0
        pos, line_no = 0, first_line
        while True:
            end = simple(text, pos).end()
            if end > pos:
                k = text.count("\n", pos, end)
                if end == n and text[end - 1] != "\n":
                    k += 1  # the chunk's last line, with no newline
                passed += k
                at, at_line = pos, line_no
                while True:
                    mt = search(text, at, end)
                    if mt is None:
                        break
                    h = mt.start()
                    s = text.rfind("\n", 0, h) + 1
                    e = text.find("\n", h, end)
                    e = end if e < 0 else e
                    at_line += text.count("\n", at, s)
                    todo.append((at_line, text[s:e].encode()))
                    passed -= 1
                    if e >= end:
                        break
                    at, at_line = e + 1, at_line + 1
                line_no += k
            if end >= n:
                break
            e = text.find("\n", end)  # a line of another shape (or blank): the per-line path
            e = n if e < 0 else e
            todo.append((line_no, text[end:e].encode()))
            line_no += 1
            if e >= n:
                break
            pos = e + 1
        if n == 0 or text[-1] == "\n":
            todo.append((line_no, b""))  # the blank last line: the per-line path skips it
        return todo, passed

    def _check_pending(self, pending: list, out: list, stats: Counter) -> int:
        """Check the chunk's records (every field of each) in one ``check_texts`` call and fill
        their places in ``out`` (a pass leaves None). Returns how many passed."""
        m = self.moderator
        texts: list[str] = []
        scenes: list[str] = []
        names: list[Any] = []
        ids: list[Any] = []
        owner: list[int] = []  # the pending record of each text
        first: list[int] = []  # each pending record's first text
        for r, (_, rid, scene, fields, _, _) in enumerate(pending):
            first.append(len(texts))
            for name, text in fields:
                texts.append(text)
                scenes.append(scene)
                names.append(name)
                ids.append(rid)
                owner.append(r)
        try:
            # Most records pass: only the flagged texts come back as verdicts.
            verdicts = m.check_texts(texts, scene=scenes, ids=ids, fields=names, flagged_only=True)
        except Exception:  # noqa: BLE001 - find the bad record one at a time below
            verdicts = None
        if verdicts is None:
            todo = range(len(pending))
        else:
            todo = sorted({owner[k] for k, v in enumerate(verdicts) if v is not None})
        version = m.version
        passed = len(pending) - len(todo)  # records with no flagged text
        for r in todo:
            slot, rid, scene, fields, multi, line_no = pending[r]
            try:
                if verdicts is None:
                    per_field = [(name, m.check(t, scene=scene, id=rid, field=name)) for name, t in fields]
                    if all(v.decision == "pass" for _, v in per_field):
                        passed += 1
                        continue
                else:
                    k = first[r]
                    # A field that passed has no verdict yet: its own check (flagged records only).
                    per_field = [(name, verdicts[k + j] or m.check(t, scene=scene, id=rid, field=name))
                                 for j, (name, t) in enumerate(fields)]
                d = _combine(rid, scene, version, per_field) if multi else per_field[0][1].to_dict()
                line = orjson.dumps(d) + b"\n"
            except Exception as e:  # noqa: BLE001 - one bad record must not stop millions
                out[slot] = self._error(rid, f"could not check this record ({type(e).__name__})", stats, line_no)
                continue
            self._count_flagged(d, stats)
            out[slot] = line
        return passed

    @staticmethod
    def _count_flagged(d: dict[str, Any], stats: Counter) -> None:
        stats["decision:" + d["decision"]] += 1
        for c in d["categories"]:
            stats["category:" + c] += 1
        for p in d["patterns"]:
            stats["pattern:" + p] += 1


def _json_error(item: bytes, e: Exception) -> str:
    """What is wrong with a line orjson refused (position only: never the line's text)."""
    try:
        item.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"line is not valid UTF-8 (byte {u.start + 1})"
    msg = str(e)
    return "line is not valid JSON" + (f": {msg}" if msg else "")


# The checker the forked pool workers use; set in the parent before the pool forks.
_WORKER_CHECKER: RecordChecker | None = None


def _pool_init() -> None:
    # The parent handles Ctrl-C and shuts the pool down; a worker must die with its parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: orphans then end when their pipe closes
        pass


def _pool_run(kind: str, payload: Any, first_line: int) -> ChunkResult:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.run_chunk(kind, payload, first_line)


_SPAN_FILES: dict[str, int] = {}  # path -> descriptor, per pool worker


def _pool_run_span(path: str, start: int, end: int) -> ChunkResult:
    """Check the whole lines in bytes [start, end) of a JSON Lines file, read here in the
    worker; "line" in error lines counts from the chunk's first line (``fix_lines``)."""
    assert _WORKER_CHECKER is not None
    fd = _SPAN_FILES.get(path)
    if fd is None:
        fd = _SPAN_FILES[path] = os.open(path, os.O_RDONLY)
    parts = []
    pos = start
    while pos < end:
        b = os.pread(fd, end - pos, pos)
        if not b:
            break
        parts.append(b)
        pos += len(b)
    blob = parts[0] if len(parts) == 1 else b"".join(parts)
    if blob.endswith(b"\n"):
        blob = blob[:-1]
    if start == 0 and blob.startswith(UTF8_BOM):
        blob = blob[len(UTF8_BOM):]
    return _WORKER_CHECKER.run_chunk("jsonl", blob, 1)


def fix_lines(out: bytes, first_line: int) -> bytes:
    """Error lines of a chunk checked with lines counted from 1, renumbered from ``first_line``."""
    lines = out.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b'{"id":') and b'"error":' in line:
            d = orjson.loads(line)
            if "error" in d and "line" in d and "decision" not in d:
                d["line"] += first_line - 1
                lines[i] = orjson.dumps(d)
    return b"\n".join(lines)


def iter_jsonl_spans(f: io.BufferedIOBase, start_pos: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """Byte ranges of whole lines of a JSON Lines file, about ``chunk_bytes`` each, found without
    reading them (a seek and one ``readline`` per range): the workers read them."""
    pos = start_pos
    size = os.fstat(f.fileno()).st_size
    while True:
        if pos + chunk_bytes >= size:  # near the end: the file may have grown since
            size = os.fstat(f.fileno()).st_size
        if pos >= size:
            return
        f.seek(pos + chunk_bytes)
        f.readline()
        end = min(f.tell(), size) if pos + chunk_bytes < size else size
        yield pos, end
        pos = end


# --------------------------------------------------------------------------------------------
# Reading input in chunks


def detect_format(path: str | None, fmt: str | None) -> str:
    if fmt and fmt != "auto":
        if fmt not in ("jsonl", "csv"):
            raise RescanError(f"unknown --format {fmt!r}; expected jsonl or csv")
        return fmt
    if path and path.lower().endswith((".csv", ".csv.gz")):
        return "csv"
    return "jsonl"


@dataclass
class Chunk:
    kind: str  # "jsonl" | "csv" | "rows"
    payload: Any
    first_line: int  # 1-based input line (JSONL) or data row (CSV) of the first item
    end_pos: int  # resume position after this chunk: byte offset (JSONL) or row count (CSV)
    end_line: int
    progress_bytes: int


def iter_jsonl_chunks(f: io.BufferedIOBase, start_pos: int, start_line: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Cut a binary JSON Lines stream into chunks of whole lines without parsing them."""
    pos = start_pos
    line = start_line
    while True:
        blob = f.read(chunk_bytes)
        if not blob:
            return
        if not blob.endswith(b"\n"):
            blob += f.readline()
        n_lines = blob.count(b"\n") + (0 if blob.endswith(b"\n") else 1)
        payload = blob[:-1] if blob.endswith(b"\n") else blob
        if pos == 0 and payload.startswith(UTF8_BOM):  # files saved by some Windows tools
            payload = payload[len(UTF8_BOM):]
        pos += len(blob)
        yield Chunk("jsonl", payload, line, pos, line + n_lines, pos)
        line += n_lines


def _csv_row_id(header: list[str], row: list[str]) -> str | None:
    """The id cell of a row that cannot become a record, when it is readable."""
    i = header.index("id")
    if i < len(row) and row[i] and _utf8_ok([row[i]]):
        return row[i]
    return None


def _csv_row_to_record(header: list[str], row: list[str]) -> dict[str, Any] | BadRow:
    if len(row) != len(header):
        return BadRow(f"row has {len(row)} columns, header has {len(header)}", _csv_row_id(header, row))
    if not _utf8_ok(row):
        return BadRow("CSV row is not valid UTF-8", _csv_row_id(header, row))
    rec = dict(zip(header, row))
    out: dict[str, Any] = {"id": rec.get("id") or None}
    if rec.get("scene"):
        out["scene"] = rec["scene"]
    if "text" in rec:
        out["text"] = rec["text"]
        if rec.get("field"):
            out["field"] = rec["field"]
    else:
        fields = {k: v for k, v in rec.items() if k not in CSV_META_COLUMNS and v != ""}
        if fields:
            out["fields"] = fields
    return out


class BadRow(str):
    """A CSV row that cannot become a record: its error message (and its id when readable)."""

    def __new__(cls, message: str, rid: str | None = None) -> "BadRow":
        obj = super().__new__(cls, message)
        obj.rid = rid
        return obj

    def __reduce__(self):  # to the pool workers
        return (BadRow, (str(self), self.rid))


def _tell(f: Any) -> int:
    try:
        return f.tell()
    except (OSError, ValueError):
        return 0


def _utf8_ok(row: list[str]) -> bool:
    """False when a decoded row holds escaped undecodable bytes (lone surrogates)."""
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def iter_csv_chunks(binary: io.BufferedIOBase, start_rows: int, rows_per_chunk: int = CSV_CHUNK_ROWS) -> Iterator[Chunk]:
    """Parse CSV in the parent (quoted newlines make byte splitting unsafe) into row chunks.

    The header is read and checked at once (a bad header raises RescanError here, before any
    worker starts); the rows are read as the returned iterator is consumed."""
    # surrogateescape: a row with bytes that are not UTF-8 becomes an error line of its own
    # (strict decoding would fail a whole read-ahead block of rows, or the header).
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return iter(())
    except csv.Error as e:
        raise RescanError(f"CSV header: {e}") from None
    if not _utf8_ok(header):
        raise RescanError("CSV header is not valid UTF-8")
    header = [h.strip() for h in header]
    if "id" not in header:
        raise RescanError('CSV input needs an "id" column in its header row')
    return _csv_rows(binary, reader, header, start_rows, rows_per_chunk)


def _csv_rows(binary: Any, reader: Any, header: list[str], start_rows: int, rows_per_chunk: int) -> Iterator[Chunk]:
    row_no = 0
    batch: list[Any] = []
    first = start_rows + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as e:
            row = None
            err = f"unreadable CSV row: {e}"
        row_no += 1
        if row_no <= start_rows:
            continue
        # Rows go to the workers as parsed cells; making records of them is the workers' work.
        batch.append(BadRow(err) if row is None else row)
        if len(batch) >= rows_per_chunk:
            yield Chunk("csv", (header, batch), first, row_no, row_no + 1, _tell(binary))
            batch = []
            first = row_no + 1
    if batch:
        yield Chunk("csv", (header, batch), first, row_no, row_no + 1, _tell(binary))


# --------------------------------------------------------------------------------------------
# Progress and summary


class ProgressReporter:
    """Rich bar on a terminal, plain lines otherwise, nothing with ``none``."""

    def __init__(self, mode: str, total_bytes: int | None, label: str = "rescan", stream=None, interval: float = 5.0):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode = mode
        self.total = total_bytes or None
        self.label = label
        self.interval = interval
        self.start = time.monotonic()
        self.last_plain = self.start
        self.items0 = 0
        self.pos0 = 0
        self._bar = None
        if mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[items]:,} profiles  {task.fields[rate]:,.0f}/s  {task.fields[flagged]:,} flagged"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=self.total, items=0, rate=0.0, flagged=0)
            self._bar.start()

    def begin(self, pos: int, items: int) -> None:
        """Where a resumed run starts, so the rate counts only this run's work."""
        self.items0 = items
        self.pos0 = pos
        if self._bar is not None:
            self._bar.update(self._task, completed=pos, items=items)

    def update(self, pos: int, items: int, flagged: int, force: bool = False) -> None:
        now = time.monotonic()
        rate = (items - self.items0) / max(now - self.start, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, completed=pos, items=items, rate=rate, flagged=flagged)
        elif self.mode == "plain" and (force or now - self.last_plain >= self.interval):
            self.last_plain = now
            pct = f"{100.0 * pos / self.total:5.1f}% " if self.total else ""
            eta = ""
            if self.total and pos and now > self.start:
                left = (self.total - pos) / max(pos - self.pos0, 1) * (now - self.start)
                eta = f", about {_fmt_secs(left)} left"
            print(f"{self.label}: {pct}{items:,} profiles, {rate:,.0f}/s, {flagged:,} flagged{eta}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _fmt_secs(s: float) -> str:
    s = max(int(s), 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def summary_dict(stats: Counter, elapsed: float | None = None, version: str | None = None) -> dict[str, Any]:
    """Counters as a JSON summary: per decision, category and pattern."""
    out: dict[str, Any] = {"profiles": stats.get("total", 0)}
    for group in ("decision", "category", "pattern"):
        out[group] = {k.split(":", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith(group + ":")}
    for k in ("candidates", "unchanged"):
        if k in stats:
            out[k] = stats[k]
    if elapsed is not None:
        out["seconds"] = round(elapsed, 3)
        out["profiles_per_second"] = round(stats.get("total", 0) / elapsed, 1) if elapsed > 0 else None
    if version:
        out["wordlist_version"] = version
    return out


def print_summary(summary: dict[str, Any], rich_table: bool, stream=None) -> None:
    stream = stream or sys.stderr
    rows: list[tuple[str, str, int]] = []
    for group in ("decision", "category", "pattern"):
        for k, v in summary.get(group, {}).items():
            rows.append((group, k, v))
    extra = f"{summary['profiles']:,} profiles"
    if summary.get("seconds") is not None:
        extra += f" in {summary['seconds']:.1f} s ({summary.get('profiles_per_second') or 0:,.0f}/s)"
    if "candidates" in summary:
        extra += f"; delta: {summary['candidates']:,} candidates re-checked"
    if rich_table:
        from rich.console import Console
        from rich.table import Table

        t = Table(title="Rescan summary", caption=extra)
        t.add_column("group")
        t.add_column("value")
        t.add_column("profiles", justify="right")
        for g, k, v in rows:
            t.add_row(g, k, f"{v:,}")
        Console(file=stream).print(t)
    else:
        print(f"rescan summary: {extra}", file=stream)
        for g, k, v in rows:
            print(f"  {g:<9} {k:<16} {v:>12,}", file=stream)
        stream.flush()


# --------------------------------------------------------------------------------------------
# Checkpoints


def _peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child (pool worker)."""
    import resource

    return {"parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "workers": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        raise RescanError(f"checkpoint {path} is unreadable: {e}") from None
    if data.get("format") != CHECKPOINT_FORMAT:
        raise RescanError(f"checkpoint {path} has an unknown format")
    return data


# --------------------------------------------------------------------------------------------
# The local rescan


@dataclass
class RescanOptions:
    input: str | None
    output: str | None
    fmt: str = "jsonl"
    scene: str = DEFAULT_SCENE
    workers: int = 0
    resume: bool = False
    checkpoint: str | None = None
    progress: str = "auto"
    progress_interval: float = 5.0
    summary_json: str | None = None
    chunk_bytes: int = CHUNK_BYTES
    chunk_rows: int = CSV_CHUNK_ROWS
    since: str | None = None
    quiet: bool = False
    extra_identity: dict[str, Any] = field(default_factory=dict)


class Interrupted(BaseException):
    pass


def _raise_interrupted(signum, frame):  # noqa: ARG001
    raise Interrupted(signal.Signals(signum).name)


def run_local(checker: RecordChecker, opts: RescanOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a rescan on this machine; return the summary. Raises Interrupted on SIGINT/SIGTERM."""
    global _WORKER_CHECKER
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    identity = {
        "input": os.path.abspath(opts.input) if opts.input and opts.input != "-" else None,
        "format": opts.fmt,
        "scene": opts.scene,
        "wordlist_version": checker.version,
        "since": opts.since,
        **opts.extra_identity,
    }
    to_file = bool(opts.output and opts.output != "-")
    ckpt_path = opts.checkpoint or (f"{opts.output}.checkpoint" if to_file else None)
    stdin_input = not opts.input or opts.input == "-"
    if opts.resume and (not to_file or stdin_input):
        raise RescanError("--resume needs --input FILE and --output FILE")

    start_pos, start_line, stats = 0, 1, Counter()
    out_len = 0
    ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
    if opts.resume:
        if ckpt is None:
            log(f"rescan: no checkpoint at {ckpt_path}; starting from the beginning")
        else:
            mismatch = [k for k, v in identity.items() if ckpt["identity"].get(k) != v]
            if mismatch:
                raise RescanError(
                    f"checkpoint {ckpt_path} belongs to a different rescan ({', '.join(mismatch)} differ); "
                    "run without --resume to start over"
                )
            start_pos, start_line, out_len = ckpt["input_pos"], ckpt["input_line"], ckpt["output_len"]
            stats = Counter(ckpt["stats"])
            log(f"rescan: resuming at input line {start_line:,} ({stats.get('total', 0):,} profiles already done)")
    elif ckpt is not None:
        log(f"rescan: ignoring the checkpoint of an interrupted rescan ({ckpt_path}); pass --resume to continue it")

    if stdin_input:
        in_f = sys.stdin.buffer
        total_bytes = None
    else:
        try:
            in_f = open(opts.input, "rb")  # noqa: SIM115
        except OSError as e:
            raise RescanError(f"cannot read {opts.input}: {e.strerror}") from None
        total_bytes = os.fstat(in_f.fileno()).st_size

    if to_file:
        try:
            out_f = open(opts.output, "r+b" if (opts.resume and ckpt) else "wb")  # noqa: SIM115
        except OSError as e:
            raise RescanError(f"cannot write {opts.output}: {e.strerror}") from None
        if opts.resume and ckpt:
            # Lines written after the last checkpoint are written again below: drop them first.
            out_f.truncate(out_len)
            out_f.seek(out_len)
    else:
        out_f = sys.stdout.buffer

    if opts.fmt == "jsonl":
        if start_pos:
            in_f.seek(start_pos)
        chunks: Iterator[Chunk] = iter_jsonl_chunks(in_f, start_pos, start_line, opts.chunk_bytes)
    else:
        chunks = iter_csv_chunks(in_f, start_pos, opts.chunk_rows)

    workers = opts.workers or os.cpu_count() or 1
    progress = ProgressReporter("none" if opts.quiet else opts.progress, total_bytes, interval=opts.progress_interval)
    progress.begin(start_pos if opts.fmt == "jsonl" else 0, stats.get("total", 0))
    flagged = lambda: stats.get("total", 0) - stats.get("decision:pass", 0)  # noqa: E731

    last_ckpt = time.monotonic()
    state = {"pos": start_pos, "line": start_line}

    def write_ckpt() -> None:
        if ckpt_path and to_file:
            out_f.flush()
            _write_json_atomic(ckpt_path, {
                "format": CHECKPOINT_FORMAT, "identity": identity, "input_pos": state["pos"],
                "input_line": state["line"], "output_len": out_f.tell(), "stats": dict(stats),
            })

    def emit(chunk: Chunk, res: ChunkResult) -> None:
        nonlocal last_ckpt
        if res.out:
            out_f.write(res.out)
        stats.update(res.stats)
        state["pos"], state["line"] = chunk.end_pos, chunk.end_line
        progress.update(chunk.progress_bytes, stats.get("total", 0), flagged())
        now = time.monotonic()
        if now - last_ckpt >= CHECKPOINT_INTERVAL_S:
            write_ckpt()
            last_ckpt = now

    old_int = signal.signal(signal.SIGINT, _raise_interrupted)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupted)
    t0 = time.monotonic()
    pool = None
    try:
        write_ckpt()
        if workers <= 1:
            for chunk in chunks:
                emit(chunk, checker.run_chunk(chunk.kind, chunk.payload, chunk.first_line))
        else:
            import multiprocessing as mp

            _WORKER_CHECKER = checker  # before forking: children share the built engine
            checker.warm()  # and what it builds on first use (jieba, detector tables)
            gc.collect()
            gc.freeze()  # keep the collector off the shared objects' pages in the children
            try:
                pool = mp.get_context("fork").Pool(workers, initializer=_pool_init)
            finally:
                gc.unfreeze()
            if opts.fmt == "jsonl" and not stdin_input:
                # The workers read their own ranges of the file: the parent neither reads nor
                # counts lines (that was a third of a delta rescan's time in the parent).
                path = os.path.abspath(opts.input)

                def emit_span(span: tuple[int, int], res: ChunkResult) -> None:
                    first = state["line"]
                    if res.stats.get("decision:error"):
                        res.out = fix_lines(res.out, first)
                    emit(Chunk("jsonl", None, first, span[1], first + res.n_lines, span[1]), res)

                _in_order(pool, workers * 3, ((span, _pool_run_span, (path, *span))
                                              for span in iter_jsonl_spans(in_f, start_pos, opts.chunk_bytes)), emit_span)
            else:
                def tasks() -> Iterator[tuple[Chunk, Callable, tuple]]:
                    for chunk in chunks:
                        args = (chunk.kind, chunk.payload, chunk.first_line)
                        chunk.payload = None  # the pool holds its own copy; keep memory flat
                        yield chunk, _pool_run, args

                _in_order(pool, workers * 3, tasks(), emit)
            pool.close()
            pool.join()
            pool = None
        out_f.flush()
        elapsed = time.monotonic() - t0
    except (Interrupted, KeyboardInterrupt):
        progress.close()
        if pool is not None:
            pool.terminate()
            pool.join()
            pool = None
        write_ckpt()
        out_f.flush()
        if ckpt_path and to_file:
            log(f"rescan: interrupted after {stats.get('total', 0):,} profiles; continue with --resume")
        raise Interrupted() from None
    finally:
        if pool is not None:  # any other error: no worker may outlive the rescan
            pool.terminate()
            pool.join()
        _WORKER_CHECKER = None
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        progress.close()
        if not stdin_input:
            in_f.close()
        if to_file:
            out_f.close()
    progress.update(total_bytes or 0, stats.get("total", 0), flagged(), force=True)
    if ckpt_path and to_file:
        try:
            os.remove(ckpt_path)
        except FileNotFoundError:
            pass
    summary = summary_dict(stats, elapsed, checker.version)
    summary["peak_rss_mb"] = _peak_rss_mb()
    if opts.summary_json:
        _write_json_atomic(opts.summary_json, summary)
    if not opts.quiet and opts.progress != "none":
        print_summary(summary, rich_table=progress.mode == "bar")
    return summary


def _in_order(pool: Any, max_inflight: int, tasks: Iterable[tuple[Any, Callable, tuple]],
              done: Callable[[Any, ChunkResult], None]) -> None:
    """Run ``(key, fn, args)`` tasks on the pool, at most ``max_inflight`` at a time, and hand
    each result to ``done`` in the order the tasks came."""
    pending: deque = deque()
    for key, fn, args in tasks:
        pending.append((key, pool.apply_async(fn, args)))
        while pending and (len(pending) >= max_inflight or pending[0][1].ready()):
            k, r = pending.popleft()
            done(k, r.get())
    while pending:
        k, r = pending.popleft()
        done(k, r.get())


# --------------------------------------------------------------------------------------------
# Engine construction


def build_moderator(args: argparse.Namespace) -> Any:
    """The engine: ``Moderator(wordlist_dir=…)``, or a test factory named by --engine-factory."""
    factory = getattr(args, "engine_factory", None)
    if factory:
        mod_name, _, attr = factory.partition(":")
        return getattr(importlib.import_module(mod_name), attr)(args)
    from moderation import Moderator, WordlistError

    overlay = None
    if getattr(args, "overlay", None):
        try:
            with open(args.overlay, "rb") as f:
                overlay = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError) as e:
            raise RescanError(f"cannot read the overlay {args.overlay}: {e}") from None
        if not isinstance(overlay, list):
            raise RescanError(f"the overlay {args.overlay} must be a JSON list of items")
    try:
        return Moderator(wordlist_dir=getattr(args, "wordlists", None), overlay=overlay)
    except WordlistError as e:
        raise RescanError("the word lists have errors:\n  " + "\n  ".join(e.errors)) from None
    except Exception as e:  # noqa: BLE001 - report, don't dump a traceback on the operator
        raise RescanError(f"could not build the engine: {type(e).__name__}: {e}") from None


# --------------------------------------------------------------------------------------------
# Command line


def add_rescan_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``moderation rescan``."""
    parser.description = "Batch rescan of stored profiles; writes one line per input that does not pass."
    parser.add_argument("--input", "-i", metavar="FILE", help="JSON Lines or CSV input (default: standard input)")
    parser.add_argument("--output", "-o", metavar="FILE", help="JSON Lines output (default: standard output)")
    parser.add_argument("--scene", default=DEFAULT_SCENE, choices=SCENES, help="scene for records without one (default: profile)")
    parser.add_argument("--format", dest="fmt", default="auto", choices=("auto", "jsonl", "csv"), help="input format (default: by file extension)")
    parser.add_argument("--workers", "-j", type=int, default=0, metavar="N", help="processes to use (default: all cores)")
    parser.add_argument("--since", metavar="VERSION", help="only flag what became flagged since this wordlist_version")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted rescan from its checkpoint")
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint file (default: OUTPUT.checkpoint)")
    parser.add_argument("--progress", default="auto", choices=("auto", "bar", "plain", "none"), help="progress display (default: bar on a terminal)")
    parser.add_argument("--progress-interval", type=float, default=5.0, metavar="S", help="seconds between plain progress lines")
    parser.add_argument("--summary-json", metavar="FILE", help="also write the summary as JSON")
    # SUPPRESS: keep a --wordlists given before the subcommand (``moderation --wordlists D rescan``).
    parser.add_argument("--wordlists", metavar="DIR", default=argparse.SUPPRESS, help="word-list directory (default: MODERATION_WORDLISTS or ./wordlists)")
    parser.add_argument("--overlay", metavar="FILE", help="JSON list of word-list overlay items (the service's admin edits) to apply")
    parser.add_argument("--history-dir", metavar="DIR", help="where each version's rules are kept (default: MODERATION_HISTORY_DIR or WORDLISTS/.history)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")
    parser.add_argument("--redis", metavar="URL", help="distributed mode: the Redis that holds the job queue")
    parser.add_argument("--enqueue", metavar="INPUT", help="with --redis: split INPUT into chunks on the job stream and print the job id")
    parser.add_argument("--status", metavar="JOB", help="with --redis: show a job's progress")
    parser.add_argument("--collect", metavar="JOB", help="with --redis: write a finished job's output to --output")
    parser.add_argument("--wait", action="store_true", help="with --enqueue/--collect: wait until the job is done (then collect if --output is given)")
    parser.add_argument("--timeout", type=float, default=0, metavar="S", help="with --wait: give up after S seconds (default: no limit)")
    parser.add_argument("--json", action="store_true", help="with --status: print the status as JSON")
    parser.add_argument("--chunk-lines", type=int, default=1000, metavar="N", help="with --enqueue: records per chunk")
    parser.add_argument("--max-queued", type=int, default=500, metavar="N",
                        help="with --enqueue: chunks waiting on the stream at most; more are added as workers finish (0: no limit; default 500)")
    parser.add_argument("--chunk-bytes", type=int, default=CHUNK_BYTES, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-rows", type=int, default=CSV_CHUNK_ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--engine-factory", help=argparse.SUPPRESS)


def _checker_for(args: argparse.Namespace, moderator: Any, log: Callable[[str], None]) -> tuple[RecordChecker, dict[str, Any]]:
    """The record checker (full or delta) and what identifies it in a checkpoint."""
    from . import rescan_delta

    wl_dir = getattr(args, "wordlists", None)
    history = rescan_delta.history_dir(wl_dir, getattr(args, "history_dir", None))
    if hasattr(moderator, "wordlist"):
        try:
            rescan_delta.record_version(wl_dir, moderator.wordlist, history)
        except OSError as e:
            log(f"rescan: could not record this version's rules in {history}: {e}")
    if not args.since:
        return RecordChecker(moderator, args.scene), {}
    plan = rescan_delta.plan_delta(moderator, args.since, history, wl_dir, log=log,
                                   sample=rescan_delta.input_sample(args.input))
    if plan is None:
        return RecordChecker(moderator, args.scene), {"delta": "full"}
    return RecordChecker(moderator, args.scene, delta=plan), {"delta": plan.describe()}


def run_rescan(args: argparse.Namespace) -> int:
    """``moderation rescan``: 0 done, 1 interrupted (resumable), 2 bad arguments or files."""
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.redis or args.enqueue or args.status or args.collect:
            from . import rescan_redis

            return rescan_redis.run_cli(args, log)
        fmt = detect_format(args.input, args.fmt)
        moderator = build_moderator(args)
        checker, ident = _checker_for(args, moderator, log)
        opts = RescanOptions(
            input=args.input, output=args.output, fmt=fmt, scene=args.scene, workers=args.workers,
            resume=args.resume, checkpoint=args.checkpoint, progress=args.progress,
            progress_interval=args.progress_interval, summary_json=args.summary_json,
            chunk_bytes=args.chunk_bytes, chunk_rows=args.chunk_rows, since=args.since, quiet=args.quiet, extra_identity=ident,
        )
        run_local(checker, opts, log)
        return 0
    except Interrupted:
        return 130
    except RescanError as e:
        log(f"rescan: {e}")
        return 2
    except OSError as e:  # disk full, file vanished: the checkpoint lets --resume continue
        log(f"rescan: {e.strerror or e}; continue with --resume once fixed")
        return 1


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``moderation worker``."""
    parser.description = "Consume rescan chunks from a Redis stream (see `moderation rescan --enqueue`)."
    parser.add_argument("--redis", required=True, metavar="URL", help="Redis URL, e.g. redis://host:6379/0")
    parser.add_argument("--processes", "-j", type=int, default=0, metavar="N", help="consumer processes (default: all cores)")
    parser.add_argument("--name", metavar="NAME", help="consumer name prefix (default: host name)")
    parser.add_argument("--claim-timeout", type=float, default=60.0, metavar="S", help="claim a chunk left pending this long by a dead worker (default: 60)")
    parser.add_argument("--exit-when-idle", type=float, default=0, metavar="S", help="exit after S seconds without work (default: run until stopped)")
    parser.add_argument("--max-deliveries", type=int, default=5, metavar="N",
                        help="a chunk delivered N times without finishing (a record that crashes or hangs "
                             "workers) is written as error lines instead (default: 5)")
    parser.add_argument("--wordlists", metavar="DIR", default=argparse.SUPPRESS, help="word-list directory (default: MODERATION_WORDLISTS or ./wordlists)")
    parser.add_argument("--overlay", metavar="FILE", help="JSON list of word-list overlay items to apply")
    parser.add_argument("--history-dir", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--engine-factory", help=argparse.SUPPRESS)


def run_worker(args: argparse.Namespace) -> int:
    """``moderation worker``: 0 when stopped or idle, 2 on bad arguments."""
    from . import rescan_redis

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        return rescan_redis.run_worker_cli(args, log)
    except RescanError as e:
        log(f"worker: {e}")
        return 2


def main(argv: list[str] | None = None) -> int:
    """``python -m moderation.rescan rescan|worker …`` (the same as the ``moderation`` subcommands)."""
    parser = argparse.ArgumentParser(prog="python -m moderation.rescan")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_rescan_arguments(sub.add_parser("rescan"))
    add_worker_arguments(sub.add_parser("worker"))
    args = parser.parse_args(argv)
    return run_rescan(args) if args.cmd == "rescan" else run_worker(args)


if __name__ == "__main__":
    # Run the package's copy of this module, so that its classes are the ones other modules see.
    from moderation.rescan import main as _main

    sys.exit(_main())
