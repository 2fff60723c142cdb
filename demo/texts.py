"""Varied descriptions for the demo, the way citizens write them.

A template per category (``demo/complaints.py``) is the clean text; then, per complaint, from
its own random stream so that the rest of the demo stays as it was:

* synonyms replace some words ("rác" → "chất thải", "ngập" → "úng ngập");
* some texts lose their diacritics (typed on a phone without a Vietnamese keyboard), some are
  all lower case, some carry a typo (a letter dropped, doubled or swapped);
* some mix two problems (a clause of another category is appended), and some say nothing
  specific at all ("Đề nghị kiểm tra …"): those are genuinely ambiguous;
* some were filed by the citizen under a wrong category, which an official corrected when
  first acting on the complaint (the history has the correction).

The share of each is fixed below. What a model reaches on this text tests the pipeline; it is
not a claim about real complaints.
"""

from dataclasses import dataclass

import numpy as np

from triage.text import strip_diacritics

SYNONYMS: dict[str, tuple[str, ...]] = {
    "Rác thải": ("Chất thải", "Rác"),
    "rác": ("rác thải", "chất thải"),
    "ngập sâu": ("úng ngập", "ngập lụt"),
    "bốc mùi hôi thối": ("hôi thối nồng nặc", "mùi rất khó chịu"),
    "ổ gà": ("ổ voi", "hố sâu"),
    "Mặt đường": ("Lòng đường", "Đường"),
    "trái phép": ("không phép", "sai phép"),
    "gây ồn": ("ồn ào", "gây tiếng ồn lớn"),
    "Đèn tín hiệu": ("Đèn giao thông", "Đèn xanh đèn đỏ"),
    "lấn chiếm": ("chiếm dụng", "lấn ra"),
    "Mất nước": ("Không có nước", "Cắt nước"),
    "Cây xanh": ("Cây to", "Cây cổ thụ"),
    "Đèn chiếu sáng công cộng": ("Đèn đường", "Bóng đèn đường"),
    "mất trật tự": ("mất an ninh trật tự", "náo loạn"),
    "Tranh chấp": ("Xích mích", "Mâu thuẫn"),
}
AMBIGUOUS = (
    "Đề nghị kiểm tra tình trạng tại {place}",
    "Có vấn đề tại {place}, mong được giải quyết",
    "Phản ánh sự việc tại {place}",
)
SYNONYM_SHARE = 0.5
NO_DIACRITICS_SHARE = 0.25
LOWER_SHARE = 0.15
TYPO_SHARE = 0.15
MIXED_SHARE = 0.08
AMBIGUOUS_SHARE = 0.04
MISFILED_SHARE = 0.12


@dataclass(frozen=True)
class Text:
    description: str
    filed_as: int  # the category index the citizen chose (≠ the true one when misfiled)


def varied_texts(rng: np.random.Generator, templates: dict[str, tuple[str, ...]],
                 codes: tuple[str, ...], category: np.ndarray, template: np.ndarray,
                 places: list[str], suffixes: list[str]) -> list[Text]:
    """One text per complaint: ``category[i]``'s ``template[i]`` at ``places[i]``, varied."""
    n = len(category)
    draws = rng.random((n, 7))
    other = (category + rng.integers(1, len(codes), n)) % len(codes)
    other_template = rng.integers(0, 4, n)
    texts = []
    for i in range(n):
        code = codes[category[i]]
        if draws[i, 0] < AMBIGUOUS_SHARE:
            text = AMBIGUOUS[int(draws[i, 1] * len(AMBIGUOUS))].format(place=places[i])
        else:
            text = templates[code][template[i]].format(place=places[i])
            if draws[i, 1] < SYNONYM_SHARE:
                text = _synonyms(rng, text)
            if draws[i, 2] < MIXED_SHARE:
                extra = templates[codes[other[i]]][other_template[i]].format(place="gần đó")
                text += ", ngoài ra " + extra[0].lower() + extra[1:]
        text += suffixes[i]
        if draws[i, 3] < TYPO_SHARE:
            text = _typo(rng, text)
        if draws[i, 4] < NO_DIACRITICS_SHARE:
            text = strip_diacritics(text)
        elif draws[i, 5] < LOWER_SHARE:
            text = text.lower()
        misfiled = draws[i, 6] < MISFILED_SHARE
        texts.append(Text(text, int(other[i] if misfiled else category[i])))
    return texts


def _synonyms(rng: np.random.Generator, text: str) -> str:
    for word, choices in SYNONYMS.items():
        if word in text:
            text = text.replace(word, choices[int(rng.integers(0, len(choices)))], 1)
    return text


def _typo(rng: np.random.Generator, text: str) -> str:
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    i = letters[int(rng.integers(0, len(letters)))]
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return text[:i] + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1:i + 2] + text[i] + text[i + 2:] if i + 1 < len(text) else text
