"""Quality harness: flag rates per category on real labeled sets, side by side with the peers.

Reads the labeled sets described in ``../shared/datasets/README.md`` at run time (nothing is
copied into the repository), runs ``Moderator().check`` on them and, in the same run, the
baseline most teams ship today: plain substring search (pyahocorasick) over the public lexicons
(houbb's tagged list alone, and houbb plus every konsheng list). Prints the tables and writes
``benchmarks/QUALITY.md`` with the date, the command and the issue's targets.

    .venv/bin/python benchmarks/quality.py --datasets ../shared/datasets [--cap 600 | --full]

"Flagged" means ``decision != "pass"``. The main figure is scene ``post``; safe rows also show
the ``profile`` flag rate (the strictest scene). Items are de-duplicated within a label and
sampled deterministically (by a hash of the text) up to ``--cap`` per label; CNTP uses every
toxic pair unless ``--cntp-cap`` is given (only the sentences caught in plain form count, so a
small sample is noisy). ``--dump-misses FILE`` writes misses and false flags (dataset text) to a
file outside the repository for local analysis.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import re
import shlex
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "QUALITY.md"
DEFAULT_CAP = 600

# Our categories, keyed by the letters used in ../shared/datasets/label_mapping.json.
LETTER = {"a": "discrimination", "b": "illegal", "c": "political", "d": "porn", "e": "fraud"}

# ChineseHarm-Bench 标签 -> categories that count as "right" (empty = safe).
CHINESEHARM = {
    "博彩": ("illegal",),
    "低俗色情": ("porn",),
    "谩骂引战": ("porn", "discrimination"),  # insult (d), partly group antagonism (a)
    "欺诈": ("fraud",),
    "黑产广告": ("fraud",),
    "不违规": (),
}
# FBS category -> right categories; the group comes from the data.
FBS = {
    "AD:Loan": ("fraud",),
    "AD:Network_service": ("fraud",),
    "AD:Other": ("fraud",),
    "AD:Real_estate": ("fraud",),
    "AD:Retail": ("fraud",),
    "FR:Financial": ("fraud",),
    "FR:Other": ("fraud",),
    "FR:Phishing(Bank)": ("fraud",),
    "FR:Phishing(Other)": ("fraud",),
    "IL:Escort_service": ("porn",),
    "IL:Fake_ID_and_invoice": ("illegal",),
    "IL:Gambling": ("illegal",),
    "IL:Political_propaganda": ("political",),
    "Other": (),
}
# CNTP perturbation files, in the order the issue lists its targets.
CNTP_FILES = {
    "Trad": "Traditional_transform.json",
    "Emoji": "Emoji_toxic_transform.json",
    "Homo": "homo_toxi_transform.json",
    "Split": "chaizi_transform.json",
    "PY_Full": "pinyin_full_transform.json",
    "PY_Init": "pinyin_transform.json",
    "VSim": "radical_transform.json",
    "Shuffle": "Swap_transform.json",
}
# The peers' lexicons (word lists, not labeled text); the peers flag on any match.
HOUBB_LEXICON = "lexicon_houbb_tags/sensitive_word_tags.txt"
KONSHENG_DIR = "lexicon_konsheng/Vocabulary"

PEERS = ("houbb", "both")
PEER_TITLES = {"houbb": "houbb (43k)", "both": "houbb+konsheng"}


@dataclass(frozen=True)
class Item:
    """One labeled text. ``expect`` empty = safe; otherwise the categories that count as right."""

    set: str
    label: str
    text: str
    expect: tuple[str, ...] = ()
    group: str | None = None  # FBS group (AD/FR/IL/Other)

    @property
    def safe(self) -> bool:
        return not self.expect


@dataclass(frozen=True)
class PerturbedPair:
    """One CNTP toxic sentence: its plain form and one perturbation of it."""

    perturbation: str
    sentence_id: str
    original: str
    perturbed: str


# --------------------------------------------------------------------------- loaders


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def load_chineseharm(root: Path) -> list[Item]:
    data = json.loads((root / "chineseharm_bench" / "bench.json").read_text(encoding="utf-8"))
    out = []
    for row in data:
        label = row["标签"]
        if label not in CHINESEHARM:
            raise ValueError(f"chineseharm_bench: unknown label {label!r}")
        out.append(Item("ChineseHarm", label, row["文本"], CHINESEHARM[label]))
    return out


def load_fbs(root: Path) -> list[Item]:
    out = []
    for row in _read_csv(root / "fbs_sms" / "fbs_sms.csv"):
        cat = row["category"]
        if cat not in FBS:
            raise ValueError(f"fbs_sms: unknown category {cat!r}")
        out.append(Item("FBS", cat, row["text"], FBS[cat], group=row["group"]))
    return out


# FBS anonymized every contact into a placeholder. The "FBS ids filled" view puts synthetic
# values of the same kind back (derived from a hash of the text, so runs are stable), which is
# what the messages carried before anonymization. Longest placeholders first.
_FBS_PLACEHOLDER_RE = re.compile(r"CELLPHONE|HOTLINE|WECHAT|PHONE|BANK|URL|QQ|DIGIT")


def fill_fbs_placeholders(text: str) -> str:
    """Replace FBS placeholders with synthetic phone numbers, ids, URLs and card numbers."""
    h = hashlib.sha1(text.encode("utf-8")).hexdigest()
    digits = "".join(str(int(c, 16) % 10) for c in h)
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in h)
    fill = {
        "CELLPHONE": "13" + digits[:9],
        "PHONE": "0571-" + digits[9:17],
        "HOTLINE": "400-" + digits[17:20] + "-" + digits[20:24],
        "WECHAT": letters[:5] + digits[24:28],
        "QQ": str(int(digits[28:37]) + 100000000),
        "URL": f"http://www.{letters[5:10]}{digits[:2]}.com/",
        "BANK": "6222" + digits[:15],
        "DIGIT": str(10 + int(digits[37:39])),
    }
    return _FBS_PLACEHOLDER_RE.sub(lambda m: fill[m.group(0)], text)


def load_fbs_filled(root: Path) -> list[Item]:
    return [Item("FBS ids filled", it.label, fill_fbs_placeholders(it.text), it.expect, it.group)
            for it in load_fbs(root)]


def load_cold(root: Path) -> list[Item]:
    """Label 0/1 rows from test+dev, plus the test split's fine-grained rows."""
    out = []
    for name in ("test.csv", "dev.csv"):
        for row in _read_csv(root / "cold" / name):
            text, label = row["TEXT"], row["label"]
            # Offensive COLD text is group discrimination or a personal insult (porn/低俗).
            expect = ("discrimination", "porn") if label == "1" else ()
            out.append(Item("COLD", f"label {label}", text, expect))
            fine = row.get("fine-grained-label")
            if fine is not None and fine != "":
                fexpect = {"0": (), "1": ("porn", "discrimination"), "2": ("discrimination",),
                           "3": ()}[fine]
                name_ = {"0": "fine 0 other-safe", "1": "fine 1 attack person",
                         "2": "fine 2 attack group", "3": "fine 3 anti-bias"}[fine]
                out.append(Item("COLD", name_, text, fexpect))
    return out


