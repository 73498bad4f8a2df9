"""Local rescans: formats, output lines, bad input, all cores, progress, checkpoints and resume."""
from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from moderation import Moderator
from moderation.rescan import (
    ProgressReporter,
    RecordChecker,
    RescanOptions,
    add_rescan_arguments,
    iter_jsonl_chunks,
    print_summary,
    run_local,
    run_rescan,
    summary_dict,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "wordlists"
CLEAN = ["喜欢旅行和读书", "周末一起去爬山吧", "我是一名老师", "养了一只猫", "爱吃火锅"]
BAD = ["稳赚不赔的项目", "约炮吗", "冰毒便宜出", "法网恢恢"]


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator(wordlist_dir=FIXTURE)


def make_records(n: int, seed: int = 0) -> list[dict]:
    import random

    r = random.Random(seed)
    out = []
    for i in range(n):
        parts = [r.choice(CLEAN) for _ in range(3)]
        if r.random() < 0.3:
            parts.insert(r.randrange(4), r.choice(BAD))
        text = "，".join(parts)
        if i % 5 == 0:
            out.append({"id": f"u{i}", "fields": {"nickname": r.choice(CLEAN + BAD), "bio": text}})
        else:
            out.append({"id": f"u{i}", "text": text})
    return out


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "wb") as f:
        for rec in records:
            f.write(rec if isinstance(rec, bytes) else orjson.dumps(rec))
            f.write(b"\n")
    return path


def read_lines(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def opts(inp: Path, out: Path, **kw) -> RescanOptions:
    base = dict(input=str(inp), output=str(out), fmt="jsonl", workers=1, progress="none", quiet=True)
    base.update(kw)
    return RescanOptions(**base)


def expected(moderator: Moderator, records: list[dict], scene: str = "profile") -> list[dict]:
    """What a rescan must output, computed directly with the engine."""
    out = []
    for rec in records:
        if "text" in rec:
            d = moderator.check(rec["text"], scene=rec.get("scene", scene), id=rec["id"]).to_dict()
        else:
            per = {n: moderator.check(t, scene=scene, id=rec["id"], field=n).to_dict() for n, t in rec["fields"].items()}
            rank = {"pass": 0, "review": 1, "block": 2}
            d = {"id": rec["id"], "decision": max((v["decision"] for v in per.values()), key=rank.get)}
        if d["decision"] != "pass":
            out.append(d)
    return out


def test_output_holds_each_non_pass_input_in_order(tmp_path, moderator):
    records = make_records(300)
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    summary = run_local(RecordChecker(moderator), opts(inp, out))
    got = read_lines(out)
    want = expected(moderator, records)
    assert [g["id"] for g in got] == [w["id"] for w in want]
    assert [g["decision"] for g in got] == [w["decision"] for w in want]
    assert 0 < len(got) < len(records)
    singles = [(g, w) for g, w in zip(got, want) if "fields" not in g]
    assert singles and all(g == w for g, w in singles)
    assert summary["profiles"] == 300
    assert sum(summary["decision"].values()) == 300
    assert summary["decision"].get("pass", 0) == 300 - len(got)


def test_multi_field_line_combines_field_verdicts(tmp_path, moderator):
    rec = {"id": "p1", "fields": {"nickname": "小甜甜", "bio": "约炮吗，稳赚不赔"}}
    inp = write_jsonl(tmp_path / "in.jsonl", [rec, {"id": "p2", "fields": {"nickname": "阿明", "bio": "爱吃火锅"}}])
    out = tmp_path / "out.jsonl"
    run_local(RecordChecker(moderator), opts(inp, out))
    (line,) = read_lines(out)
    bio = moderator.check("约炮吗，稳赚不赔", scene="profile", id="p1", field="bio").to_dict()
    assert line["id"] == "p1" and line["decision"] == bio["decision"] == "block"
    assert set(line["fields"]) == {"nickname", "bio"}
    assert line["fields"]["nickname"]["decision"] == "pass"
    assert line["fields"]["bio"]["hits"] == bio["hits"]
    assert line["fields"]["bio"]["masked"] == bio["masked"]
    assert line["categories"] == sorted({"fraud", "porn"})
    assert line["patterns"] == ["escort"]
    assert all(h["field"] == "bio" for h in line["hits"])
    text = rec["fields"]["bio"]
    assert all(text[h["start"]:h["end"]] == h["text"] for h in line["hits"])
    assert line["wordlist_version"] == moderator.version and line["scene"] == "profile"


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not valid JSON"),
        (b'["a list"]', "not a JSON object"),
        (b'{"text": "hi"}', "missing id"),
        (b'{"id": "a"}', 'missing "text"'),
        (b'{"id": "a", "text": 5}', '"text" must be a string'),
        (b'{"id": "a", "text": "x", "fields": {"b": "y"}}', "not both"),
        (b'{"id": "a", "fields": {}}', "non-empty"),
        (b'{"id": "a", "fields": {"bio": 3}}', "must be a string"),
        (b'{"id": "a", "text": "x", "scene": "moon"}', "unknown scene"),
        (b'{"id": {"x": 1}, "text": "x"}', "id must be"),
    ],
)
def test_bad_lines_get_an_error_line_and_the_rescan_goes_on(tmp_path, moderator, raw, message):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "before", "text": "约炮吗"}, raw, {"id": "after", "text": "冰毒"}])
    out = tmp_path / "out.jsonl"
    summary = run_local(RecordChecker(moderator), opts(inp, out))
    lines = read_lines(out)
    assert [x.get("id") for x in (lines[0], lines[2])] == ["before", "after"]
    assert message in lines[1]["error"] and lines[1]["line"] == 2
    assert summary["decision"]["error"] == 1


