"""`make bench`: engine speed, stage costs, both matcher backends, peers, start-up and memory.

All in-process figures come from this one process, one after the other on one core, so the
ratios between them are fair. Start-up, memory and `moderation scan` run in subprocesses (pinned
with ``taskset -c 0`` when available). The results replace our block of
``benchmarks/RESULTS.md`` (between the ``bench:engine`` markers, at the top: the title, a summary
of every benchmark and the engine sections); the "HTTP" and "Rescan" sections below it belong to
``http_bench.py`` and ``rescan_bench.py`` and are kept as they are (their latest figures are
quoted in the summary). The README's "Benchmarks" section is rewritten with the headline table.

    .venv/bin/python benchmarks/run.py --datasets ../shared/datasets   # = make bench
    .venv/bin/python benchmarks/run.py --quick --output -             # a small run, print only
"""
from __future__ import annotations

import argparse
import gc
import datetime as _dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402

import biglist  # noqa: E402
import corpus as corpus_mod  # noqa: E402
import peers as peers_mod  # noqa: E402

RESULTS = HERE / "RESULTS.md"
README = ROOT / "README.md"
BEGIN = "<!-- bench:engine:begin (written by benchmarks/run.py; edit the script, not this block) -->"
END = "<!-- bench:engine:end -->"
README_BEGIN = "<!-- bench:readme:begin (written by benchmarks/run.py) -->"
README_END = "<!-- bench:readme:end -->"
SCENE = "chat"
# In-process rates are per CPU-second of this process: the machine is shared, and time spent
# waiting for a core is not the engine's. (Wall-clock would change the figures, not the ratios.)
perf = time.process_time
wall = time.perf_counter

# Slow peers are timed on a prefix of the corpus for at most this many seconds.
PEER_BUDGET_S = 6.0
# `check` over the corpus (all backends together) stops after this many CPU seconds.
CHECK_BUDGET_S = 120.0
# Messages per slice when the matcher backends take turns over the corpus; the other backends
# are compared with the default on the first BACKEND_COMPARE messages (the default does them all).
BACKEND_SLICE = 5_000
BACKEND_COMPARE = 50_000
# `moderation scan` end to end reads at most this many messages per list.
SCAN_MAX = {"ours": 100_000, "lexicons": 50_000}
# The 50,000-entry cut of the lexicons, for the start-up and memory targets.
TARGET_ENTRIES = 50_000
CUT_NAME = "lexicons, 50,000 cut"

# Targets from issue 8 (engine), issue 5 (HTTP) and issue 7 (rescan).
T_MSGS = 50_000
T_PLAIN = 2.5
T_WARM_S = 1.0
T_RSS_MB = 300
T_HTTP_RATIO = 0.80
T_HTTP_P99 = 20.0
T_BATCH = 50_000
T_RESCAN = 50_000
T_DELTA = 10.0


# -- helpers ---------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    versions = {}
    for pkg in ("pyahocorasick", "ahocorasick_rs", "flashtext", "opencc-python-reimplemented", "jieba"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "?"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load": load,
        "versions": versions,
    }


def frozen() -> None:
    """What the service does once its engine is built (api/engine_service.py): the engine's
    objects leave the cyclic garbage collector's passes. Otherwise a full pass now and then
    walks the whole engine (50 ms with all the lexicons) inside whatever is being timed."""
    gc.collect()
    gc.freeze()


def taskset() -> list[str]:
    return ["taskset", "-c", "0"] if shutil.which("taskset") else []


def timed_scan(fn: Callable[[str], Any], texts: Sequence[str], budget: float | None = None,
               min_items: int = 200) -> dict[str, Any]:
    """Run ``fn`` over ``texts`` in order (stop after ``budget`` s); rate over what was done."""
    found = 0
    chars = 0
    n = 0
    t0 = perf()
    check_every = 64
    for t in texts:
        r = fn(t)
        found += len(r) if isinstance(r, list) else 0
        chars += len(t)
        n += 1
        if budget is not None and n >= min_items and n % check_every == 0 and perf() - t0 > budget:
            break
    dt = max(perf() - t0, 1e-9)
    return {"n": n, "seconds": dt, "msgs_s": n / dt, "chars_s": chars / dt, "found": found,
            "partial": n < len(texts)}


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