def load_toxicn(root: Path) -> list[Item]:
    out = []
    for row in _read_csv(root / "toxicn" / "ToxiCN_1.0.csv"):
        text, ttype = row["content"], row["toxic_type"]
        expect = {"0": (), "1": ("porn",), "2": ("discrimination",)}[ttype]
        name = {"0": "type 0 non-toxic", "1": "type 1 offensive", "2": "type 2 hate"}[ttype]
        out.append(Item("ToxiCN", name, text, expect))
        if row["expression"] == "3":
            # "Reporting" texts describe discrimination; toxic in the source, often fine to publish.
            out.append(Item("ToxiCN", "expr 3 reporting", text, ("discrimination",)))
    return out


def load_swsr(root: Path) -> list[Item]:
    out = []
    for row in _read_csv(root / "swsr" / "SexComment.csv"):
        label = row["label"]
        if label == "1":
            expect = ("discrimination", "porn") if row["category"] == "SO" else ("discrimination",)
        else:
            expect = ()
        out.append(Item("SWSR", f"label {label}", row["comment_text"], expect))
    return out


def load_cntp_safe(root: Path) -> list[Item]:
    data = json.loads((root / "cntp_toxibenchcn" / "non_toxic_base.json").read_text("utf-8"))
    return [Item("CNTP", "non-toxic base", r["original_text"], ()) for r in data]