def test_blank_lines_are_skipped_but_counted_in_line_numbers(tmp_path, moderator):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b'{"id": 1, "text": "hi"}\n\n{"id": 2, "text": 7}\n')
    out = tmp_path / "out.jsonl"
    summary = run_local(RecordChecker(moderator), opts(inp, out))
    assert read_lines(out) == [{"id": 2, "error": '"text" must be a string', "line": 3}]
    assert summary["profiles"] == 2


def test_csv_with_text_column_and_with_field_columns(tmp_path, moderator):
    a = tmp_path / "a.csv"
    a.write_text('id,text\nu1,爱吃火锅\nu2,"约炮吗,\n稳赚不赔"\nu3\n', encoding="utf-8")
    out = tmp_path / "a.out"
    summary = run_local(RecordChecker(moderator), opts(a, out, fmt="csv"))
    lines = read_lines(out)
    assert lines[0]["id"] == "u2" and lines[0]["decision"] == "block"
    assert lines[0] == moderator.check("约炮吗,\n稳赚不赔", scene="profile", id="u2").to_dict()
    assert "columns" in lines[1]["error"] and lines[1]["line"] == 3
    assert summary["profiles"] == 3

    b = tmp_path / "b.csv"
    b.write_text("id,nickname,bio,scene\nu1,阿明,爱吃火锅,\nu2,小美,冰毒便宜出,post\n", encoding="utf-8")
    out = tmp_path / "b.out"
    run_local(RecordChecker(moderator), opts(b, out, fmt="csv"))
    (line,) = read_lines(out)
    assert line["id"] == "u2" and set(line["fields"]) == {"nickname", "bio"} and line["scene"] == "post"


def test_csv_without_id_column_is_refused(tmp_path, moderator):
    a = tmp_path / "a.csv"
    a.write_text("name,text\nx,y\n", encoding="utf-8")
    args = _args(["--input", str(a), "--output", str(tmp_path / "o"), "--wordlists", str(FIXTURE), "-q", "--history-dir", str(tmp_path / "h")])
    assert run_rescan(args) == 2


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_rescan_arguments(p)
    return p.parse_args(argv)


def test_chunks_cut_on_line_ends_and_cover_the_file(tmp_path):
    records = make_records(500)
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    with open(inp, "rb") as f:
        chunks = list(iter_jsonl_chunks(f, 0, 1, chunk_bytes=1000))
    assert len(chunks) > 10
    assert all(len(c.payload) < 1000 + 400 for c in chunks)
    joined = b"\n".join(c.payload for c in chunks) + b"\n"
    assert joined == inp.read_bytes()
    assert chunks[-1].end_pos == inp.stat().st_size
    assert [c.first_line for c in chunks[1:]] == [c.end_line for c in chunks[:-1]]


