"""The command line: check, scan (order, error lines, bad bytes), wordlist check."""
import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "wordlists"
ENV = {**os.environ, "MODERATION_WORDLISTS": str(FIXTURE)}


def run(*args, input=b""):
    return subprocess.run([sys.executable, "-m", "moderation.cli", *args], input=input,
                          capture_output=True, env=ENV, timeout=120)


def test_scan_order_and_errors():
    lines = [
        json.dumps({"id": "a", "text": "周末约炮吗", "scene": "profile"}, ensure_ascii=False).encode(),
        b"not json",
        json.dumps({"id": "c"}).encode(),
        b'{"id": "d", "text": "\\ud800x"}',
        json.dumps({"id": "e", "text": "x", "scene": "feed"}).encode(),
        b"\xff\xfe bad bytes",
        b"",
        json.dumps({"id": "g", "text": "周末爬山"}, ensure_ascii=False).encode(),
        b"[1, 2]",
    ]
    r = run("scan", input=b"\n".join(lines) + b"\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "c", "d", "e", None, "g", None]
    assert out[0]["decision"] == "block" and out[0]["hits"][0]["text"] == "约炮"
    assert "JSON" in out[1]["error"]
    assert "text" in out[2]["error"]
    assert "surrogate" in out[3]["error"]
    assert "scene" in out[4]["error"]
    assert "UTF-8" in out[5]["error"]
    assert out[6]["decision"] == "pass" and out[6]["scene"] == "post"
    assert "object" in out[7]["error"]


def test_scan_files(tmp_path):
    src = tmp_path / "in.jsonl"
    dst = tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": f"第{i}条 约炮"}, ensure_ascii=False) for i in range(500)),
                   encoding="utf-8")
    r = run("scan", "--input", str(src), "--output", str(dst), "--scene", "chat")
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines()]
    assert [o["id"] for o in out] == list(range(500))
    assert all(o["scene"] == "chat" and o["decision"] == "block" for o in out)


def test_check_readable_and_json():
    r = run("check", "--scene", "profile", "约❤炮")
    assert r.returncode == 0
    assert "block" in r.stdout.decode() and "porn.escort:约炮" in r.stdout.decode()
    r = run("check", "--json", "约❤炮")
    v = json.loads(r.stdout)
    assert v["hits"][0]["text"] == "约❤炮" and v["hits"][0]["via"] == ["noise"]


def test_wordlist_check_reports_file_and_line(tmp_path):
    d = tmp_path / "wl"
    d.mkdir()
    for f in FIXTURE.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    (d / "fraud.txt").write_text("好 | high\n坏 | nope\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "moderation.cli", "--wordlists", str(d), "wordlist", "check"],
                       capture_output=True, timeout=60)
    assert r.returncode == 1
    assert f"{d / 'fraud.txt'}:2" in r.stdout.decode()
    r = subprocess.run([sys.executable, "-m", "moderation.cli", "--wordlists", str(FIXTURE), "wordlist", "check"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and b"wordlist_version" in r.stdout


def test_project_wordlists_are_valid():
    r = subprocess.run([sys.executable, "-m", "moderation.cli", "wordlist", "check"], capture_output=True,
                       timeout=60, env={k: v for k, v in os.environ.items() if k != "MODERATION_WORDLISTS"})
    assert r.returncode == 0, r.stdout.decode()[-2000:]


def test_wordlist_check_notes_entries_normalization_already_finds():
    # The fixture lists 傻逼 and its homophone 煞笔 with the same severity: a note, not an error.
    r = run("--wordlists", str(FIXTURE), "wordlist", "check")
    assert r.returncode == 0
    notes = [l for l in r.stdout.decode().splitlines() if l.startswith("note:")]
    assert any("煞笔" in n and "傻逼" in n and "porn.txt:" in n for n in notes), notes
    assert not any("约炮" in n for n in notes)
