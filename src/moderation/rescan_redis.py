"""Distributed rescans over a Redis Stream (the only library module that imports ``redis``).

Layout (``P`` = ``moderation:rescan``)
    ``P:chunks``              one stream for all jobs; consumer group ``P:workers``. An entry is
                              ``{job, seq, first_line, data}`` where ``data`` is up to
                              ``--chunk-lines`` records as JSON Lines (CSV input is converted
                              when enqueued, so workers only read JSON Lines).
    ``P:job:<id>``            hash: state, chunks (set once enqueuing ends), records, scene,
                              wordlist_version, since, created, finished, snapshot (delta jobs).
    ``P:job:<id>:results``    hash seq -> output bytes of that chunk (possibly empty).
    ``P:job:<id>:stats``      hash of counters (``chunks_done``, ``total``, ``decision:block`` …).
    ``P:jobs``                sorted set of job ids by creation time.

Delivery
    A worker reads with XREADGROUP and first tries XAUTOCLAIM on entries idle longer than
    ``--claim-timeout``: a chunk a killed worker was holding is taken over by another worker.
    A result is committed by one Lua script, ``HSETNX results seq`` and, only if that set it,
    the counters: a chunk processed twice (slow worker, reclaimed) is written and counted once.
    Then the entry is acknowledged and deleted.

Poison chunks
    A chunk whose records crash or hang every worker that takes it would otherwise be claimed
    again forever and its job would never finish. A claimed entry's delivery count (XPENDING)
    is therefore checked: past ``--max-deliveries`` (default 5) it is not checked again but
    committed as one error line per record (``{"id", "error", "line"}``, counted as
    ``decision:error``), so the job still finishes and the records are named in its output.
    A worker whose word lists do not match the job gives its delivery back (XCLAIM RETRYCOUNT),
    so that only real attempts count. A chunk that raises an ordinary exception is left pending
    (its delivery counts) and the worker pauses before reading on.

Output
    ``--collect JOB --output FILE`` (or ``--enqueue … --output FILE``, which waits) writes the
    chunks' results in order: the same bytes a single-machine rescan writes.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from typing import Any, Callable, Iterator

import orjson

from .rescan import (
    DEFAULT_SCENE,
    RecordChecker,
    ROW_ERROR_KEY,
    RescanError,
    _csv_row_to_record,
    build_moderator,
    detect_format,
    iter_csv_chunks,
    print_summary,
    summary_dict,
)

PREFIX = "moderation:rescan"
STREAM = f"{PREFIX}:chunks"
GROUP = f"{PREFIX}:workers"
JOBS = f"{PREFIX}:jobs"
RESULT_TTL_S = 7 * 24 * 3600
DEFAULT_MAX_DELIVERIES = 5

_COMMIT_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  for i = 3, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  redis.call('HINCRBY', KEYS[2], 'chunks_done', 1)
  return 1
end
return 0
"""


class JobNotFound(RescanError):
    """The job is not in this Redis: never queued here, or its keys expired (``RESULT_TTL_S``).

    A separate class so that callers (the HTTP API) can tell "no such job" from "Redis is
    unreachable", which is also a ``RescanError``."""


def job_key(job: str) -> str:
    return f"{PREFIX}:job:{job}"


def connect(url: str):
    import redis

    try:
        r = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
        r.ping()
    except (redis.RedisError, ValueError) as e:
        raise RescanError(f"cannot reach Redis at {url}: {e}") from None
    return r


def ensure_group(r) -> None:
    import redis

    try:
        r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


# --------------------------------------------------------------------------------------------
# Enqueue


