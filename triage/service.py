"""Train, store, evaluate and serve the category suggestion.

Serving: each server process keeps the active model version in memory and asks the database
which version is active at most every ``triage_refresh_seconds``; a newly trained version
therefore reaches every process, and all of them answer alike. Without an active model, or
with one trained on fewer than ``triage_min_samples`` complaints (cold start), the catalogue's
keyword rules answer; each answer says which one served.
"""

import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sqlalchemy import Engine

from db import triage as sql
from db.engine import connection
from errors import ErrorCode, PhananhError
from settings import Settings
from triage import duplicates
from triage.keywords import KeywordRules, catalogue_rules
from triage.model import CategoryModel, train, train_batches
from triage.text import segmented
from workflow.states import Status

Progress = Callable[[int, int], None]
# The latest decided complaints whose candidate pairs are learned: four weights need a few
# hundred duplicates, not millions of pairs (each costs a trigram similarity in PostgreSQL,
# and a busy street of a large city gives a complaint a hundred candidates).
DUPLICATE_HISTORY = 5_000
PAIRS_PER_COMPLAINT = 50  # candidates per complaint, best first by the current weights


class Source(StrEnum):
    MODEL = "MODEL"
    KEYWORDS = "KEYWORDS"


@dataclass(frozen=True)
class Suggestion:
    category: str
    probability: float
    features: list[tuple[str, float]]  # what drove it: feature (or keyword) and its weight


@dataclass(frozen=True)
class Suggestions:
    source: Source
    model_version: int | None
    items: list[Suggestion]


@dataclass(frozen=True)
class History:
    texts: list[str]
    labels: list[str]
    times: list[datetime]


def load_history(engine: Engine, since: datetime | None = None, until: datetime | None = None,
                 on_progress: Progress = lambda done, total: None) -> History:
    history = History([], [], [])
    with engine.connect() as conn:
        total = sql.labelled_count(conn, since, until)
        for batch in sql.labelled_history(conn, since, until):
            for row in batch:
                history.texts.append(row.text)
                history.labels.append(row.category)
                history.times.append(row.created_at)
            on_progress(len(history.texts), total)
    return history


def train_and_store(engine: Engine, since: datetime | None = None,
                    until: datetime | None = None,
                    on_step: Callable[[str], None] = lambda step: None,
                    on_progress: Progress = lambda done, total: None
                    ) -> tuple[int, CategoryModel, int]:
    """Train on the labelled complaints of the window, streamed from the database in time
    order (a server-side cursor: memory holds a batch, not the history), and store the
    model as the new active version. Returns the version, the model and the complaints
    learned from.

    The duplicate scorer's candidate pairs are PostgreSQL's work and the category model is
    this process's: the pairs are asked for first, on a connection of their own in a
    thread, and computed while the model learns."""
    with ThreadPoolExecutor(1) as background, engine.connect() as conn:
        pairs = background.submit(duplicate_pairs, engine, since, until)
        total = sql.labelled_count(conn, since, until)
        classes = sql.labelled_categories(conn, since, until)
        if len(classes) < 3:
            raise PhananhError(ErrorCode.BAD_INPUT, "Training needs labelled complaints of at "
                                                    "least three categories.")
        window: list[datetime] = []  # the first and the latest complaint learned from

        def batches() -> Iterator[tuple[list[str], list[str]]]:
            for batch in sql.labelled_history(conn, since, until):
                window[:] = [window[0] if window else batch[0].created_at,
                             batch[-1].created_at]
                yield [row.text for row in batch], [row.category for row in batch]

        model = train_batches(batches(), total, classes, on_step, on_progress)
        on_step("duplicates")
        decided, _ = pairs.result()
    metrics: dict[str, object] = {"temperature": model.temperature,
                                  "categories": len(model.categories),
                                  "features": model.features_used}
    weights = duplicates.fit(decided)
    if weights is not None:  # else the hand-set weights keep serving (cold start)
        metrics["duplicates"] = {"weights": weights, "pairs": len(decided.y),
                                 "duplicates": int(decided.y.sum())}
    with engine.begin() as conn:
        version = sql.save_model(conn, model.dumps(), window[0], window[-1], total, metrics)
    return version, model, total