def load_cntp_pairs(root: Path) -> list[PerturbedPair]:
    out = []
    base = root / "cntp_toxibenchcn" / "perturbed_data"
    for name, fname in CNTP_FILES.items():
        data = json.loads((base / fname).read_text(encoding="utf-8"))["results"]
        for r in data:
            if r.get("is_toxic"):
                out.append(PerturbedPair(name, str(r["sentence_id"]), r["original_text"],
                                         r["perturbed_text"]))
    return out


LOADERS: dict[str, Callable[[Path], list[Item]]] = {
    "ChineseHarm": load_chineseharm,
    "FBS": load_fbs,
    "COLD": load_cold,
    "ToxiCN": load_toxicn,
    "SWSR": load_swsr,
    "CNTP": load_cntp_safe,
    "FBS ids filled": load_fbs_filled,
}
# Sets shown only as group rows (their per-category rows repeat FBS).
GROUP_ONLY = {"FBS ids filled"}


def read_lexicon_houbb(root: Path) -> list[str]:
    """Words of houbb's tagged list (``word<space>tags``)."""
    words = []
    for line in (root / HOUBB_LEXICON).read_text(encoding="utf-8").splitlines():
        word = line.rsplit(" ", 1)[0].strip() if " " in line.strip() else line.strip()
        if word:
            words.append(word)
    return words


