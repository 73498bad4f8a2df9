"""Recall and false-flag rates of the contact and scam detectors on ../shared/datasets.

Reads the data at run time (nothing is copied into the project):

- ChineseHarm-Bench: 欺诈 and 黑产广告 are positives, 不违规 negatives (博彩 and 低俗色情 are
  shown for information: they hold contact ids and escort ads);
- COLD test label 0, SWSR label 0 and ToxiCN toxic 0 (safe Weibo/Zhihu/Tieba comments): more
  negatives, closer to user text than ChineseHarm 不违规;
- FBS SMS: every FR:* category and IL:Escort_service / AD:Loan as positives, ``Other`` as
  negatives. FBS replaced contacts by placeholders (CELLPHONE, QQ, WECHAT, URL …), so the FBS
  rows are scored twice: as released, and with synthetic ids put back (``+ids``).

Usage::

    .venv/bin/python benchmarks/eval_scam.py [--datasets ../shared/datasets] [--moderator]
        [--misses N]

``--moderator`` scores full ``Moderator().check`` verdicts (word lists + detectors, scene
``post``, a verdict other than pass counts as flagged) beside the detectors alone.
``--misses N`` prints N missed positives and N false flags per set (raw text: for local
evaluation only).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from moderation.detectors.base import CheckContext  # noqa: E402
from moderation.detectors.contact import ContactDetector  # noqa: E402
from moderation.detectors.scam import ScamDetector  # noqa: E402
from moderation.normalize import normalize  # noqa: E402

# Synthetic ids for FBS placeholders (never real numbers).
_FILL = [
    (re.compile(r"CELLPHONE"), "13812345678"),
    (re.compile(r"HOTLINE|PHONE"), "0755-12345678"),
    (re.compile(r"\bQQ\b|QQ(?=[^a-z]|$)"), "QQ 12345678 "),
    (re.compile(r"WECHAT"), "微信 abc12345 "),
    (re.compile(r"URL"), " http://ab12.cn/x "),
    (re.compile(r"DIGIT"), "100"),
]


def fill_ids(text: str) -> str:
    for rx, rep in _FILL:
        text = rx.sub(rep, text)
    return text


def load_sets(base: Path) -> list[tuple[str, bool, list[str]]]:
    """(name, is_positive, texts)."""
    sets: list[tuple[str, bool, list[str]]] = []
    bench = json.loads((base / "chineseharm_bench" / "bench.json").read_text(encoding="utf-8"))
    by = {}
    for row in bench:
        by.setdefault(row["标签"], []).append(row["文本"])
    for label, pos in (("欺诈", True), ("黑产广告", True), ("不违规", False), ("博彩", True), ("低俗色情", True)):
        sets.append((f"ChineseHarm {label}", pos, by.get(label, [])))
    cold = base / "cold" / "test.csv"
    if cold.exists():
        safe = [r["TEXT"] for r in csv.DictReader(open(cold, encoding="utf-8")) if r.get("label") == "0"]
        sets.append(("COLD test label 0 (safe)", False, safe))
    swsr = base / "swsr" / "SexComment.csv"
    if swsr.exists():
        rows = csv.DictReader(open(swsr, encoding="utf-8"))
        sets.append(("SWSR label 0 (safe)", False, [r["comment_text"] for r in rows if r.get("label") == "0"]))
    toxicn = base / "toxicn" / "ToxiCN_1.0.csv"
    if toxicn.exists():
        rows = csv.DictReader(open(toxicn, encoding="utf-8"))
        sets.append(("ToxiCN toxic 0 (safe)", False, [r["content"] for r in rows if r.get("toxic") == "0"]))
    rows = list(csv.DictReader(open(base / "fbs_sms" / "fbs_sms.csv", encoding="utf-8")))
    groups: dict[str, list[str]] = {}
    for r in rows:
        cat = r["category"]
        if cat.startswith("FR:"):
            groups.setdefault("FBS FR (all fraud)", []).append(r["text"])
        if cat in ("FR:Financial", "IL:Escort_service", "AD:Loan", "FR:Phishing(Bank)"):
            groups.setdefault(f"FBS {cat}", []).append(r["text"])
        if cat == "Other":
            groups.setdefault("FBS Other", []).append(r["text"])
    for name in ("FBS FR (all fraud)", "FBS FR:Phishing(Bank)", "FBS FR:Financial", "FBS IL:Escort_service", "FBS AD:Loan"):
        sets.append((name, True, groups.get(name, [])))
        sets.append((name + " +ids", True, [fill_ids(t) for t in groups.get(name, [])]))
    sets.append(("FBS Other", False, groups.get("FBS Other", [])))
    sets.append(("FBS Other +ids", False, [fill_ids(t) for t in groups.get("FBS Other", [])]))
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--moderator", action="store_true", help="also score full Moderator verdicts")
    ap.add_argument("--misses", type=int, default=0, help="print N misses / false flags per set")
    args = ap.parse_args(argv)
    base = Path(args.datasets)
    if not (base / "chineseharm_bench" / "bench.json").exists():
        print(f"datasets not found under {base}", file=sys.stderr)
        return 2
    dets = [ContactDetector(), ScamDetector()]
    ctx = CheckContext()
    mod = None
    if args.moderator:
        from moderation import Moderator

        mod = Moderator()
    print(f"{'set':34} {'n':>6} {'flagged':>8} {'rate':>7}   by pattern (detectors alone)"
          + ("   | moderator rate" if mod else ""))
    total_time = 0.0
    total_n = 0
    for name, positive, texts in load_sets(base):
        if not texts:
            continue
        flagged = 0
        mflag = 0
        pats: Counter[str] = Counter()
        misses: list[str] = []
        t0 = time.process_time()
        for t in texts:
            doc = normalize(t)
            hs = [h for d in dets for h in d.find(doc, ctx)]
            if hs:
                flagged += 1
                for p in {h.pattern for h in hs}:
                    pats[p] += 1
            if (bool(hs) != positive) and len(misses) < args.misses:
                misses.append(t if not hs else f"{t}  <- {[h.rule for h in hs]}")
        total_time += time.process_time() - t0
        total_n += len(texts)
        if mod is not None:
            for t in texts:
                if mod.check(t, scene="post").decision != "pass":
                    mflag += 1
        rate = flagged / len(texts)
        kind = "recall" if positive else "false flags"
        extra = f"   | {mflag / len(texts):6.1%}" if mod else ""
        by = ", ".join(f"{p} {c}" for p, c in pats.most_common())
        print(f"{name:34} {len(texts):6d} {flagged:8d} {rate:7.1%}   {kind}: {by}{extra}")
        for m in misses:
            print("      ", m[:160].replace("\n", " "))
    print(f"\ndetectors alone: {total_n / total_time:,.0f} texts/s of CPU time, incl. normalize "
          "(one core; these sets average longer than chat messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
