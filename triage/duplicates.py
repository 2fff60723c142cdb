"""How alike two complaints are: the one scoring rule for possible duplicates.

A candidate is a complaint within ``RADIUS_M`` metres and ``WINDOW_DAYS`` days of another (so
the GiST index of open complaints by place and time finds them: no scan); the ``NEAREST`` of
them are scored (in a busy street hundreds can qualify, and the nearest are the likeliest).
Its score is a logistic function of four features: the distance (per 100 m), the time apart
(per day), whether the category is the same, and the trigram similarity of the folded public
texts.

The weights are learned from officials' ``markDuplicate`` decisions (a logistic regression
over the candidate pairs of the complaints they acted on: a pair is a duplicate when both
have the same root) and stored with the active triage model, so every process scores alike.
``WEIGHTS``, set by hand (close, recent, same category, similar words), serve until a model
with enough decided pairs is trained (cold start). The SQL in ``db/triage.py`` applies the
weights at serving; ``scores`` below is the same formula for the evaluation, which scores
weights fitted in the run itself. scipy and scikit-learn are imported by the functions that
learn and evaluate: every ``phananh`` command imports this module for the constants above
(through ``db/triage.py``), most never learn, and scikit-learn alone takes more than half a
second to import (the server imports it anyway, for the category suggestion).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RADIUS_M = 300.0
WINDOW_DAYS = 30
NEAREST = 50  # candidates scored per complaint (at least as many as asked for), nearest first
WEIGHTS = {
    "intercept": 0.5,
    "per_100_m": -1.2,
    "per_day": -0.15,
    "same_category": 1.5,
    "text_similarity": 4.0,
}
FEATURES = ("per_100_m", "per_day", "same_category", "text_similarity")
BASELINE = ("per_100_m", "per_day")  # distance and time only
MIN_PAIRS = 20  # of each kind (duplicate, not) before learned weights replace the hand-set


@dataclass(frozen=True)
class Pairs:
    """Candidate pairs as the candidate query gives them: one row per pair."""

    complaint: np.ndarray  # the id of the complaint the candidate was found for
    x: np.ndarray  # features in ``FEATURES`` order
    y: np.ndarray  # 1 when both have the same root (officials marked one a duplicate)

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> "Pairs":
        return cls(np.array([r.complaint_id for r in rows], dtype=np.int64),
                   np.array([(r.distance_m / 100, r.hours_apart / 24, float(r.same_category),
                              r.text_similarity) for r in rows], dtype=float).reshape(-1, 4),
                   np.array([int(r.same_root) for r in rows], dtype=np.int64))

    def where(self, mask: np.ndarray) -> "Pairs":
        return Pairs(self.complaint[mask], self.x[mask], self.y[mask])


def fit(pairs: Pairs, features: Sequence[str] = FEATURES) -> dict[str, float] | None:
    """Weights of a logistic regression on ``features`` (the others weigh 0); None with
    fewer than ``MIN_PAIRS`` duplicates or non-duplicates."""
    positives = int(pairs.y.sum())
    if min(positives, len(pairs.y) - positives) < MIN_PAIRS:
        return None
    from sklearn.linear_model import LogisticRegression

    columns = [FEATURES.index(f) for f in features]
    model = LogisticRegression(C=1.0, max_iter=1_000).fit(pairs.x[:, columns], pairs.y)
    weights = dict.fromkeys(WEIGHTS, 0.0)
    weights["intercept"] = float(model.intercept_[0])
    weights.update({f: float(w) for f, w in zip(features, model.coef_[0], strict=True)})
    return weights


def scores(pairs: Pairs, weights: dict[str, float]) -> np.ndarray:
    from scipy.special import expit

    return expit(weights["intercept"] + pairs.x @ np.array([weights[f] for f in FEATURES]))


def ranking(pairs: Pairs, score: np.ndarray) -> dict[str, float]:
    """ROC AUC over all pairs, and precision at 1 and 5: per complaint that has a duplicate
    among its candidates, the share of duplicates among its best 1 (5) candidates, averaged."""
    from sklearn.metrics import roc_auc_score

    precision: dict[int, list[float]] = {1: [], 5: []}
    order = np.lexsort((-score, pairs.complaint))
    _, starts = np.unique(pairs.complaint[order], return_index=True)
    for group in np.split(order, starts[1:]):
        truth = pairs.y[group]
        if truth.any():
            for k in precision:
                precision[k].append(float(truth[:k].sum() / k))
    auc = roc_auc_score(pairs.y, score) if 0 < pairs.y.sum() < len(pairs.y) else float("nan")
    return {"roc_auc": float(auc), "p_at_1": float(np.mean(precision[1] or [np.nan])),
            "p_at_5": float(np.mean(precision[5] or [np.nan])), "queries": len(precision[1])}
