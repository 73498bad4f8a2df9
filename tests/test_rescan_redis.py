"""Distributed rescans on a private redis-server: two workers, one SIGKILLed mid-chunk."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from moderation import Moderator
from moderation.rescan import RecordChecker, RescanOptions, run_local
from moderation.rescan_redis import (
    GROUP,
    STREAM,
    WorkerLoop,
    collect,
    connect,
    enqueue,
    job_status,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "wordlists"
sys.path.insert(0, str(Path(__file__).parent))
from test_rescan import make_records, write_jsonl  # noqa: E402


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator(wordlist_dir=FIXTURE)


def local_output(moderator, inp: Path, tmp: Path) -> bytes:
    out = tmp / "local.jsonl"
    run_local(RecordChecker(moderator), RescanOptions(input=str(inp), output=str(out), workers=1, progress="none", quiet=True))
    return out.read_bytes()


def _env(delay: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env["RESCAN_TEST_DELAY"] = delay
    return env


def _worker(url: str, name: str, delay: str, log: Path, idle_exit: str = "60", processes: str = "1",
            claim_timeout: str = "1") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "moderation.rescan", "worker", "--redis", url, "-j", processes, "--name", name,
         "--claim-timeout", claim_timeout, "--exit-when-idle", idle_exit,
         "--engine-factory", "test_rescan_fakes:slow_fixture"],
        cwd=ROOT, env=_env(delay), stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
    )


def test_two_workers_one_killed_mid_chunk_output_equals_local(tmp_path, redis_server, moderator):
    records = make_records(1200, seed=11)
    records.insert(100, {"id": "bad", "text": 5})
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    with open(inp, "ab") as f:
        f.write(b"{broken\n")
    want = local_output(moderator, inp, tmp_path)

    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=40)
    st = job_status(r, job)
    assert st["chunks"] == 31 and st["state"] == "queued"

    # Two workers consume the job together; a is killed while it holds a chunk it has not
    # committed, b goes on and takes a's chunk over after the claim timeout.
    # a is slow (1.2 s a chunk): killed while it holds one, not in the moment between two.
    a = _worker(redis_server.url, "a", "0.03", tmp_path / "a.log")
    # b forks two consumers. It takes a's chunk over only once that chunk has waited 4 s, so the
    # job cannot be done before the --status call below has read it running (b alone clears
    # the other chunks in about 2 s; a slow machine took the status call past that once).
    b = _worker(redis_server.url, "b", "0.004", tmp_path / "b.log", processes="2", claim_timeout="4")
    try:
        deadline = time.monotonic() + 60
        killed = False
        while time.monotonic() < deadline:
            pend = r.xpending(STREAM, GROUP)
            holders = {c["name"].decode(): c["pending"] for c in pend["consumers"]}
            if job_status(r, job)["chunks_done"] >= 4 and any(k.startswith("a-") and v for k, v in holders.items()):
                a.send_signal(signal.SIGKILL)
                a.wait(timeout=10)
                killed = True
                break
            time.sleep(0.01)
        assert killed, "worker a never held a chunk"
        assert job_status(r, job)["chunks_done"] < 31
        holders = {c["name"].decode(): c["pending"] for c in r.xpending(STREAM, GROUP)["consumers"]}
        assert any(k.startswith("a-") and v for k, v in holders.items())  # a's chunk is left pending
        # --status from anywhere while the job runs.
        status = subprocess.run([sys.executable, "-m", "moderation.rescan", "rescan", "--redis", redis_server.url,
                                 "--status", job, "--json"], cwd=ROOT, env=_env("0"), capture_output=True, timeout=60)
        running = orjson.loads(status.stdout)
        assert running["state"] == "running" and 4 <= running["chunks_done"] < 31, running
        deadline = time.monotonic() + 120
        while job_status(r, job)["state"] != "done" and time.monotonic() < deadline:
            assert b.poll() is None, (tmp_path / "b.log").read_text()
            time.sleep(0.05)
        b.send_signal(signal.SIGTERM)  # a worker stops cleanly between chunks
        assert b.wait(timeout=30) == 0, (tmp_path / "b.log").read_text()
        assert b"claimed" in (tmp_path / "b.log").read_bytes()
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()

    st = job_status(r, job)
    assert st["state"] == "done" and st["chunks_done"] == 31
    assert st["profiles_done"] == len(records) + 1  # every record counted exactly once
    assert r.xpending(STREAM, GROUP)["pending"] == 0
    out = tmp_path / "dist.jsonl"
    collect(r, job, str(out))
    assert out.read_bytes() == want


def test_a_chunk_processed_twice_is_written_and_counted_once(tmp_path, redis_server, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(100, seed=2))
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=50)
    w1 = WorkerLoop(r, moderator, "w1", claim_timeout_s=0.05, log=lambda m: None, block_ms=10)
    eid, fields, deliveries = w1._next()
    assert deliveries == 1
    # w1 stalls (e.g. a long GC pause) past the claim timeout; w2 takes the chunk over.
    time.sleep(0.1)
    w2 = WorkerLoop(r, moderator, "w2", claim_timeout_s=0.05, log=lambda m: None, block_ms=10)
    eid2, fields2, deliveries2 = w2._next()
    assert eid2 == eid and fields2[b"seq"] == fields[b"seq"] and deliveries2 == 2
    assert w2.process(eid2, fields2, deliveries2) and w1.process(eid, fields, deliveries)
    stats = job_status(r, job)
    assert stats["chunks_done"] == 1 and stats["profiles_done"] == 50
    w2.run(max_chunks=1)
    st = job_status(r, job)
    assert st["state"] == "done" and st["profiles_done"] == 100
    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    assert out.read_bytes() == local_output(moderator, inp, tmp_path)


def test_cli_enqueue_status_collect_and_csv(tmp_path, redis_server, moderator):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("id,nickname,bio\nu1,阿明,爱吃火锅\nu2,小美,冰毒便宜出\nu3,x\n", encoding="utf-8")
    env = _env("0")
    base = [sys.executable, "-m", "moderation.rescan"]
    enq = subprocess.run(base + ["rescan", "--redis", redis_server.url, "--enqueue", str(csv_in),
                                 "--engine-factory", "test_rescan_fakes:slow_fixture", "--history-dir", str(tmp_path / "h")],
                         cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert enq.returncode == 0, enq.stderr.decode()
    job = enq.stdout.decode().strip()
    status = subprocess.run(base + ["rescan", "--redis", redis_server.url, "--status", job, "--json"],
                            cwd=ROOT, env=env, capture_output=True, timeout=60)
    st = orjson.loads(status.stdout)
    assert st["state"] == "queued" and st["chunks"] == 1 and st["records"] == 3

    r = connect(redis_server.url)
    WorkerLoop(r, moderator, "w", log=lambda m: None, block_ms=10).run(max_chunks=1)
    status = subprocess.run(base + ["rescan", "--redis", redis_server.url, "--status", job],
                            cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert b"done, 1/1 chunks" in status.stdout and b"decision" in status.stdout
    out = tmp_path / "out.jsonl"
    col = subprocess.run(base + ["rescan", "--redis", redis_server.url, "--collect", job, "-o", str(out)],
                         cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert col.returncode == 0, col.stderr.decode()
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [x["id"] for x in lines] == ["u2", "u3"]  # a bad row keeps its readable id
    assert lines[0]["fields"]["bio"]["decision"] == "block"
    assert "columns" in lines[1]["error"]

    bad = subprocess.run(base + ["rescan", "--redis", redis_server.url, "--status", "nosuchjob"],
                         cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"no rescan job" in bad.stderr


def test_worker_with_other_lists_leaves_the_chunk_for_others(tmp_path, redis_server, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(10))
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", "0000000000000000", chunk_lines=50)
    w = WorkerLoop(r, moderator, "w", claim_timeout_s=0.01, log=lambda m: None, block_ms=10)
    assert not w.process(*w._next())
    st = job_status(r, job)
    assert st["chunks_done"] == 0 and "needs 0000000000000000" in st["error"]
    assert r.xpending(STREAM, GROUP)["pending"] == 1
    # The wrong worker gave its delivery back: it does not count towards the delivery limit.
    assert r.xpending_range(STREAM, GROUP, "-", "+", 10)[0]["times_delivered"] == 0


def test_delta_job_over_redis_equals_local_delta(tmp_path, redis_server):
    import shutil

    from moderation.rescan_delta import load_snapshot, plan_from_snapshot, record_version
    from moderation.wordlists import load_wordlist

    wl = tmp_path / "wl"
    shutil.copytree(FIXTURE, wl)
    old_wl = load_wordlist(wl)
    record_version(wl, old_wl, tmp_path / "h")
    with open(wl / "fraud.txt", "a", encoding="utf-8") as f:
        f.write("爬山 | medium\n")
    new = Moderator(wordlist_dir=wl)
    snap = load_snapshot(old_wl.version, tmp_path / "h")
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(300, seed=5))
    out = tmp_path / "local.jsonl"
    plan = plan_from_snapshot(new, snap, log=lambda m: None)
    run_local(RecordChecker(new, delta=plan), RescanOptions(input=str(inp), output=str(out), workers=1, progress="none", quiet=True))
    want = out.read_bytes()
    assert want and all(b'"previous_decision"' in x for x in want.splitlines())

    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", new.version, chunk_lines=100, snapshot=snap, since=old_wl.version)
    WorkerLoop(r, new, "w", log=lambda m: None, block_ms=10).run(max_chunks=3)
    got = tmp_path / "dist.jsonl"
    collect(r, job, str(got))
    assert got.read_bytes() == want


def test_worker_survives_a_redis_outage(tmp_path, redis_server, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(60, seed=9))
    w = _worker(redis_server.url, "w", "0", tmp_path / "w.log", idle_exit="120")
    try:
        r = connect(redis_server.url)
        job1 = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=30)
        deadline = time.monotonic() + 60
        while job_status(r, job1)["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_status(r, job1)["state"] == "done"
        redis_server.stop()
        time.sleep(1.5)
        assert w.poll() is None  # still alive while Redis is down
        redis_server.start()  # an empty Redis: no stream, no group
        r = connect(redis_server.url)
        job2 = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=30)
        deadline = time.monotonic() + 60
        while job_status(r, job2)["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_status(r, job2)["state"] == "done", (tmp_path / "w.log").read_text()
        out = tmp_path / "o.jsonl"
        collect(r, job2, str(out))
        assert out.read_bytes() == local_output(moderator, inp, tmp_path)
        assert b"Redis unavailable" in (tmp_path / "w.log").read_bytes()
    finally:
        w.kill()
        w.wait(timeout=10)


def test_enqueue_keeps_a_bounded_backlog_on_the_stream(tmp_path, redis_server, moderator):
    """Redis never holds more than about --max-queued chunks of the input: enqueuing waits for
    the workers, and the output still equals a single-machine rescan."""
    import threading

    inp = write_jsonl(tmp_path / "in.jsonl", make_records(600, seed=13))
    r = connect(redis_server.url)
    job = "bounded00001"
    t = threading.Thread(target=enqueue, args=(r, str(inp), "jsonl", "profile", moderator.version),
                         kwargs={"chunk_lines": 20, "job": job, "max_backlog": 4}, daemon=True)
    t.start()
    rw = connect(redis_server.url)
    w = WorkerLoop(rw, moderator, "w", log=lambda m: None, block_ms=50)
    most = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        most = max(most, r.xlen(STREAM))
        w.run(max_chunks=w.processed + 1)
        if not t.is_alive() and job_status(r, job)["state"] == "done":
            break
    t.join(timeout=10)
    assert job_status(r, job)["chunks"] == 30
    assert most <= 4, most  # the batch is capped by the backlog too
    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    assert out.read_bytes() == local_output(moderator, inp, tmp_path)


# --------------------------------------------------------------------------------------------
# Poison chunks: a delivery limit, so that a chunk that kills every worker cannot stall a job


def _hold_all(r, deliveries: dict[int, int]) -> dict[int, bytes]:
    """Deliver every queued chunk to a consumer that died ("dead"), then set each chunk's delivery
    count (seq -> count, as XCLAIM RETRYCOUNT) and make it idle long enough to be claimed."""
    got = r.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=100)
    eids = {int(f[b"seq"]): eid for eid, f in got[0][1]}
    for seq, eid in eids.items():
        r.xclaim(STREAM, GROUP, "dead", 0, [eid], idle=60_000, retrycount=deliveries.get(seq, 1), justid=True)
    return eids


def test_a_chunk_delivered_too_often_is_abandoned_as_error_lines_and_the_job_finishes(tmp_path, redis_server, moderator):
    records = make_records(12, seed=4)
    records[5] = b"{not json"  # in the poison chunk: an error line without an id
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=4)
    assert job_status(r, job)["chunks"] == 3
    # Chunk 0 was delivered max_deliveries - 1 times before: this claim is the 3rd delivery, the
    # last one allowed. Chunk 1 was delivered 3 times: the 4th is one too many. Chunk 2: once.
    eids = _hold_all(r, {0: 2, 1: 3, 2: 1})
    logs: list[str] = []
    w = WorkerLoop(r, moderator, "w", claim_timeout_s=1, log=logs.append, block_ms=10, max_deliveries=3)
    assert w.run(max_chunks=3) == 3
    assert w.abandoned == 1

    st = job_status(r, job)
    assert st["state"] == "done" and st["chunks_done"] == 3
    assert r.xpending(STREAM, GROUP)["pending"] == 0 and r.xlen(STREAM) == 0

    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    got = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    checker = RecordChecker(moderator)
    normal = [orjson.loads(x) for x in checker.run_chunk("jsonl", b"\n".join(
        orjson.dumps(x) for x in records[:4]), 1).out.splitlines()]
    tail = [orjson.loads(x) for x in checker.run_chunk("jsonl", b"\n".join(
        orjson.dumps(x) for x in records[8:]), 9).out.splitlines()]
    msg = "not checked: its chunk was abandoned after 3 deliveries (every worker that took it stopped, hung or failed on it)"
    poison = [{"id": "u4", "error": msg, "line": 5}, {"id": None, "error": msg, "line": 6},
              {"id": "u6", "error": msg, "line": 7}, {"id": "u7", "error": msg, "line": 8}]
    assert got == normal + poison + tail
    assert any("decision" in x for x in normal + tail)  # the others got real verdicts

    flagged = sum(1 for x in normal + tail if "decision" in x)
    assert st["profiles_done"] == 12
    assert st["summary"]["decision"]["error"] == 4
    assert sum(st["summary"]["decision"].values()) == 12 and st["summary"]["decision"].get("pass", 0) == 8 - flagged

    said = [m for m in logs if "abandoned" in m]
    assert len(said) == 1 and "chunk 1 of job " + job in said[0] and eids[1].decode() in said[0]
    assert "4 record(s)" in said[0] and "after 3 deliveries" in said[0]
    texts = [x.get("text") or x["fields"]["bio"] for x in records if isinstance(x, dict)]
    assert not any(t in m for t in texts for m in logs)  # ids and counts only


def test_max_deliveries_is_respected_exactly(tmp_path, redis_server, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(6, seed=3))
    want = local_output(moderator, inp, tmp_path)
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=3)
    # Each chunk has been delivered 4 times already; with max_deliveries 5 the 5th is processed.
    _hold_all(r, {0: 4, 1: 4})
    w = WorkerLoop(r, moderator, "w", claim_timeout_s=1, log=lambda m: None, block_ms=10, max_deliveries=5)
    nxt = w._next()
    assert nxt is not None and nxt[2] == 5
    assert w.process(*nxt)
    nxt = w._next()
    assert nxt is not None and nxt[2] == 5
    assert w.process(*nxt)
    assert w.abandoned == 0
    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    assert out.read_bytes() == want
    assert job_status(r, job)["summary"]["decision"].get("error", 0) == 0


class _Crash(BaseException):
    """Stands for a record that kills the worker process (not an Exception: nothing catches it)."""


class _Poisoned:
    """The real engine, except that one text kills whoever checks it."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def check(self, text, **kw):
        if "POISON" in text:
            raise _Crash()
        return self._inner.check(text, **kw)

    def check_texts(self, texts, **kw):  # the batch path a rescan may take for plain records
        if any("POISON" in t for t in texts):
            raise _Crash()
        return self._inner.check_texts(texts, **kw)


