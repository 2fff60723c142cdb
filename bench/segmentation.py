"""Vietnamese word segmentation (pyvi) as an extra feature: what it costs and what it buys.

``python -m bench.segmentation [N]`` (default 20,000 demo texts, in time order): both models
trained on the earlier 80 %, in this process, one after the other; the later 20 % scored (top-1,
top-3, macro-F1), and one suggestion at a time (``model_suggestions``, what
``suggestCategories`` runs) timed over 1,000 of them. Ratios are against the model without
segmentation, measured in the same run. The figures and the decision: docs/triage.md.
"""

import sys
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import f1_score

from bench.common import print_table
from bench.triage import demo_texts
from triage.model import CategoryModel, train
from triage.service import model_suggestions
from triage.text import segmented

TIMED = 1_000


def _latencies_ms(model: CategoryModel, texts: list[str],
                  prepare: Callable[[str], str]) -> np.ndarray:
    model_suggestions(model, None, [prepare(t) for t in texts[:20]], 3)  # warm up
    samples = []
    for text in texts[:TIMED]:
        start = time.perf_counter()
        model_suggestions(model, None, [prepare(text)], 3)
        samples.append((time.perf_counter() - start) * 1000)
    return np.asarray(samples)


def main(args: list[str] | None = None) -> None:
    n = int((args or sys.argv[1:] or ["20000"])[0])
    texts, labels = demo_texts(n)
    split = int(n * 0.8)
    truth = np.asarray(labels[split:])
    rows = []
    base: tuple[float, float] | None = None
    as_typed: Callable[[str], str] = str
    for name, prepare in (("model", as_typed), ("model + pyvi compounds", segmented)):
        start = time.perf_counter()
        prepared = [prepare(text) for text in texts]
        model = train(prepared[:split], labels[:split])
        seconds = time.perf_counter() - start
        p = model.probabilities(model.vectors(prepared[split:]))
        ranked = np.asarray(model.categories)[np.argsort(-p, axis=1)[:, :3]]
        p50, p95 = np.percentile(_latencies_ms(model, texts[split:], prepare), [50, 95])
        base = base or (seconds, p50)
        rows.append((name, f"{seconds:.1f}", f"{seconds / base[0]:.2f}", f"{p50:.2f}",
                     f"{p50 / base[1]:.2f}", f"{p95:.2f}", f"{(ranked[:, 0] == truth).mean():.4f}",
                     f"{(ranked == truth[:, None]).any(axis=1).mean():.4f}",
                     f"{f1_score(truth, ranked[:, 0], average='macro'):.4f}"))
    print_table(f"Word segmentation: {split:,} demo texts trained, {n - split:,} tested, "
                f"{TIMED:,} suggestions timed",
                ("features", "train s", "× train", "suggestion p50 ms", "× p50", "p95 ms",
                 "top-1", "top-3", "macro-F1"), rows)


if __name__ == "__main__":
    main()