@dataclass(frozen=True)
class Evaluation:
    """Scores of the model and the baselines on the later part of a time split."""

    train_size: int
    test_size: int
    split_at: datetime
    scores: dict[str, dict[str, float]]  # method → top1, top3, macro_f1
    per_category: dict[str, tuple[float, float, int]]  # model: precision, recall, support
    predictions: list[str]


def evaluate(history: History, test_share: float = 0.2,
             on_step: Callable[[str], None] = lambda step: None,
             rules: KeywordRules | None = None, segmentation: bool = False) -> Evaluation:
    """Train on the earlier ``1 - test_share`` of the history (by time, never at random) and
    score the later part, beside the most frequent category and the keyword rules; with
    ``segmentation``, also a model trained alike on the texts with pyvi's compound words
    joined ("rác thải" → "rác_thải", one word feature)."""
    split = int(len(history.texts) * (1 - test_share))
    if split < 10 or len(history.texts) - split < 10:
        raise PhananhError(ErrorCode.BAD_INPUT, "Too little labelled history to evaluate.")
    model = train(history.texts[:split], history.labels[:split], on_step)
    on_step("scoring")
    test_texts, truth = history.texts[split:], np.asarray(history.labels[split:])
    probabilities = model.probabilities(model.vectors(test_texts))
    classes = np.asarray(model.categories)
    ranked = classes[np.argsort(-probabilities, axis=1)[:, :3]]
    most_frequent = Counter(history.labels[:split]).most_common(1)[0][0]
    keyword = (rules or catalogue_rules())
    keyword_top = [keyword.predict(text, most_frequent) for text in test_texts]
    scores = {
        "model": _scores(truth, ranked),
        "most frequent": _scores(truth, np.full((len(truth), 1), most_frequent)),
        "keyword rules": _scores(truth, np.asarray(keyword_top)[:, None]),
    }
    if segmentation:
        on_step("segmented model")
        joined = [segmented(text) for text in history.texts]
        compounds = train(joined[:split], history.labels[:split])
        p = compounds.probabilities(compounds.vectors(joined[split:]))
        scores["model + pyvi compounds"] = _scores(
            truth, np.asarray(compounds.categories)[np.argsort(-p, axis=1)[:, :3]])
    labels = sorted(set(history.labels))
    precision, recall, _, support = precision_recall_fscore_support(
        truth, ranked[:, 0], labels=labels, zero_division=0)
    per_category = {label: (float(p), float(r), int(s))
                    for label, p, r, s in zip(labels, precision, recall, support, strict=True)}
    return Evaluation(split, len(truth), history.times[split], scores, per_category,
                      list(ranked[:, 0]))


def duplicate_pairs(engine: Engine, since: datetime | None, until: datetime | None
                    ) -> tuple[duplicates.Pairs, list[int]]:
    """The candidate pairs of the complaints officials decided on in the window (all
    statuses: most are closed by now), and those complaints' ids, oldest first."""
    with engine.connect() as conn:
        ids = sql.decided(conn, since, until, DUPLICATE_HISTORY)
        rows = sql.duplicate_candidates(conn, ids, PAIRS_PER_COMPLAINT, tuple(Status))
    return duplicates.Pairs.from_rows(rows), ids


@dataclass(frozen=True)
class DuplicateEvaluation:
    """Duplicate detection on the candidate pairs of the later decided complaints."""

    train_pairs: int
    test_pairs: int
    scores: dict[str, dict[str, float]]  # method → roc_auc, p_at_1, p_at_5, queries


