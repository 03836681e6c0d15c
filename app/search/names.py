"""File names as evidence: the words of a name, and which words of two names stand for the same thing.

Two words match when they are equal or when one abbreviates the other: it is a prefix of at least
`MIN_ABBREVIATION` letters (`req.fresh.js` ~ `request.js`, `test_util.py` ~ `utils.py`,
`app.render.js` ~ `application.js`). Projects name tests and helpers after their subject in both
ways; on the co-change benchmark the abbreviations were worth +0.010 of mean Recall@10 on the years
the weights are fitted on (`bench/cochange.py --fit`), most of it on express's `test/res.*.js`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import numpy as np

MIN_ABBREVIATION = 3
# Words of file names that say nothing about what a file is about.
_NAME_NOISE = frozenset({"test", "tests", "spec", "index", "init", "main", "py", "js", "jsx", "ts", "tsx", "mjs",
                         "cjs", "mts", "cts", "d"})  # fmt: skip
_WORD = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def name_words(path: str) -> frozenset[str]:
    """The words of a file's name, without its folder: `tests/test_userModel.py` → {"user", "model"}."""
    words = (word.lower() for word in _WORD.split(path.rsplit("/", 1)[-1]) if word)
    return frozenset(word for word in words if word not in _NAME_NOISE)


def words_match(left: str, right: str) -> bool:
    """Equal, or one a prefix of the other of at least `MIN_ABBREVIATION` letters."""
    if left == right:
        return True
    short, long = sorted((left, right), key=len)
    return len(short) >= MIN_ABBREVIATION and long.startswith(short)


def shared_words(mine: frozenset[str], theirs: frozenset[str]) -> tuple[str, ...]:
    """The words two names share, an abbreviation shown as `req~request` (mine first)."""
    found = {
        word if word == other else f"{word}~{other}"
        for word in mine
        for other in theirs
        if words_match(word, other)
    }
    return tuple(sorted(found))


class NameIndex:
    """The words of every file name of a repository, indexed so that one query scores all files at once."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.words = [name_words(path) for path in paths]
        self._sizes = np.array([len(words) for words in self.words], dtype=np.float64)
        files_of: dict[str, list[int]] = {}
        for index, words in enumerate(self.words):
            for word in words:
                files_of.setdefault(word, []).append(index)
        self._files_of = {word: np.array(files) for word, files in files_of.items()}
        self._vocabulary = sorted(files_of)

    def matching(self, word: str) -> list[str]:
        """The words of the repository's names that match `word` (itself included when present)."""
        found = [word[:end] for end in range(MIN_ABBREVIATION, len(word)) if word[:end] in self._files_of]
        if word in self._files_of:
            found.append(word)
        if len(word) >= MIN_ABBREVIATION:
            start = bisect.bisect_right(self._vocabulary, word)
            for other in self._vocabulary[start:]:
                if not other.startswith(word):
                    break
                found.append(other)
        return found

    def similarity(self, query: int) -> np.ndarray:
        """Per file: matched words / (words of both names − matched), Jaccard when nothing abbreviates."""
        mine = self.words[query]
        matched = np.zeros(len(self.words))
        if not mine:
            return matched
        for word in mine:
            hit = np.zeros(len(self.words), dtype=bool)
            for other in self.matching(word):
                hit[self._files_of[other]] = True
            matched += hit
        matched = np.minimum(matched, self._sizes)
        return matched / (len(mine) + self._sizes - matched)
