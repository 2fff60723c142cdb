"""The category model: character and word features, a linear model, temperature calibration.

The features (``triage/features.py``) need no vocabulary and no language resources, so any
city's history trains it, and a million complaints stream through in batches: character
3-grams of the folded text within words (typos, text typed without diacritics) and words and
word pairs of the NFC text (diacritics tell Vietnamese words apart; pairs of syllables stand
in for compound words).

A linear model (logistic loss, stochastic gradient, scikit-learn) learns from the earlier part
of the training window; its softmax is calibrated by one temperature fitted on the latest part
(the latest complaints are the closest to those it will see). Because the model is linear,
each category's score is a sum of feature contributions, and the largest ones are the
explanation shown to officials.
"""

import io
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult

import joblib
import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.linear_model import SGDClassifier

from triage import features

CALIBRATION_SHARE = 0.1  # the latest tenth of the training window fits the temperature
CALIBRATION_MAX = 20_000  # complaints: one temperature needs no more
FEATURE_ROWS = 10_000  # texts whose features are computed at once (a task of a worker)
IN_MEMORY = 100_000  # complaints learned from in several passes; more stream through one
WORKERS = 2  # processes computing a stream's features while this one learns (the cores)
Batch = tuple[Sequence[str], Sequence[str]]  # texts and their categories, in time order


@dataclass
class CategoryModel:
    classifier: SGDClassifier
    temperature: float

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self.classifier.classes_]

    @property
    def features_used(self) -> int:
        """Feature columns with a weight: the character 3-grams, words and pairs learned."""
        return int(np.count_nonzero(np.any(self.classifier.coef_ != 0, axis=0)))

    @staticmethod
    def vectors(texts: Sequence[str]) -> sparse.csr_matrix:
        return features.vectors(texts)

    def probabilities(self, x: sparse.csr_matrix) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in ``categories`` order (the
        linear scores computed directly: scikit-learn's input checks cost more than the
        product for one text)."""
        scores = np.asarray(x @ self.classifier.coef_.T) + self.classifier.intercept_
        return softmax(scores / self.temperature, axis=1)

    def explain(self, text: str, x: sparse.csr_matrix, category_index: int, top: int = 5
                ) -> list[tuple[str, float]]:
        """The features of ``text`` (its one-row ``x``) that raised ``category_index``'s
        score most, with their contributions (feature value × weight), largest first.
        Character 3-grams at a word's start, middle or end read the same, so they are
        summed."""
        contributions = x.data * self.classifier.coef_[category_index, x.indices]
        best = np.argsort(-contributions)[:top * 3]  # enough to sum the same-looking ones
        summed: dict[str, float] = {}
        for name, value in zip(features.names(text, x.indices[best]), contributions[best],
                               strict=True):
            summed[name] = summed.get(name, 0.0) + float(value)
        ranked = sorted(summed.items(), key=lambda item: -item[1])[:top]
        return [(name, value) for name, value in ranked if value > 0]

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(self, buffer, compress=3)
        return buffer.getvalue()

    @staticmethod
    def loads(blob: bytes) -> "CategoryModel":
        return joblib.load(io.BytesIO(blob))


def train(texts: Sequence[str], labels: Sequence[str],
          on_step: Callable[[str], None] = lambda step: None) -> CategoryModel:
    """Fit on ``texts`` in time order: the latest ``CALIBRATION_SHARE`` calibrates."""
    return train_batches([(texts, labels)], len(texts), sorted(set(labels)), on_step)


def train_batches(batches: Iterable[Batch], total: int, classes: Sequence[str],
                  on_step: Callable[[str], None] = lambda step: None,
                  on_progress: Callable[[int, int], None] = lambda done, total: None,
                  in_memory: int = IN_MEMORY, workers: int = WORKERS) -> CategoryModel:
    """Fit on ``total`` labelled texts of ``classes``, streamed in time order in
    ``batches``: memory holds a few batches and the calibration slice, never the whole
    history.

    Up to ``in_memory`` complaints, the features are kept and the model passes over them
    until it converges; beyond, each chunk is learned once as it comes (stochastic gradient
    steps: a million complaints are plenty for one pass) and dropped, its features computed
    ahead by ``workers`` processes (``_features``) while this one learns, and each class's
    weights learned in threads of their own (scikit-learn's ``n_jobs``). The latest
    ``CALIBRATION_SHARE`` (at most ``CALIBRATION_MAX``) is kept out to fit the temperature.
    """
    split = total - min(max(1, int(total * CALIBRATION_SHARE)), CALIBRATION_MAX)
    streaming = total > in_memory
    classifier = SGDClassifier(loss="log_loss", alpha=2e-6, max_iter=50, tol=1e-3,
                               random_state=0, n_jobs=workers or None)
    kept: list[tuple[sparse.csr_matrix, np.ndarray]] = []
    held: list[tuple[sparse.csr_matrix, np.ndarray]] = []
    done = 0
    on_step("features")
    for x, y in _features(batches, workers if streaming else 0):
        cut = max(0, min(len(y), split - done))
        if cut and not streaming:
            kept.append((x[:cut], y[:cut]))
        elif cut:
            classifier.partial_fit(x[:cut], y[:cut], classes=np.asarray(classes))
        if cut < len(y):
            held.append((x[cut:], y[cut:]))
        done += len(y)
        on_progress(done, total)
    if kept:
        on_step("model")
        classifier.fit(sparse.vstack([x for x, _ in kept], format="csr"),
                       np.concatenate([y for _, y in kept]))
    # Column-major weights: ``x @ coef_.T`` then reads them in place; row-major, scipy copies
    # the whole matrix (classes × 2^19 columns) for every product, a hundred times the work
    # of a suggestion.
    classifier.coef_ = np.asfortranarray(classifier.coef_)
    on_step("calibration")
    x_held = sparse.vstack([x for x, _ in held], format="csr")
    y_held = np.concatenate([y for _, y in held])
    return CategoryModel(classifier, _fit_temperature(classifier, x_held, y_held))


def _features(batches: Iterable[Batch], workers: int
              ) -> Iterator[tuple[sparse.csr_matrix, np.ndarray]]:
    """The features and labels of the batches' texts, ``FEATURE_ROWS`` at a time (their
    intermediate arrays are several times the result), in order. With ``workers``, computed
    by that many processes while the caller learns from the previous chunks and the next
    batch is fetched; at most ``2 * workers`` chunks wait, so memory stays bounded."""
    chunks = ((texts[start:start + FEATURE_ROWS], np.asarray(labels[start:start + FEATURE_ROWS]))
              for texts, labels in batches for start in range(0, len(texts), FEATURE_ROWS))
    if not workers:
        yield from ((features.vectors(texts), y) for texts, y in chunks)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        waiting: deque[tuple[AsyncResult[sparse.csr_matrix], np.ndarray]] = deque()
        for texts, y in chunks:
            waiting.append((pool.apply_async(features.vectors, (texts,)), y))
            if len(waiting) > 2 * workers:
                task, labels = waiting.popleft()
                yield task.get(), labels
        while waiting:
            task, labels = waiting.popleft()
            yield task.get(), labels


def _fit_temperature(classifier: SGDClassifier, x: sparse.csr_matrix, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of held-out labels."""
    known = np.isin(y, classifier.classes_)
    if known.sum() < 10:
        return 1.0
    scores = classifier.decision_function(x[known])
    truth = np.searchsorted(classifier.classes_, y[known])

    def loss(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return float(-logp[np.arange(len(truth)), truth].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-5, 5), method="bounded").x))
