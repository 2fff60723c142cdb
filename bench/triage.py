"""AI-assisted intake at a million complaints: suggestion latency, training, duplicates.

``python -m bench triage --complaints 1000000`` (the default). The complaints are the demo
generator's (varied Vietnamese descriptions, hotspots, statuses, planted duplicates), written
by ``bench/triage_data.py`` into the database ``<name>_triage`` once.

- suggestion: ``model_suggestions`` (what ``suggestCategories`` runs in process: features,
  calibrated probabilities, top 3 and their explanations) against the bare model call on the
  same features (scikit-learn's ``predict_proba`` of the same text's features), 1,000 texts
  each, in the same run, one model trained on :data:`LATENCY_TRAINING` complaints;
- training: ``triage.service.train_and_store`` (what ``phananh triage train`` runs: the
  history streamed from a server-side cursor, the category model, the duplicate weights, the
  stored version) on every complaint, in a fresh child process, so that its peak resident
  memory is the training's alone;
- possible duplicates of one open complaint (the statement ``possibleDuplicates`` runs at
  submission), p95 over 180 complaints (after 20 unmeasured), against the same statement
  without migration 0020's index (dropped in a transaction that is rolled back: the plan
  before it), in the same run.
"""

import argparse
import multiprocessing
import os
import random
import resource
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from bench.common import bench_settings, console, measure, print_table
from bench.triage_data import ensure_triage_data
from db.engine import make_engine
from db.triage import duplicate_candidates
from triage.model import CategoryModel, train
from triage.service import model_suggestions, train_and_store

LATENCY_TRAINING = 20_000
SUGGESTIONS = 1_000
DUPLICATE_QUERIES = 200
INDEX = "complaint_open_place_time"


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
    queue.put({"seconds": time.perf_counter() - start, "steps": steps, "samples": samples,
               "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
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


def duplicates(conn: Connection) -> list[tuple[str, float, float, float]]:
    """p95 of the candidates of one open complaint, with and without the index of 0020."""
    ids = list(conn.execute(text(
        "SELECT id FROM complaint WHERE status = 'RECEIVED' ORDER BY id")).scalars())
    sample = random.Random(1).sample(ids, DUPLICATE_QUERIES)
    rows = []
    for name in ("open complaints by place and time (0020)", "without it (the plan before)"):
        queries = iter(sample)
        if rows:
            conn.execute(text(f"DROP INDEX {INDEX}"))  # rolled back below
        timing = measure(lambda q=queries: duplicate_candidates(conn, [next(q)], 5),
                         repeat=DUPLICATE_QUERIES - 20, warmup=20)
        rows.append((name, timing.median * 1000, timing.p95 * 1000, max(timing.samples) * 1000))
    conn.rollback()
    return rows


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
        found = duplicates(conn)
    print_table(f"Possible duplicates of one open complaint, {options.complaints:,} complaints "
                "(ms)", ("index", "median", "p95", "max"), found)
    if not options.skip_training:
        console.print(f"Training on all {options.complaints:,} complaints (a fresh process)…")
        result = training(settings.sqlalchemy_url)
        steps = result["steps"]
        print_table("Training (phananh triage train)",
                    ("complaints learned", "category model s", "duplicate weights s",
                     "total s", "CPU s (this process)", "peak RSS MB", "model MB"),
                    [(f"{result['samples']:,}", steps["duplicates"],
                      result["seconds"] - steps["duplicates"], result["seconds"],
                      result["cpu_s"], result["peak_mb"], result["model_mb"])])
        console.print(f"Load average now: {os.getloadavg()} ({os.cpu_count()} cores)")