def evaluate_duplicates(engine: Engine, since: datetime | None = None,
                        until: datetime | None = None, test_share: float = 0.2
                        ) -> DuplicateEvaluation:
    """Fit on the pairs of the earlier decided complaints (a time split), score the later
    ones: the learned weights beside distance and time only (fitted alike) and the hand-set
    weights."""
    pairs, ids = duplicate_pairs(engine, since, until)
    later = np.isin(pairs.complaint, ids[int(len(ids) * (1 - test_share)):])
    train_part, test_part = pairs.where(~later), pairs.where(later)
    learned = duplicates.fit(train_part)
    baseline = duplicates.fit(train_part, duplicates.BASELINE)
    if learned is None or baseline is None or not test_part.y.any():
        raise PhananhError(ErrorCode.BAD_INPUT, "Too few duplicate decisions to evaluate.")
    methods = {"learned": learned, "distance and time": baseline,
               "hand-set": duplicates.WEIGHTS}
    return DuplicateEvaluation(len(train_part.y), len(test_part.y), {
        name: duplicates.ranking(test_part, duplicates.scores(test_part, weights))
        for name, weights in methods.items()})


def _scores(truth: np.ndarray, ranked: np.ndarray) -> dict[str, float]:
    """Top-1 and top-3 accuracy (a method with one guess has top-3 = top-1) and macro-F1."""
    return {"top1": float((ranked[:, 0] == truth).mean()),
            "top3": float((ranked[:, :3] == truth[:, None]).any(axis=1).mean()),
            "macro_f1": float(f1_score(truth, ranked[:, 0], average="macro", zero_division=0))}


class Suggester:
    """The active model of this process, refreshed from the database."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._version: int | None = None
        self._model: CategoryModel | None = None
        self._samples = 0

    def current(self) -> tuple[int | None, CategoryModel | None]:
        """The active version and its model (None before any training, or at cold start)."""
        with self._lock:
            if time.monotonic() - self._checked >= self.settings.triage_refresh_seconds:
                self._refresh()
            if self._samples < self.settings.triage_min_samples:
                return None, None
            return self._version, self._model

    def _refresh(self) -> None:
        with connection(self.engine) as conn:
            active = sql.active_version(conn)
            if active is not None and active != self._version:
                row = sql.model_row(conn, active)
                self._model, self._samples = CategoryModel.loads(row.model), row.samples
            elif active is None:
                self._model, self._samples = None, 0
            self._version = active
        self._checked = time.monotonic()

    def suggest(self, description: str, first: int) -> Suggestions:
        return self.suggest_many([description], first)[0]

    def suggest_many(self, descriptions: list[str], first: int) -> list[Suggestions]:
        """One model call for all of them (a triage queue page)."""
        if not descriptions:
            return []
        version, model = self.current()
        if model is None:
            return [keyword_suggestions(catalogue_rules(), d, first) for d in descriptions]
        return model_suggestions(model, version, descriptions, first)


def model_suggestions(model: CategoryModel, version: int | None, descriptions: list[str],
                      first: int) -> list[Suggestions]:
    x = model.vectors(descriptions)
    probabilities = model.probabilities(x)
    answers = []
    for row, p in enumerate(probabilities):
        one = x[row]
        answers.append(Suggestions(Source.MODEL, version, [
            Suggestion(model.categories[i], float(p[i]), model.explain(descriptions[row], one, i))
            for i in np.argsort(-p)[:first]]))
    return answers


def keyword_suggestions(rules: KeywordRules, description: str, first: int) -> Suggestions:
    scores = rules.scores(description)
    total = sum(score for score, _ in scores.values())
    ranked = sorted(scores.items(), key=lambda item: (-item[1][0], item[0]))[:first]
    return Suggestions(Source.KEYWORDS, None, [
        Suggestion(code, score / total, [(k, 1.0) for k in hits])
        for code, (score, hits) in ranked])


_SUGGESTERS: "weakref.WeakKeyDictionary[Engine, Suggester]" = weakref.WeakKeyDictionary()


def suggester(engine: Engine, settings: Settings) -> Suggester:
    """This process's suggester for ``engine`` (one model in memory per database)."""
    if engine not in _SUGGESTERS:
        _SUGGESTERS[engine] = Suggester(engine, settings)
    return _SUGGESTERS[engine]

