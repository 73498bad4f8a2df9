"""HTTP benchmark (a measurement, not a test): ``moderation serve --workers 2`` against an empty
FastAPI POST endpoint under uvicorn with 2 workers, both driven by wrk in the same run.

    .venv/bin/python benchmarks/http_bench.py            # ~10 s per wrk run
    .venv/bin/python benchmarks/http_bench.py --duration 5 --no-write

Prints requests/s and p99 for each and their ratio, then texts/s through the batch endpoint
(1,000 texts per request), and appends the figures to benchmarks/RESULTS.md under "## HTTP".
Texts come from benchmarks/corpus.py (our own templates, ~2 % with something to catch); no Redis
(the embedded default that `make serve` uses), so every request runs the engine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "RESULTS.md"
KEY = "bench-client-key"
# Connections for the batch run. uvicorn's workers accept from one shared socket, and with 4
# keep-alive connections all of them sometimes landed on one worker: the other sat idle for
# the whole run (CPU ticks per worker 539 and 1 in one such run) and the figure halved (25 to
# 28 against 48 to 64 requests/s). With 8 the two workers shared the work in every run.
BATCH_CONNECTIONS = 8
ADMIN_KEY = "bench-admin-key"

EMPTY_APP = '''
from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/moderate")
async def moderate():
    return {}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({url})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready: {url}")


def lua_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=True).replace("\\u", "\\u")  # JSON string = valid Lua body text


def write_lua(path: Path, bodies: list[str], key: str | None) -> None:
    """wrk script cycling through pre-built JSON bodies."""
    lines = ["local bodies = {"]
    for b in bodies:
        # Lua long strings take the bytes as they are; JSON bodies never contain "]==]".
        lines.append(f"[==[{b}]==],")
    lines.append("}")
    lines.append("local n = #bodies")
    lines.append("local i = 0")
    lines.append('wrk.method = "POST"')
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    if key:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {key}"')
    lines.append("request = function()")
    lines.append("  i = i % n + 1")
    lines.append("  return wrk.format(nil, nil, nil, bodies[i])")
    lines.append("end")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, duration: int, threads: int = 2) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = to_ms(m.group(1), m.group(2)) if m else float("nan")
    m = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    p50 = to_ms(m.group(1), m.group(2)) if m else float("nan")
    errors = wrk_errors(out)
    return {"rps": rps, "p99_ms": p99, "p50_ms": p50, "errors": errors, "cmd": " ".join(cmd)}


def combine(runs: list[dict]) -> dict:
    """Several wrk runs of one target: mean requests/s, p50 and p99, errors summed."""
    n = len(runs)
    return {"rps": sum(r["rps"] for r in runs) / n, "p50_ms": sum(r["p50_ms"] for r in runs) / n,
            "p99_ms": sum(r["p99_ms"] for r in runs) / n, "errors": sum(r["errors"] for r in runs),
            "runs": runs}


def wrk_errors(out: str) -> int:
    """Failed requests in wrk's report: non-2xx/3xx answers plus socket errors."""
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return errors


def worker_versions(base: str) -> dict[str, str]:
    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    return {m.group(1): m.group(2) for m in re.finditer(
        r'moderation_wordlist_info\{pid="(\d+)",version="([0-9a-f]+)"\} 1\.0', text)}


def propagation(base: str, script: Path, load_seconds: int = 8) -> dict:
    """Add a word-list entry (the curated lists, full rebuild) while wrk keeps 32 connections
    busy; time until every worker reports the new version; count failed requests."""
    cmd = ["wrk", "-t2", "-c32", f"-d{load_seconds}s", "-s", str(script), base + "/v1/moderate"]
    load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)
    t0 = time.monotonic()
    r = httpx.post(base + "/v1/wordlists/entries", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60,
                   json={"term": "基准测试新词", "category": "porn", "severity": "high"})
    answered = time.monotonic() - t0
    version = r.json()["wordlist_version"]
    elapsed = float("nan")
    while time.monotonic() - t0 < 30:
        vs = worker_versions(base)
        if len(vs) >= 2 and set(vs.values()) == {version}:
            elapsed = time.monotonic() - t0
            break
        time.sleep(0.02)
    out = load.communicate(timeout=load_seconds + 60)[0]
    errors = wrk_errors(out)
    reqs = re.search(r"(\d+) requests in", out)
    return {"answered_s": answered, "all_workers_s": elapsed, "errors": errors,
            "requests": int(reqs.group(1)) if reqs else 0}


