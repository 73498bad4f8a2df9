"""``POST /v1/rescans`` and ``GET /v1/rescans/{id}``: batch rescans started over HTTP (admin).

A job reads a server-side file (JSON Lines or CSV under the rescan input folder,
``MODERATION_RESCAN_INPUT_DIR``, default ``<data_dir>/rescan-inputs``) or a JSON Lines body
uploaded with ``Content-Type: application/x-ndjson``. It runs

- on this machine, as a separate ``moderation rescan`` process (all cores, checkpointed), when
  no Redis is configured or ``mode`` is ``local``;
- on the Redis stream (``moderation worker`` processes anywhere consume it) when
  ``MODERATION_REDIS_URL`` is set, unless ``mode`` is ``local``.

Job files live in ``<data_dir>/rescans/<id>/`` (``job.json``, ``output.jsonl``,
``summary.json``, ``log.txt``), so every server worker can answer for every job. At most
``MODERATION_RESCAN_MAX_RUNNING`` (default 2) local rescans run at once; more get 429.
``GET /v1/rescans/{id}/output`` returns the output lines once the job is done.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from .auth import AdminPrincipal
from .errors import ApiError

router = APIRouter(prefix="/v1", tags=["rescans"])

_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key"},
    403: {"description": "Only admin keys may start or read rescans"},
    404: {"description": "No such rescan job"},
    409: {"description": "The job's output is not ready yet"},
    413: {"description": "Uploaded body too large"},
    415: {"description": "Body is neither JSON nor JSON Lines"},
    422: {"description": "Bad input path, scene, version or mode"},
    429: {"description": "Too many local rescans running (MODERATION_RESCAN_MAX_RUNNING, default 2)"},
}


class RescanRequest(BaseModel):
    """Start a rescan of a file already on the server."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="file name under the rescan input folder", max_length=1024)
    scene: Literal["profile", "post", "chat"] = "profile"
    since: str | None = Field(None, description="only flag what became flagged since this wordlist_version")
    format: Literal["jsonl", "csv"] | None = None
    mode: Literal["auto", "local", "redis"] = "auto"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _jobs_dir(request: Request) -> Path:
    return Path(request.app.state.settings.data_dir) / "rescans"


def input_root(request: Request) -> Path:
    settings = request.app.state.settings
    root = getattr(settings, "rescan_input_dir", None) or os.environ.get("MODERATION_RESCAN_INPUT_DIR")
    return Path(root) if root else Path(settings.data_dir) / "rescan-inputs"


def _resolve_input(request: Request, name: str) -> Path:
    if not name or "\x00" in name:
        raise ApiError(422, "invalid_input", "input must name a file inside the rescan input folder")
    root = input_root(request).resolve()
    try:
        path = (root / name).resolve()
    except (OSError, ValueError, RuntimeError):  # symlink loops, names the OS refuses
        raise ApiError(422, "invalid_input", "input must name a file inside the rescan input folder") from None
    if root != path and root not in path.parents:
        raise ApiError(422, "invalid_input", "input must name a file inside the rescan input folder")
    if not path.is_file():
        raise ApiError(422, "input_not_found", "no such file in the rescan input folder")
    return path


def _write_job(job_dir: Path, job: dict[str, Any]) -> None:
    tmp = job_dir / f"job.json.tmp{os.getpid()}"
    tmp.write_bytes(orjson.dumps(job))
    os.replace(tmp, job_dir / "job.json")


