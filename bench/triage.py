"""Category suggestion: latency against a bare model call, and training time and memory.

``python -m bench triage [N]`` (default 1,000,000). The texts are the demo generator's (varied
Vietnamese descriptions, their labels the categories officials would keep), made in memory:
training is measured apart from the database, on the texts the database would hand it.

- suggestion: ``model_suggestions`` (what ``suggestCategories`` runs in process: features,
  calibrated probabilities, top 3 and their explanations) against the bare model call on the
  same features (``predict_proba`` of the features of the same text), p95 over 1,000 texts;
- training on N complaints, in a child process of its own so that its peak resident memory is
  the training's alone;
- possible duplicates of one complaint (``python -m bench.triage duplicates [N]``, default
  100,000 complaints in the database ``<name>_triage``): p95 over 300 open complaints, beside
  the same statement with the spatial index disabled (what a scan costs), and the plan.
"""

import multiprocessing
import random
import resource
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import text

from bench.common import bench_engine, console, ensure_demo_data, measure, print_table
from db.triage import DUPLICATES, duplicate_candidates, duplicate_parameters
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from triage.model import CategoryModel, train
from triage.service import model_suggestions

SUGGESTIONS = 1_000
LATENCY_TRAINING = 100_000


def demo_texts(n: int) -> tuple[list[str], list[str]]:
    outline = next(a.geometry for a in build_demo_city()[-1].areas if a.level == "city")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    texts, labels = [], []
    for complaint in generate_complaints(n, outline, seed=7, now=now, years=3):
        texts.append(complaint.description)
        labels.append(complaint.category_code)
    return texts, labels


def _train_child(n: int, queue: "multiprocessing.Queue[tuple[float, float, int]]") -> None:
    texts, labels = demo_texts(n)
    start = time.perf_counter()
    model = train(texts, labels)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak_mb, len(model.dumps())))


def training(n: int) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB of the whole child, model size in bytes) for ``n`` texts."""
    queue: multiprocessing.Queue[tuple[float, float, int]] = multiprocessing.Queue()
    child = multiprocessing.get_context("fork").Process(target=_train_child, args=(n, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


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


def main(n: int = 1_000_000) -> None:
    console.print(f"Training a model on {LATENCY_TRAINING:,} demo texts for the latency runs…")
    texts, labels = demo_texts(LATENCY_TRAINING)
    model = train(texts, labels)
    rows = latency(model, texts[-SUGGESTIONS:])
    ratio = rows[0][2] / rows[1][2]
    print_table("Category suggestion, in process (ms)", ("job", "median", "p95"),
                [*rows, ("p95 ratio suggestion / bare", ratio, ratio)])
    console.print(f"Training on {n:,} demo texts (a child process)…")
    seconds, peak_mb, size = training(n)
    print_table("Training", ("complaints", "seconds", "peak RSS (MB)", "model (MB)"),
                [(f"{n:,}", seconds, peak_mb, size / 1e6)])


def duplicates(n: int = 100_000) -> None:
    engine = bench_engine("triage")
    ensure_demo_data(engine, n)
    with engine.connect() as conn:
        ids = list(conn.execute(text(
            "SELECT id FROM complaint WHERE status = 'RECEIVED' ORDER BY id")).scalars())
        sample = iter(random.Random(1).choices(ids, k=2_000))
        indexed = measure(lambda: duplicate_candidates(conn, [next(sample)], 5), repeat=300,
                          warmup=20)
        plan = "\n".join(conn.execute(text("EXPLAIN " + DUPLICATES),
                                       duplicate_parameters([ids[0]], 5)).scalars())
        conn.execute(text("SET enable_indexscan = off"))
        conn.execute(text("SET enable_bitmapscan = off"))
        scan = measure(lambda: duplicate_candidates(conn, [next(sample)], 5), repeat=20,
                       warmup=2)
    print_table(f"Possible duplicates of one complaint, {n:,} complaints (ms)",
                ("statement", "median", "p95"),
                [("through the geography GiST index", indexed.median * 1000,
                  indexed.p95 * 1000),
                 ("index disabled (scan)", scan.median * 1000, scan.p95 * 1000)])
    console.print(plan, markup=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["duplicates"]:
        duplicates(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