def test_a_record_that_kills_every_worker_ends_as_error_lines_after_max_deliveries(tmp_path, redis_server, moderator):
    records = make_records(9, seed=8)
    records[4] = {"id": "killer", "text": "POISON"}
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=3)
    engine = _Poisoned(moderator)
    logs: list[str] = []
    crashes = 0
    for i in range(10):  # a supervisor restarting a worker that died, under a new name
        w = WorkerLoop(r, engine, f"w{i}", claim_timeout_s=0.05, idle_exit_s=30, log=logs.append, block_ms=10,
                       max_deliveries=2)
        try:
            w.run(max_chunks=3 - job_status(r, job)["chunks_done"])
        except _Crash:
            crashes += 1
            continue
        break
    assert crashes == 2  # delivered twice, both times the worker died; the 3rd is abandoned
    st = job_status(r, job)
    assert st["state"] == "done" and st["profiles_done"] == 9 and st["summary"]["decision"]["error"] == 3
    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    errors = [x for x in map(orjson.loads, out.read_bytes().splitlines()) if "error" in x]
    assert [(x["id"], x["line"]) for x in errors] == [("u3", 4), ("killer", 5), ("u5", 6)]
    assert all("after 2 deliveries" in x["error"] for x in errors)
    assert not any("POISON" in m for m in logs)


