"""The quality harness's loaders and arithmetic, on tiny synthetic sets in the real formats.

Never reads ../shared/datasets: every file here is written by the test. A fake moderator decides
from markers in the text, so every expected share is known exactly.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
quality = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("quality", quality)  # dataclasses look their module up by name
_spec.loader.exec_module(quality)


class FakeHit:
    def __init__(self, rule: str, severity: str, via: tuple[str, ...] = ()) -> None:
        self.rule, self.severity, self.via = rule, severity, via


class FakeVerdict:
    def __init__(self, decision: str, categories: list[str], hits: list[FakeHit]) -> None:
        self.decision = decision
        self.categories = categories
        self.hits = hits


class FakeModerator:
    """`<cat>` anywhere in the text blocks with that category (rule `fake.<cat>`, found via
    homophone when `<homo>` is there too); `<profile>` flags only profiles; `<low>` is a low hit
    that the post policy lets pass."""

    version = "fake-1"

    def check(self, text: str, scene: str = "post") -> FakeVerdict:
        cats = sorted(c for c in quality.LETTER.values() if f"<{c}>" in text)
        if "<profile>" in text and scene == "profile":
            cats = cats or ["porn"]
        via = ("homophone",) if "<homo>" in text else ()
        hits = [FakeHit(f"fake.{c}", "high", via) for c in cats]
        if "<low>" in text:
            hits.append(FakeHit("fake.low", "low"))
        return FakeVerdict("block" if cats else "pass", cats, hits)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture()
def datasets(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    bench = [
        # 博彩: 2 right (illegal), 1 wrong category (fraud), 1 missed -> 75 % flagged, 50 % right.
        {"文本": "赌场一 <illegal>", "标签": "博彩"},
        {"文本": "赌场二 <illegal> <fraud>", "标签": "博彩"},
        {"文本": "赌场三 <fraud>", "标签": "博彩"},
        {"文本": "赌场四", "标签": "博彩"},
        {"文本": "赌场四", "标签": "博彩"},  # duplicate: counted once
        # 谩骂引战 accepts porn or discrimination.
        {"文本": "骂一 <discrimination>", "标签": "谩骂引战"},
        {"文本": "骂二 <porn>", "标签": "谩骂引战"},
        # 不违规: 1 of 3 flagged in post, 2 of 3 in profile; one peer word.
        {"文本": "天气 <fraud>", "标签": "不违规"},
        {"文本": "吃饭 <profile>", "标签": "不违规"},
        {"文本": "散步 peerword", "标签": "不违规"},
        # 欺诈: one right, one wrong category, one low hit only, one with no hit.
        {"文本": "骗一 <fraud>", "标签": "欺诈"},
        {"文本": "骗二 <porn> <homo>", "标签": "欺诈"},
        {"文本": "骗三 <low>", "标签": "欺诈"},
        {"文本": "骗四", "标签": "欺诈"},
    ]
    _write_json(root / "chineseharm_bench" / "bench.json", bench)
    _write_csv(root / "fbs_sms" / "fbs_sms.csv", ["id", "category", "group", "text", "text_tokenized"], [
        # FR:Other: 4 distinct texts, all flagged. FR:Financial: 2 distinct, none flagged.
        ["1", "FR:Other", "FR", "骗一 <fraud>", "骗一"],
        ["2", "FR:Other", "FR", "骗二 <fraud>", "骗二"],
        ["3", "FR:Other", "FR", "骗三 <fraud>", "骗三"],
        ["4", "FR:Other", "FR", "骗四 <fraud>", "骗四"],
        ["5", "FR:Financial", "FR", "股票一", "股票一"],
        ["6", "FR:Financial", "FR", "股票二", "股票二"],
        ["7", "IL:Gambling", "IL", "博一 <illegal>", "博一"],
        ["8", "Other", "Other", "通知 kword", "通知"],
    ])
    _write_csv(root / "cold" / "test.csv", ["", "split", "topic", "label", "fine-grained-label", "TEXT"], [
        ["1", "test", "race", "1", "2", "群体 <discrimination>"],
        ["2", "test", "gender", "1", "1", "个人 <porn>"],
        ["3", "test", "region", "0", "3", "反偏见 <discrimination>"],
        ["4", "test", "region", "0", "0", "中性"],
    ])
    _write_csv(root / "cold" / "dev.csv", ["", "split", "topic", "label", "TEXT"], [
        ["5", "dev", "race", "1", "漏掉"],
        ["6", "train", "race", "0", "安全"],
    ])
    _write_csv(root / "toxicn" / "ToxiCN_1.0.csv",
               ["platform", "topic", "content", "toxic", "toxic_one_hot", "toxic_type",
                "toxic_type_one_hot", "expression", "expression_one_hot", "target", "length",
                "num_attacked"], [
        ["zhihu", "race", "仇恨 <discrimination>", "1", "[0, 1]", "2", "[0, 0, 1]", "1", "", "", "5", "1"],
        ["zhihu", "race", "报道 <porn>", "1", "[0, 1]", "2", "[0, 0, 1]", "3", "", "", "5", "1"],
        ["tieba", "gender", "无毒", "0", "[1, 0]", "0", "[1, 0, 0]", "0", "", "", "2", "0"],
    ])
    _write_csv(root / "swsr" / "SexComment.csv",
               ["index", "weibo_id", "comment_text", "gender", "location", "like", "date", "label",
                "category", "target"], [
        ["0", "a", "性冒犯 <porn>", "女", "广东", "1", "", "1", "SO", "I"],
        ["1", "b", "刻板 <porn>", "女", "广东", "1", "", "1", "SCB", "G"],
        ["2", "c", "平常", "男", "其他", "1", "", "0", "", ""],
    ])
    cntp = root / "cntp_toxibenchcn"
    _write_json(cntp / "non_toxic_base.json", [{"sentence_id": 1, "original_text": "你好", "is_toxic": False}])
    _write_json(cntp / "toxic_base.json", [{"sentence_id": 2, "original_text": "坏 <porn>", "is_toxic": True}])
    trad = [
        # plain caught, still caught
        {"sentence_id": 1, "original_text": "a <porn>", "perturbed_text": "A <porn>"},
        {"sentence_id": 2, "original_text": "b <porn>", "perturbed_text": "B <porn>"},
        # plain caught, lost after perturbation
        {"sentence_id": 3, "original_text": "c <porn>", "perturbed_text": "C"},
        # not caught plain: must not count, whatever the perturbed form does
        {"sentence_id": 4, "original_text": "d", "perturbed_text": "D <porn>"},
        # duplicate sentence id: ignored
        {"sentence_id": 4, "original_text": "d", "perturbed_text": "D"},
    ]
    for name, fname in quality.CNTP_FILES.items():
        rows = trad if name == "Trad" else trad[:1]
        data = [{**r, "is_toxic": True, "toxic_entity": [], "toxic_ratio": 0.2} for r in rows]
        data.append({"sentence_id": 99, "original_text": "x", "is_toxic": False,
                     "perturbed_text": "x"})
        _write_json(cntp / "perturbed_data" / fname, {"results": data})
    (root / "lexicon_houbb_tags").mkdir(parents=True)
    (root / "lexicon_houbb_tags" / "sensitive_word_tags.txt").write_text(
        "PeerWord 2\n赌场一 3\n天 4\n", encoding="utf-8")  # 天: one character, ignored
    (root / "lexicon_konsheng" / "Vocabulary").mkdir(parents=True)
    (root / "lexicon_konsheng" / "Vocabulary" / "广告类型.txt").write_text(
        "kword\n  \n骗一\n", encoding="utf-8")
    return root


def _rows(datasets: Path, cap: int | None = None):
    return quality.run(datasets, cap, FakeModerator())


def _find(rows, set_name: str, label: str):
    got = [r for r in rows if r.set == set_name and r.label == label]
    assert len(got) == 1, (set_name, label, [(r.set, r.label) for r in rows])
    return got[0]


def test_loaders_read_every_format(datasets: Path) -> None:
    assert len(quality.load_chineseharm(datasets)) == 14
    fbs = quality.load_fbs(datasets)
    assert {it.group for it in fbs} == {"FR", "IL", "Other"}
    cold = quality.load_cold(datasets)
    # 4 test rows give a label row and a fine row each; 2 dev rows give a label row each.
    assert len(cold) == 10
    assert {it.label for it in cold} >= {"label 0", "label 1", "fine 3 anti-bias"}
    tox = quality.load_toxicn(datasets)
    assert [it.label for it in tox].count("expr 3 reporting") == 1
    swsr = quality.load_swsr(datasets)
    assert swsr[0].expect == ("discrimination", "porn") and swsr[1].expect == ("discrimination",)
    assert swsr[2].safe
    pairs = quality.load_cntp_pairs(datasets)
    assert {p.perturbation for p in pairs} == set(quality.CNTP_FILES)
    assert all(p.perturbed != "x" for p in pairs)  # non-toxic rows are skipped
    assert quality.read_lexicon_houbb(datasets) == ["PeerWord", "赌场一", "天"]
    assert quality.read_lexicon_konsheng(datasets) == ["kword", "骗一"]


def test_unknown_label_is_an_error(tmp_path: Path) -> None:
    _write_json(tmp_path / "chineseharm_bench" / "bench.json", [{"文本": "x", "标签": "新标签"}])
    with pytest.raises(ValueError, match="新标签"):
        quality.load_chineseharm(tmp_path)


def test_flag_and_right_category_shares(datasets: Path) -> None:
    rows, groups, prs, ts, sizes = _rows(datasets)
    gamb = _find(rows, "ChineseHarm", "博彩")
    assert (gamb.n, gamb.population, gamb.flagged, gamb.right) == (4, 4, 3, 2)
    assert gamb.share(gamb.flagged) == pytest.approx(0.75)
    assert gamb.share(gamb.right) == pytest.approx(0.5)
    assert gamb.categories == {"illegal": 2, "fraud": 2}
    abuse = _find(rows, "ChineseHarm", "谩骂引战")
    assert (abuse.flagged, abuse.right) == (2, 2)
    safe = _find(rows, "ChineseHarm", "不违规")
    assert (safe.n, safe.flagged, safe.profile_flagged) == (3, 1, 2)
    # Peers: houbb matches case-insensitively ("PeerWord" vs "peerword"); both adds konsheng;
    # the one-character entry 天 would match 天气 but peers skip one-character entries.
    assert safe.peer_flagged == {"houbb": 1, "both": 1}
    assert gamb.peer_flagged == {"houbb": 1, "both": 1}
    fbs_other = _find(rows, "FBS", "Other")
    assert fbs_other.peer_flagged == {"houbb": 0, "both": 1}
    assert sizes == {"houbb": 2, "both": 4}
    # COLD: anti-bias flagged is a false flag; dev label 1 missed.
    assert _find(rows, "COLD", "fine 3 anti-bias").flagged == 1
    lab1 = _find(rows, "COLD", "label 1")
    assert (lab1.n, lab1.flagged, lab1.right) == (3, 2, 2)
    rep = _find(rows, "ToxiCN", "expr 3 reporting")
    assert (rep.flagged, rep.right) == (1, 0)  # flagged, but porn is not the expected category
    so = _find(rows, "SWSR", "label 1")
    assert (so.flagged, so.right) == (2, 1)  # porn counts only for the SO item


def test_fbs_groups_are_weighted_by_population(datasets: Path) -> None:
    rows, groups, *_ = _rows(datasets, cap=2)
    fr_other = _find(rows, "FBS", "FR:Other")
    assert (fr_other.n, fr_other.population, fr_other.flagged) == (2, 4, 2)
    fr = _find(groups, "FBS", "group FR")
    # FR:Other: 4 texts, all flagged; FR:Financial: 2 texts, none -> 4 of 6, not 2 of 4.
    assert fr.population == 6
    assert fr.share(fr.flagged) == pytest.approx(4 / 6)
    other = _find(groups, "FBS", "group Other")
    assert (other.population, other.flagged, other.peer_flagged["both"]) == (1, 0, 1)


def test_perturbation_kept_share_counts_only_plain_catches(datasets: Path) -> None:
    _, _, prs, ts, _ = _rows(datasets)
    trad = next(r for r in prs if r.perturbation == "Trad")
    assert trad.n == 4  # the duplicate sentence id is dropped
    assert trad.plain["ours"] == 3 and trad.kept["ours"] == 2
    assert trad.kept_share("ours") == pytest.approx(2 / 3)
    assert trad.plain_share("ours") == pytest.approx(3 / 4)
    assert trad.kept_share("houbb") is None  # the peer catches nothing plain here
    target = next(t for t in ts if t.name == "CNTP Trad: still caught")
    assert target.value == pytest.approx(2 / 3) and target.met is False


def test_sampling_is_deterministic_and_nested() -> None:
    items = [quality.Item("S", "L", f"文本{i}", ("porn",)) for i in range(50)]
    items += [quality.Item("S", "L", "文本1", ("porn",))]  # duplicate
    a, pop = quality.sample(items, 10)
    b, _ = quality.sample(list(reversed(items)), 10)
    c, _ = quality.sample(items, 20)
    assert pop == {("S", "L"): 50}
    assert [it.text for it in a] == [it.text for it in b]
    assert len(a) == 10 and set(it.text for it in a) <= set(it.text for it in c)
    full, _ = quality.sample(items, None)
    assert len(full) == 50


def test_targets_bounds() -> None:
    assert quality.Target("x", 0.8, 0.8, True).met is True
    assert quality.Target("x", 0.031, 0.03, False).met is False
    assert quality.Target("x", None, 0.03, False).met is None


def test_main_writes_report_with_the_real_engine(datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "QUALITY.md"
    js = tmp_path / "q.json"
    dump = tmp_path / "misses.jsonl"
    rc = quality.main(["--datasets", str(datasets), "--cap", "5", "--output", str(out),
                       "--json", str(js), "--dump-misses", str(dump)])
    assert rc == 0
    text = out.read_text(encoding="utf-8")
    assert "--cap 5" in text and "## Targets" in text
    assert "| ChineseHarm | 博彩 |" in text and "| Trad |" in text
    data = json.loads(js.read_text(encoding="utf-8"))
    assert {t["name"] for t in data["targets"]} >= {"ChineseHarm 不违规 flagged",
                                                    "CNTP PY_Full: still caught"}
    assert dump.exists()


def test_main_rejects_bad_arguments(datasets: Path, tmp_path: Path, capsys) -> None:
    assert quality.main(["--datasets", str(tmp_path)]) == 2
    assert "labeled sets" in capsys.readouterr().err
    out = ["--output", str(tmp_path / "Q.md")]
    assert quality.main(["--datasets", str(datasets), "--cntp-cap", "0", *out]) == 2
    assert quality.main(["--datasets", str(datasets), "--cap", "0", *out]) == 2
    assert not (tmp_path / "Q.md").exists()


def test_cntp_cap_limits_pairs_per_perturbation(datasets: Path) -> None:
    _, _, prs, _, _ = quality.run(datasets, None, FakeModerator(), cntp_cap=2)
    assert {r.perturbation: r.n for r in prs}["Trad"] == 2


def test_fbs_placeholders_are_filled_with_synthetic_contacts() -> None:
    text = "代开发票电话CELLPHONE微信WECHAT详询URLdfge卡号BANK固话PHONE送DIGIT元"
    filled = quality.fill_fbs_placeholders(text)
    assert filled == quality.fill_fbs_placeholders(text)  # stable across runs
    for placeholder in ("CELLPHONE", "WECHAT", "URL", "BANK", "PHONE", "DIGIT"):
        assert placeholder not in filled
    assert re.search(r"电话13\d{9}微信[a-z]{5}\d{4}详询http://www\.[a-z]{5}\d\d\.com/dfge", filled)
    assert re.search(r"卡号6222\d{15}固话0571-\d{8}送\d\d元", filled)


def test_filled_fbs_is_reported_by_group_only(datasets: Path) -> None:
    rows, groups, *_ = _rows(datasets)
    assert _find(groups, "FBS ids filled", "group FR").population == 6
    table = "\n".join(quality.label_table(rows, groups, ["houbb", "both"]))
    assert "| FBS ids filled | group FR |" in table
    assert "| FBS ids filled | FR:Other |" not in table
    assert "| FBS | FR:Other |" in table


def test_miss_and_false_flag_diagnostics(datasets: Path) -> None:
    rows, *_ = _rows(datasets)
    fraud = _find(rows, "ChineseHarm", "欺诈")
    assert (fraud.n, fraud.right) == (4, 1)
    assert (fraud.miss_wrongcat, fraud.miss_lowonly, fraud.miss_nohit) == (1, 1, 1)
    gamb = _find(rows, "ChineseHarm", "博彩")
    assert (gamb.miss_wrongcat, gamb.miss_lowonly, gamb.miss_nohit) == (1, 0, 1)
    safe = _find(rows, "ChineseHarm", "不违规")
    assert safe.fp_rules == {"fake.fraud": 1}
    assert safe.fp_via == {"plain": 1}
    lines = quality.miss_table(rows)
    assert any(line.startswith("| ChineseHarm | 欺诈 | 75.0 % | 25.0 % | 25.0 % | 25.0 % | porn 1")
               for line in lines)
    assert not any("| 不违规 |" in line for line in lines)  # safe rows have no misses
    ff = quality.false_flag_table(rows)
    assert any("| ChineseHarm | 不违规 | 1 of 3 | `fake.fraud` 1 | plain 1 |" in line for line in ff)


def test_main_names_a_missing_file(datasets: Path, tmp_path: Path, capsys) -> None:
    (datasets / "swsr" / "SexComment.csv").unlink()
    rc = quality.main(["--datasets", str(datasets), "--output", str(tmp_path / "Q.md")])
    assert rc == 2
    assert "SexComment.csv" in capsys.readouterr().err
    assert not (tmp_path / "Q.md").exists()
