"""Delta rescans (--since): exactly the profiles a full rescan newly flags, on generated lists."""
from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moderation import Moderator
from moderation.rescan import RecordChecker, add_rescan_arguments, run_rescan
from moderation.rescan_delta import (
    chars_reaching,
    _preimages,
    load_snapshot,
    plan_from_snapshot,
    record_version,
    wordlist_from_snapshot,
)
from moderation.wordlists import load_wordlist

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "wordlists"
RANK = {"pass": 0, "review": 1, "block": 2}
CATS = ("discrimination", "illegal", "political", "porn", "fraud")
# Characters with homophones among themselves (微/威/薇, 信/心/新, 赌/堵, 钱/前), ASCII for
# pinyin forms, and plain filler.
POOL = "微威薇信心新赌堵博钱前转账红包约会骗投资理财毒品色情台湾独立老师朋友"
FILLER = ["喜欢旅行", "周末爬山", "养猫", "读书", "火锅", "电影", "跑步", "音乐"]
NOISE = [" ", "*", "·", "，", "、", "~"]
TRAD = str.maketrans("钱转账红骗资财会独湾", "錢轉賬紅騙資財會獨灣")
PINYIN = {"微": "wei", "威": "wei", "薇": "wei", "信": "xin", "心": "xin", "新": "xin", "赌": "du", "堵": "du",
          "钱": "qian", "前": "qian", "约": "yue", "会": "hui", "毒": "du", "品": "pin", "色": "se", "情": "qing"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Compiled variants of generated lists go to a temp cache, not the user's."""
    from moderation.normalize import _cache_dir

    d = tmp_path_factory.getbasetemp() / "modcache"
    d.mkdir(exist_ok=True)
    for p in _cache_dir().glob("normalize-tables-*.pickle"):
        if not (d / p.name).exists():
            shutil.copy(p, d / p.name)
    monkeypatch.setenv("MODERATION_CACHE_DIR", str(d))
    # Every generated list compiles afresh; the split-character table it reads is the same each
    # time, so read it once (the engine re-reads it per compilation: about 60 ms).
    import functools

    from moderation import engine

    chaizi = getattr(engine, "_chaizi", None)
    if chaizi is not None and not hasattr(chaizi, "cache_info"):
        monkeypatch.setattr(engine, "_chaizi", functools.lru_cache(maxsize=1)(chaizi))


def _term(r: random.Random) -> str:
    return "".join(r.choice(POOL) for _ in range(r.choice((2, 2, 3))))


def gen_lists(r: random.Random) -> dict:
    """A random, valid set of lists as an editable structure."""
    entries = {}
    for _ in range(r.randint(4, 10)):
        t = _term(r)
        entries[t] = {
            "cat": r.choice(CATS), "sev": r.choice(("low", "medium", "high")),
            "flags": sorted(r.sample(["boundary", "exact", "nohomophone", "nopinyin"], r.randint(0, 2))),
            "scenes": r.choice([None, None, "profile", "post+chat"]),
        }
    allow = {}
    for t in r.sample(sorted(entries), min(3, len(entries))):
        if r.random() < 0.6:
            allow[r.choice(POOL) + t + r.choice(POOL)] = r.choice([None, "profile", "post"])
    policy = {s: {sev: r.choice(("pass", "review", "block")) for sev in ("low", "medium", "high")}
              for s in ("profile", "post", "chat")}
    cat_override = {"profile": {r.choice(CATS): {"low": r.choice(("pass", "review", "block"))}}}
    return {"entries": entries, "allow": allow, "policy": policy, "cat": cat_override}


def mutate(r: random.Random, lists: dict) -> dict:
    """A change of the kinds a list edit makes: add, raise, loosen, remove, un-allow, policy."""
    new = orjson.loads(orjson.dumps(lists))
    ents = new["entries"]
    for _ in range(r.randint(0, 3)):
        t = _term(r)
        if t not in ents:
            ents[t] = {"cat": r.choice(CATS), "sev": r.choice(("low", "medium", "high")), "flags": [], "scenes": None}
    for t in list(ents):
        x = r.random()
        if x < 0.1:
            del ents[t]
        elif x < 0.2:
            ents[t]["sev"] = "high"
        elif x < 0.3:
            ents[t]["sev"] = "low"
        elif x < 0.4:
            ents[t]["flags"] = []
        elif x < 0.45:
            ents[t]["scenes"] = None
    for t in list(new["allow"]):
        if r.random() < 0.4:
            del new["allow"][t]
    if r.random() < 0.3:
        new["allow"][r.choice(POOL) + r.choice(POOL)] = None
    if r.random() < 0.4:
        s = r.choice(("profile", "post", "chat"))
        new["policy"][s][r.choice(("low", "medium", "high"))] = r.choice(("review", "block"))
    if r.random() < 0.2:
        new["cat"] = {}
    return new


def write_lists(d: Path, lists: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    by_cat: dict[str, list[str]] = {c: ["@group gen"] for c in CATS}
    for t, e in lists["entries"].items():
        flags = list(e["flags"]) + ([f"scene={e['scenes']}"] if e["scenes"] else [])
        by_cat[e["cat"]].append(f"{t} | {e['sev']} | {','.join(flags)}".rstrip(" |"))
    for c in CATS:
        (d / f"{c}.txt").write_text("\n".join(by_cat[c]) + "\n", encoding="utf-8")
    (d / "allow.txt").write_text(
        "".join(f"{t} | scene={s}\n" if s else f"{t}\n" for t, s in lists["allow"].items()), encoding="utf-8")
    (d / "lookalikes.txt").write_text("", encoding="utf-8")
    pol = []
    for s, table in lists["policy"].items():
        pol.append(f"[scenes.{s}.severity]")
        pol += [f'{k} = "{v}"' for k, v in table.items()]
        for c, t in lists["cat"].get(s, {}).items():
            pol.append(f"[scenes.{s}.category.{c}]")
            pol += [f'{k} = "{v}"' for k, v in t.items()]
    (d / "policy.toml").write_text("\n".join(pol) + "\n", encoding="utf-8")
    return d


def gen_profiles(r: random.Random, lists_a: dict, lists_b: dict, n: int) -> list[dict]:
    terms = sorted(set(lists_a["entries"]) | set(lists_b["entries"]) | set(lists_a["allow"]) | set(lists_b["allow"]))
    out = []
    for i in range(n):
        parts = []
        for _ in range(r.randint(1, 5)):
            x = r.random()
            if x < 0.35 and terms:
                t = r.choice(terms)
                y = r.random()
                if y < 0.25:  # split by noise
                    t = r.choice(NOISE).join(t)
                elif y < 0.4:  # a repeated character
                    k = r.randrange(len(t))
                    t = t[:k + 1] + t[k] * r.randint(1, 2) + t[k + 1:]
                elif y < 0.5:  # traditional / full-width forms
                    t = t.translate(TRAD)
                elif y < 0.6:  # spelled out in pinyin, upper or lower case
                    t = "".join(PINYIN.get(c, c) for c in t)
                    t = t.upper() if r.random() < 0.5 else t
                parts.append(t)
            elif x < 0.55:
                parts.append("".join(r.choice(POOL) for _ in range(r.randint(1, 4))))
            else:
                parts.append(r.choice(FILLER))
        text = r.choice(["", "，"]).join(parts)
        rec: dict = {"id": i}
        if i % 4 == 0:
            rec["fields"] = {"nickname": r.choice(FILLER + terms[:3]), "bio": text}
        else:
            rec["text"] = text
        if r.random() < 0.3:
            rec["scene"] = r.choice(("post", "chat"))
        out.append(rec)
    return out


def run_all(checker: RecordChecker, profiles: list[dict]) -> dict:
    """Output lines by id, through the same chunk path a rescan takes (fast path included)."""
    payload = b"\n".join(orjson.dumps(p) for p in profiles)
    res = checker.run_chunk("jsonl", payload, 1)
    assert res.stats["total"] == len(profiles)
    out = {}
    for line in res.out.splitlines():
        d = orjson.loads(line)
        out[d["id"]] = d
    return out


def newly_flagged(old_out: dict, new_out: dict) -> dict:
    return {i: d for i, d in new_out.items()
            if RANK[d["decision"]] > RANK[old_out.get(i, {"decision": "pass"})["decision"]]}


def delta_for(tmp: Path, old_dir: Path, new_dir: Path, detectors=(), sample: str | None = None) -> tuple[Moderator, Moderator, object]:
    old_wl = load_wordlist(old_dir)
    record_version(old_dir, old_wl, tmp / "hist")
    new = Moderator(wordlist_dir=new_dir, detectors=detectors)
    old = Moderator(wordlist_dir=old_dir, detectors=detectors)
    plan = plan_from_snapshot(new, load_snapshot(old_wl.version, tmp / "hist"), log=lambda m: None, sample=sample)
    return old, new, plan


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=6228211)  # the old engine ran detectors the new one had off
def test_delta_flags_exactly_what_a_full_rescan_newly_flags(tmp_path_factory, seed):
    r = random.Random(seed)
    tmp = tmp_path_factory.mktemp("delta")
    a = gen_lists(r)
    b = mutate(r, a)
    profiles = gen_profiles(r, a, b, 60)
    # Half the time the prefilter picks its anchors from a sample of the input, as the CLI does.
    sample = "".join(p.get("text") or "".join(p["fields"].values()) for p in profiles[:30]) if seed % 2 else None
    old, new, plan = delta_for(tmp, write_lists(tmp / "old", a), write_lists(tmp / "new", b), sample=sample)
    want = newly_flagged(run_all(RecordChecker(old), profiles), run_all(RecordChecker(new), profiles))
    got = run_all(RecordChecker(new, delta=plan), profiles)
    assert set(got) == set(want)
    for i, d in got.items():
        prev = d.pop("previous_decision")
        assert d == want[i]
        assert RANK[prev] < RANK[d["decision"]]


def test_prefilter_characters_include_every_spelling_that_normalizes_to_a_character():
    m = Moderator(wordlist_dir=FIXTURE, detectors=())
    norm = m.normalizer
    finv, hinv = _preimages(norm)
    canon = norm.normalize("信").canon
    chars = chars_reaching(canon, norm, finv, hinv)
    for spelled in ("信", "心", "新", "芯"):
        assert spelled in chars
        assert norm.normalize(spelled).canon == canon
    seven = norm.normalize("7").canon  # "7", or the character digits sound like when they are homophones
    digit = chars_reaching(seven, norm, finv, hinv)
    assert {"7", "七", "柒", "７"} <= digit
    assert all(norm.normalize(x).canon == seven for x in ("7", "七", "柒", "７"))
    assert "a" not in digit


def _one_rule_added(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture lists, and a copy with one fraud entry (内部消息) added."""
    old_dir = tmp_path / "old"
    shutil.copytree(FIXTURE, old_dir)
    new_dir = tmp_path / "new"
    shutil.copytree(FIXTURE, new_dir)
    with open(new_dir / "fraud.txt", "a", encoding="utf-8") as f:
        f.write("内部消息 | high\n")
    return old_dir, new_dir


def test_small_change_is_a_narrow_delta_and_unchanged_lists_scan_nothing(tmp_path):
    old_dir, new_dir = _one_rule_added(tmp_path)
    old, new, plan = delta_for(tmp_path, old_dir, new_dir)
    assert plan.mode == "delta" and plan.changed_rules == {"fraud.ads:内部消息"}
    assert plan.prefilter.search("我有内部消息") and not plan.prefilter.search("周末爬山")
    texts = ["我有内布消息", "喜欢旅行", "内部 消 息 稳赚不赔"]
    got = run_all(RecordChecker(new, delta=plan), [{"id": i, "text": t} for i, t in enumerate(texts)])
    assert set(got) == {0}  # 2 was already blocked (稳赚不赔)

    _, _, same = delta_for(tmp_path / "same", old_dir, old_dir)
    assert same.mode == "delta" and not same.changed_rules and not same.removed_allow
    assert not same.prefilter.search("约炮冰毒稳赚不赔")


def test_delta_chunk_rejects_plain_lines_and_keeps_every_line_that_needs_a_look(tmp_path):
    _, new, plan = delta_for(tmp_path, *_one_rule_added(tmp_path))
    rejected = [x.encode() for x in ('{"id":"a","text":"周末爬山"}', '{"id":7,"text":"喜欢旅行"}',
                                     '{"id":"b","fields":{"nickname":"小明","bio":"养猫"}}',
                                     '{"id":"c","text":"内部"}', '{"id":"d", "text":"x"}')]
    flagged = [x.encode() for x in (
        '{"id":"f1","text":"我有内部消息"}',  # the new rule
        '{"id":"f2","text":"\\u5185\\u90e8\\u6d88\\u606f"}',  # escaped
        '{"id":"f3","fields":{"bio":"内 部 消 息"}}',
    )]
    errors = [x.encode() for x in (
        '{"id":"e1","text":"x","scene":"nowhere"}', '{"id":1.5,"text":"x"}', '{"id":null,"text":"x"}',
        '{"id":"e4","fields":{}}', '{"id":123456789012345678901234,"text":"x"}', '{"id":"e6","text":"x\x01"}',
    )] + [b'{"id":"e7","text":"\xff"}']
    assert all(plan.quick_reject(orjson.loads(x)) for x in rejected)
    payload = b"\n".join(rejected + flagged + errors + [b""])
    res = RecordChecker(new, delta=plan).run_chunk("jsonl", payload, 1)
    lines = [orjson.loads(x) for x in res.out.splitlines()]
    assert [d["id"] for d in lines if "error" not in d] == ["f1", "f2", "f3"]
    assert len([d for d in lines if "error" in d]) == len(errors)
    assert any("nowhere" in d["error"] for d in lines if "error" in d)
    assert all("line" in d for d in lines if "error" in d)
    assert res.stats["total"] == len(rejected + flagged + errors)
    assert res.n_lines == len(rejected + flagged + errors) + 1  # and the blank last line
    slow = RecordChecker(new, delta=plan)
    slow._native = slow._chunk_rx = None  # the chunk regex, then the per-line path: the same
    for path in ("regex", "per-line"):
        if path == "per-line":
            slow._chunk_rx = None
        else:
            slow._chunk_rx = plan.chunk_regex()
        again = slow.run_chunk("jsonl", payload, 1)
        assert (again.out, again.stats, again.n_lines) == (res.out, res.stats, res.n_lines), path


def test_lookalike_change_falls_back_to_comparing_both_versions_and_stays_exact(tmp_path):
    old_dir = tmp_path / "old"
    shutil.copytree(FIXTURE, old_dir)
    new_dir = tmp_path / "new"
    shutil.copytree(FIXTURE, new_dir)
    with open(new_dir / "lookalikes.txt", "a", encoding="utf-8") as f:
        f.write("🎲\t赌\n")
    old, new, plan = delta_for(tmp_path, old_dir, new_dir)
    assert plan.mode == "compare" and "look-alike" in plan.reason
    profiles = [{"id": 1, "text": "网🎲"}, {"id": 2, "text": "网赌"}, {"id": 3, "text": "你好"}]
    got = run_all(RecordChecker(new, delta=plan), profiles)
    want = newly_flagged(run_all(RecordChecker(old), profiles), run_all(RecordChecker(new), profiles))
    assert set(got) == set(want) == {1}


def test_policy_rise_with_detectors_compares_every_profile(tmp_path):
    old_dir = tmp_path / "old"
    shutil.copytree(FIXTURE, old_dir)
    new_dir = tmp_path / "new"
    shutil.copytree(FIXTURE, new_dir)
    pol = (new_dir / "policy.toml").read_text(encoding="utf-8")
    (new_dir / "policy.toml").write_text(pol.replace('[scenes.chat.severity]\nlow = "pass"', '[scenes.chat.severity]\nlow = "review"'), encoding="utf-8")
    old, new, plan = delta_for(tmp_path, old_dir, new_dir, detectors=None)
    if new._engine.detectors:
        assert plan.mode == "compare" and "detectors" in plan.reason
    profiles = [{"id": 1, "text": "法网恢恢", "scene": "chat"}, {"id": 2, "text": "法网恢恢", "scene": "post"}]
    got = run_all(RecordChecker(new, delta=plan), profiles)
    assert set(got) == {1} and got[1]["previous_decision"] == "pass"


def test_snapshot_round_trip_keeps_the_version_and_rules(tmp_path):
    wl = load_wordlist(FIXTURE)
    path = record_version(FIXTURE, wl, tmp_path / "h")
    assert path is not None and path.name == f"{wl.version}.json.gz"
    again = wordlist_from_snapshot(load_snapshot(wl.version, tmp_path / "h"))
    assert again.version == wl.version
    assert {e.rule for e in again.entries} == {e.rule for e in wl.entries}
    assert load_snapshot("no-such-version", tmp_path / "h") is None
    assert load_snapshot("../../etc/passwd", tmp_path / "h") is None


def _args(argv):
    p = argparse.ArgumentParser()
    add_rescan_arguments(p)
    return p.parse_args(argv)


def test_cli_since_outputs_only_newly_flagged_and_unknown_version_falls_back(tmp_path, capsys):
    wl_dir = tmp_path / "wl"
    shutil.copytree(FIXTURE, wl_dir)
    inp = tmp_path / "in.jsonl"
    rows = [{"id": 1, "text": "我有内部消息"}, {"id": 2, "text": "约炮"}, {"id": 3, "text": "喜欢读书"}]
    inp.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in rows))
    common = ["-i", str(inp), "--wordlists", str(wl_dir), "--progress", "none", "-j", "1"]
    assert run_rescan(_args(common + ["-o", str(tmp_path / "full.jsonl")])) == 0
    old_version = load_wordlist(wl_dir).version
    assert (wl_dir / ".history" / f"{old_version}.json.gz").exists()
    with open(wl_dir / "fraud.txt", "a", encoding="utf-8") as f:
        f.write("内部消息 | high\n")
    assert run_rescan(_args(common + ["-o", str(tmp_path / "d.jsonl"), "--since", old_version])) == 0
    lines = [orjson.loads(x) for x in (tmp_path / "d.jsonl").read_bytes().splitlines()]
    assert [(x["id"], x["decision"], x["previous_decision"]) for x in lines] == [(1, "block", "pass")]
    assert "delta since" in capsys.readouterr().err

    assert run_rescan(_args(common + ["-o", str(tmp_path / "f.jsonl"), "--since", "0123456789abcdef"])) == 0
    assert "running a full rescan instead" in capsys.readouterr().err
    ids = [orjson.loads(x)["id"] for x in (tmp_path / "f.jsonl").read_bytes().splitlines()]
    assert ids == [1, 2]


def test_form_prefilter_walks_the_whole_form_not_just_a_pair():
    """A form made of common characters (split-character variants give such forms) lets through
    its disguised spellings, and not texts that merely hold two of its characters side by side."""
    from moderation.rescan_delta import FormPrefilter, trigger_regex

    m = Moderator(wordlist_dir=FIXTURE, detectors=())
    norm = m.normalizer
    pre = trigger_regex(m.wordlist.filtered(set()), norm, ["便天好"])
    assert isinstance(pre, FormPrefilter)
    for text in ("便天好", "x便 · 天天，好y", "边天号", "便天好好", "你好便天好"):
        assert pre.search(text), text
        assert norm.normalize("便天好").canon in norm.normalize(text).canon, text  # a real occurrence
    for text in ("今天好开心", "便宜的天气好", "天好便", "便天", "好天便"):
        assert not pre.search(text), text
        assert norm.normalize("便天好").canon not in norm.normalize(text).canon, text


def test_the_old_version_is_judged_by_the_new_ones_detectors(tmp_path):
    """Found by the property test (seed 6228211): with the detectors off, the old engine of the
    plan ran them anyway, and a scam hit only it had hid a decision that rose."""
    old_dir, new_dir = _one_rule_added(tmp_path)
    _, new, plan = delta_for(tmp_path, old_dir, new_dir, detectors=())
    assert plan.old._engine.detectors == ()
    _, new_d, plan_d = delta_for(tmp_path / "with", old_dir, new_dir, detectors=None)
    assert {d.name for d in plan_d.old._engine.detectors} == {d.name for d in new_d._engine.detectors} != set()


def _chunk_lines(r: random.Random, profiles: list[dict]) -> list[bytes]:
    """The profiles as JSON Lines of every kind a chunk scan must tell apart: compact (the
    common shapes), with spaces, with escapes, string and integer ids, broken, blank."""
    import json

    lines = []
    for p in profiles:
        x = r.random()
        if x < 0.6:
            line = orjson.dumps(p)
        elif x < 0.7:
            line = json.dumps(p, ensure_ascii=True).encode()  # \\u escapes and spaces
        elif x < 0.78:
            line = json.dumps(p, ensure_ascii=False, separators=(",", ":")).encode()
            line = line.replace(b'"id":%d' % p["id"], b'"id":"s%d"' % p["id"], 1)
        elif x < 0.84:
            line = orjson.dumps(p)[:-3]  # cut short
        elif x < 0.88:
            line = orjson.dumps(p).replace("，".encode(), b"\xff")  # not UTF-8 (or unchanged)
        elif x < 0.92:
            line = b""
        else:
            line = orjson.dumps(p).replace(b'"id":', b'"id": ', 1)
        lines.append(line)
    return lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_chunk_scans_agree_with_the_per_line_path(tmp_path_factory, seed):
    """The compiled chunk scan and the chunk regex only decide which lines get the per-line
    look: their chunk results equal the per-line path's, and neither skips a line that the
    per-line prefilter would have let through."""
    from moderation import _deltascan

    r = random.Random(seed)
    tmp = tmp_path_factory.mktemp("chunks")
    a = gen_lists(r)
    b = mutate(r, a)
    profiles = gen_profiles(r, a, b, 80)
    _, new, plan = delta_for(tmp, write_lists(tmp / "old", a), write_lists(tmp / "new", b))
    if plan.mode != "delta":
        return
    lines = _chunk_lines(r, profiles)
    payload = b"\n".join(lines)
    results = {}
    for mode in ("native", "regex", "per-line"):
        checker = RecordChecker(new, delta=plan)
        checker.warm()
        if mode != "native":
            checker._native = None
        if mode == "per-line":
            checker._chunk_rx = None
        results[mode] = checker.run_chunk("jsonl", payload, 1)
        assert results[mode].n_lines == len(lines)
    for mode in ("native", "regex"):
        assert results[mode].out == results["per-line"].out, mode
        assert results[mode].stats == results["per-line"].stats, mode
    tables = plan.native_tables()
    n, spans = _deltascan.scan(payload, tables)
    assert n == len(lines)
    listed = {i for i, _, _ in spans}
    for i, line in enumerate(lines):
        if i in listed:
            s, e = next((s, e) for j, s, e in spans if j == i)
            assert payload[s:e] == line
            continue
        obj = orjson.loads(line)  # an unlisted line is a valid record ...
        assert plan.quick_reject(obj), line  # ... that the per-line path passes unchecked


def test_chunk_scan_tables_are_checked():
    from moderation import _deltascan
    from moderation.rescan_delta import _native_tables

    good = _native_tables([("微信", 0)], lambda c: frozenset(c), {})
    first = '{"id":1,"text":"加微信"}'.encode()
    assert _deltascan.scan(first + b'\n{"id":2,"text":"ok"}', good) == (2, [(0, 0, len(first))])
    assert _deltascan.scan(b'{"id":2,"text":"ok"}\n' + first, good) == (2, [(1, 21, 21 + len(first))])
    for i, bad in ((0, b"\x00" * 10), (3, b"\x00" * 7), (7, b"\x01\x00\x00\x00" * 2), (8, b"\x00" * 8)):
        t = list(good)
        t[i] = bad
        with pytest.raises(ValueError):
            _deltascan.scan(b"{}", tuple(t))
    with pytest.raises(ValueError):
        _deltascan.scan(b"{}", good[:9])
    with pytest.raises(TypeError):
        _deltascan.scan("text", good)