def read_lexicon_konsheng(root: Path) -> list[str]:
    words = []
    for path in sorted((root / KONSHENG_DIR).glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            word = line.strip()
            if word:
                words.append(word)
    return words


# --------------------------------------------------------------------------- sampling


def _key(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def sample(items: Iterable[Item], cap: int | None) -> tuple[list[Item], dict[tuple[str, str], int]]:
    """De-duplicate texts within each (set, label), then keep up to ``cap`` per label.

    The order is a hash of the text, so the sample is the same on every machine and run, and a
    larger cap is a superset of a smaller one. Returns the sample and the distinct count per label.
    """
    by_label: dict[tuple[str, str], dict[str, Item]] = defaultdict(dict)
    for it in items:
        by_label[(it.set, it.label)].setdefault(it.text, it)
    chosen, population = [], {}
    for key, texts in by_label.items():
        population[key] = len(texts)
        ordered = sorted(texts.values(), key=lambda it: _key(it.set, it.label, it.text))
        chosen.extend(ordered if cap is None else ordered[:cap])
    return chosen, population


def sample_pairs(pairs: Iterable[PerturbedPair], cap: int | None) -> list[PerturbedPair]:
    """One pair per (perturbation, sentence id), up to ``cap`` per perturbation, by hash."""
    by_p: dict[str, dict[str, PerturbedPair]] = defaultdict(dict)
    for p in pairs:
        by_p[p.perturbation].setdefault(p.sentence_id, p)
    out = []
    for name, d in by_p.items():
        ordered = sorted(d.values(), key=lambda p: _key(name, p.sentence_id))
        out.extend(ordered if cap is None else ordered[:cap])
    return out


# --------------------------------------------------------------------------- checkers

@dataclass(frozen=True)
class Seen:
    """What our engine said about one text: flagged or not, categories, and its hits as
    (rule, severity, via) — rule ids name our own list entries and detector rules."""

    flagged: bool
    categories: tuple[str, ...] = ()
    hits: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


# A checker answers a Seen for (text, scene); a peer answers flagged or not.
Checker = Callable[[str, str], Seen]
PeerChecker = Callable[[str], bool]


def engine_checker(moderator) -> Checker:
    cache: dict[tuple[str, str], Seen] = {}

    def check(text: str, scene: str) -> Seen:
        key = (text, scene)
        got = cache.get(key)
        if got is None:
            v = moderator.check(text, scene=scene)
            hits = tuple((h.rule, h.severity, tuple(h.via)) for h in getattr(v, "hits", ()))
            got = Seen(v.decision != "pass", tuple(v.categories), hits)
            cache[key] = got
        return got

    return check


# Single-character entries (日, 卖, 滚 …) are left out of the peers: with them the lexicons flag
# most of any text (79 % of ChineseHarm's safe items), and the published peer figures
# were measured without them.
PEER_MIN_LEN = 2


def substring_peer(words: Iterable[str], min_len: int = PEER_MIN_LEN) -> PeerChecker:
    """Flag on any substring match, case-insensitive (how the public lexicons are used)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    n = 0
    for w in words:
        w = w.lower()
        if len(w) >= min_len and w not in automaton:
            automaton.add_word(w, n)
            n += 1
    if n == 0:
        return lambda text: False
    automaton.make_automaton()
    cache: dict[str, bool] = {}

    def check(text: str) -> bool:
        got = cache.get(text)
        if got is None:
            got = next(automaton.iter(text.lower()), None) is not None
            cache[text] = got
        return got

    return check


# --------------------------------------------------------------------------- metrics


@dataclass
class Row:
    """Counts for one (set, label). Shares are computed from these, never stored."""

    set: str
    label: str
    expect: tuple[str, ...]
    population: int = 0
    n: int = 0
    flagged: int = 0
    right: int = 0
    profile_flagged: int = 0
    peer_flagged: dict[str, int] = field(default_factory=dict)
    categories: Counter = field(default_factory=Counter)  # category -> flagged items carrying it
    group: str | None = None
    # Diagnostics. Positive rows: why an item was not flagged with a right category.
    miss_nohit: int = 0      # no hit at all: nothing in the lists or detectors matched
    miss_lowonly: int = 0    # only hits the scene's policy lets pass (low severity in post)
    miss_wrongcat: int = 0   # flagged, but with none of the expected categories
    # Safe rows: which rules, and which normalizations, produced the false flags.
    fp_rules: Counter = field(default_factory=Counter)
    fp_via: Counter = field(default_factory=Counter)

    @property
    def safe(self) -> bool:
        return not self.expect

    def share(self, count: int) -> float | None:
        return count / self.n if self.n else None


def evaluate(items: Sequence[Item], population: dict[tuple[str, str], int], ours: Checker,
             peers: dict[str, PeerChecker], scene: str = "post",
             safe_scene: str | None = "profile",
             on_item: Callable[[Item, Seen], None] | None = None) -> list[Row]:
    """Run ``ours`` (in ``scene``, plus ``safe_scene`` on safe items) and the peers on items."""
    rows: dict[tuple[str, str], Row] = {}
    for it in items:
        key = (it.set, it.label)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(it.set, it.label, it.expect,
                                  population=population.get(key, 0), group=it.group,
                                  peer_flagged={p: 0 for p in peers})
        row.n += 1
        seen = ours(it.text, scene)
        right = bool(set(seen.categories) & set(it.expect))
        if seen.flagged:
            row.flagged += 1
            row.categories.update(seen.categories)
            if right:
                row.right += 1
        if it.safe:
            if seen.flagged:
                # Only rules whose hits the policy acted on: drop low hits when any other fired.
                strong = [h for h in seen.hits if h[1] != "low"] or list(seen.hits)
                row.fp_rules.update({h[0] for h in strong})
                row.fp_via.update({"+".join(h[2]) or "plain" for h in strong})
            if safe_scene and ours(it.text, safe_scene).flagged:
                row.profile_flagged += 1
        elif not right:
            if seen.flagged:
                row.miss_wrongcat += 1
            elif seen.hits:
                row.miss_lowonly += 1
            else:
                row.miss_nohit += 1
        for name, peer in peers.items():
            if peer(it.text):
                row.peer_flagged[name] += 1
        if on_item is not None:
            on_item(it, seen)
    return list(rows.values())


def group_rows(rows: Sequence[Row]) -> list[Row]:
    """FBS group rows (AD/FR/IL/Other), each category weighted by its distinct-text count.

    Sampling caps every category at the same size; weighting by population gives the rate the
    whole group would show, not the rate of the capped mix. Counts are scaled to the group's
    population so ``share`` stays a plain ratio.
    """
    by_group: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.group:
            by_group[(r.set, r.group)].append(r)
    out = []
    for (set_name, g), members in sorted(by_group.items()):
        pop = sum(r.population for r in members)
        agg = Row(set_name, f"group {g}", members[0].expect if len(members) == 1 else
                  tuple(sorted({c for r in members for c in r.expect})), population=pop, n=pop,
                  group=g, peer_flagged={p: 0 for p in members[0].peer_flagged})
        fl = rt = pf = 0.0
        pe: dict[str, float] = defaultdict(float)
        for r in members:
            if not r.n:
                continue
            w = r.population / r.n
            fl += r.flagged * w
            rt += r.right * w
            pf += r.profile_flagged * w
            for p, c in r.peer_flagged.items():
                pe[p] += c * w
        agg.flagged, agg.right, agg.profile_flagged = round(fl), round(rt), round(pf)
        agg.peer_flagged = {p: round(c) for p, c in pe.items()}
        out.append(agg)
    return out


@dataclass
class PerturbRow:
    """CNTP: of the toxic sentences caught in plain form, how many are still caught perturbed."""

    perturbation: str
    n: int = 0
    plain: dict[str, int] = field(default_factory=dict)   # checker -> caught in plain form
    kept: dict[str, int] = field(default_factory=dict)    # checker -> caught plain AND perturbed

    def kept_share(self, who: str) -> float | None:
        p = self.plain.get(who, 0)
        return self.kept.get(who, 0) / p if p else None

    def plain_share(self, who: str) -> float | None:
        return self.plain.get(who, 0) / self.n if self.n else None


def evaluate_perturbations(pairs: Sequence[PerturbedPair], ours: Checker,
                           peers: dict[str, PeerChecker], scene: str = "post",
                           on_pair: Callable[[PerturbedPair, bool, bool], None] | None = None,
                           ) -> list[PerturbRow]:
    checkers: dict[str, PeerChecker] = {"ours": lambda t: ours(t, scene).flagged, **peers}
    rows: dict[str, PerturbRow] = {}
    for p in pairs:
        row = rows.get(p.perturbation)
        if row is None:
            row = rows[p.perturbation] = PerturbRow(p.perturbation,
                                                    plain={k: 0 for k in checkers},
                                                    kept={k: 0 for k in checkers})
        row.n += 1
        for who, check in checkers.items():
            if check(p.original):
                row.plain[who] += 1
                still = check(p.perturbed)
                if still:
                    row.kept[who] += 1
                if who == "ours" and on_pair is not None:
                    on_pair(p, True, still)
    order = {name: i for i, name in enumerate(CNTP_FILES)}
    return sorted(rows.values(), key=lambda r: order.get(r.perturbation, 99))


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    bound: float
    at_least: bool

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.bound if self.at_least else self.value <= self.bound


def targets(rows: Sequence[Row], groups: Sequence[Row], perturb: Sequence[PerturbRow]) -> list[Target]:
    """The issue's targets, evaluated on the post scene."""
    find = {(r.set, r.label): r for r in [*rows, *groups]}
    out = []

    def add(name, key, bound, at_least):
        r = find.get(key)
        out.append(Target(name, r.share(r.flagged) if r else None, bound, at_least))

    for label in ("博彩", "低俗色情", "谩骂引战", "欺诈", "黑产广告"):
        add(f"ChineseHarm {label} flagged", ("ChineseHarm", label), 0.80, True)
    add("ChineseHarm 不违规 flagged", ("ChineseHarm", "不违规"), 0.03, False)
    add("COLD safe (label 0) flagged", ("COLD", "label 0"), 0.05, False)
    add("COLD anti-bias (fine 3) flagged", ("COLD", "fine 3 anti-bias"), 0.05, False)
    add("FBS fraud group (FR) flagged", ("FBS", "group FR"), 0.85, True)
    add("FBS illegal group (IL) flagged", ("FBS", "group IL"), 0.85, True)
    add("FBS Other flagged", ("FBS", "group Other"), 0.10, False)
    pr = {r.perturbation: r for r in perturb}
    for name, bound in (("Trad", 0.9), ("Emoji", 0.9), ("Homo", 0.9), ("Split", 0.9),
                        ("PY_Full", 0.8)):
        r = pr.get(name)
        out.append(Target(f"CNTP {name}: still caught", r.kept_share("ours") if r else None,
                          bound, True))
    return out


# --------------------------------------------------------------------------- report


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _expect_str(expect: tuple[str, ...]) -> str:
    return "safe" if not expect else " / ".join(expect)


def label_table(rows: Sequence[Row], groups: Sequence[Row], peers: Sequence[str]) -> list[str]:
    head = ["set", "label", "items", "expected", "ours: flagged", "ours: right category",
            "ours: flagged in profile", *(PEER_TITLES.get(p, p) for p in peers)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    all_rows = [*rows, *groups]  # sorted below: group rows after their set's categories
    order = {s: i for i, s in enumerate(LOADERS)}
    all_rows.sort(key=lambda r: (order.get(r.set, 99), r.label.startswith("group "), r.label))
    for r in all_rows:
        if r.set in GROUP_ONLY and not r.label.startswith("group "):
            continue
        if r.label.startswith("group "):
            n = f"{r.population} (weighted)"
        else:
            n = f"{r.n}" if r.n == r.population else f"{r.n} of {r.population}"
        cells = [r.set, r.label, n, _expect_str(r.expect), pct(r.share(r.flagged)),
                 "" if r.safe else pct(r.share(r.right)),
                 pct(r.share(r.profile_flagged)) if r.safe else "",
                 *(pct(r.share(r.peer_flagged.get(p, 0))) for p in peers)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ordered(rows: Sequence[Row]) -> list[Row]:
    order = {s: i for i, s in enumerate(LOADERS)}
    return sorted((r for r in rows if r.set not in GROUP_ONLY),
                  key=lambda r: (order.get(r.set, 99), r.label))


def miss_table(rows: Sequence[Row]) -> list[str]:
    """Why positive items were not flagged with a right category (shares of the label's items)."""
    head = ["set", "label", "not flagged right", "no hit at all", "only hits the policy passes",
            "flagged, other category", "categories given instead"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in _ordered(rows):
        if r.safe or not r.n:
            continue
        other = Counter({c: k for c, k in r.categories.items() if c not in r.expect})
        cells = [r.set, r.label, pct(r.share(r.n - r.right)), pct(r.share(r.miss_nohit)),
                 pct(r.share(r.miss_lowonly)), pct(r.share(r.miss_wrongcat)),
                 ", ".join(f"{c} {k}" for c, k in _top(other, 3))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def false_flag_table(rows: Sequence[Row], top: int = 6) -> list[str]:
    """Safe items flagged in post: the rules that fired most and the normalizations used."""
    head = ["set", "label", "false flags", "rules that fired most (items)", "found via (items)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in _ordered(rows):
        if not r.safe or not r.n:
            continue
        rules = ", ".join(f"`{k}` {v}" for k, v in _top(r.fp_rules, top))
        via = ", ".join(f"{k} {v}" for k, v in _top(r.fp_via))
        lines.append(f"| {r.set} | {r.label} | {r.flagged} of {r.n} | {rules} | {via} |")
    return lines


def perturb_table(prs: Sequence[PerturbRow], peers: Sequence[str]) -> list[str]:
    who = ["ours", *peers]
    head = ["perturbation", "toxic items"]
    for w in who:
        t = PEER_TITLES.get(w, w)
        head += [f"{t}: caught plain", f"{t}: still caught"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in prs:
        cells = [r.perturbation, str(r.n)]
        for w in who:
            cells += [f"{pct(r.plain_share(w))} ({r.plain.get(w, 0)})", pct(r.kept_share(w))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_table(ts: Sequence[Target]) -> list[str]:
    lines = ["| target | bound | measured (post) | met |", "| --- | --- | --- | --- |"]
    for t in ts:
        bound = ("≥ " if t.at_least else "≤ ") + f"{100 * t.bound:.0f} %"
        met = "n/a" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {t.name} | {bound} | {pct(t.value)} | {met} |")
    return lines


def render(rows, groups, prs, ts, peers, *, command: str, version: str, cap: int | None,
           seconds: float, lexicon_sizes: dict[str, int], cntp_cap: int | None = None) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    met = sum(1 for t in ts if t.met)
    lex = ", ".join(f"{PEER_TITLES.get(k, k)}: {v:,} distinct entries" for k, v in
                    lexicon_sizes.items())
    out = [
        "# Quality on real labeled sets",
        "",
        "Written by `benchmarks/quality.py`; do not edit by hand.",
        "",
        f"- Date: {now}",
        f"- Command: `{command}`",
        f"- Word lists: `{version}`",
        f"- Items: de-duplicated within each label, "
        + ("all of them (`--full`)" if cap is None else
           f"up to {cap} per label, sampled deterministically by a hash of the text; "
           "CNTP: " + ("every toxic pair" if cntp_cap is None else f"up to {cntp_cap} pairs")
           + " per perturbation"),
        f"- Run time: {seconds:.0f} s",
        "- Flagged = decision is not `pass`. Main figure: scene `post`. Right category = flagged "
        "and at least one hit carries an expected category. Safe rows also show scene `profile`.",
        f"- Peers: plain case-insensitive substring search (pyahocorasick), flag on any match, "
        f"entries of at least {PEER_MIN_LEN} characters: {lex}.",
        "- None of these sets comes from a dating platform (Weibo/Zhihu/Tieba comments, SMS, "
        "Tencent moderation samples); see `../shared/datasets/README.md`.",
        "",
        f"## Targets (issue 4): {met} of {len(ts)} met",
        "",
        *target_table(ts),
        "",
        "## Flag rates per set and label",
        "",
        "FBS group rows weight each category by its number of distinct texts. FBS contacts are "
        "anonymized placeholders (CELLPHONE, WECHAT, URL…), so contact detection cannot fire "
        "there; the targets use those rows. `FBS ids filled` puts synthetic phone numbers, ids, "
        "URLs and card numbers back in place of the placeholders (what the messages carried "
        "before anonymization), for context only.",
        "",
        *label_table(rows, groups, peers),
        "",
        "## Where the misses come from (post)",
        "",
        "For each violating label: the share of its items not flagged with a right category, "
        "split into items no list entry or detector matched, items whose only hits the post "
        "policy lets pass (low severity), and items flagged under another category.",
        "",
        *miss_table(rows),
        "",
        "## What flags safe texts (post)",
        "",
        "Rule ids name our own list entries and detector rules; `found via` is the "
        "normalization the hit needed (`plain` = none).",
        "",
        *false_flag_table(rows),
        "",
        "## Evasion (CNTP / ToxiBenchCN)",
        "",
        "Of the toxic sentences a checker flags in plain form (count in brackets), the share it "
        "still flags after the perturbation.",
        "",
        *perturb_table(prs, peers),
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def run(datasets: Path, cap: int | None, moderator=None, *, sets: Sequence[str] | None = None,
        cntp_cap: int | None = None,
        with_peers: bool = True, dump: Path | None = None, progress=None):
    """Load, sample, evaluate. Returns (rows, groups, perturb_rows, targets, lexicon_sizes)."""
    if moderator is None:
        from moderation import Moderator
        moderator = Moderator()
    ours = engine_checker(moderator)
    peers: dict[str, PeerChecker] = {}
    sizes: dict[str, int] = {}
    if with_peers:
        houbb = read_lexicon_houbb(datasets)
        both = houbb + read_lexicon_konsheng(datasets)
        peers = {"houbb": substring_peer(houbb), "both": substring_peer(both)}
        sizes = {name: len({w.lower() for w in ws if len(w) >= PEER_MIN_LEN})
                 for name, ws in (("houbb", houbb), ("both", both))}
    items: list[Item] = []
    for name, loader in LOADERS.items():
        if sets and name not in sets:
            continue
        items.extend(loader(datasets))
    chosen, population = sample(items, cap)
    dump_f = dump.open("w", encoding="utf-8") if dump else None

    def on_item(it: Item, seen: Seen) -> None:
        wrong = (it.safe and seen.flagged) or (
            not it.safe and not (set(seen.categories) & set(it.expect)))
        if dump_f and wrong:
            dump_f.write(json.dumps({"set": it.set, "label": it.label, "flagged": seen.flagged,
                                     "categories": seen.categories,
                                     "hits": [list(h) for h in seen.hits], "text": it.text},
                                    ensure_ascii=False) + "\n")

    def on_pair(p: PerturbedPair, plain: bool, still: bool) -> None:
        if dump_f and plain and not still:
            dump_f.write(json.dumps({"set": "CNTP", "label": p.perturbation, "flagged": False,
                                     "original": p.original, "text": p.perturbed},
                                    ensure_ascii=False) + "\n")

    try:
        rows = evaluate(chosen, population, ours, peers, on_item=on_item)
        prs: list[PerturbRow] = []
        if not sets or "CNTP" in sets:
            pairs = sample_pairs(load_cntp_pairs(datasets), cntp_cap)
            prs = evaluate_perturbations(pairs, ours, peers, on_pair=on_pair)
    finally:
        if dump_f:
            dump_f.close()
    groups = group_rows(rows)
    return rows, groups, prs, targets(rows, groups, prs), sizes


def _top(counts: Counter, n: int | None = None) -> list[tuple[str, int]]:
    """``most_common`` with ties in name order, so that a rerun writes the same report."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets",
                    help="folder of the labeled sets (default ../shared/datasets)")
    ap.add_argument("--cap", type=int, default=DEFAULT_CAP,
                    help=f"items per label, sampled deterministically (default {DEFAULT_CAP})")
    ap.add_argument("--full", action="store_true", help="every item (ignores --cap)")
    ap.add_argument("--cntp-cap", type=int, default=None,
                    help="CNTP pairs per perturbation (default: all ~2,500; only the ~12 %% "
                         "caught in plain form count, so a smaller sample is noisy)")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                    help="Markdown report to write (default benchmarks/QUALITY.md)")
    ap.add_argument("--sets", nargs="*", choices=list(LOADERS), help="only these sets")
    ap.add_argument("--no-peers", action="store_true", help="skip the lexicon baselines")
    ap.add_argument("--json", type=Path, help="also write the counts as JSON here")
    ap.add_argument("--dump-misses", type=Path,
                    help="write misses and false flags (dataset text!) as JSON Lines here; "
                         "for local analysis only, never inside the repository")
    args = ap.parse_args(argv)

    datasets = args.datasets
    if not (datasets / "chineseharm_bench").is_dir():
        print(f"error: {datasets} does not hold the labeled sets (see ../shared/datasets)",
              file=sys.stderr)
        return 2
    if args.dump_misses and ROOT in args.dump_misses.resolve().parents:
        print("error: --dump-misses must point outside the repository (dataset text)",
              file=sys.stderr)
        return 2
    cap = None if args.full else args.cap
    if (cap is not None and cap < 1) or (args.cntp_cap is not None and args.cntp_cap < 1):
        print("error: --cap and --cntp-cap must be at least 1", file=sys.stderr)
        return 2

    from moderation import Moderator
    t0 = time.monotonic()
    moderator = Moderator()
    try:
        rows, groups, prs, ts, sizes = run(datasets, cap, moderator, sets=args.sets,
                                           cntp_cap=None if args.full else args.cntp_cap,
                                           with_peers=not args.no_peers, dump=args.dump_misses)
    except (OSError, KeyError, ValueError) as e:  # missing file, renamed column, bad JSON
        print(f"error: cannot read the labeled sets in {datasets}: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - t0
    peers = [] if args.no_peers else list(PEERS)
    argv_ = list(sys.argv[1:] if argv is None else argv)
    command = ".venv/bin/python benchmarks/quality.py " + " ".join(shlex.quote(a) for a in argv_)
    report = render(rows, groups, prs, ts, peers, command=command.strip(),
                    version=moderator.version, cap=cap, seconds=seconds, lexicon_sizes=sizes,
                    cntp_cap=None if args.full else args.cntp_cap)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    if args.json:
        payload = {
            "rows": [{"set": r.set, "label": r.label, "expect": r.expect, "n": r.n,
                      "population": r.population, "flagged": r.flagged, "right": r.right,
                      "profile_flagged": r.profile_flagged, "peers": r.peer_flagged,
                      "categories": dict(r.categories)} for r in [*rows, *groups]],
            "perturbations": [{"perturbation": r.perturbation, "n": r.n, "plain": r.plain,
                               "kept": r.kept} for r in prs],
            "targets": [{"name": t.name, "value": t.value, "bound": t.bound,
                         "at_least": t.at_least, "met": t.met} for t in ts],
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {args.output} in {seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