class PidEngine:
    """Records where it was built and which process checked each text."""

    def __init__(self, inner: Moderator, built_log: Path):
        self.inner = inner
        self.version = inner.version
        with open(built_log, "a") as f:
            f.write(f"{os.getpid()}\n")

    def check(self, text, **kw):
        v = self.inner.check(text, **kw)
        time.sleep(0.0005)
        v.extra["pid"] = os.getpid()
        return v


def test_all_cores_share_one_engine_built_before_forking(tmp_path, moderator):
    records = make_records(1500, seed=3)
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    built = tmp_path / "built.txt"
    engine = PidEngine(moderator, built)
    out2 = tmp_path / "two.jsonl"
    run_local(RecordChecker(engine), opts(inp, out2, workers=2, chunk_bytes=2000))
    out1 = tmp_path / "one.jsonl"
    run_local(RecordChecker(moderator), opts(inp, out1, workers=1))
    two = read_lines(out2)
    pids = {x["pid"] for x in two if "pid" in x}
    assert len(pids) == 2 and os.getpid() not in pids  # checked in two forked workers
    assert built.read_text().split() == [str(os.getpid())]  # built once, in the parent
    for x in two:
        x.pop("pid", None)
        for f in x.get("fields", {}).values():
            f.pop("pid", None)
    assert two == read_lines(out1)  # same lines, same order


def test_progress_plain_lines_bar_and_summary_table():
    s = io.StringIO()
    p = ProgressReporter("plain", 1000, stream=s, interval=0)
    p.update(500, 10, 2)
    p.update(1000, 20, 3, force=True)
    p.close()
    text = s.getvalue()
    assert "50.0%" in text and "100.0%" in text and "20 profiles" in text and "3 flagged" in text

    s = io.StringIO()
    p = ProgressReporter("auto", 1000, stream=s)  # not a terminal: plain lines
    assert p.mode == "plain"
    s = io.StringIO()
    p = ProgressReporter("bar", 1000, stream=s)
    p.update(400, 40, 4)
    p.close()
    assert "40 profiles" in s.getvalue()

    stats = Counter({"total": 5, "decision:pass": 3, "decision:block": 2, "category:porn": 2, "pattern:escort": 1})
    summ = summary_dict(stats, 2.0)
    assert summ["decision"] == {"block": 2, "pass": 3} and summ["pattern"] == {"escort": 1}
    for rich_table in (False, True):
        s = io.StringIO()
        print_summary(summ, rich_table=rich_table, stream=s)
        assert "escort" in s.getvalue() and "porn" in s.getvalue() and "block" in s.getvalue()