def mark(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


# -- the engine in this process ----------------------------------------------------------------

def engine_terms(m) -> list[str]:
    """The list's terms as written (what the peers are given)."""
    return sorted({e.term for e in m.wordlist.entries})


def backends() -> tuple[str, str, tuple[str, ...]]:
    """(default backend, the environment variable's name, every backend) from the matcher."""
    from moderation import matcher

    return matcher.DEFAULT_BACKEND, "MODERATION_MATCHER", tuple(matcher.BACKENDS)


def measure_check_backends(mods: dict[str, Any], texts: Sequence[str], budget: float | None = None,
                           slice_size: int = BACKEND_SLICE, compare: int | None = None) -> dict[str, dict[str, Any]]:
    """``check`` over ``texts`` with every Moderator, taking turns slice by slice.

    The backends alternate (and swap order every slice) so that a neighbour's load on the shared
    machine falls on all of them alike. Also says whether they gave the same verdicts. After
    ``compare`` messages only the first Moderator goes on (to the end of ``texts``).
    """
    names = list(mods)
    acc = {b: {"n": 0, "seconds": 0.0, "chars": 0, "with_hits": 0, "hits": 0,
               "decisions": {k: 0 for k in ("pass", "review", "block")}} for b in names}
    sigs: dict[str, list] = {b: [] for b in names}
    slices: dict[str, list[float]] = {b: [] for b in names}  # seconds per slice
    spent = 0.0
    for k, i in enumerate(range(0, len(texts), slice_size)):
        part = texts[i:i + slice_size]
        order = names if k % 2 == 0 else names[::-1]
        if compare is not None and i >= compare:
            order = names[:1]
        for b in order:
            check = mods[b].check
            t0 = perf()
            vs = [check(t, scene=SCENE) for t in part]
            dt = perf() - t0
            spent += dt
            slices[b].append(dt)
            a = acc[b]
            a["seconds"] += dt
            a["n"] += len(part)
            a["chars"] += sum(len(t) for t in part)
            for v in vs:
                a["decisions"][v.decision] += 1
                if v.hits:
                    a["with_hits"] += 1
                    a["hits"] += len(v.hits)
            sigs[b].extend((v.decision, tuple((h.start, h.end, h.rule) for h in v.hits)) for v in vs)
        if budget is not None and spent > budget:
            break
    out = {}
    first = sigs[names[0]]
    for b in names:
        a = acc[b]
        dt = max(a["seconds"], 1e-9)
        differing = sum(1 for x, y in zip(first, sigs[b]) if x != y)
        # This backend's time over the first one's, slice by slice: the median resists a
        # neighbour's burst of load better than the totals do.
        per_slice = [x / max(y, 1e-9) for x, y in zip(slices[b], slices[names[0]])]
        out[b] = dict(a, msgs_s=a["n"] / dt, chars_s=a["chars"] / dt, same_verdicts=differing == 0,
                      differing=differing, slices=len(per_slice),
                      time_vs_first_median=statistics.median(per_slice) if per_slice else float("nan"),
                      time_vs_first_range=(min(per_slice), max(per_slice)) if per_slice else None)
    return out


def measure_check_texts(m, texts: Sequence[str], budget: float, batch: int = 1000, compare: int = 5000) -> dict[str, Any]:
    """``check_texts`` over ``texts`` in calls of ``batch`` texts (what ``scan``, the batch
    endpoint and rescans do), until ``budget`` s; and whether its verdicts equal ``check``'s
    on the first ``compare`` texts."""
    prepare = getattr(m, "prepare_batch", None)
    if prepare is not None:
        prepare()  # its automaton, built on first use otherwise (as warm() loads the rest)
    head = list(texts[:compare])
    same = all(a.to_dict() == b.to_dict() for a, b in
               zip(m.check_texts(head, scene=SCENE), (m.check(x, scene=SCENE) for x in head)))
    n = chars = 0
    t0 = perf()
    for a in range(0, len(texts), batch):
        part = texts[a:a + batch]
        m.check_texts(part, scene=SCENE)
        n += len(part)
        chars += sum(map(len, part))
        if perf() - t0 > budget:
            break
    dt = max(perf() - t0, 1e-9)
    return {"n": n, "seconds": dt, "msgs_s": n / dt, "chars_s": chars / dt, "batch": batch,
            "same_verdicts": same, "compared": len(head)}


def measure_match_backends(mods: dict[str, Any], texts: Sequence[str]) -> dict[str, float]:
    """Seconds of ``matcher.find`` alone over the normalized texts, per backend (alternating)."""
    docs = [next(iter(mods.values()))._engine.normalizer.normalize(t).canon for t in texts]
    spent = {b: 0.0 for b in mods}
    for k in range(4):
        for b in (list(mods) if k % 2 == 0 else list(mods)[::-1]):
            find = mods[b]._engine.matcher.find
            t0 = perf()
            for d in docs:
                find(d)
            spent[b] += perf() - t0
    return {b: s / 4 for b, s in spent.items()}


def measure_long(m, text: str, chunk: int = 65_536, budget: float = 8.0) -> dict[str, Any]:
    """``check`` on the whole long text, then in chunks; each stage's cost on 1/64 and 1/4 of it.

    The stage costs per character at the two lengths show which stage does not grow linearly.
    """
    out: dict[str, Any] = {"chars": len(text), "bytes": len(text.encode("utf-8"))}
    t0 = perf()
    v = m.check(text, scene="post")
    out["whole_s"] = max(perf() - t0, 1e-9)
    out["whole_hits"] = len(v.hits)
    chunks = [text[i:i + chunk] for i in range(0, len(text), chunk)]
    t0 = perf()
    nh = 0
    done = 0
    for c in chunks:
        nh += len(m.check(c, scene="post").hits)
        done += len(c)
        if perf() - t0 > budget:
            break
    out["chunked_s"] = max(perf() - t0, 1e-9)
    out["chunked_chars"] = done
    out["chunk"] = chunk
    out["chunked_hits"] = nh
    out["growth"] = {}
    try:
        for n in (len(text) // 64, len(text) // 4):
            # Best of two per stage: one text per length, so one stall would read as growth.
            runs = [staged(m, [text[:n]], scene="post")[1] for _ in range(2)]
            out["growth"][n] = {k: min(r[k] for r in runs) for k in runs[0]}
    except Exception as e:  # the engine's internals changed: report, carry on
        out["growth_error"] = f"{type(e).__name__}: {e}"
    return out


def staged(m, texts: Sequence[str], scene: str = SCENE) -> tuple[list, dict[str, float]]:
    """``check`` taken apart: each stage timed over all texts (uses engine internals).

    Returns the verdicts (tests compare them with ``check``) and seconds per stage. Boundary
    checks are the jieba work (token edges, the common-word look-up), timed by wrapping the
    engine's helpers for the duration.
    """
    from moderation import engine as E
    from moderation.detectors.base import CheckContext

    eng = m._engine
    t: dict[str, float] = {}
    norm = eng.normalizer.normalize
    t0 = perf()
    docs = [norm(x) for x in texts]
    t["normalize"] = perf() - t0

    # The scan check makes: the word list's automaton, which holds the scam cues too (or the
    # one-scan DFA of a small list); the detectors then get their matches from it.
    if eng.one_scan or eng.merged_slices:
        scan = eng.batch_find if eng.one_scan else eng.merged_find
        t0 = perf()
        scanned = [scan(d.canon, d.text) for d in docs]
        t["match"] = perf() - t0
    else:
        t0 = perf()
        scanned = [(eng.find(d.canon, d.text), {}) for d in docs]
        t["match"] = perf() - t0

    spent = {"boundary": 0.0}

    def timed(fn):
        def wrapper(*a, **kw):
            s = perf()
            try:
                return fn(*a, **kw)
            finally:
                spent["boundary"] += perf() - s
        return wrapper

    # _TokenEdges' constructor (the block scan) and _token_edges (jieba, per block) do not nest.
    hooks = [n for n in ("_token_edges", "_is_common_word", "_TokenEdges") if hasattr(E, n)]
    saved = {n: getattr(E, n) for n in hooks}
    for n in hooks:
        setattr(E, n, timed(saved[n]))
    try:
        t0 = perf()
        word = [m._word_hits(eng, d, scene, None, list(w)) for d, (w, _) in zip(docs, scanned)]
        words_total = perf() - t0
    finally:
        for n, f in saved.items():
            setattr(E, n, f)
    t["boundary"] = spent["boundary"]
    # What is left of the word-list step: variant checks, offset map, via, Hit objects.
    t["hits"] = max(0.0, words_total - t["boundary"])

    ctx = CheckContext(scene=scene)
    det_hits: list[list] = [[] for _ in docs]
    for k, det in enumerate(eng.detectors):
        f = det.find
        fm = getattr(det, "find_matched", None)
        t0 = perf()
        for i, d in enumerate(docs):
            found = scanned[i][1].get(k)
            det_hits[i].extend(f(d, ctx) if found is None else fm(d, ctx, found))
        t[f"detector {getattr(det, 'name', type(det).__name__)}"] = perf() - t0

    verdicts = []
    t0 = perf()
    for x, (hits, allow_spans), dh in zip(texts, word, det_hits):
        hits = hits + dh
        if allow_spans and hits:
            hits = [h for h in hits if not any(a <= h.start and h.end <= b for a, b in allow_spans)]
        verdicts.append(m._verdict(eng, x, scene, None, E._dedupe(hits), False))
    t["policy + verdict"] = perf() - t0

    dumps = orjson.dumps
    t0 = perf()
    for v in verdicts:
        dumps(v.to_dict())
    t["JSON"] = perf() - t0
    return verdicts, t


def profile_check(m, texts: Sequence[str], top: int = 10) -> list[tuple[str, float, float, int]]:
    """cProfile over ``check``: (function, own s, cumulative s, calls), by own time."""
    import cProfile
    import pstats

    pr = cProfile.Profile()
    check = m.check
    pr.enable()
    for x in texts:
        check(x, scene=SCENE)
    pr.disable()
    st = pstats.Stats(pr)
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in st.stats.items():  # type: ignore[attr-defined]
        short = file.replace(str(ROOT) + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        rows.append((f"{short}:{line}({func})", tt, ct, nc))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def measure_peers(words: Sequence[str], texts: Sequence[str], budget: float = PEER_BUDGET_S,
                  classes: Sequence[Any] = peers_mod.PEERS) -> list[dict[str, Any]]:
    """Every peer over the corpus; the slow ones over a prefix, for at most ``budget`` CPU seconds."""
    out = []
    for cls in classes:
        t0 = perf()
        p = cls(words)
        build = perf() - t0
        # The references (the matching limit, the plain pipeline) always over the whole corpus.
        limit = None if cls in (peers_mod.RsScan, peers_mod.PyAhoScan, peers_mod.PlainPipeline) else budget
        r = timed_scan(p.find, texts, limit)
        r.update(name=p.name, build_s=build, key=cls.__name__)
        out.append(r)
        log(f"  peer {p.name}: {fmt_int(r['msgs_s'])} msgs/s on {r['n']} msgs (build {build:.1f} s)")
    return out


def peer(r: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in r["peers"] if p["key"] == key)


# -- subprocesses -----------------------------------------------------------------------------

STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from moderation import Moderator
t1 = time.perf_counter()
m = Moderator(sys.argv[1])
t2 = time.perf_counter()
# As the service starts: detector tables now, jieba's dictionary in a thread (a check that needs
# word boundaries before it is in waits for it).
loader = m.warm(background=True)
t3 = time.perf_counter()
m.check("你好，周末一起去爬山吗？", scene="chat")
t4 = time.perf_counter()
cpu_ready = time.process_time()
if loader is not None:
    loader.join()
t5 = time.perf_counter()

def peak_mb():
    # VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss across exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

rss_ready = peak_mb()
sys.path.insert(0, sys.argv[2])
import corpus
for x in corpus.messages(int(sys.argv[3]), seed=99).messages:
    m.check(x, scene="chat")
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "warm_s": t3 - t2, "first_check_s": t4 - t3,
                  "ready_s": t4 - t0, "all_loaded_s": t5 - t0, "ready_cpu_s": cpu_ready, "rss_ready_mb": rss_ready, "rss_busy_mb": peak_mb(),
                  "patterns": len(m._engine.patterns), "entries": len(m.wordlist.entries),
                  "backend": getattr(m._engine.matcher, "backend", "?")}))
