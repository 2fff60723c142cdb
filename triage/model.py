"""The category model: character and word features, a linear model, temperature calibration.

Features (scikit-learn, no language resources, so any city's history trains it):

* character 3-grams of the folded text (accents off), within words: robust to typos and to
  text typed without diacritics (2–4-grams scored the same on the demo's time split and took
  three times as long to extract);
* words and word pairs of the NFC, lower-cased text: the diacritics tell Vietnamese words apart
  ("ngập" flooded vs "nắp" lid fold to "ngap", "nap"), and pairs of syllables stand in for
  Vietnamese compound words.

A linear model (logistic loss, stochastic gradient) learns from the earlier 90 % of the
training window; its softmax is calibrated by one temperature fitted on the latest 10 % (the
latest complaints are the closest to those it will see). Because the
model is linear, each category's score is a sum of feature contributions, and the largest ones
are the explanation shown to officials.
"""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import joblib
import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion

from triage.text import fold, normalise, segmented

CALIBRATION_SHARE = 0.1  # the latest tenth of the training window fits the temperature
MAX_FEATURES = 300_000


def feature_union(segmentation: bool = False) -> FeatureUnion:
    """The features; with ``segmentation``, also the Vietnamese compound words of pyvi's
    tokenizer (measured by ``phananh triage evaluate --segmentation``, see docs/triage.md)."""
    common = {"sublinear_tf": True, "min_df": 2, "dtype": np.float32}
    words = {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b", "max_features": MAX_FEATURES}
    parts = [
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), preprocessor=fold,
                                  max_features=MAX_FEATURES, **common)),
        ("words", TfidfVectorizer(ngram_range=(1, 2), preprocessor=normalise, **words,
                                  **common)),
    ]
    if segmentation:
        parts.append(("compounds", TfidfVectorizer(preprocessor=segmented, **words, **common)))
    return FeatureUnion(parts)


@dataclass
class CategoryModel:
    features: FeatureUnion
    classifier: SGDClassifier
    temperature: float
    feature_names: np.ndarray = field(repr=False)

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self.classifier.classes_]

    def vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The features of ``texts``: each vectorizer called directly, since the union's
        parallel machinery costs more than the work for the one text of a suggestion."""
        return sparse.hstack([vectorizer.transform(texts)
                              for _, vectorizer in self.features.transformer_list],
                             format="csr")

    def probabilities(self, x: sparse.csr_matrix) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in ``categories`` order (the
        linear scores computed directly: scikit-learn's input checks cost more than the
        product for one text)."""
        scores = np.asarray(x @ self.classifier.coef_.T) + self.classifier.intercept_
        return softmax(scores / self.temperature, axis=1)

    @cached_property
    def readable_names(self) -> np.ndarray:
        """Feature names as shown, and an index of each distinct one."""
        return np.unique([_readable(n) for n in self.feature_names], return_inverse=True)

    def explain(self, x: sparse.csr_matrix, category_index: int, top: int = 5
                ) -> list[tuple[str, float]]:
        """The features of one text (a one-row ``x``) that raised ``category_index``'s score
        most, with their contributions (feature value × weight), largest first. Character
        n-grams at a word's start, middle or end read the same, so they are summed."""
        names, name_of = self.readable_names
        contributions = x.data * self.classifier.coef_[category_index, x.indices]
        shown, where = np.unique(name_of[x.indices], return_inverse=True)
        summed = np.bincount(where, weights=contributions)
        best = np.argsort(-summed)[:top]
        return [(str(names[shown[i]]), float(summed[i])) for i in best if summed[i] > 0]

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(self, buffer, compress=3)
        return buffer.getvalue()

    @staticmethod
    def loads(blob: bytes) -> "CategoryModel":
        return joblib.load(io.BytesIO(blob))


def train(texts: Sequence[str], labels: Sequence[str],
          on_step: Callable[[str], None] = lambda step: None,
          segmentation: bool = False) -> CategoryModel:
    """Fit on ``texts`` in time order: the last ``CALIBRATION_SHARE`` calibrates."""
    split = max(1, int(len(texts) * (1 - CALIBRATION_SHARE)))
    on_step("features")
    features = feature_union(segmentation)
    x = features.fit_transform(texts)
    y = np.asarray(labels)
    on_step("model")
    classifier = SGDClassifier(loss="log_loss", alpha=2e-6, max_iter=50, tol=1e-3,
                               random_state=0)
    classifier.fit(x[:split], y[:split])
    on_step("calibration")
    temperature = _fit_temperature(classifier, x[split:], y[split:])
    return CategoryModel(features, classifier, temperature, features.get_feature_names_out())


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


def _readable(name: str) -> str:
    """``chars__ngap`` → ``"…ngap…"``, ``words__ngập sâu`` → ``ngập sâu``,
    ``compounds__rác_thải`` → ``rác thải``."""
    kind, _, value = name.partition("__")
    return f"…{value.strip()}…" if kind == "chars" else value.replace("_", " ")