def _read_job(request: Request, job_id: str) -> tuple[Path, dict[str, Any]]:
    if not _ID_RE.match(job_id):
        raise ApiError(404, "not_found", "no such rescan job")
    job_dir = _jobs_dir(request) / job_id
    try:
        return job_dir, orjson.loads((job_dir / "job.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        raise ApiError(404, "not_found", "no such rescan job") from None


def _moderator(request: Request) -> Any:
    engine = getattr(request.app.state, "engine", None)
    m = getattr(engine, "moderator", None)
    if m is None:
        raise ApiError(503, "unavailable", "the engine is not ready")
    return m


def _start_local(request: Request, job_dir: Path, job: dict[str, Any], inp: Path) -> None:
    settings = request.app.state.settings
    m = _moderator(request)
    overlay = [dict(x) for x in getattr(m.wordlist, "overlay", ())]
    cmd = [sys.executable, "-m", "moderation.rescan", "rescan", "--input", str(inp),
           "--output", str(job_dir / "output.jsonl"), "--summary-json", str(job_dir / "summary.json"),
           "--scene", job["scene"], "--progress", "plain", "--progress-interval", "10"]
    if job.get("format"):
        cmd += ["--format", job["format"]]
    if settings.wordlists:
        cmd += ["--wordlists", str(settings.wordlists)]
    if overlay:
        (job_dir / "overlay.json").write_bytes(orjson.dumps(overlay))
        cmd += ["--overlay", str(job_dir / "overlay.json")]
    if job.get("since"):
        cmd += ["--since", job["since"]]
    if os.environ.get("MODERATION_RESCAN_WORKERS"):
        cmd += ["--workers", os.environ["MODERATION_RESCAN_WORKERS"]]
    log = open(job_dir / "log.txt", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    log.close()
    job["pid"] = proc.pid
    _write_job(job_dir, job)

    def reap() -> None:  # the spawning server worker records the exit status for all workers
        rc = proc.wait()
        (job_dir / "exit_code").write_text(str(rc))

    threading.Thread(target=reap, name=f"rescan-{job['id']}", daemon=True).start()


def _start_redis(request: Request, job_dir: Path, job: dict[str, Any], inp: Path) -> None:
    from moderation import rescan_redis
    from moderation.rescan import RescanError, detect_format

    settings = request.app.state.settings
    m = _moderator(request)
    snapshot = None
    if job.get("since"):
        from moderation.rescan_delta import history_dir, load_snapshot

        snapshot = load_snapshot(job["since"], history_dir(settings.wordlists))
    try:
        r = rescan_redis.connect(settings.redis_url)
        try:
            job["redis_job"] = rescan_redis.enqueue(
                r, str(inp), detect_format(str(inp), job.get("format")), job["scene"], m.version,
                snapshot=snapshot, since=job.get("since"), job=job["id"])
        finally:
            r.close()
    except RescanError as e:
        raise ApiError(503, "unavailable", f"could not queue the rescan: {e}") from None
    except Exception as e:  # noqa: BLE001 - redis errors mid-enqueue: the client may retry
        raise ApiError(503, "unavailable", f"could not queue the rescan ({type(e).__name__})") from None
    _write_job(job_dir, job)


async def _create(request: Request, inp: Path | None, upload: bool, scene: str, since: str | None,
                  fmt: str | None, mode: str) -> Response:
    settings = request.app.state.settings
    if since is not None and not _VERSION_RE.match(since):
        raise ApiError(422, "invalid_request", "since: not a wordlist_version")
    if mode == "redis" and not settings.redis_url:
        raise ApiError(422, "invalid_request", "mode redis needs MODERATION_REDIS_URL")
    use_redis = mode == "redis" or (mode == "auto" and bool(settings.redis_url))
    if not use_redis:
        limit = int(os.environ.get("MODERATION_RESCAN_MAX_RUNNING", "2") or 2)
        if await asyncio.to_thread(_running_local_jobs, _jobs_dir(request)) >= limit:
            raise ApiError(429, "too_many_rescans",
                           f"{limit} rescans are already running on this machine; try again when one ends")
    job_id = uuid.uuid4().hex[:12]
    job_dir = _jobs_dir(request) / job_id
    job_dir.mkdir(parents=True)
    try:
        if upload:
            inp = job_dir / "input.jsonl"
            size = 0
            with open(inp, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    f.write(chunk)
            if size == 0:
                raise ApiError(422, "invalid_request", "the uploaded body is empty")
        assert inp is not None
        job = {"id": job_id, "created": time.time(), "mode": "redis" if use_redis else "local",
               "input": "upload" if upload else inp.name, "scene": scene, "since": since, "format": fmt,
               "wordlist_version": _moderator(request).version}
        starter = _start_redis if use_redis else _start_local
        await asyncio.to_thread(starter, request, job_dir, job, inp)
    except BaseException:
        # Not started (bad upload, body over the limit, Redis down): leave no half-made job
        # behind for GET to trip over.
        await asyncio.to_thread(shutil.rmtree, job_dir, True)
        raise
    return _json({**_public(job), **await asyncio.to_thread(_status, request, job_dir, job)}, status=202)


def _running_local_jobs(jobs_dir: Path) -> int:
    """Local rescans still running (each uses every core, so their number is capped)."""
    n = 0
    try:
        dirs = list(jobs_dir.iterdir())
    except FileNotFoundError:
        return 0
    for d in dirs:
        if (d / "summary.json").exists() or (d / "exit_code").exists():
            continue
        try:
            job = orjson.loads((d / "job.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if job.get("mode") == "local" and _pid_alive(job.get("pid")):
            n += 1
    return n


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job.get(k) for k in ("id", "mode", "input", "scene", "since", "wordlist_version", "created")}


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True


def _status(request: Request, job_dir: Path, job: dict[str, Any]) -> dict[str, Any]:
    if job["mode"] == "redis":
        from moderation import rescan_redis
        from moderation.rescan import RescanError

        try:
            r = rescan_redis.connect(request.app.state.settings.redis_url)
            try:
                st = rescan_redis.job_status(r, job["redis_job"])
                if st["state"] == "done" and not (job_dir / "output.jsonl").exists():
                    tmp = job_dir / f"output.jsonl.tmp{os.getpid()}"
                    rescan_redis.collect(r, job["redis_job"], str(tmp))
                    os.replace(tmp, job_dir / "output.jsonl")
            finally:
                r.close()
        except rescan_redis.JobNotFound:
            # job.json outlived the job's Redis keys (they expire RESULT_TTL_S after it ends,
            # or Redis was emptied): the job is gone, which is not Redis being unavailable.
            raise ApiError(404, "not_found", "no such rescan job (its data has expired)") from None
        except RescanError as e:
            raise ApiError(503, "unavailable", str(e)) from None
        except Exception as e:  # noqa: BLE001 - Redis went away mid-request
            raise ApiError(503, "unavailable", f"Redis: {type(e).__name__}") from None
        out = {"state": st["state"], "profiles_done": st["profiles_done"], "records": st["records"],
               "chunks": st["chunks"], "chunks_done": st["chunks_done"], "summary": st["summary"]}
        if st.get("chunks"):
            out["progress"] = round(st["chunks_done"] / st["chunks"], 4)
        if st.get("error"):
            out["error"] = st["error"]
        return out
    summary_path = job_dir / "summary.json"
    if summary_path.exists():
        summary = orjson.loads(summary_path.read_bytes())
        return {"state": "done", "progress": 1.0, "profiles_done": summary.get("profiles", 0), "summary": summary}
    out: dict[str, Any] = {"state": "running", "profiles_done": 0}
    ckpt = job_dir / "output.jsonl.checkpoint"
    try:
        data = orjson.loads(ckpt.read_bytes())
        out["profiles_done"] = data["stats"].get("total", 0)
        inp = data["identity"].get("input")
        if inp and job.get("format") != "csv" and not str(inp).endswith(".csv"):
            size = os.path.getsize(inp)
            out["progress"] = round(data["input_pos"] / size, 4) if size else 1.0
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, OSError):
        pass
    exit_code = job_dir / "exit_code"
    if exit_code.exists() or not _pid_alive(job.get("pid")):
        rc = exit_code.read_text().strip() if exit_code.exists() else "?"
        out["state"] = "failed"
        try:
            lines = (job_dir / "log.txt").read_text(errors="replace").strip().splitlines()
            out["error"] = lines[-1][:500] if lines else f"the rescan process ended (exit code {rc})"
        except OSError:
            out["error"] = f"the rescan process ended (exit code {rc})"
    return out


@router.post("/rescans", responses=_ERRORS, status_code=202, summary="Start a batch rescan (admin)",
             response_description="The job: id, mode and its status.",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": RescanRequest.model_json_schema()},
                 "application/x-ndjson": {"schema": {"type": "string"}},
             }, "required": True}})
async def start_rescan(request: Request, principal: AdminPrincipal,
                       scene: Literal["profile", "post", "chat"] = "profile", since: str | None = None,
                       mode: Literal["auto", "local", "redis"] = "auto") -> Response:
    """JSON ``{"input": "file.jsonl", "scene", "since", "format", "mode"}`` rescans a server-side
    file; a JSON Lines body (``Content-Type: application/x-ndjson``) is rescanned as uploaded,
    with ``scene``, ``since`` and ``mode`` as query parameters."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in NDJSON_TYPES:
        return await _create(request, None, True, scene, since, "jsonl", mode)
    if ctype not in ("application/json", ""):
        raise ApiError(415, "unsupported_media_type", "send JSON (a server-side file) or application/x-ndjson (an upload)")
    raw = await request.body()
    try:
        body = RescanRequest.model_validate_json(raw or b"null")
    except ValueError as e:
        errs = getattr(e, "errors", lambda: [])()
        where = "; ".join(".".join(str(p) for p in x.get("loc", ())) + ": " + str(x.get("msg", "")) for x in errs[:3])
        raise ApiError(422, "invalid_request", where or "the body is not a rescan request") from None
    inp = _resolve_input(request, body.input)
    return await _create(request, inp, False, body.scene, body.since, body.format, body.mode)


@router.get("/rescans/{job_id}", responses=_ERRORS, summary="A rescan's progress (admin)")
async def get_rescan(job_id: str, request: Request, principal: AdminPrincipal) -> Response:
    job_dir, job = _read_job(request, job_id)
    return _json({**_public(job), **await asyncio.to_thread(_status, request, job_dir, job)})


@router.get("/rescans/{job_id}/output", responses=_ERRORS, summary="A finished rescan's output lines (admin)",
            response_description="JSON Lines: one line per profile whose decision is not pass.")
async def get_rescan_output(job_id: str, request: Request, principal: AdminPrincipal) -> Response:
    job_dir, job = _read_job(request, job_id)
    st = await asyncio.to_thread(_status, request, job_dir, job)
    if st["state"] != "done":
        raise ApiError(409, "conflict", f"the rescan is {st['state']}; its output is not ready")
    return FileResponse(job_dir / "output.jsonl", media_type="application/x-ndjson")