def test_cli_writes_summary_json_and_records_the_version(tmp_path, moderator):
    records = make_records(200)
    inp = write_jsonl(tmp_path / "in.jsonl", records)
    hist = tmp_path / "hist"
    args = _args(["-i", str(inp), "-o", str(tmp_path / "out.jsonl"), "--wordlists", str(FIXTURE), "--history-dir", str(hist),
                  "--summary-json", str(tmp_path / "s.json"), "--progress", "none", "-j", "2"])
    assert run_rescan(args) == 0
    summ = orjson.loads((tmp_path / "s.json").read_bytes())
    assert summ["profiles"] == 200 and summ["wordlist_version"] == moderator.version
    assert (hist / f"{moderator.version}.json.gz").exists()
    assert len(read_lines(tmp_path / "out.jsonl")) == len(expected(moderator, records))
    assert not (tmp_path / "out.jsonl.checkpoint").exists()


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    args = _args(["-i", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o"), "--wordlists", str(FIXTURE), "--history-dir", str(tmp_path / "h")])
    assert run_rescan(args) == 2
    assert "cannot read" in capsys.readouterr().err


# -- interruption and resume (real processes) ------------------------------------------------


def _rescan_cmd(inp: Path, out: Path, tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "moderation.rescan", "rescan", "-i", str(inp), "-o", str(out),
            "--engine-factory", "test_rescan_fakes:slow_fixture", "--history-dir", str(tmp / "hist"),
            "--progress", "plain", "--progress-interval", "0.5", "--chunk-bytes", "4000", "--chunk-rows", "20", *extra]


def _env(delay: str = "0.002") -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env["RESCAN_TEST_DELAY"] = delay
    return env


def _wait_for_checkpoint_progress(ckpt: Path, proc: subprocess.Popen, min_done: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the rescan ended before it could be interrupted"
        try:
            data = orjson.loads(ckpt.read_bytes())
            if data["stats"].get("total", 0) >= min_done:
                return
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint progress")


def write_csv(path: Path, records: list[dict]) -> Path:
    """id,nickname,bio: a single-text record becomes a bio (empty cells are skipped)."""
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "nickname", "bio"])
        for rec in records:
            fields = rec.get("fields") or {"bio": rec["text"]}
            w.writerow([rec["id"], fields.get("nickname", ""), fields["bio"]])
    return path


@pytest.mark.parametrize("sig, workers, fmt", [(signal.SIGKILL, "2", "jsonl"), (signal.SIGINT, "1", "jsonl"),
                                               (signal.SIGTERM, "2", "csv")])
def test_interrupted_rescan_resumes_without_losing_or_repeating_lines(tmp_path, moderator, sig, workers, fmt):
    records = make_records(1500, seed=7)
    if fmt == "csv":
        inp = write_csv(tmp_path / "in.csv", records)
    else:
        inp = write_jsonl(tmp_path / "in.jsonl", records)
    ref = tmp_path / "ref.jsonl"
    run_local(RecordChecker(moderator), opts(inp, ref, fmt=fmt))

    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(_rescan_cmd(inp, out, tmp_path, "-j", workers), env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_checkpoint_progress(Path(f"{out}.checkpoint"), proc, 300)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and b"--resume" in err
    partial = out.read_bytes()
    assert 0 < len(partial) < ref.stat().st_size

    done = subprocess.run(_rescan_cmd(inp, out, tmp_path, "-j", workers, "--resume"), env=_env("0"), cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert b"resuming at input line" in done.stderr
    assert out.read_bytes() == ref.read_bytes()
    ids = [x["id"] for x in read_lines(out)]
    assert len(ids) == len(set(ids)) > 100
    assert not Path(f"{out}.checkpoint").exists()


def test_resume_refuses_a_checkpoint_of_another_rescan(tmp_path, moderator):
    inp = write_jsonl(tmp_path / "in.jsonl", make_records(50))
    out = tmp_path / "out.jsonl"
    ckpt = Path(f"{out}.checkpoint")
    ckpt.write_bytes(orjson.dumps({"format": 1, "identity": {"input": "/elsewhere"}, "input_pos": 0,
                                   "input_line": 1, "output_len": 0, "stats": {}}))
    out.write_bytes(b"")
    from moderation.rescan import RescanError

    with pytest.raises(RescanError, match="different rescan"):
        run_local(RecordChecker(moderator), opts(inp, out, resume=True))


@pytest.mark.parametrize("fmt, small", [("jsonl", 40_000), ("csv", 15_000)])
def test_memory_stays_flat_as_the_input_grows(tmp_path, fmt, small):
    """Streaming: eight times the input must not mean more memory (parent or workers)."""

    def run(n: int) -> dict:
        inp = tmp_path / f"in{n}.{fmt}"
        with open(inp, "wb") as f:
            if fmt == "csv":
                f.write(b"id,nickname,bio\n")
            for i in range(n):
                text = ("flag " if i % 100 == 0 else "") + "周末一起去爬山吧，喜欢旅行和读书" * 3
                if fmt == "csv":
                    f.write(f'{i},"阿明",{text}\n'.encode())
                else:
                    f.write(orjson.dumps({"id": i, "text": text}) + b"\n")
        summ = tmp_path / f"s{n}.json"
        cmd = [sys.executable, "-m", "moderation.rescan", "rescan", "-i", str(inp), "-o", str(tmp_path / f"o{n}"),
               "-j", "2", "--engine-factory", "test_rescan_fakes:fast_fake", "--history-dir", str(tmp_path / "h"),
               "--progress", "none", "--summary-json", str(summ)]
        done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()
        s = orjson.loads(summ.read_bytes())
        assert s["profiles"] == n and s["decision"]["review"] == n // 100
        return s["peak_rss_mb"]

    small, big = run(small), run(small * 8)
    assert big["parent"] < small["parent"] + 15, (small, big)
    assert big["workers"] < small["workers"] + 15, (small, big)


# -- bytes that are not text, and the CSV reader ----------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_undecodable_and_odd_jsonl_lines_each_get_an_error_line(tmp_path, moderator, workers):
    lines = [
        b'\xef\xbb\xbf{"id": "bom", "text": "\xe7\xba\xa6\xe7\x82\xae\xe5\x90\x97"}',  # BOM on line 1: read, not an error
        b'{"id": "latin1", "text": "caf\xe9 \xff"}',  # bytes that are not UTF-8
        b'{"id": "lone", "text": "\\ud800 x"}',  # a lone surrogate escape
        b'{"id": "crlf", "text": "\xe5\x86\xb0\xe6\xaf\x92"}\r',  # CRLF line end: fine
        b'{"id": "ctl", "text": "a\x01b"}',  # a raw control character inside a string
        b'{"id": 123456789012345678901234567890, "text": "x"}',  # an id orjson reads as a float
        b'{"id": true, "text": "x"}',
        b'{"id": "n", "text": null}',
        b"\x00\x00",
        b'{"id": "last", "text": "\xe7\xba\xa6\xe7\x82\xae\xe5\x90\x97"}',
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    summary = run_local(RecordChecker(moderator), opts(inp, out, workers=workers, chunk_bytes=64))
    got = read_lines(out)
    assert summary["profiles"] == len(lines)  # nothing dropped
    by_line = {}
    for i, g in enumerate(got):
        by_line[g.get("line", g["id"])] = g
    assert by_line["bom"]["decision"] == "block" and by_line["crlf"]["decision"] == "block"
    assert "UTF-8" in by_line[2]["error"]
    for n in (3, 5, 9):
        assert "not valid JSON" in by_line[n]["error"]
    assert "id must be" in by_line[6]["error"] and "id must be" in by_line[7]["error"]
    assert by_line[8]["id"] == "n" and '"text" must be a string' in by_line[8]["error"]
    assert by_line["last"]["decision"] == "block"
    assert summary["decision"]["error"] == 7
    # Error lines never quote the input.
    assert all("caf" not in g.get("error", "") for g in got)


def test_workers_reading_their_own_ranges_number_error_lines_across_chunks(tmp_path, moderator):
    """With two workers each reads its ranges of the file and counts lines from 1; the parent
    renumbers error lines. Bad lines in many chunks keep their input line numbers."""
    records = make_records(900, seed=11)
    raw = [orjson.dumps(r) for r in records]
    bad_at = set(range(5, len(raw), 37))
    for i in bad_at:
        raw[i] = b'{"id": "bad%d", "text": ' % i if i % 2 else b'{"id":"u%d","text":"\xff"}' % i
    raw.insert(0, b"")  # a blank first line still counts
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(raw))  # and no newline after the last line
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    s1 = run_local(RecordChecker(moderator), opts(inp, one, workers=1))
    s2 = run_local(RecordChecker(moderator), opts(inp, two, workers=2, chunk_bytes=3000))
    assert two.read_bytes() == one.read_bytes()
    assert s2["profiles"] == s1["profiles"] == len(records)
    errors = [d for d in read_lines(two) if "error" in d]
    assert sorted(d["line"] for d in errors) == sorted(i + 2 for i in bad_at)


def _bad_csv(n_rows: int) -> bytes:
    rows = [b"\xef\xbb\xbfid,text"]
    for i in range(n_rows):
        if i in (3, n_rows - 5):
            rows.append(b"u%d,caf\xe9 \xff\xfe" % i)  # not UTF-8: in the header's block and far later
        elif i % 7 == 0:
            rows.append(("u%d,约炮吗" % i).encode())
        else:
            rows.append(("u%d,喜欢旅行和读书" % i).encode())
    return b"\r\n".join(rows) + b"\r\n"


@pytest.mark.parametrize("workers", [1, 2])
def test_csv_rows_that_are_not_utf8_are_error_lines_and_no_row_is_lost(tmp_path, moderator, workers):
    n = 6000  # several read-ahead blocks and several chunks
    inp = tmp_path / "in.csv"
    inp.write_bytes(_bad_csv(n))
    out = tmp_path / "out.jsonl"
    summary = run_local(RecordChecker(moderator), opts(inp, out, fmt="csv", workers=workers, chunk_rows=500))
    got = read_lines(out)
    assert summary["profiles"] == n
    errors = [g for g in got if "error" in g]
    assert [(e["id"], e["line"]) for e in errors] == [("u3", 4), (f"u{n - 5}", n - 4)]
    assert all("UTF-8" in e["error"] for e in errors)
    flagged = [g["id"] for g in got if "error" not in g]
    assert flagged == [f"u{i}" for i in range(n) if i % 7 == 0 and i not in (3, n - 5)]


def test_csv_header_that_is_not_utf8_is_refused(tmp_path):
    a = tmp_path / "a.csv"
    a.write_bytes(b"id,t\xffext\nu1,x\n")
    args = _args(["--input", str(a), "--output", str(tmp_path / "o"), "--wordlists", str(FIXTURE), "-q",
                  "--history-dir", str(tmp_path / "h")])
    assert run_rescan(args) == 2


# -- the engine is built and warmed once, before the workers fork ------------------------------

def test_workers_load_nothing_the_parent_did_not_load_before_forking(tmp_path):
    """Forked workers share the parent's engine: while checking they open no file and import no
    module (jieba's dictionary, detector tables ... were loaded once, in the parent). The input is
    the benchmark's generated profiles: disguised words, contact ids, scam phrases."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import rescan_bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    inp = tmp_path / "in.jsonl"
    rescan_bench.generate(inp, 3000, seed=11)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "moderation.rescan", "rescan", "-i", str(inp), "-o", str(out), "-j", "2",
           "--engine-factory", "test_rescan_fakes:probe_fixture", "--history-dir", str(tmp_path / "h"),
           "--progress", "none", "--chunk-bytes", "20000"]
    done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    lines = [x for x in read_lines(out) if "worker_pid" in x]
    assert len({x["worker_pid"] for x in lines}) == 2  # really two forked workers
    loaded = sorted({e for x in lines for e in x["loaded"]})
    assert loaded == [], loaded


# -- progress on a terminal and off it ----------------------------------------------------------


def _fast_cmd(inp: Path, out: Path, tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "moderation.rescan", "rescan", "-i", str(inp), "-o", str(out), "-j", "2",
            "--engine-factory", "test_rescan_fakes:fast_fake", "--history-dir", str(tmp / "h"), *extra]


def test_cli_shows_a_bar_on_a_terminal_and_plain_lines_otherwise(tmp_path):
    import pty

    inp = tmp_path / "in.jsonl"
    with open(inp, "wb") as f:
        for i in range(20_000):
            f.write(orjson.dumps({"id": i, "text": ("flag " if i % 50 == 0 else "") + "喜欢旅行和读书"}) + b"\n")

    # Not a terminal: plain progress lines and a plain summary.
    done = subprocess.run(_fast_cmd(inp, tmp_path / "o1", tmp_path, "--progress-interval", "0"), env=_env(),
                          cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    err = done.stderr.decode()
    assert "rescan: 100.0% 20,000 profiles" in err and "/s" in err
    assert "rescan summary: 20,000 profiles" in err and "review" in err and "\x1b[" not in err

    # A terminal: rich draws the bar (ANSI escapes, bar characters) and a table.
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(_fast_cmd(inp, tmp_path / "o2", tmp_path), env={**_env(), "COLUMNS": "120", "TERM": "xterm"},
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    tty = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in tty and "━" in tty and "20,000 profiles" in tty and "left" in tty
    assert "Rescan summary" in tty and "│" in tty and "review" in tty and "400" in tty