"""


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def moderation_cmd() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "moderation"
    return [str(exe)] if exe.exists() else [python(), "-m", "moderation.cli"]


def startup(wordlists: Path, cache_dir: Path, backend: str | None = None, busy: int = 2000) -> dict[str, Any]:
    env = dict(os.environ, MODERATION_CACHE_DIR=str(cache_dir))
    if backend:
        env["MODERATION_MATCHER"] = backend
    t0 = wall()
    r = subprocess.run(taskset() + [python(), "-c", STARTUP_SCRIPT, str(wordlists), str(HERE), str(busy)],
                       env=env, capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    wall_s = wall() - t0
    if r.returncode != 0:
        raise RuntimeError(f"start-up subprocess failed: {r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["process_s"] = wall_s
    return out


def startup_series(wordlists: Path, backend: str | None = None, warm_runs: int = 3, busy: int = 2000) -> dict[str, Any]:
    """One cold start (empty ``MODERATION_CACHE_DIR``), then ``warm_runs`` from the cache it wrote."""
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as d:
        cold = startup(wordlists, Path(d), backend, busy)
        warm = [startup(wordlists, Path(d), backend, busy) for _ in range(warm_runs)]
    best = min(warm, key=lambda w: w["ready_s"])
    return {"cold": cold, "warm": best, "warm_median_ready_s": statistics.median(w["ready_s"] for w in warm),
            "backend": best.get("backend", backend)}


def scan_e2e(wordlists: Path, c: "corpus_mod.Corpus", workdir: Path) -> dict[str, Any]:
    """``moderation scan`` as a user runs it: a JSON Lines file in, verdict lines out."""
    src = workdir / "scan-in.jsonl"
    dst = workdir / "scan-out.jsonl"
    corpus_mod.write_jsonl(c, src, scene=SCENE)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = wall()
    r = subprocess.run(taskset() + moderation_cmd() + ["--wordlists", str(wordlists), "scan",
                                                      "--input", str(src), "--output", str(dst)],
                       capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    wall_s = wall() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = max((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 1e-9)
    if r.returncode != 0:
        raise RuntimeError(f"scan failed: {r.stderr[-2000:]}")
    lines = errors = 0
    with open(dst, "rb") as fh:
        for line in fh:
            lines += 1
            errors += b'"error"' in line
    return {"n": len(c.messages), "lines": lines, "errors": errors, "wall_s": wall_s, "cpu_s": cpu,
            "msgs_s": len(c.messages) / cpu, "chars_s": c.chars / cpu,
            "wall_msgs_s": len(c.messages) / wall_s, "in_mb": src.stat().st_size / 1e6,
            "out_mb": dst.stat().st_size / 1e6}


# -- the other benchmarks' sections (HTTP, Rescan), for the summary ---------------------------

def _section(text: str, title: str) -> str | None:
    """The body of the level-2 section whose heading line is exactly ``## title``."""
    m = re.search(rf"^## {re.escape(title)}[ \t]*$", text, re.M)
    if not m:
        return None
    rest = text[m.end():]
    n = re.search(r"^## ", rest, re.M)
    return rest[:n.start()] if n else rest