def test_a_chunk_that_raises_is_left_pending_not_retried_in_a_loop(tmp_path, redis_server, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(6, seed=1))
    r = connect(redis_server.url)
    job = enqueue(r, str(inp), "jsonl", "profile", moderator.version, chunk_lines=3)
    # An entry that makes process() raise an ordinary exception (here: a seq that is no number).
    bad = r.xadd(STREAM, {"job": job, "seq": "secret-seq", "data": b'{"id": "z", "text": "secret text"}'})
    stamped: list[tuple[float, str]] = []
    w = WorkerLoop(r, moderator, "w", claim_timeout_s=0.2, log=lambda m: stamped.append((time.monotonic(), m)),
                   block_ms=10, max_deliveries=2)
    assert w.run(max_chunks=3) == 3  # two chunks and, in the end, the bad entry
    failed = [t for t, m in stamped if "failed (ValueError)" in m]
    assert len(failed) == 2  # two deliveries, then the limit: dropped, not tried a third time
    assert failed[1] - failed[0] >= 0.2  # the second try only after the claim timeout
    assert any("dropped stream entry " + bad.decode() in m for _, m in stamped)
    assert not any("secret" in m for _, m in stamped)  # the exception's type only, never its text
    assert r.xpending(STREAM, GROUP)["pending"] == 0 and r.xlen(STREAM) == 0
    st = job_status(r, job)
    assert st["state"] == "done" and st["profiles_done"] == 6
    out = tmp_path / "o.jsonl"
    collect(r, job, str(out))
    assert out.read_bytes() == local_output(moderator, inp, tmp_path)


def test_worker_rejects_a_delivery_limit_below_one(redis_server, moderator):
    from moderation.rescan import RescanError

    with pytest.raises(RescanError):
        WorkerLoop(connect(redis_server.url), moderator, "w", max_deliveries=0)
