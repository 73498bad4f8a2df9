"""Build a large word-list folder in our format from the public lexicons, at run time.

The lexicons in ``../shared/datasets`` (houbb/sensitive-word tags, konsheng/Sensitive-lexicon)
are read where they lie and written as category files into a folder under ``benchmarks/out/``
(git-ignored) or a temp dir; they are never copied into the project. Our ``policy.toml``,
``allow.txt`` and ``lookalikes.txt`` are copied beside them so the folder loads like ours.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from moderation.types import CATEGORIES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"

# houbb tag -> our category (0 政治, 1 毒品, 2 色情, 3 赌博, 4 违法).
HOUBB_TAGS = {"0": "political", "1": "illegal", "2": "porn", "3": "illegal", "4": "illegal"}
# konsheng file -> our category; the mixed, unlabeled lists go to `illegal` (they are for scale).
KONSHENG_FILES = {
    "政治类型.txt": "political", "反动词库.txt": "political", "贪腐词库.txt": "political",
    "GFW补充词库.txt": "political", "COVID-19词库.txt": "political", "新思想启蒙.txt": "political",
    "暴恐词库.txt": "illegal", "涉枪涉爆.txt": "illegal", "民生词库.txt": "illegal",
    "色情类型.txt": "porn", "色情词库.txt": "porn",
    "广告类型.txt": "fraud", "非法网址.txt": "fraud",
    "网易前端过滤敏感词库.txt": "illegal", "零时-Tencent.txt": "illegal",
    "补充词库.txt": "illegal", "其他词库.txt": "illegal",
}
SIDE_FILES = ("policy.toml", "allow.txt", "lookalikes.txt")


def _usable(term: str) -> bool:
    """Terms our line format can hold unchanged; single characters are left out (too noisy)."""
    return (
        len(term) >= 2
        and "|" not in term
        and "#" not in term
        and not term.startswith("@")
        and not any(c in term for c in "\t\r\n")
    )


def read_lexicons(datasets: Path) -> list[tuple[str, str, str]]:
    """(term, category, group) from both lexicons, first occurrence of each term kept."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def add(term: str, cat: str, group: str) -> None:
        term = term.strip()
        key = term.lower()
        if _usable(term) and key not in seen:
            seen.add(key)
            out.append((term, cat, group))

    houbb = datasets / "lexicon_houbb_tags" / "sensitive_word_tags.txt"
    with open(houbb, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            word, _, tags = line.rstrip("\n").rpartition(" ")
            if not word:
                word, tags = tags, "4"
            tag = tags.split(",")[0].strip()
            add(word, HOUBB_TAGS.get(tag, "illegal"), f"houbb_{tag if tag in HOUBB_TAGS else 'x'}")
    vocab = datasets / "lexicon_konsheng" / "Vocabulary"
    for i, name in enumerate(KONSHENG_FILES):  # labelled files first
        path = vocab / name
        if not path.exists():
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                add(line, KONSHENG_FILES[name], f"konsheng_{i:02d}")
    return out


def _side_dir() -> Path:
    """Our lists' folder for policy/allow/look-alikes; the test fixture while ours lack a policy."""
    ours = ROOT / "wordlists"
    if (ours / "policy.toml").exists():
        return ours
    return ROOT / "tests" / "fixtures" / "wordlists"


def build(datasets: Path, dest: Path | None = None, limit: int | None = None) -> tuple[Path, int]:
    """Write the folder; return (folder, number of entries)."""
    terms = read_lexicons(Path(datasets))
    if limit is not None:
        terms = terms[:limit]
    dest = Path(dest) if dest else OUT / "biglist"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    by_cat: dict[str, dict[str, list[str]]] = {c: {} for c in CATEGORIES}
    for term, cat, group in terms:
        by_cat[cat].setdefault(group, []).append(term)
    for cat, groups in by_cat.items():
        lines = [f"# {cat}: built at run time from the public lexicons for benchmarking; not ours.",
                 "@severity medium", "@flags -"]
        for group, words in groups.items():
            lines.append(f"@group {group}")
            lines.extend(words)
        (dest / f"{cat}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    side = _side_dir()
    for name in SIDE_FILES:
        if (side / name).exists():
            shutil.copyfile(side / name, dest / name)
    return dest, len(terms)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--out", default=str(OUT / "biglist"))
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args()
    d, n = build(Path(a.datasets), Path(a.out), a.limit)
    print(f"{n} entries in {d}")


if __name__ == "__main__":
    main()