def _latest_run(section: str) -> tuple[str, str] | None:
    """(heading, body) of the last ``### `` subsection that holds a table."""
    parts = re.split(r"^### (.*)$", section, flags=re.M)
    runs = [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    runs = [r for r in runs if "\n|" in r[1]]
    return runs[-1] if runs else None


def _rows(body: str) -> dict[str, list[str]]:
    rows = {}
    for line in body.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _num(s: str) -> float:
    return float(re.sub(r"[^\d.]", "", s) or "nan")


def other_results(text: str) -> dict[str, Any]:
    """The latest HTTP and rescan figures written by http_bench.py and rescan_bench.py."""
    out: dict[str, Any] = {}
    sec = _section(text, "HTTP")
    run = _latest_run(sec) if sec else None
    if run:
        head, body = run
        rows = _rows(body)
        try:
            ref = next(v for k, v in rows.items() if k.startswith("empty FastAPI"))
            mod = rows["`POST /v1/moderate`"]
            batch = re.search(r"batch \*\*([\d,]+) texts/s", body)
            out["http"] = {"when": head, "rps": _num(mod[0]), "ref_rps": _num(ref[0]), "p99_ms": _num(mod[2]),
                           "batch_texts_s": _num(batch.group(1)) if batch else None}
        except (StopIteration, KeyError, IndexError, ValueError):
            out["http"] = {"when": head}
    sec = _section(text, "Rescan")
    run = _latest_run(sec) if sec else None
    if run:
        head, body = run
        rows = _rows(body)
        try:
            full = rows["full rescan"]
            sp = re.search(r"delta speed-up over full: \*\*([\d.]+)x", body)
            out["rescan"] = {"when": head, "full_s": _num(full[0]),
                             "delta_speedup": float(sp.group(1)) if sp else None}
        except (KeyError, IndexError, ValueError):
            out["rescan"] = {"when": head}
    return out


# -- the report -------------------------------------------------------------------------------

def _headline_rows(R: dict[str, Any]) -> list[str]:
    rows = ["| word list | entries | `Moderator.check` msgs/s (one core) | chars/s | vs plain pipeline | "
            "vs bare ahocorasick-rs scan | `check_texts` msgs/s (batches) | `moderation scan` msgs/s | "
            "start-up warm / cold | peak RSS |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def ct(r: dict[str, Any] | None) -> str:
        x = (r or {}).get("check_texts")
        return f"{fmt_int(x['msgs_s'])} | " if x else "– | "

    su_all = R.get("startup", {})
    for name, r in R["lists"].items():
        ck = r["check"]
        pp, rs = peer(r, "PlainPipeline"), peer(r, "RsScan")
        sc = r.get("scan")
        su = su_all.get(name)
        rows.append(
            f"| {name} | {fmt_int(r['entries'])} | **{fmt_int(ck['msgs_s'])}** | {fmt_int(ck['chars_s'])} | "
            f"{fmt_ratio(ck['msgs_s'], pp['msgs_s'])} | {fmt_ratio(ck['msgs_s'], rs['msgs_s'])} | " + ct(r)
            + (f"{fmt_int(sc['msgs_s'])} | " if sc else "– | ")
            + (f"{su['warm']['ready_s']:.2f} s / {su['cold']['ready_s']:.2f} s | {su['warm']['rss_busy_mb']:.0f} MB |"
               if su else "– | – |")
        )
        if name == "ours" and (CUT_NAME in su_all or R.get("cut")):
            cr, cut = R.get("cut"), su_all.get(CUT_NAME)
            entries = cr["entries"] if cr else cut["warm"]["entries"]
            rows.append(f"| {CUT_NAME} | {fmt_int(entries)} | "
                        + (f"**{fmt_int(cr['check']['msgs_s'])}** | {fmt_int(cr['check']['chars_s'])} | "
                           f"{fmt_ratio(cr['check']['msgs_s'], peer(cr, 'PlainPipeline')['msgs_s'])} | "
                           f"{fmt_ratio(cr['check']['msgs_s'], peer(cr, 'RsScan')['msgs_s'])} | " + ct(cr) + "– | "
                           if cr else "– | – | – | – | – | – | ")
                        + (f"{cut['warm']['ready_s']:.2f} s / {cut['cold']['ready_s']:.2f} s | "
                           f"{cut['warm']['rss_busy_mb']:.0f} MB |" if cut else "– | – |"))
    return rows


def _big(R: dict[str, Any]) -> str:
    """The largest list measured in-process (the lexicons, or ours in a run without them)."""
    return max(R["lists"], key=lambda k: R["lists"][k]["entries"])


def _load_note(load1: float) -> str:
    """How far to trust the run, from the load average before it started."""
    if load1 < 1.0:
        return ("No other job of ours ran meanwhile (load average under 1 at the start), but this is a "
                "virtual machine: expect tens of percent between runs; ratios within one process hold better.")
    return ("**The 2 cores were shared with other jobs while measuring**: figures move with them; rerun "
            "on an idle machine for the record.")


def render_summary(R: dict[str, Any]) -> list[str]:
    big = _big(R)
    r = R["lists"][big]
    # The targets are for a 50,000-entry list: the cut when it was measured.
    t = R.get("cut") or r
    t_name = CUT_NAME if R.get("cut") else big
    ck = t["check"]
    pp, rs = peer(t, "PlainPipeline"), peer(t, "RsScan")
    L = ["## Summary", "",
         "Every figure against its issue's target. Engine rows are from this run of `make bench` "
         f"({R['machine']['date']}); the HTTP and rescan rows quote the latest run in their sections "
         "below (see there for method and history).", "",
         "| what | measured | target | met | source |", "| --- | --- | --- | --- | --- |"]
    src = "engine, this run"
    L.append(f"| `Moderator.check`, short messages, {fmt_int(t['entries'])}-entry list ({t_name}) | "
             f"**{fmt_int(ck['msgs_s'])} msgs/s** per core, {fmt_int(ck['chars_s'])} chars/s | ≥ {fmt_int(T_MSGS)} msgs/s "
             f"(50,000 entries) | {mark(ck['msgs_s'] >= T_MSGS)} | {src} |")
    L.append(f"| … against the plain pipeline (NFKC + OpenCC + pyahocorasick), same run | "
             f"{fmt_ratio(ck['msgs_s'], pp['msgs_s'])} ({fmt_int(pp['msgs_s'])} msgs/s) | ≥ {T_PLAIN}× | "
             f"{mark(ck['msgs_s'] >= T_PLAIN * pp['msgs_s'])} | {src} |")
    L.append(f"| … against the bare ahocorasick-rs scan (matching only) | {fmt_ratio(ck['msgs_s'], rs['msgs_s'])} "
             f"({fmt_int(rs['msgs_s'])} msgs/s) | as close as the work allows | – | {src} |")
    ct = t.get("check_texts")
    if ct:
        L.append(f"| `Moderator.check_texts` (calls of {fmt_int(ct['batch'])} texts: scan, batch endpoint, rescans), "
                 f"{t_name} | **{fmt_int(ct['msgs_s'])} msgs/s** per core, {fmt_ratio(ct['msgs_s'], pp['msgs_s'])} the plain "
                 f"pipeline, {fmt_ratio(ct['msgs_s'], ck['msgs_s'])} `check`; verdicts equal `check`'s on "
                 f"{fmt_int(ct['compared'])} texts: {'yes' if ct['same_verdicts'] else '**no**'} | ≥ {fmt_int(T_MSGS)} msgs/s | "
                 f"{mark(ct['msgs_s'] >= T_MSGS)} | {src} |")
    if R.get("cut"):
        L.append(f"| `Moderator.check`, all {fmt_int(r['entries'])} lexicon entries | {fmt_int(r['check']['msgs_s'])} "
                 f"msgs/s, {fmt_ratio(r['check']['msgs_s'], peer(r, 'PlainPipeline')['msgs_s'])} the plain pipeline, "
                 f"{fmt_ratio(r['check']['msgs_s'], peer(r, 'RsScan')['msgs_s'])} the bare ahocorasick-rs scan | – | – | {src} |")
    ck = r["check"]
    if "ours" in R["lists"] and big != "ours":
        o = R["lists"]["ours"]
        L.append(f"| `Moderator.check`, our lists ({fmt_int(o['entries'])} entries) | {fmt_int(o['check']['msgs_s'])} msgs/s, "
                 f"{fmt_ratio(o['check']['msgs_s'], peer(o, 'PlainPipeline')['msgs_s'])} the plain pipeline | – | – | {src} |")
    sc = r.get("scan")
    if sc:
        L.append(f"| `moderation scan` end to end ({big}, JSON Lines in and out, start-up included) | "
                 f"{fmt_int(sc['msgs_s'])} msgs/s per CPU-second | – | – | {src} |")
    lg = r["long"]
    lin = (lg["chars"] / lg["whole_s"]) / ck["chars_s"]
    rows = growth_rows(lg)
    bad = [k for k, x, y, gr in rows if not k.startswith("**") and gr == gr and gr > 2 and y > 50]
    L.append(f"| long text ({lg['bytes'] / 1e6:.1f} MB) against short messages, chars/s | "
             f"{fmt_int(lg['chars'] / lg['whole_s'])} against {fmt_int(ck['chars_s'])} ({lin:.2f}×)"
             + (f"; not linear: {', '.join(bad)}" if bad else "") + " | linear in length | "
             f"{mark(not bad) if rows else '–'} | {src} |")
    su = R.get("startup", {})
    cut = su.get(CUT_NAME)
    if cut:
        w = cut["warm"]
        L.append(f"| start-up, warm cache, {fmt_int(w['entries'])} entries | {w['ready_s']:.2f} s to answer, everything "
                 f"loaded at {w.get('all_loaded_s', w['ready_s']):.2f} s (cold {cut['cold']['ready_s']:.2f} s) "
                 f"| ≤ {T_WARM_S:.0f} s | {mark(w['ready_s'] <= T_WARM_S)} | {src} |")
        L.append(f"| peak RSS, {fmt_int(w['entries'])} entries | {w['rss_busy_mb']:.0f} MB | ≤ {T_RSS_MB} MB | "
                 f"{mark(w['rss_busy_mb'] <= T_RSS_MB)} | {src} |")
    for name in ("ours", "lexicons"):
        if name in su:
            w = su[name]["warm"]
            L.append(f"| peak RSS, {name} ({fmt_int(w['entries'])} entries) | {w['rss_busy_mb']:.0f} MB | – | – | {src} |")
    bk = r.get("backends")
    ch = backend_choice(r)
    if bk and ch:
        d = R["default_backend"]
        best, slower = ch
        L.append(f"| matcher backends in `Moderator` ({big}), `check` msgs/s | "
                 + ", ".join(f"`{b}` {fmt_int(bk['check'][b]['msgs_s'])}" for b in bk["check"])
                 + f" | the faster (by more than {NOISE * 100:.0f} %) is the default (`{d}`), unless it misses the "
                 f"start-up target | {mark(default_fits(R, best, slower)[0])} | {src} |")
    o = R.get("others", {})
    h = o.get("http")
    hl = "[HTTP](#http), " + h["when"] if h else "[HTTP](#http)"
    if h and "rps" in h:
        ratio = h["rps"] / h["ref_rps"]
        L.append(f"| `POST /v1/moderate`, 2 workers | {fmt_int(h['rps'])} req/s = {ratio * 100:.0f} % of an empty "
                 f"FastAPI POST, p99 {h['p99_ms']:.1f} ms | ≥ {T_HTTP_RATIO * 100:.0f} %, p99 ≤ {T_HTTP_P99:.0f} ms | "
                 f"{mark(ratio >= T_HTTP_RATIO and h['p99_ms'] <= T_HTTP_P99)} | {hl} |")
        if h.get("batch_texts_s"):
            L.append(f"| `POST /v1/moderate/batch` | {fmt_int(h['batch_texts_s'])} texts/s | ≥ {fmt_int(T_BATCH)} texts/s | "
                     f"{mark(h['batch_texts_s'] >= T_BATCH)} | {hl} |")
    else:
        L.append(f"| HTTP | no figures found | | | {hl} |")
    rc = o.get("rescan")
    rl = "[Rescan](#rescan), " + rc["when"] if rc else "[Rescan](#rescan)"
    if rc and "full_s" in rc:
        L.append(f"| `moderation rescan`, full | {fmt_int(rc['full_s'])} profiles/s (wall) | ≥ {fmt_int(T_RESCAN)} profiles/s "
                 f"on 2 cores | {mark(rc['full_s'] >= T_RESCAN)} | {rl} |")
        if rc.get("delta_speedup"):
            L.append(f"| `moderation rescan --since`, < 1 % of rules changed | {rc['delta_speedup']:.1f}× faster than full | "
                     f"≥ {T_DELTA:.0f}× | {mark(rc['delta_speedup'] >= T_DELTA)} | {rl} |")
    else:
        L.append(f"| rescan | no figures found | | | {rl} |")
    L += ["", "The machine is shared with other jobs: expect tens of percent between runs; the ratios "
          "measured within one process are the steadier figures.", ""]
    return L


def growth_rows(lg: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    """(stage, ns/char short, ns/char long, growth) from ``measure_long``; growth 1.0 is linear."""
    g = lg.get("growth") or {}
    if len(g) < 2:
        return []
    (n1, a), (n2, b) = sorted(((int(k), v) for k, v in g.items()), key=lambda kv: kv[0])
    rows = []
    for k in b:
        x, y = a.get(k, 0.0) / n1 * 1e9, b[k] / n2 * 1e9
        rows.append((k, x, y, y / x if x > 0 else float("nan")))
    tx, ty = sum(a.values()) / n1 * 1e9, sum(b.values()) / n2 * 1e9
    rows.append(("**sum**", tx, ty, ty / tx if tx > 0 else float("nan")))
    return rows


def render_growth(lg: dict[str, Any], name: str) -> list[str]:
    rows = growth_rows(lg)
    if not rows:
        return [f"Stage growth not measured ({lg.get('growth_error', 'no data')}).", ""] if "growth_error" in lg else []
    n1, n2 = sorted(int(k) for k in lg["growth"])
    L = [f"Is the cost linear in length? Each stage on the first {fmt_int(n1)} and the first {fmt_int(n2)} "
         "characters of the long text (`staged()`, one text each, best of two runs per stage), in ns per character; growth is the second over "
         f"the first (1.00 = linear; {n2 / n1:.0f} would be quadratic):", "",
         "| stage | ns / char, " + fmt_int(n1) + " chars | ns / char, " + fmt_int(n2) + " chars | growth |",
         "| --- | ---: | ---: | ---: |"]
    for k, x, y, gr in rows:
        flag = " ⚠" if gr == gr and gr > 2 and y > 50 else ""
        L.append(f"| {k} | {x:,.1f} | {y:,.1f} | {gr:.2f}{flag} |")
    L.append("")
    return L


NOISE = 0.05  # differences under 5 % are within the noise of this shared machine


def backend_choice(r: dict[str, Any]) -> tuple[str, float] | None:
    """(the faster backend in ``check``, the others' median time over its) or None."""
    bk = r.get("backends")
    if not bk or len(bk["check"]) < 2:
        return None
    ck = bk["check"]
    first = next(iter(ck))
    # Median slice time relative to the first backend; the smallest is the fastest.
    rel = {b: (1.0 if b == first else x["time_vs_first_median"]) for b, x in ck.items()}
    best = min(rel, key=rel.get)
    slower = min(v / rel[best] for b, v in rel.items() if b != best)
    return best, slower


def default_fits(R: dict[str, Any], best: str, slower: float) -> tuple[bool, str]:
    """Whether the default backend is the right one, and why: the faster in ``check`` (by more
    than the noise), unless that one misses the start-up target the default meets (the
    start-up target is the issue's; a few percent in ``check`` do not outweigh it)."""
    d = R["default_backend"]
    if best == d or slower < 1 + NOISE:
        return True, "The default fits."
    su = R.get("startup_backends") or {}
    if best in su and d in su and su[best]["warm"]["ready_s"] > T_WARM_S >= su[d]["warm"]["ready_s"]:
        return True, (f"The default fits: `{best}` would miss the start-up target "
                      f"({su[best]['warm']['ready_s']:.2f} s warm against ≤ {T_WARM_S:g} s; its automaton does not pickle).")
    return False, f"**Make `{best}` the default.**"


def backend_verdicts(R: dict[str, Any]) -> list[str]:
    out = []
    for name, r in R["lists"].items():
        ch = backend_choice(r)
        if not ch:
            continue
        best, slower = ch
        bk = r["backends"]
        fastest_match = min(bk["match_s"], key=bk["match_s"].get)
        others = [b for b in bk["match_s"] if b != fastest_match]
        match_ratio = min(bk["match_s"][b] for b in others) / max(bk["match_s"][fastest_match], 1e-9)
        first = next(iter(bk["check"]))
        second = next(b for b in bk["check"] if b != first)
        x = bk["check"][second]
        rg = x.get("time_vs_first_range")
        spread = (f": `{second}`'s time over `{first}`'s {x['time_vs_first_median']:.2f}"
                  + (f", range {rg[0]:.2f}–{rg[1]:.2f}" if rg else ""))
        if slower < 1.005:
            verdict = f"the backends are level in `check` (median of slices{spread})"
        elif slower < 1 + NOISE:
            verdict = (f"the backends are within {NOISE * 100:.0f} % of each other in `check`: `{best}` "
                       f"ahead by {(slower - 1) * 100:.0f} % (median of slices{spread})")
        else:
            verdict = f"`{best}` is the faster in `check`, the other takes {slower:.2f}× its time"
        out.append(f"- {name}: {verdict}; matching alone, `{fastest_match}` is {match_ratio:.1f}× as fast. "
                   + default_fits(R, best, slower)[1])
    su = R.get("startup_backends") or {}
    if len(su) > 1:
        order = sorted(su, key=lambda b: su[b]["warm"]["ready_s"])
        out.append(f"- Start-up ({CUT_NAME}, warm cache): " + ", ".join(
            f"`{b}` {su[b]['warm']['ready_s']:.2f} s (building the `Moderator` {su[b]['warm']['build_s']:.2f} s)"
            for b in order) + f"; `{order[0]}` starts faster.")
    return out


def render(R: dict[str, Any]) -> str:
    mi = R["machine"]
    d_backend = R["default_backend"]
    L: list[str] = [BEGIN, "# Benchmark results", "",
                    "One file for the whole story: the summary and the engine below are written by `make bench` "
                    "(`benchmarks/run.py`); the [HTTP](#http) section by `benchmarks/http_bench.py` and the "
                    "[Rescan](#rescan) section by `benchmarks/rescan_bench.py`, further down.", ""]
    L += render_summary(R)
    L += ["## Engine", "",
          f"Measured {mi['date']} on {mi['nproc']} cores ({mi['cpu']}), Python {mi['python']}, "
          f"{mi['platform']}. Load average before the start {mi['load'][0]:.2f} / {mi['load'][1]:.2f} / "
          f"{mi['load'][2]:.2f}, at the end {R['load_end'][0]:.2f}. " + _load_note(mi["load"][0]),
          "",
          f"Command: `{R['command']}`" + (" (`make bench`)" if R.get("make_bench") else "") + f", wall time {R['wall_s'] / 60:.1f} min. In-process figures are from one "
          "process on one core, one after another, so ratios between them are fair; each `Moderator` is "
          "warmed and its objects frozen out of the garbage collector's passes (`gc.freeze()`), as the "
          "service does once its engine is built; `moderation scan`, "
          "start-up and memory run in subprocesses pinned with `taskset -c 0`. Rates are per CPU-second "
          "(`time.process_time`; the children's rusage for `scan`), so time spent waiting for a core "
          "does not count; start-up times are wall-clock (CPU seconds given too). Versions: "
          + ", ".join(f"{k} {v}" for k, v in mi["versions"].items()) + ".",
          ""]
    c = R["corpus"]
    L += [
        f"Corpus (`benchmarks/corpus.py`, seed {c['seed']}, generated at run time): {fmt_int(c['n'])} short "
        f"dating-style messages of {c['min']}–{c['max']} characters (mean {c['mean']:.0f}), Chinese with some "
        f"English, digits and emoji, {c['injected'] * 100:.1f} % with a phrase to catch (sometimes disguised); "
        f"one long text of {fmt_int(c['long_chars'])} characters ({c['long_mb']:.1f} MB UTF-8).",
        "",
        "Word lists: **ours** (`wordlists/`) and **lexicons**: the public lexicons in `../shared/datasets` "
        "(houbb + konsheng), read at run time and written in our format into `benchmarks/out/` "
        "(git-ignored) by `benchmarks/biglist.py`: every distinct entry of two or more characters. The "
        f"**{CUT_NAME}** is its first 50,000 entries, the issue's list size: `check` (default backend) with the "
        "two references, start-up and memory. "
        "Peers get the lists' terms as written; `Moderator` also compiles the variants (homophones, "
        "pinyin, split characters), hence more patterns.",
        "",
        "### Headline", ""]
    L += _headline_rows(R)
    for name, r in R["lists"].items():
        if r["check"]["n"] < R["corpus"]["n"]:
            L += ["", f"`check` with the {name} list was timed on the first {fmt_int(r['check']['n'])} "
                  f"messages (CPU budget {CHECK_BUDGET_S:.0f} s for all backends)."]
    L += ["", f"Default matcher backend `{d_backend}`. \"vs bare ahocorasick-rs scan\" is check's rate over the "
          "bare scan's on the same messages and terms (1.00× would mean the whole pipeline costs no more than "
          "matching). `moderation scan` includes the process start-up.", ""]

    # -- backends
    L += ["### Matcher backends inside `Moderator`", "",
          f"`{R['backend_env']}` (or `Moderator(backend=…)`) picks the automaton; everything else is the same. "
          f"The backends took turns over the first {fmt_int(BACKEND_COMPARE)} messages in slices of "
          f"{fmt_int(BACKEND_SLICE)} (the order swapped every slice), so load from neighbours falls on both alike; "
          "the default then went on alone over the rest. \"match only\" is "
          "`matcher.find` over already-normalized texts.", "",
          f"| word list | backend | `check` msgs/s | chars/s | `check` time / `{d_backend}`'s, median of slices (range) "
          f"| match only, µs / message | same verdicts as `{d_backend}` |",
          "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for name, r in R["lists"].items():
        bk = r.get("backends")
        if not bk:
            continue
        for b, ck in bk["check"].items():
            mt = bk["match_s"].get(b)
            rg = ck.get("time_vs_first_range")
            L.append(f"| {name} | `{b}`{' (default)' if b == d_backend else ''} | {fmt_int(ck['msgs_s'])} | "
                     f"{fmt_int(ck['chars_s'])} | {ck['time_vs_first_median']:.2f}"
                     + (f" ({rg[0]:.2f}–{rg[1]:.2f}, {ck['slices']} slice{'s' if ck['slices'] != 1 else ''})" if rg else "")
                     + f" | {mt / bk['match_n'] * 1e6:.1f} | "
                     + ("yes" if ck["same_verdicts"] else f"**no** ({ck['differing']} messages differ)") + " |")
    L.append("")
    su_b = R.get("startup_backends", {})
    if su_b:
        L.append(f"Start-up and memory with the {CUT_NAME} (subprocesses, `{R['backend_env']}` set): "
                 + "; ".join(f"`{b}` warm {x['warm']['ready_s']:.2f} s (building the `Moderator` "
                             f"{x['warm']['build_s']:.2f} s), cold {x['cold']['ready_s']:.2f} s, peak RSS "
                             f"{x['warm']['rss_busy_mb']:.0f} MB" for b, x in su_b.items()) + ".")
        L.append("")
    for line in backend_verdicts(R):
        L.append(line)
    L.append("")

    for name, r in R["lists"].items():
        ck = r["check"]
        L += [f"### Throughput: {name} list", "",
              f"{fmt_int(r['entries'])} entries, {fmt_int(r['patterns'])} compiled patterns "
              f"(variants in `canon` space), backend `{d_backend}`, scene `{SCENE}`. Verdicts on the corpus: "
              f"{fmt_int(ck['with_hits'])} messages with hits ({ck['with_hits'] / max(ck['n'], 1) * 100:.1f} %), "
              f"{fmt_int(ck['hits'])} hits; decisions "
              + ", ".join(f"{k} {fmt_int(v)}" for k, v in ck["decisions"].items()) + ".", "",
              "| what | messages | msgs/s | chars/s | `check` / this | notes |",
              "| --- | ---: | ---: | ---: | ---: | --- |",
              f"| **`Moderator.check`** | {fmt_int(ck['n'])} | **{fmt_int(ck['msgs_s'])}** | "
              f"{fmt_int(ck['chars_s'])} | 1.00× | full pipeline, all detectors |"]
        sc = r.get("scan")
        if sc:
            L.append(f"| `moderation scan` end to end | {fmt_int(sc['n'])} | {fmt_int(sc['msgs_s'])} | "
                     f"{fmt_int(sc['chars_s'])} | {ck['msgs_s'] / sc['msgs_s']:.2f}× | subprocess, JSON Lines in "
                     f"({sc['in_mb']:.1f} MB) and out ({sc['out_mb']:.1f} MB, {fmt_int(sc['lines'])} lines, "
                     f"{sc['errors']} errors), start-up included; {sc['cpu_s']:.1f} CPU s, {sc['wall_s']:.1f} s wall |")
        for p in r["peers"]:
            note = f"build {p['build_s']:.1f} s; {fmt_int(p['found'])} matches"
            if p["partial"]:
                note += (f"; **too slow for the whole corpus: timed on the first {fmt_int(p['n'])} messages** "
                         f"({PEER_BUDGET_S:.0f} s budget)")
            L.append(f"| {p['name']} | {fmt_int(p['n'])} | {fmt_int(p['msgs_s'])} | {fmt_int(p['chars_s'])} | "
                     f"{ck['msgs_s'] / p['msgs_s']:.2f}× | {note} |")
        lg = r["long"]
        L += ["", "Peers' match counts differ by design: the plain pipeline matches its normalized text, flashtext "
              "and the regex report non-overlapping leftmost-longest matches, the others every occurrence.", "",
              f"Long text ({fmt_int(lg['chars'])} characters, {lg['bytes'] / 1e6:.1f} MB), scene `post`: one `check` "
              f"on the whole text {lg['whole_s']:.2f} s = **{fmt_int(lg['chars'] / lg['whole_s'])} chars/s** "
              f"({fmt_int(lg['whole_hits'])} hits); in {fmt_int(lg['chunk'])}-character chunks "
              f"{fmt_int(lg['chunked_chars'] / lg['chunked_s'])} chars/s (over the first "
              f"{fmt_int(lg['chunked_chars'])} characters); short messages {fmt_int(ck['chars_s'])} chars/s.", ""]
        L += render_growth(lg, name)
        st = r.get("stages")
        if st:
            total = sum(st.values()) or 1e-9
            L += [f"#### Where the time goes: {name} list", "",
                  f"`check` taken apart (`staged()` in `benchmarks/run.py`), each stage over the first "
                  f"{fmt_int(r['stages_n'])} messages; \"match\" is the one scan `check` makes (the word list's "
                  "automaton holds the scam cues too, and the detectors get their matches from it), "
                  "\"boundary\" is jieba (token edges, common-word look-up), "
                  "\"hits\" the rest of the word-list step (variant checks, offset map, `via`, hit objects).", "",
                  "| stage | µs / message | share |", "| --- | ---: | ---: |"]
            for k, v in st.items():
                L.append(f"| {k} | {v / r['stages_n'] * 1e6:.1f} | {v / total * 100:.0f} % |")
            L.append(f"| **sum** | **{total / r['stages_n'] * 1e6:.1f}** | 100 % |")
            L += ["", f"`check` measured whole: {1e6 / ck['msgs_s']:.1f} µs / message.", ""]
        elif r.get("stages_error"):
            L += [f"Stages not measured: `staged()` failed on this engine ({r['stages_error']}).", ""]
        if r.get("profile"):
            L += ["Top functions by own time (cProfile over `check`, "
                  f"{fmt_int(r['profile_n'])} messages; profiling inflates small calls):", "",
                  "| function | own s | cumulative s | calls |", "| --- | ---: | ---: | ---: |"]
            for fn, tt, ct, nc in r["profile"]:
                L.append(f"| `{fn}` | {tt:.3f} | {ct:.3f} | {fmt_int(nc)} |")
            L.append("")

    if R.get("startup"):
        L += ["### Start-up and memory", "",
              "Subprocesses: import, `Moderator(folder)`, `warm(background=True)` (the detectors' tables now, "
              "jieba's dictionary in a thread, as the service starts), first `check` (= ready), then the "
              "thread's end (= all loaded; a check needing word boundaries before it waits), then 2,000 "
              "checks (busy). Cold: `MODERATION_CACHE_DIR` is a new empty temp dir "
              "(normalization tables, variants and automaton built and written); warm: the same dir again "
              "(best of 3, median in brackets). RSS is the peak (`VmHWM`).", "",
              "| word list | backend | entries | patterns | cold ready | warm ready (median) | warm, CPU s | "
              "warm: import / build / warm() / first check | warm: all loaded | RSS ready | RSS busy | cold peak RSS |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
        rows = [(n, su) for n, su in R["startup"].items()] + \
               [(f"{CUT_NAME}", su) for b, su in R.get("startup_backends", {}).items() if b != d_backend]
        for name, su in rows:
            w, cd = su["warm"], su["cold"]
            L.append(f"| {name} | `{su.get('backend', '?')}` | {fmt_int(w['entries'])} | {fmt_int(w['patterns'])} | "
                     f"{cd['ready_s']:.2f} s | {w['ready_s']:.2f} s ({su['warm_median_ready_s']:.2f} s) | "
                     f"{w['ready_cpu_s']:.2f} s | {w['import_s']:.2f} / {w['build_s']:.2f} / {w['warm_s']:.2f} / "
                     f"{w['first_check_s']:.3f} s | {w.get('all_loaded_s', w['ready_s']):.2f} s | "
                     f"{w['rss_ready_mb']:.0f} MB | {w['rss_busy_mb']:.0f} MB | "
                     f"{cd['rss_busy_mb']:.0f} MB |")
        L.append("")

    L += ["### Findings", ""] + findings(R) + ["", END]
    return "\n".join(L) + "\n"


def findings(R: dict[str, Any]) -> list[str]:
    """Plain statements computed from the figures (no hand-written numbers)."""
    L = []
    for name, r in R["lists"].items():
        ck = r["check"]
        rs, pa = peer(r, "RsScan"), peer(r, "PyAhoScan")
        st = r.get("stages")
        line = (f"- **{name}**: `check` {1e6 / ck['msgs_s']:.0f} µs per message; the bare ahocorasick-rs scan "
                f"{1e6 / rs['msgs_s']:.1f} µs, bare pyahocorasick {1e6 / pa['msgs_s']:.1f} µs.")
        if st:
            total = sum(st.values()) or 1e-9
            det = sum(v for k, v in st.items() if k.startswith("detector"))
            top = sorted(st.items(), key=lambda kv: -kv[1])[:3]
            line += (" Largest stages: " + ", ".join(f"{k} {v / total * 100:.0f} %" for k, v in top)
                     + f"; the detectors together {det / total * 100:.0f} %, matching itself "
                     f"{st.get('match', 0) / total * 100:.0f} %.")
        line += (f" {ck['with_hits'] / max(ck['n'], 1) * 100:.0f} % of messages have a hit, and every candidate "
                 "match costs Python work (variant checks, offset map, jieba for boundary rules).")
        L.append(line)
    for name, r in R["lists"].items():
        lg, ck = r["long"], r["check"]
        bad = [(k, gr) for k, x, y, gr in growth_rows(lg) if not k.startswith("**") and gr == gr and gr > 2 and y > 50]
        line = (f"- Long text, {name}: {fmt_int(lg['chars'] / lg['whole_s'])} chars/s in one `check` against "
                f"{fmt_int(ck['chars_s'])} on short messages ({lg['chars'] / lg['whole_s'] / ck['chars_s']:.2f}×); "
                f"in {fmt_int(lg['chunk'])}-character chunks {fmt_int(lg['chunked_chars'] / lg['chunked_s'])} chars/s.")
        if bad:
            n1, n2 = sorted(int(k) for k in lg["growth"])
            line += (" **Not linear:** " + ", ".join(f"{k} costs {gr:.1f}× more per character on {fmt_int(n2)} "
                                                      f"characters than on {fmt_int(n1)}" for k, gr in bad) + ".")
        L.append(line)
    big = _big(R)
    r = R["lists"][big]
    ck, rs = r["check"], peer(r, "RsScan")
    st = r.get("stages") or {}
    top = sorted(((v, k) for k, v in st.items() if k != "JSON"), reverse=True)[:3]
    total = sum(st.values()) or 1e-9
    L.append(f"- The bare automaton is not the limit: with the {big} list, a bare ahocorasick-rs scan takes "
             f"{ck['msgs_s'] / rs['msgs_s'] * 100:.1f} % of `check`'s time"
             + (("; what sets the rate is " + ", ".join(f"{k} ({v / total * 100:.0f} %)" for v, k in top)
                 + " of the stages above") if top else "") + ".")
    if R.get("startup"):
        su = R["startup"].get(CUT_NAME) or next(iter(R["startup"].values()))
        w = su["warm"]
        L.append(f"- Warm start-up ({fmt_int(w['entries'])} entries): ready in {w['ready_s']:.2f} s (building "
                 f"the `Moderator` from the cache {w['build_s']:.2f} s, `warm()` {w['warm_s']:.2f} s); jieba's "
                 f"dictionary, loading in a thread meanwhile, is in at {w.get('all_loaded_s', w['ready_s']):.2f} s.")
    return L


def write_results(block: str, path: Path = RESULTS) -> None:
    """Replace our block, keep everything else (the HTTP and Rescan sections)."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            new = head + block.rstrip("\n") + tail
        else:
            # Ours goes first (it has the title and the summary); drop their bare title line.
            lines = old.splitlines(keepends=True)
            if lines and lines[0].startswith("# "):
                lines = lines[1:]
            new = block + "\n" + "".join(lines).lstrip("\n")
    else:
        new = block
    path.write_text(new, encoding="utf-8")


def render_readme(R: dict[str, Any]) -> str:
    """The README's short headline: one column per list, a row per figure, the targets."""
    mi = R["machine"]
    cols = dict(R["lists"])
    if R.get("cut"):  # ours, the 50,000 cut, all the lexicons
        cols = {k: v for k, v in list(cols.items())[:1]} | {CUT_NAME: R["cut"]} | {k: v for k, v in list(cols.items())[1:]}
    names = list(cols)
    su = R.get("startup", {})
    cut = su.get(CUT_NAME) if not R.get("cut") else None
    titles = {"ours": "our lists", CUT_NAME: "lexicons, first 50,000", "lexicons": "all public lexicons"}

    def row(label: str, cell: Callable[[dict[str, Any], str], str], target: str) -> str:
        return f"| {label} | " + " | ".join(cell(cols[n], n) for n in names) + f" | {target} |"

    def long_cell(r: dict[str, Any], n: str) -> str:
        if "long" not in r:
            return f"{fmt_int(r['check']['chars_s'])} / –"
        return f"{fmt_int(r['check']['chars_s'])} / {fmt_int(r['long']['chars'] / r['long']['whole_s'])}"

    def startup_cell(r: dict[str, Any], n: str) -> str:
        x = su.get(n)
        return f"{x['warm']['ready_s']:.2f} s ({x['cold']['ready_s']:.2f} s)" if x else "–"

    def rss_cell(r: dict[str, Any], n: str) -> str:
        x = su.get(n)
        return f"{x['warm']['rss_busy_mb']:.0f} MB" if x else "–"

    L = [README_BEGIN, "## Benchmarks", "",
         f"From `make bench` ({mi['date']}; {mi['nproc']} cores ({mi['cpu']}), load average {mi['load'][0]:.2f} "
         "at the start; a virtual machine, so expect tens of percent between runs; Python " + mi["python"]
         + "). Everything, with the peers, both matcher backends, the "
         "cost of each stage and the HTTP and rescan runs, is in "
         "[`benchmarks/RESULTS.md`](benchmarks/RESULTS.md).", "",
         "| one core, short dating messages | " + " | ".join(
             f"{titles.get(n, n)} ({fmt_int(cols[n]['entries'])} entries)" for n in names) + " | target (issue 8) |",
         "| --- | " + " | ".join("---:" for _ in names) + " | --- |",
         row("`Moderator.check`, messages/s", lambda r, n: f"**{fmt_int(r['check']['msgs_s'])}**",
             f"≥ {fmt_int(T_MSGS)} with 50,000 entries"),
         row("… against the plain pipeline (NFKC + OpenCC + pyahocorasick)",
             lambda r, n: fmt_ratio(r["check"]["msgs_s"], peer(r, "PlainPipeline")["msgs_s"]), f"≥ {T_PLAIN}×"),
         row("… against a bare ahocorasick-rs scan (matching only)",
             lambda r, n: fmt_ratio(r["check"]["msgs_s"], peer(r, "RsScan")["msgs_s"]), "as close as the work allows"),
         row("`moderation scan` end to end, messages/s",
             lambda r, n: fmt_int(r["scan"]["msgs_s"]) if r.get("scan") else "–", "–"),
         row("characters/s, short messages / one long text", long_cell, "linear in length"),
         row("start-up, warm cache (cold)", startup_cell, "≤ 1 s warm with 50,000 entries"),
         row("peak RSS", rss_cell, f"≤ {T_RSS_MB} MB"),
         ]
    if cut:
        L += ["", f"With the issue's 50,000 entries (the lexicons' first 50,000): warm start-up "
              f"{cut['warm']['ready_s']:.2f} s (cold {cut['cold']['ready_s']:.2f} s), peak RSS "
              f"{cut['warm']['rss_busy_mb']:.0f} MB."]
    o = R.get("others", {})
    h, rc = o.get("http", {}), o.get("rescan", {})
    extra = []
    if "rps" in h:
        extra.append(f"`POST /v1/moderate` {fmt_int(h['rps'])} requests/s ({h['rps'] / h['ref_rps'] * 100:.0f} % of an "
                     f"empty FastAPI POST), p99 {h['p99_ms']:.1f} ms"
                     + (f"; batch {fmt_int(h['batch_texts_s'])} texts/s" if h.get("batch_texts_s") else ""))
    if "full_s" in rc:
        extra.append(f"full rescan {fmt_int(rc['full_s'])} profiles/s on 2 workers"
                     + (f", delta rescan {rc['delta_speedup']:.1f}× faster" if rc.get("delta_speedup") else ""))
    if extra:
        L += ["", "Latest service figures: " + "; ".join(extra) + "."]
    L.append(README_END)
    return "\n".join(L) + "\n"


def write_readme(block: str, path: Path = README) -> None:
    """Replace the README's Benchmarks section (between our markers), or append it."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if README_BEGIN in old and README_END in old:
        head, rest = old.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        new = head + block.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new, encoding="utf-8")


def console(R: dict[str, Any]) -> str:
    """What the run prints: machine, headline and the ratios to the same-process references."""
    mi = R["machine"]
    out = [f"{mi['date']}  {mi['nproc']} cores  {mi['cpu']}  Python {mi['python']}  "
           f"load before start {mi['load'][0]:.2f} {mi['load'][1]:.2f} {mi['load'][2]:.2f}", ""]
    for name, r in list(R["lists"].items()) + ([(CUT_NAME, R["cut"])] if R.get("cut") else []):
        ck = r["check"]
        out.append(f"{name} ({fmt_int(r['entries'])} entries): Moderator.check {fmt_int(ck['msgs_s'])} msgs/s, "
                   f"{fmt_int(ck['chars_s'])} chars/s")
        for p in r["peers"]:
            out.append(f"    check / {p['name']:<48} {ck['msgs_s'] / p['msgs_s']:6.2f}×  "
                       f"({fmt_int(p['msgs_s'])} msgs/s{' on ' + fmt_int(p['n']) + ' msgs' if p['partial'] else ''})")
        for b, x in (r.get("backends") or {}).get("check", {}).items():
            out.append(f"    backend {b:<14} {fmt_int(x['msgs_s'])} msgs/s")
    out.append("")
    return "\n".join(out + _headline_rows(R)) + "\n"


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--messages", type=int, default=corpus_mod.N_MESSAGES)
    ap.add_argument("--long-chars", type=int, default=corpus_mod.LONG_CHARS)
    ap.add_argument("--quick", action="store_true", help="10,000 messages, 200,000-character long text")
    ap.add_argument("--output", default=str(RESULTS), help="RESULTS.md to update ('-' prints only)")
    ap.add_argument("--readme", default=None,
                    help="README to update (default: README.md when writing benchmarks/RESULTS.md; '-' for none)")
    ap.add_argument("--json", default=str(HERE / "out" / "bench.json"), help="raw figures")
    ap.add_argument("--workdir", default=str(HERE / "out"), help="where the lexicon lists are written")
    ap.add_argument("--ours", default=str(ROOT / "wordlists"), help="our word-list folder")
    ap.add_argument("--peer-budget", type=float, default=PEER_BUDGET_S)
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--no-subprocess", action="store_true", help="skip scan, start-up and memory")
    ap.add_argument("--from-json", default=None, help="measure nothing: render the figures of an earlier run's --json")
    a = ap.parse_args(argv)
    if a.quick:
        a.messages, a.long_chars = 10_000, 200_000
    if a.readme is None:
        a.readme = str(README) if a.output != "-" and Path(a.output).resolve() == RESULTS.resolve() else "-"
    if a.from_json:
        return report(json.loads(Path(a.from_json).read_text(encoding="utf-8")), a, write_json=False)
    started = wall()
    R: dict[str, Any] = {"machine": machine()}  # the load average is read before anything runs
    R["command"] = ".venv/bin/python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    R["make_bench"] = (a.messages == corpus_mod.N_MESSAGES and a.long_chars == corpus_mod.LONG_CHARS
                       and not a.no_subprocess)
    default, env_name, all_backends = backends()
    R["default_backend"], R["backend_env"] = default, env_name

    log(f"corpus: {a.messages} messages, long text {a.long_chars} chars")
    c = corpus_mod.messages(a.messages)
    long_text = corpus_mod.long_text(a.long_chars)
    lens = [len(x) for x in c.messages]
    R["corpus"] = {"seed": corpus_mod.SEED, "n": len(lens), "min": min(lens), "max": max(lens),
                   "mean": statistics.mean(lens), "injected": sum(c.injected) / len(lens),
                   "long_chars": len(long_text), "long_mb": len(long_text.encode()) / 1e6}

    log("building the lexicon lists")
    out_dir = Path(a.workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    big_dir, _ = biglist.build(Path(a.datasets), out_dir / "biglist")
    cut_dir, _ = biglist.build(Path(a.datasets), out_dir / "biglist-50k", limit=TARGET_ENTRIES)
    ours_dir = Path(a.ours)
    lists = {"ours": ours_dir, "lexicons": big_dir}

    from moderation import Moderator

    R["lists"] = {}
    for name, d in lists.items():
        mods = {}
        r: dict[str, Any] = {"dir": str(d)}
        for b in [default] + [x for x in all_backends if x != default]:
            log(f"[{name}] building the Moderator ({b}) from {d}")
            t0 = perf()
            mods[b] = Moderator(d, backend=b)
            r.setdefault("build_in_process_s", {})[b] = perf() - t0
            mods[b].warm()
            for x in c.messages[:500]:  # warm caches, jieba, lazy tables
                mods[b].check(x, scene=SCENE)
        frozen()
        m = mods[default]
        r.update(entries=len(m.wordlist.entries), patterns=len(m._engine.patterns))
        log(f"[{name}] check over {len(c.messages)} messages, backends {', '.join(mods)} taking turns")
        chk = measure_check_backends(mods, c.messages, budget=CHECK_BUDGET_S, compare=BACKEND_COMPARE)
        n_match = min(len(c.messages), 20_000)
        r["backends"] = {"check": chk, "match_s": measure_match_backends(mods, c.messages[:n_match]),
                         "match_n": n_match}
        r["check"] = chk[default]
        log(f"[{name}] " + ", ".join(f"{b} {fmt_int(x['msgs_s'])} msgs/s" for b, x in chk.items()))
        r["check_texts"] = measure_check_texts(mods[default], c.messages, CHECK_BUDGET_S / 2)
        log(f"[{name}] check_texts {fmt_int(r['check_texts']['msgs_s'])} msgs/s")
        for b in list(mods):
            if b != default:
                del mods[b]
        log(f"[{name}] long text")
        r["long"] = measure_long(m, long_text)
        n_st = min(len(c.messages), 20_000)
        log(f"[{name}] stages over {n_st} messages")
        try:
            _, r["stages"] = staged(m, c.messages[:n_st])
        except Exception as e:  # the engine's internals changed: report, carry on
            r["stages_error"] = f"{type(e).__name__}: {e}"
            log(f"[{name}] staged() failed: {r['stages_error']}")
        r["stages_n"] = n_st
        n_prof = min(len(c.messages), 5_000)
        r["profile"] = profile_check(m, c.messages[:n_prof])
        r["profile_n"] = n_prof
        log(f"[{name}] peers")
        r["peers"] = measure_peers(engine_terms(m), c.messages, a.peer_budget)
        R["lists"][name] = r
        del m, mods

    log(f"[{CUT_NAME}] check and the two references ({default})")
    m = Moderator(cut_dir, backend=default)
    m.warm()
    for x in c.messages[:500]:
        m.check(x, scene=SCENE)
    frozen()
    R["cut"] = {"dir": str(cut_dir), "entries": len(m.wordlist.entries), "patterns": len(m._engine.patterns),
                "check": measure_check_backends({default: m}, c.messages, budget=CHECK_BUDGET_S / 2)[default],
                "check_texts": measure_check_texts(m, c.messages, CHECK_BUDGET_S / 2)}
    R["cut"]["peers"] = measure_peers(engine_terms(m), c.messages, a.peer_budget,
                                      classes=(peers_mod.RsScan, peers_mod.PlainPipeline))
    log(f"[{CUT_NAME}] {fmt_int(R['cut']['check']['msgs_s'])} msgs/s")
    del m

    R["startup"] = {}
    R["startup_backends"] = {}
    if not a.no_subprocess:
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as wd:
            for name, d in lists.items():
                log(f"[{name}] moderation scan end to end")
                n = min(SCAN_MAX.get(name, len(c.messages)), len(c.messages))
                sub = corpus_mod.Corpus(c.messages[:n], c.injected[:n])
                R["lists"][name]["scan"] = scan_e2e(d, sub, Path(wd))
                log(f"[{name}] scan {fmt_int(R['lists'][name]['scan']['msgs_s'])} msgs/s")
        for name, d in (("ours", ours_dir), (CUT_NAME, cut_dir), ("lexicons", big_dir)):
            log(f"[{name}] start-up cold and warm ({default})")
            R["startup"][name] = startup_series(d, default, a.warm_runs)
        R["startup_backends"][default] = R["startup"][CUT_NAME]
        for b in all_backends:
            if b != default:
                log(f"[{CUT_NAME}] start-up cold and warm ({b})")
                R["startup_backends"][b] = startup_series(cut_dir, b, a.warm_runs)
    try:
        R["load_end"] = os.getloadavg()
    except OSError:
        R["load_end"] = (float("nan"),) * 3
    R["wall_s"] = wall() - started
    return report(R, a)


def report(R: dict[str, Any], a: argparse.Namespace, write_json: bool = True) -> int:
    """Print the figures, write RESULTS.md (our block), the README section and the raw JSON."""
    out_path = None if a.output == "-" else Path(a.output)
    R["others"] = other_results(out_path.read_text(encoding="utf-8")) if out_path and out_path.exists() else {}
    block = render(R)
    if write_json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(R, indent=1, default=str), encoding="utf-8")
    print(console(R))
    if out_path is None:
        print(block)
    else:
        write_results(block, out_path)
        log(f"wrote {out_path}")
    if a.readme != "-":
        write_readme(render_readme(R), Path(a.readme))
        log(f"wrote the Benchmarks section of {a.readme}")
    log(f"done in {R['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
