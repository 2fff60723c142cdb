"""AI-assisted intake at a million complaints: suggestion latency, training, duplicates.

``python -m bench triage --complaints 1000000`` (the default). The complaints are the demo
generator's (varied Vietnamese descriptions, hotspots, statuses, planted duplicates), written
by ``bench/triage_data.py`` into the database ``<name>_triage`` once.

- suggestion: ``model_suggestions`` (what ``suggestCategories`` runs in process: features,
  calibrated probabilities, top 3 and their explanations) against the bare model call on the
  same features (scikit-learn's ``predict_proba`` of the same text's features), 1,000 texts
  each, in the same run, one model trained on :data:`LATENCY_TRAINING` complaints;
- training: ``triage.service.train_and_store`` (what ``phananh triage train`` runs: the
  history streamed from a server-side cursor, the category model with its feature workers,
  the duplicate weights, the stored version) on every complaint, in a fresh child process, so
  that its peak resident memory (and its workers') is the training's alone; then, as
  baselines in the same run, the training's candidate-pairs statement for the latest
  :data:`PAIR_COMPLAINTS` decided complaints as it is and as 0020 left it, and the latest
  :data:`STREAM_SAMPLE` labelled complaints streamed through the category model with the
  features computed in process and by the workers;
- possible duplicates of one open complaint (the statement ``possibleDuplicates`` runs at
  submission), p95 over 180 complaints (after 20 unmeasured): as served (prepared once, one
  plan), the same statement planned on every call, and the statement as 0020 left it (each
  candidate's text folded); then, for 50, 30, 20 and 10 nearest candidates scored, the time
  and the share of the 5 best of every candidate of the window that the 5 best of the
  nearest are.
"""

import argparse
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from bench.common import bench_settings, console, measure, print_table
from bench.triage_data import ensure_triage_data
from db.engine import make_engine
from db.triage import (
    FETCH_BATCH,
    decided,
    duplicate_candidates,
    duplicate_parameters,
    duplicates_statement,
)
from triage.duplicates import NEAREST
from triage.model import WORKERS, CategoryModel, train, train_batches
from triage.service import PAIRS_PER_COMPLAINT, model_suggestions, train_and_store
from workflow.states import Status

LATENCY_TRAINING = 20_000
SUGGESTIONS = 1_000
DUPLICATE_QUERIES = 200
NEAREST_TRIED = (50, 30, 20, 10)
ALL = 100_000  # nearest candidates scored: every one of the window
PAIR_COMPLAINTS = 500  # decided complaints whose candidate pairs are timed
STREAM_SAMPLE = 100_000  # labelled complaints streamed through the category model, timed
SERVED = duplicates_statement()  # the open complaints' candidates
# The statement as migration 0020 left it: each candidate's public description folded in the
# query (the baseline of the stored copy of 0024).
FOLDING = SERVED.replace("o.folded_description", "fold_text(o.public_description)")


def latency(model: CategoryModel, texts: list[str]) -> list[tuple[str, float, float]]:
    suggest = iter(texts * 2)
    bare = iter(texts * 2)

    def one_suggestion() -> None:
        model_suggestions(model, 1, [next(suggest)], 3)

    def one_bare_call() -> None:
        model.classifier.predict_proba(model.vectors([next(bare)]))

    rows = []
    for name, job in (("suggestion (features, calibration, top 3, explanations)",
                       one_suggestion), ("bare model call (features, predict_proba)",
                                         one_bare_call)):
        timing = measure(job, repeat=len(texts), warmup=10)
        rows.append((name, timing.median * 1000, timing.p95 * 1000))
    return rows


def _train_child(url: str, queue: "multiprocessing.Queue[dict[str, Any]]") -> None:
    engine = make_engine(url)
    steps: dict[str, float] = {}
    start = time.perf_counter()
    _, model, samples = train_and_store(
        engine, on_step=lambda name: steps.setdefault(name, time.perf_counter() - start))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the feature workers, ended
    queue.put({"seconds": time.perf_counter() - start, "steps": steps, "samples": samples,
               "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
               "workers_cpu_s": workers.ru_utime + workers.ru_stime,
               "workers_peak_mb": workers.ru_maxrss / 1024,
               "model_mb": len(model.dumps()) / 1e6})