def _record_lines(path: str | None, fmt: str, chunk_lines: int) -> Iterator[tuple[int, bytes]]:
    """(first input line, JSON Lines bytes) per chunk, streaming."""
    if fmt == "csv":
        f = open(path, "rb") if path and path != "-" else sys.stdin.buffer  # noqa: SIM115
        try:
            for c in iter_csv_chunks(f, 0, chunk_lines):
                lines = []
                header, rows = c.payload
                for item in rows:
                    if isinstance(item, list):
                        item = _csv_row_to_record(header, item)
                    if isinstance(item, str):  # BadRow: keep it an error line for the worker
                        lines.append(orjson.dumps({ROW_ERROR_KEY: str(item), "id": getattr(item, "rid", None)}))
                    else:
                        lines.append(orjson.dumps(item))
                yield c.first_line, b"\n".join(lines)
        finally:
            if f is not sys.stdin.buffer:
                f.close()
        return
    f = open(path, "rb") if path and path != "-" else sys.stdin.buffer  # noqa: SIM115
    try:
        buf: list[bytes] = []
        first = 1
        n = 0
        for raw in f:
            n += 1
            buf.append(raw.rstrip(b"\r\n"))
            if len(buf) >= chunk_lines:
                yield first, b"\n".join(buf)
                buf = []
                first = n + 1
        if buf:
            yield first, b"\n".join(buf)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def enqueue(r, path: str, fmt: str, scene: str, version: str, chunk_lines: int = 1000,
            snapshot: dict[str, Any] | None = None, since: str | None = None, job: str | None = None,
            max_backlog: int = 0, log: Callable[[str], None] | None = None) -> str:
    """Put a file's records on the stream as chunks of one new job; return the job id.

    ``max_backlog``: when the stream holds that many chunks not yet done (of any job), wait for
    the workers before adding more, so that Redis holds a bounded part of the input, not all
    of it (0: no limit)."""
    if path != "-" and not os.path.isfile(path):
        raise RescanError(f"cannot read {path}: no such file")
    job = job or uuid.uuid4().hex[:12]
    key = job_key(job)
    ensure_group(r)
    meta = {
        "state": "enqueuing", "scene": scene, "wordlist_version": version, "input": os.path.basename(path),
        "created": f"{time.time():.3f}", "since": since or "",
    }
    if snapshot is not None:
        meta["snapshot"] = orjson.dumps(snapshot)
    r.hset(key, mapping=meta)
    r.zadd(JOBS, {job: time.time()})
    seq = 0
    records = 0
    pipe = r.pipeline(transaction=False)
    batch = max(1, min(50, max_backlog // 2)) if max_backlog else 50
    told = False
    for first_line, data in _record_lines(path, fmt, chunk_lines):
        pipe.xadd(STREAM, {"job": job, "seq": seq, "first_line": first_line, "data": data})
        seq += 1
        records += data.count(b"\n") + 1
        if seq % batch == 0:
            if max_backlog:  # room for this batch first
                while r.xlen(STREAM) + batch > max_backlog:
                    if not told and log is not None:
                        log(f"rescan: {max_backlog} chunks wait for workers; queuing the rest as they are done "
                            "(`moderation worker --redis URL` consumes them)")
                        told = True
                    time.sleep(0.2)
            pipe.execute()
    pipe.hset(key, mapping={"state": "queued", "chunks": seq, "records": records})
    pipe.execute()
    done = r.hget(f"{key}:stats", "chunks_done")
    if done is not None and int(done) >= seq:  # the workers finished before "chunks" was set
        _mark_done(r, job)
    return job


def _mark_done(r, job: str) -> None:
    key = job_key(job)
    r.hsetnx(key, "finished", f"{time.time():.3f}")
    r.hset(key, "state", "done")
    for suffix in ("", ":results", ":stats"):
        r.expire(key + suffix, RESULT_TTL_S)
    # The job index forgets jobs whose keys have expired.
    r.zremrangebyscore(JOBS, "-inf", time.time() - RESULT_TTL_S - 86400)


# --------------------------------------------------------------------------------------------
# Status and collection


def job_status(r, job: str) -> dict[str, Any]:
    key = job_key(job)
    meta = {k.decode(): v for k, v in r.hgetall(key).items() if k != b"snapshot"}
    if not meta:
        raise JobNotFound(f"no rescan job {job!r} in this Redis")
    meta = {k: v.decode() for k, v in meta.items()}
    stats = {k.decode(): int(v) for k, v in r.hgetall(f"{key}:stats").items()}
    chunks = int(meta["chunks"]) if meta.get("chunks") else None
    done = stats.get("chunks_done", 0)
    state = meta.get("state", "?")
    if chunks is not None and done >= chunks:
        state = "done"
    elif state == "queued" and done:
        state = "running"
    out = {
        "job": job, "state": state, "chunks": chunks, "chunks_done": done,
        "records": int(meta["records"]) if meta.get("records") else None,
        "profiles_done": stats.get("total", 0), "wordlist_version": meta.get("wordlist_version"),
        "scene": meta.get("scene"), "since": meta.get("since") or None,
        "created": float(meta.get("created", 0) or 0),
        "summary": summary_dict(Counter(stats)),
    }
    if meta.get("error"):
        out["error"] = meta["error"]
    try:
        pend = r.xpending(STREAM, GROUP)
        out["pending_chunks_all_jobs"] = pend.get("pending", 0)
        out["consumers"] = {c["name"].decode() if isinstance(c["name"], bytes) else c["name"]: c["pending"] for c in pend.get("consumers", [])}
    except Exception:  # noqa: BLE001 - no group yet
        pass
    elapsed = time.time() - out["created"] if out["created"] else 0
    if elapsed > 0 and out["profiles_done"]:
        out["profiles_per_second"] = round(out["profiles_done"] / elapsed, 1)
    return out


def wait_done(r, job: str, timeout: float = 0, on_tick: Callable[[dict], None] | None = None, poll: float = 0.5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        st = job_status(r, job)
        if on_tick:
            on_tick(st)
        if st["state"] == "done":
            return st
        if deadline is not None and time.monotonic() > deadline:
            raise RescanError(f"job {job} not done after {timeout:g} s ({st['chunks_done']}/{st['chunks']} chunks)")
        time.sleep(poll)


def collect(r, job: str, output: str | None) -> dict[str, Any]:
    """Write a finished job's output in input order (standard output when ``output`` is None)."""
    st = job_status(r, job)
    if st["state"] != "done":
        raise RescanError(f"job {job} is not done yet ({st['chunks_done']}/{st['chunks']} chunks); use --wait")
    key = f"{job_key(job)}:results"
    out_f = open(output, "wb") if output and output != "-" else sys.stdout.buffer  # noqa: SIM115
    try:
        step = 200
        for start in range(0, st["chunks"], step):
            seqs = list(range(start, min(start + step, st["chunks"])))
            for seq, data in zip(seqs, r.hmget(key, seqs)):
                if data is None:
                    raise JobNotFound(f"job {job}: result of chunk {seq} is missing (expired?)")
                out_f.write(data)
    finally:
        if out_f is not sys.stdout.buffer:
            out_f.close()
        else:
            out_f.flush()
    return st


# --------------------------------------------------------------------------------------------
# Worker


class _Stop:
    flag = False


def _on_stop(signum, frame):  # noqa: ARG001
    _Stop.flag = True


def _label(fields: dict) -> str:
    """A chunk's name in logs (ids only, never data), even for an entry this module did not write."""
    try:
        return f"chunk {int(fields[b'seq'])} of job {fields[b'job'].decode()}"
    except (KeyError, ValueError, UnicodeDecodeError, AttributeError):
        return "an entry that names no job and chunk"


def _abandoned_lines(checker: RecordChecker, data: bytes, first_line: int, message: str) -> tuple[bytes, Counter]:
    """One error line per record of a chunk that is not checked, in the shape of a bad record's
    line (``{"id", "error", "line"}``) and counted like one; blank lines are skipped as a rescan
    skips them. The id is kept when the line is a JSON object with one, so that the records can
    be found and rescanned on their own."""
    stats: Counter = Counter()
    out: list[bytes] = []
    for i, item in enumerate(data.split(b"\n")):
        if not item or item.isspace():
            continue
        try:
            obj = orjson.loads(item)
        except orjson.JSONDecodeError:
            obj = None
        stats["total"] += 1
        out.append(checker._error(obj.get("id") if type(obj) is dict else None, message, stats, first_line + i))
    return b"".join(out), stats


class WorkerLoop:
    """One consumer: claim or read a chunk, check it, commit once, acknowledge.

    ``max_deliveries``: a claimed chunk already delivered that many times (each worker that
    took it died, hung or failed on it) is committed as error lines instead of checked again."""

    def __init__(self, r, moderator: Any, consumer: str, claim_timeout_s: float = 60.0,
                 idle_exit_s: float = 0, log: Callable[[str], None] = print, block_ms: int = 1000,
                 max_deliveries: int = DEFAULT_MAX_DELIVERIES):
        if max_deliveries < 1:
            raise RescanError("--max-deliveries must be at least 1")
        self.r = r
        self.moderator = moderator
        self.consumer = consumer
        self.claim_ms = max(int(claim_timeout_s * 1000), 1)
        self.idle_exit_s = idle_exit_s
        self.log = log
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.commit = r.register_script(_COMMIT_LUA)
        self.checkers: dict[str, RecordChecker | None] = {}
        self.processed = 0  # entries this worker is done with: checked, abandoned or dropped
        self.abandoned = 0

    def _checker(self, job: str, sample: bytes | None = None) -> RecordChecker | None:
        if job in self.checkers:
            return self.checkers[job]
        key = job_key(job)
        meta = self.r.hmget(key, ["scene", "wordlist_version", "snapshot"])
        scene = (meta[0] or DEFAULT_SCENE.encode()).decode()
        version = (meta[1] or b"").decode()
        checker: RecordChecker | None = None
        if version != self.moderator.version:
            msg = f"worker {self.consumer} has wordlist_version {self.moderator.version}, job {job} needs {version}"
            self.log(msg)
            self.r.hset(key, "error", msg)
        else:
            delta = None
            if meta[2]:
                from .rescan_delta import plan_from_snapshot

                delta = plan_from_snapshot(self.moderator, orjson.loads(meta[2]), self.log,
                                           sample.decode("utf-8", "replace") if sample else None)
            checker = RecordChecker(self.moderator, scene, delta=delta)
        self.checkers[job] = checker
        return checker

    def _deliveries(self, eid: bytes) -> int:
        """How often the entry has been delivered, this delivery included. 1 when it is no longer
        pending: another worker committed it meanwhile, and committing it again changes nothing."""
        rows = self.r.xpending_range(STREAM, GROUP, min=eid, max=eid, count=1)
        return int(rows[0]["times_delivered"]) if rows else 1

    def _next(self) -> tuple[bytes, dict, int] | None:
        """The next entry and its delivery count: one left pending too long first, else a new one."""
        claimed = self.r.xautoclaim(STREAM, GROUP, self.consumer, min_idle_time=self.claim_ms, start_id="0-0", count=1)
        entries = claimed[1] if claimed else []
        entries = [e for e in entries if e and e[1]]
        if entries:
            eid, fields = entries[0]
            n = self._deliveries(eid)
            self.log(f"worker {self.consumer}: claimed {_label(fields)}, left pending longer than "
                     f"{self.claim_ms / 1000:g} s (delivery {n}, at most {self.max_deliveries} are checked)")
            return eid, fields, n
        got = self.r.xreadgroup(GROUP, self.consumer, {STREAM: ">"}, count=1, block=self.block_ms)
        if got:
            for _stream, items in got:
                for eid, fields in items:
                    if fields:
                        return eid, fields, 1
                    self.r.xack(STREAM, GROUP, eid)  # deleted while pending: nothing to do
        return None

    def process(self, eid: bytes, fields: dict, deliveries: int = 1) -> bool:
        """Check and commit a chunk (``deliveries``: its delivery count, this one included).

        False when this worker cannot check it (other word lists): it is left pending for a
        worker that can, and this delivery is given back so that it does not count towards the
        limit; otherwise a mixed fleet (during a word-list rollout) would bounce a healthy chunk
        between the wrong workers until a right one abandoned it."""
        if deliveries > self.max_deliveries:
            self.abandon(eid, fields, deliveries)
            return True
        job = fields[b"job"].decode()
        seq = int(fields[b"seq"])
        checker = self._checker(job, fields.get(b"data"))
        if checker is None:
            self.r.xclaim(STREAM, GROUP, self.consumer, 0, [eid], retrycount=max(deliveries - 1, 0), justid=True)
            return False  # left pending; a worker with the right lists claims it after the timeout
        res = checker.run_chunk("jsonl", fields[b"data"], int(fields.get(b"first_line", b"1")))
        self._commit(eid, job, seq, res.out, res.stats)
        self.processed += 1
        return True

    def abandon(self, eid: bytes, fields: dict, deliveries: int) -> None:
        """Commit a chunk delivered too often as one error line per record, so that its job ends
        and its records are named in the output; they are not checked again. The same commit
        as a checked chunk: if a slow worker did finish it, its result stays and this is dropped."""
        tries = deliveries - 1  # the deliveries that never ended in a commit
        what = _label(fields)
        try:
            job = fields[b"job"].decode()
            seq = int(fields[b"seq"])
            first_line = int(fields.get(b"first_line", b"1"))
        except (KeyError, ValueError, UnicodeDecodeError):
            # Not an entry this module wrote: there is no job to commit it to.
            pipe = self.r.pipeline(transaction=False)
            pipe.xack(STREAM, GROUP, eid)
            pipe.xdel(STREAM, eid)
            pipe.execute()
            self.log(f"worker {self.consumer}: dropped stream entry {eid.decode()} ({what}) after {tries} deliveries")
            self.processed += 1
            self.abandoned += 1
            return
        message = (f"not checked: its chunk was abandoned after {tries} deliveries "
                   "(every worker that took it stopped, hung or failed on it)")
        out, stats = _abandoned_lines(RecordChecker(self.moderator), fields.get(b"data") or b"", first_line, message)
        written = self._commit(eid, job, seq, out, stats)
        self.processed += 1
        self.abandoned += 1
        if written:
            self.log(f"worker {self.consumer}: abandoned {what} (stream entry {eid.decode()}) after {tries} deliveries "
                     f"(--max-deliveries {self.max_deliveries}); its {stats['total']} record(s) are error lines in the output")
        else:
            self.log(f"worker {self.consumer}: dropped {what} (stream entry {eid.decode()}) after {tries} deliveries; "
                     "another worker had committed it")

    def _commit(self, eid: bytes, job: str, seq: int, out: bytes, stats: Counter) -> bool:
        """Write a chunk's result and counters once, acknowledge and delete its entry, and mark the
        job done when this was its last chunk. True when this call wrote the result."""
        key = job_key(job)
        args: list[Any] = [seq, out]
        for k, v in stats.items():
            args += [k, v]
        written = self.commit(keys=[f"{key}:results", f"{key}:stats"], args=args)
        pipe = self.r.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, eid)
        pipe.xdel(STREAM, eid)
        pipe.hget(key, "chunks")
        pipe.hget(f"{key}:stats", "chunks_done")
        _, _, chunks, done = pipe.execute()
        if chunks is not None and done is not None and int(done) >= int(chunks):
            _mark_done(self.r, job)
        return bool(written)

    def run(self, max_chunks: int = 0) -> int:
        import redis

        ensure_group(self.r)
        idle_since = time.monotonic()
        backoff = 0.5
        while not _Stop.flag:
            try:
                nxt = self._next()
            except (redis.ConnectionError, redis.TimeoutError) as e:
                # Redis restarting or unreachable: wait and try again; nothing is lost, the
                # chunk in hand (if any) stays pending and is claimed again after the timeout.
                self.log(f"worker {self.consumer}: Redis unavailable ({type(e).__name__}); retrying in {backoff:g} s")
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                if self.idle_exit_s and time.monotonic() - idle_since >= self.idle_exit_s:
                    break
                continue
            except redis.ResponseError as e:
                if "NOGROUP" not in str(e):
                    raise
                ensure_group(self.r)  # the stream was deleted (e.g. Redis restarted empty)
                continue
            backoff = 0.5
            if nxt is None:
                if self.idle_exit_s and time.monotonic() - idle_since >= self.idle_exit_s:
                    break
                continue
            try:
                ok = self.process(*nxt)
            except (redis.ConnectionError, redis.TimeoutError):
                continue  # not committed or not acknowledged: claimed again after the timeout
            except Exception as e:  # noqa: BLE001 - one bad chunk must not stop the worker
                # Left pending: claimed again after the timeout with its delivery counted, so the
                # delivery limit ends a chunk that always fails. The type only: the message may
                # quote a record's text.
                self.log(f"worker {self.consumer}: {_label(nxt[1])} failed ({type(e).__name__}); "
                         "left pending for another try")
                ok = False
            if ok:
                idle_since = time.monotonic()
            else:
                # Not straight on to the next entry: a failure that is not the chunk's (a bug,
                # a Redis script error) would otherwise take every queued chunk in a fast loop.
                time.sleep(min(self.claim_ms / 1000.0, 5.0))
            if max_chunks and self.processed >= max_chunks:
                break
        return self.processed


def _consumer_name(prefix: str | None, i: int) -> str:
    return f"{prefix or socket.gethostname()}-{os.getpid()}-{i}"


def run_worker_cli(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    r = connect(args.redis)
    moderator = build_moderator(args)  # once, before forking: children share it
    n = args.processes or os.cpu_count() or 1
    # getattr: parsers built before the option existed (and tests' Namespaces) keep the default.
    max_deliveries = getattr(args, "max_deliveries", None)
    if max_deliveries is None:
        max_deliveries = DEFAULT_MAX_DELIVERIES
    if max_deliveries < 1:
        raise RescanError("--max-deliveries must be at least 1")
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    log(f"worker: wordlist_version {moderator.version}, {n} process(es), claim timeout {args.claim_timeout:g} s, "
        f"at most {max_deliveries} deliveries per chunk")
    if n == 1:
        done = WorkerLoop(r, moderator, _consumer_name(args.name, 0), args.claim_timeout, args.exit_when_idle, log,
                          max_deliveries=max_deliveries).run()
        log(f"worker: stopped after {done} chunk(s)")
        return 0
    import multiprocessing as mp

    from .rescan import _die_with_parent

    ctx = mp.get_context("fork")
    r.close()
    RecordChecker(moderator).warm()  # what the engine builds on first use, built once and shared
    import gc

    gc.collect()
    gc.freeze()

    def child(i: int) -> None:
        _die_with_parent()
        rc = connect(args.redis)
        WorkerLoop(rc, moderator, _consumer_name(args.name, i), args.claim_timeout, args.exit_when_idle, log,
                   max_deliveries=max_deliveries).run()

    procs = [ctx.Process(target=child, args=(i,), daemon=True) for i in range(n)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=0.5)
            if _Stop.flag:
                for p in procs:
                    if p.is_alive() and p.pid:
                        os.kill(p.pid, signal.SIGTERM)
                for p in procs:
                    p.join(timeout=60)
                break
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    return 0


# --------------------------------------------------------------------------------------------
# ``moderation rescan --redis …``


def _print_status(st: dict[str, Any]) -> None:
    chunks = st["chunks"]
    pct = f"{100.0 * st['chunks_done'] / chunks:.1f}%" if chunks else "?"
    print(f"job {st['job']}: {st['state']}, {st['chunks_done']}/{chunks if chunks is not None else '?'} chunks ({pct}), "
          f"{st['profiles_done']:,} profiles checked" + (f", {st['profiles_per_second']:,.0f}/s" if st.get("profiles_per_second") else ""))
    for name, n in sorted(st.get("consumers", {}).items()):
        print(f"  worker {name}: {n} chunk(s) in progress")
    if st.get("error"):
        print(f"  error: {st['error']}")


def run_cli(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    import redis

    try:
        return _run_cli(args, log)
    except redis.RedisError as e:
        raise RescanError(f"Redis: {type(e).__name__}: {e}") from None


def _run_cli(args: argparse.Namespace, log: Callable[[str], None]) -> int:
    if not args.redis:
        raise RescanError("--enqueue, --status and --collect need --redis URL")
    actions = [a for a in (args.enqueue, args.status, args.collect) if a]
    if len(actions) != 1:
        raise RescanError("with --redis give exactly one of --enqueue INPUT, --status JOB, --collect JOB")
    r = connect(args.redis)
    if args.status:
        st = job_status(r, args.status)
        if getattr(args, "json", False):
            print(orjson.dumps(st).decode())
        else:
            _print_status(st)
            print_summary(st["summary"], rich_table=sys.stdout.isatty(), stream=sys.stdout)
        return 0
    if args.collect:
        if args.wait:
            wait_done(r, args.collect, args.timeout)
        st = collect(r, args.collect, args.output)
        print_summary(st["summary"], rich_table=False)
        return 0
    fmt = detect_format(args.enqueue, args.fmt)
    moderator = build_moderator(args)
    snapshot = None
    if args.since:
        from .rescan_delta import history_dir, load_snapshot

        snapshot = load_snapshot(args.since, history_dir(getattr(args, "wordlists", None), args.history_dir))
        if snapshot is None:
            log(f"rescan: no record of wordlist_version {args.since}; the job is a full rescan")
    if args.enqueue != "-" and not os.path.isfile(args.enqueue):
        raise RescanError(f"cannot read {args.enqueue}: no such file")
    job = uuid.uuid4().hex[:12]
    print(job, flush=True)  # now: with a backlog limit, queuing lasts as long as the workers take
    enqueue(r, args.enqueue, fmt, args.scene, moderator.version, args.chunk_lines, snapshot, args.since,
            job=job, max_backlog=args.max_queued, log=log)
    st = job_status(r, job)
    log(f"rescan: job {job}: {st['chunks']} chunk(s), {st['records']:,} records queued; "
        f"`moderation rescan --redis URL --status {job}` shows progress")
    if args.wait or args.output:
        last = [0.0]

        def tick(s: dict) -> None:
            if args.progress != "none" and time.monotonic() - last[0] >= args.progress_interval:
                last[0] = time.monotonic()
                _print_status_to(s, sys.stderr)

        wait_done(r, job, args.timeout, tick)
        if args.output:
            st = collect(r, job, args.output)
            if args.progress != "none":
                print_summary(st["summary"], rich_table=False)
    return 0


def _print_status_to(st: dict[str, Any], stream) -> None:
    old = sys.stdout
    sys.stdout = stream
    try:
        _print_status(st)
    finally:
        sys.stdout = old
