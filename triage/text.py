"""Text as the suggestion model and the keyword rules see it.

Language-agnostic on purpose (an English-speaking city's history trains the same pipeline):
Unicode NFC, lower case, and a second spelling with the diacritics off, because many citizens
type Vietnamese without them ("duong ngap nuoc"). ``đ`` is a letter of its own in Unicode, not
a ``d`` with a mark, so it is mapped by hand, as PostgreSQL's ``unaccent`` does for search.
"""

import re
import unicodedata
from collections.abc import Callable
from functools import cache

_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFC and lower case: one spelling for text typed on different keyboards."""
    return unicodedata.normalize("NFC", text).lower()


def _base_letter(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Every precomposed Latin letter with marks (Latin-1 to Latin Extended Additional, which holds
# Vietnamese) → its base letters: one C-speed str.translate instead of a loop per character.
_BASE = {code: _base_letter(chr(code)) for code in range(0xC0, 0x1F00)
         if _base_letter(chr(code)) != chr(code)} | {ord("đ"): "d", ord("Đ"): "D"}


def strip_diacritics(text: str) -> str:
    """The text without diacritics, case kept ("Đường" → "Duong")."""
    return unicodedata.normalize("NFC", text).translate(_BASE)


def fold(text: str) -> str:
    """Lower case, without diacritics."""
    return strip_diacritics(text.lower())


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def segmented(text: str) -> str:
    """The NFC, lower-cased text with Vietnamese compound words joined by ``_`` (pyvi's
    tokenizer: "rác thải" → "rác_thải"), for word features. Text in other languages, or typed
    without diacritics, comes back split into words as it was."""
    return _tokenizer()(normalise(text))


@cache
def _tokenizer() -> Callable[[str], str]:
    """pyvi's tokenizer, imported on first use: importing it takes seconds, which no server
    start or command should pay while no served model segments (docs/triage.md)."""
    from pyvi import ViTokenizer

    return ViTokenizer.tokenize