def machine() -> dict:
    """Date, cores, CPU model, Python and load average: the same record `make bench` writes."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import machine as bench_machine

    return bench_machine()


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    fh = open(log, "wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def append_results(text: str) -> None:
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if "## HTTP" not in existing:
        existing = existing.rstrip("\n") + "\n\n## HTTP\n"
    # Our runs go at the end of the HTTP section, before the next "## " heading.
    head, _, rest = existing.partition("## HTTP\n")
    nxt = rest.find("\n## ")
    section, tail = (rest, "") if nxt < 0 else (rest[:nxt + 1], rest[nxt + 1:])
    RESULTS.write_text(head + "## HTTP\n" + section.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
                       + ("\n" + tail if tail else ""), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=2,
                    help="runs of the reference and of /v1/moderate, taking turns (the figures are their means)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    from corpus import messages

    load_before = os.getloadavg()[0]

    texts = messages(2_000).messages
    tmp = Path(tempfile.mkdtemp(prefix="http-bench-"))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, MODERATION_API_KEYS=f"client:{KEY},admin:{ADMIN_KEY}", MODERATION_DATA_DIR=str(tmp / "var"),
               MODERATION_RATE_LIMIT_PER_SECOND="0", PYTHONUNBUFFERED="1")
    env.pop("MODERATION_REDIS_URL", None)
    (tmp / "empty_app.py").write_text(EMPTY_APP)
    single = tmp / "single.lua"
    write_lua(single, [json.dumps({"text": t, "scene": "chat", "id": i}, ensure_ascii=False)
                       for i, t in enumerate(texts[:500])], KEY)
    batch_bodies = []
    for b in range(2):
        chunk = texts[b * 1000:(b + 1) * 1000]
        batch_bodies.append(json.dumps({"items": [{"text": t, "scene": "chat", "id": i}
                                                  for i, t in enumerate(chunk)]}, ensure_ascii=False))
    batch = tmp / "batch.lua"
    write_lua(batch, batch_bodies, KEY)
    empty_lua = tmp / "empty.lua"
    write_lua(empty_lua, [json.dumps({"text": t}, ensure_ascii=False) for t in texts[:500]], None)

    p_mod, p_ref = free_port(), free_port()
    serve_cmd = [str(bin_dir / "moderation"), "serve", "--port", str(p_mod), "--workers", str(args.workers)]
    ref_cmd = [sys.executable, "-m", "uvicorn", "empty_app:app", "--port", str(p_ref), "--workers",
               str(args.workers), "--no-access-log", "--app-dir", str(tmp)]
    mod = start(serve_cmd, env, tmp / "serve.log")
    ref = start(ref_cmd, env, tmp / "ref.log")
    try:
        wait_ready(f"http://127.0.0.1:{p_mod}/readyz", mod)
        wait_ready(f"http://127.0.0.1:{p_ref}/docs", ref)
        # Warm both (jieba, caches, first-request paths in every worker).
        run_wrk(f"http://127.0.0.1:{p_mod}/v1/moderate", single, 8, 2)
        run_wrk(f"http://127.0.0.1:{p_ref}/v1/moderate", empty_lua, 8, 2)
        # The reference and ours take turns (ref, ours, ours, ref, …): the machine's speed drifts
        # by tens of percent over a minute, and one run of each measured in sequence carried
        # that drift into the ratio.
        refs, mods = [], []
        for k in range(args.rounds):
            order = ("ref", "mod") if k % 2 == 0 else ("mod", "ref")
            for which in order:
                if which == "ref":
                    refs.append(run_wrk(f"http://127.0.0.1:{p_ref}/v1/moderate", empty_lua, args.connections, args.duration))
                else:
                    mods.append(run_wrk(f"http://127.0.0.1:{p_mod}/v1/moderate", single, args.connections, args.duration))
        r_ref, r_mod = combine(refs), combine(mods)
        r_batch = run_wrk(f"http://127.0.0.1:{p_mod}/v1/moderate/batch", batch, BATCH_CONNECTIONS, args.duration)
        r_prop = propagation(f"http://127.0.0.1:{p_mod}", single)
    finally:
        stop(mod)
        stop(ref)
    info = machine()
    info["load"] = (load_before,) + tuple(info["load"][1:])
    ratio = r_mod["rps"] / r_ref["rps"] if r_ref["rps"] else float("nan")
    texts_per_s = r_batch["rps"] * 1000
    cmd = " ".join([".venv/bin/python benchmarks/http_bench.py"] +
                     ([f"--duration {args.duration}"] if args.duration != 10 else []) +
                     ([f"--rounds {args.rounds}"] if args.rounds != 2 else []))
    per_round = ", ".join(f"{m['rps'] / r['rps']:.0%} (p99 {m['p99_ms']:.1f} ms)"
                          for r, m in zip(r_ref["runs"], r_mod["runs"]) if r["rps"])
    lines = [
        f"### {info['date']}",
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), Python {info['python']}, "
        f"load average at start {info['load'][0]:.2f} (the cores are shared with other work; "
        "wrk runs on the same cores as the servers).",
        f"Command: `{cmd}` (wrk 2 threads, {args.connections} connections, {args.duration} s per run, "
        f"{args.workers} uvicorn workers each, no Redis; the reference and `/v1/moderate` take turns, "
        f"{args.rounds} runs each, means shown).",
        "",
        "| target | requests/s | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| empty FastAPI POST (reference) | {r_ref['rps']:,.0f} | {r_ref['p50_ms']:.2f} | {r_ref['p99_ms']:.2f} | {r_ref['errors']} |",
        f"| `POST /v1/moderate` | {r_mod['rps']:,.0f} | {r_mod['p50_ms']:.2f} | {r_mod['p99_ms']:.2f} | {r_mod['errors']} |",
        f"| `POST /v1/moderate/batch` (1,000 texts, {BATCH_CONNECTIONS} connections) | {r_batch['rps']:,.1f} | {r_batch['p50_ms']:.1f} | {r_batch['p99_ms']:.1f} | {r_batch['errors']} |",
        "",
        f"`/v1/moderate` at **{ratio:.0%}** of the reference's requests/s (target ≥ 80 %), "
        f"p99 **{r_mod['p99_ms']:.1f} ms** (target ≤ 20 ms); batch **{texts_per_s:,.0f} texts/s** "
        f"(target ≥ 50,000). Round by round: {per_round}.",
        "",
        f"Word-list change under that load (curated lists, one entry added by an admin, full rebuild "
        f"beside the engine in use): the admin's request answered in {r_prop['answered_s']:.2f} s "
        f"with the new version; both workers served it {r_prop['all_workers_s']:.2f} s after the "
        f"request (target ≤ 2 s); {r_prop['errors']} failed of {r_prop['requests']:,} requests "
        "during the change.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        append_results(text)
        print(f"\nappended to {RESULTS}", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
