"""The catalogue's keyword rules: the cold-start suggestion and an evaluation baseline.

Each category has a list of keywords (``demo/category_keywords.json``, the one place they are
kept). A keyword matches when its words appear consecutively in the text, both folded
(accents and case off). A category scores the number of its keywords' words matched, so a
longer, more specific phrase counts more; the scores, normalised, are the probabilities shown,
which are not calibrated (the API says keyword rules served).
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from triage.text import fold, words

KEYWORDS_FILE = Path(__file__).resolve().parents[1] / "demo" / "category_keywords.json"


@dataclass(frozen=True)
class KeywordRules:
    keywords: dict[str, tuple[tuple[str, ...], ...]]  # category → keywords as folded words

    @classmethod
    def from_lists(cls, lists: dict[str, list[str]]) -> "KeywordRules":
        return cls({code: tuple(tuple(words(fold(k))) for k in keywords)
                    for code, keywords in lists.items() if not code.startswith("_")})

    def scores(self, text: str) -> dict[str, tuple[float, list[str]]]:
        """Category → (score, the keywords that matched), for categories with a match."""
        tokens = words(fold(text))
        phrases = {tuple(tokens[i:i + n]) for n in range(1, 5) for i in range(len(tokens))}
        found: dict[str, tuple[float, list[str]]] = {}
        for code, keywords in self.keywords.items():
            hits = [k for k in keywords if k in phrases]
            if hits:
                found[code] = (float(sum(len(k) for k in hits)), [" ".join(k) for k in hits])
        return found

    def predict(self, text: str, fallback: str) -> str:
        """The best-scoring category; ``fallback`` when no keyword matches."""
        scores = self.scores(text)
        return max(scores, key=lambda code: (scores[code][0], code)) if scores else fallback


@cache
def catalogue_rules() -> KeywordRules:
    return KeywordRules.from_lists(json.loads(KEYWORDS_FILE.read_text(encoding="utf-8")))
