"""The project's own word lists: valid, and right on the clean and disguised dating texts."""
from pathlib import Path

import pytest

from moderation import Moderator
from moderation.types import SCENES
from moderation.wordlists import load_wordlist

DATA = Path(__file__).parent / "data"
CLEAN = [l for l in (DATA / "clean_dating.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
DIRTY = [l.split("\t") for l in (DATA / "dirty_cases.tsv").read_text(encoding="utf-8").splitlines()
         if l.strip() and not l.startswith("#")]


@pytest.fixture(scope="module")
def m():
    return Moderator()


def test_lists_load_and_cover_every_category():
    wl = load_wordlist()
    counts = wl.counts()
    for cat in ("discrimination", "illegal", "political", "porn", "fraud"):
        assert counts[cat] >= 50, (cat, counts[cat])
    assert counts["allow"] >= 20
    # every entry has a severity and a rule id naming its category
    assert all(e.severity in ("low", "medium", "high") and e.rule.startswith(e.category + ".") for e in wl.entries)


def test_enough_clean_texts():
    assert len(CLEAN) >= 50
    assert len(DIRTY) >= 40


@pytest.mark.parametrize("text", CLEAN)
def test_clean_dating_texts_pass_everywhere(m, text):
    for scene in SCENES:
        v = m.check(text, scene=scene)
        assert v.decision == "pass", (scene, [(h.text, h.rule) for h in v.hits])


@pytest.mark.parametrize("text, scene, category, expected", DIRTY)
def test_disguised_texts_are_found(m, text, scene, category, expected):
    v = m.check(text, scene=scene)
    assert v.decision != "pass", v.to_dict()
    spans = [(h.text, h.category) for h in v.hits]
    assert any(expected in h.text or h.text in expected for h in v.hits if h.category == category), spans
    for h in v.hits:
        assert text[h.start:h.end] == h.text
