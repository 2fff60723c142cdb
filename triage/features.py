"""The features of a text, with no vocabulary: computed the same way in every process, from
the text alone, so a model can learn from a million complaints streamed in chunks.

Two blocks, each of ``2 ** BITS`` columns, each row scaled to unit length after a sublinear term
frequency (1 + log count):

* character 3-grams of the folded text (accents off, lower case) within words, each word padded
  by a space, as scikit-learn's ``char_wb``: robust to typos and to text typed without
  diacritics. Folded Vietnamese is nearly all ASCII, so a 3-gram's column is its three symbols
  (letter, digit, other letter or the space: ``SYMBOLS`` of them, 6 bits each) read as one
  number: no hashing, no collisions, and a column reads back as its 3-gram for the
  explanation. Counted for a whole batch of texts at once with numpy;
* words and word pairs of the NFC, lower-cased text (diacritics tell Vietnamese words apart:
  "ngập" flooded vs "nắp" lid; pairs of syllables stand in for compound words), hashed
  (CRC-32, stable across processes and versions) into their block.
"""

import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

import numpy as np
from scipy import sparse

from triage.text import fold, normalise

BITS = 18
WIDTH = 1 << BITS  # columns per block
_MASK = np.uint64(WIDTH - 1)
_WORD = re.compile(r"\w+")
_SEPARATOR = "\x00"  # between texts in a batch (PostgreSQL text cannot hold it)
# Symbol of each character of folded text: 0 the padding space, then a-z, 0-9, and one symbol
# for any other letter (what folding leaves: "ð", "ß", CJK, …).
_ASCII = "abcdefghijklmnopqrstuvwxyz0123456789"
_OTHER = len(_ASCII) + 1
_SYMBOL = np.full(128, _OTHER, dtype=np.uint64)
_SYMBOL[[ord(c) for c in _ASCII]] = np.arange(1, len(_ASCII) + 1, dtype=np.uint64)
_SYMBOL[[ord(" "), ord(_SEPARATOR)]] = 0
_SHOWN = " " + _ASCII + "·"  # a symbol as the explanation shows it


def vectors(texts: Sequence[str]) -> sparse.csr_matrix:
    """One row per text: the character block, then the word block. Built with numpy alone
    (scipy's sparse constructors cost more than the work for the one text of a
    suggestion)."""
    char_rows, char_columns = char_grams(texts)
    word_rows, word_columns = word_grams(texts)
    rows = np.concatenate([char_rows, word_rows]).astype(np.int64)
    columns = np.concatenate([char_columns, word_columns + np.uint64(WIDTH)]).astype(np.int64)
    keys, counts = np.unique(rows * 2 * WIDTH + columns, return_counts=True)
    rows, columns = np.divmod(keys, 2 * WIDTH)
    data = 1 + np.log(counts)
    block = rows * 2 + (columns >= WIDTH)  # each row's two blocks scaled apart
    lengths = np.sqrt(np.bincount(block, weights=data * data, minlength=2 * len(texts)))
    data /= lengths[block]
    indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
    return sparse.csr_matrix((data, columns, indptr), shape=(len(texts), 2 * WIDTH))


def char_grams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text index, column) of each within-word character 3-gram of the texts."""
    joined = _SEPARATOR.join(" ".join(_WORD.findall(t))
                             for t in fold(_SEPARATOR.join(texts)).split(_SEPARATOR))
    points = np.frombuffer(f"{_SEPARATOR}{joined}{_SEPARATOR}".encode("utf-32-le"),
                           dtype=np.uint32)
    symbols = _SYMBOL[np.minimum(points, 127)]
    symbols[points > 127] = _OTHER
    # A 3-gram at i is within a word when its middle character is not a space or separator.
    starts = np.flatnonzero(symbols[1:-1] != 0)
    columns = (symbols[starts] << np.uint64(12)) | (symbols[starts + 1] << np.uint64(6)) \
        | symbols[starts + 2]
    return np.cumsum(points == 0)[starts] - 1, columns


def word_grams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text index, column) of each word and pair of consecutive words of the texts."""
    words = [_WORD.findall(t) for t in normalise(_SEPARATOR.join(texts)).split(_SEPARATOR)]
    rows = np.repeat(np.arange(len(texts)), np.fromiter(map(len, words), np.int64, len(words)))
    hashes = np.fromiter(map(_word_hash, chain.from_iterable(words)), np.uint64, len(rows))
    pair = rows[:-1] == rows[1:]
    return (np.concatenate([rows, rows[:-1][pair]]),
            np.concatenate([hashes, _pair_hash(hashes[:-1][pair], hashes[1:][pair])]) & _MASK)


def names(text: str, columns: np.ndarray) -> list[str]:
    """What the feature ``columns`` of ``text``'s row are, for the explanation: "…ngap…" for a
    character 3-gram, the word or pair itself ("ngập sâu") for a word feature."""
    words = _WORD.findall(normalise(text))
    hashes = np.fromiter((_word_hash(w) for w in words), dtype=np.uint64)
    shown = {int(h & _MASK): w for h, w in zip(hashes, words, strict=True)}
    pairs = _pair_hash(hashes[:-1], hashes[1:]) & _MASK
    shown |= {int(h): f"{a} {b}" for h, a, b in zip(pairs, words, words[1:], strict=False)}
    found = []
    for column in columns.tolist():
        if column < WIDTH:
            gram = "".join(_SHOWN[(column >> shift) & 63] for shift in (12, 6, 0))
            found.append(f"…{gram.strip()}…")
        else:
            found.append(shown.get(column - WIDTH, "?"))
    return found


@lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return zlib.crc32(word.encode())


def _pair_hash(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return (first * np.uint64(0x9E3779B1) + second) >> np.uint64(7)