def training(url: str) -> dict[str, Any]:
    """Seconds (in all, and when each step began), peak RSS and model size of one training
    in a fresh (spawned) process."""
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    child = context.Process(target=_train_child, args=(url, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def duplicates(conn: Connection, sample: list[int]) -> list[tuple[str, float, float, float]]:
    """Median, p95 and max ms of the candidates of one open complaint: as served (the
    statement prepared on the connection), the same statement parsed and planned on every
    call, and the statement as 0020 left it (each candidate's text folded in the query, the
    50 nearest scored, planned on every call), on the same complaints."""
    def served(complaint_id: int) -> None:
        duplicate_candidates(conn, [complaint_id], 5)

    rows = []
    for name, job in (
            (f"served: prepared, stored folded text (0024), {NEAREST} nearest", served),
            (f"the same planned on every call, {NEAREST} nearest",
             lambda i: _candidates(conn, SERVED, i, 5, NEAREST)),
            ("0020: planned on every call, each text folded, 50 nearest",
             lambda i: _candidates(conn, FOLDING, i, 5, 50))):
        queries = iter(sample)
        timing = measure(lambda q=queries, j=job: j(next(q)), repeat=len(sample) - 20,
                         warmup=20)
        rows.append((name, timing.median * 1000, timing.p95 * 1000, max(timing.samples) * 1000))
    return rows


def nearest_recall(conn: Connection, sample: list[int]) -> list[tuple[int, float, float, float]]:
    """For each number of nearest candidates scored: median and p95 ms, and the share of the
    5 best of every candidate of the window (the definition) that the 5 best of the nearest
    are."""
    best = {i: {r.candidate for r in _candidates(conn, SERVED, i, 5, ALL)} for i in sample}
    rows = []
    for nearest in NEAREST_TRIED:
        found: dict[int, set[str]] = {}

        def one(q: Iterator[int] = iter(sample), n: int = nearest,
                into: dict[int, set[str]] = found) -> None:
            complaint_id = next(q)
            into[complaint_id] = {r.candidate for r in _candidates(conn, SERVED,
                                                                   complaint_id, 5, n)}

        timing = measure(one, repeat=len(sample), warmup=0)
        recall = sum(len(found[i] & best[i]) for i in sample) / sum(map(len, best.values()))
        rows.append((nearest, timing.median * 1000, timing.p95 * 1000, recall))
    return rows


def pair_statement(conn: Connection) -> list[tuple[str, float, int]]:
    """Seconds of the statement the training's candidate pairs come from (all statuses,
    ``PAIRS_PER_COMPLAINT`` each), for the latest ``PAIR_COMPLAINTS`` decided complaints:
    as it is, and as 0020 left it; each run once unmeasured first."""
    ids = decided(conn, None, None, PAIR_COMPLAINTS)
    rows = []
    learning = duplicates_statement(tuple(Status))
    for name, statement, nearest in (
            (f"now: stored folded text, {NEAREST} nearest", learning, NEAREST),
            ("0020: each text folded, 50 nearest",
             learning.replace("o.folded_description", "fold_text(o.public_description)"), 50)):
        parameters = {**duplicate_parameters(ids, PAIRS_PER_COMPLAINT), "nearest": nearest}
        pairs = len(conn.execute(text(statement), parameters).all())  # unmeasured: caches
        timing = measure(lambda s=statement, p=parameters: conn.execute(text(s), p).all(),
                         repeat=1, warmup=0)
        rows.append((name, timing.median, pairs))
    return rows


def streaming(conn: Connection) -> list[tuple[str, float]]:
    """Seconds to learn from the latest ``STREAM_SAMPLE`` labelled complaints as a million
    stream through (one pass, ``train_batches``' streaming path): features computed in this
    process, and by ``WORKERS`` processes while it learns. The texts are fetched first, so
    only the features and the learning are timed."""
    rows = conn.execute(text(
        "SELECT public_description, category_code FROM complaint "
        "WHERE first_action_at IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT :n"),
        {"n": STREAM_SAMPLE}).all()[::-1]
    texts, labels = [r[0] for r in rows], [r[1] for r in rows]
    classes = sorted(set(labels))
    batches = [(texts[i:i + FETCH_BATCH], labels[i:i + FETCH_BATCH])
               for i in range(0, len(texts), FETCH_BATCH)]
    found = []
    for name, workers in (("this process", 0), (f"{WORKERS} worker processes", WORKERS)):
        timing = measure(lambda w=workers: train_batches(batches, len(texts), classes,
                                                         in_memory=0, workers=w),
                         repeat=1, warmup=0)
        found.append((name, timing.median))
    return found


def _candidates(conn: Connection, statement: str, complaint_id: int, first: int,
                nearest: int) -> list[Any]:
    return list(conn.execute(text(statement), {
        **duplicate_parameters([complaint_id], first), "nearest": nearest}))


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench triage")
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--skip-training", action="store_true")
    options = parser.parse_args(argv)
    settings = bench_settings("triage")
    engine = make_engine(settings.sqlalchemy_url)
    ensure_triage_data(engine, options.complaints)
    with engine.connect() as conn:
        labelled = conn.execute(text(
            "SELECT public_description, category_code FROM complaint "
            "WHERE first_action_at IS NOT NULL ORDER BY created_at, id LIMIT :n"),
            {"n": LATENCY_TRAINING + SUGGESTIONS}).all()
    console.print(f"Training a model on {LATENCY_TRAINING:,} complaints for the latency runs…")
    model = train([r[0] for r in labelled[:LATENCY_TRAINING]],
                  [r[1] for r in labelled[:LATENCY_TRAINING]])
    rows = latency(model, [r[0] for r in labelled[LATENCY_TRAINING:]])
    ratio = rows[0][2] / rows[1][2]
    print_table("Category suggestion, in process (ms)", ("job", "median", "p95"),
                [*rows, ("p95 ratio suggestion / bare", ratio, ratio)])
    with engine.connect() as conn:
        ids = list(conn.execute(text(
            "SELECT id FROM complaint WHERE status = 'RECEIVED' ORDER BY id")).scalars())
        sample = random.Random(1).sample(ids, DUPLICATE_QUERIES)
        found = duplicates(conn, sample)
        recall = nearest_recall(conn, sample)
    print_table(f"Possible duplicates of one open complaint, {options.complaints:,} complaints "
                f"(ms; load average {os.getloadavg()[0]:.1f})",
                ("statement", "median", "p95", "max"), found)
    print_table(f"Nearest candidates scored: time (ms) and the share of the 5 best of all "
                f"candidates found (load average {os.getloadavg()[0]:.1f})",
                ("nearest", "median", "p95", "top-5 recall"), recall)
    if not options.skip_training:
        console.print(f"Training on all {options.complaints:,} complaints (a fresh process)…")
        result = training(settings.sqlalchemy_url)
        steps = result["steps"]
        print_table(f"Training (phananh triage train; load average {os.getloadavg()[0]:.1f})",
                    ("complaints learned", "category model s", "duplicate weights after it s",
                     "total s", "CPU s (process)", "CPU s (workers)", "peak RSS MB (process)",
                     "peak RSS MB (a worker)", "model MB"),
                    [(f"{result['samples']:,}", steps["duplicates"],
                      result["seconds"] - steps["duplicates"], result["seconds"],
                      result["cpu_s"], result["workers_cpu_s"], result["peak_mb"],
                      result["workers_peak_mb"], result["model_mb"])])
    with engine.connect() as conn:
        print_table(f"The training's candidate pairs, latest {PAIR_COMPLAINTS:,} decided "
                    f"complaints (s; load average {os.getloadavg()[0]:.1f})",
                    ("statement", "s", "pairs"), pair_statement(conn))
        print_table(f"Streaming the latest {STREAM_SAMPLE:,} labelled complaints through the "
                    f"category model (s; load average {os.getloadavg()[0]:.1f})",
                    ("features computed by", "s"), streaming(conn))
    console.print(f"Load average now: {os.getloadavg()} ({os.cpu_count()} cores)")
