"""``phananh triage``: train the category suggestion model and measure it honestly.

The learning code (scikit-learn, scipy: most of a second to import) is imported by the
commands that learn, so that every other ``phananh`` command, ``--help`` included, starts
without it."""

from collections.abc import Callable
from datetime import datetime

import typer
from rich.progress import Progress
from rich.table import Table

from cli.common import console, or_exit, progress_bar
from db import triage as triage_sql
from db.engine import get_engine

triage_app = typer.Typer(help="Category suggestions and duplicate scores learned from "
                                "officials' decisions.",
                         no_args_is_help=True)

SINCE = typer.Option(None, formats=["%Y-%m-%d"],
                     help="First day of the training window (default: the oldest complaint).")
UNTIL = typer.Option(None, formats=["%Y-%m-%d"],
                     help="First day after the window (default: up to now).")
TRAIN_STEPS = ("features", "model", "calibration", "duplicates")
EVALUATE_STEPS = ("features", "model", "calibration", "scoring")


@triage_app.command("train")
def train_cmd(since: datetime | None = SINCE, until: datetime | None = UNTIL) -> None:
    """Train on the complaints officials confirmed or corrected in the window, store the model
    as a new version in the database and make it the active one for every server."""
    from triage import service

    engine = get_engine()
    with progress_bar() as bar:
        step = _stepper(bar, TRAIN_STEPS)
        version, model, samples = or_exit(lambda: service.train_and_store(
            engine, since, until, step, _loading(bar, "Learning from complaints")))
        step("done")
    with engine.connect() as conn:
        row = next(r for r in triage_sql.model_versions(conn) if r.version == version)
    console.print(f"[green]Model version {version} active[/green]: {samples:,} "
                  f"complaints from {row.trained_from:%Y-%m-%d} to {row.trained_to:%Y-%m-%d}, "
                  f"{len(model.categories)} categories, {model.features_used:,} features, "
                  f"temperature {model.temperature:.2f}.")
    learned = row.metrics.get("duplicates")
    console.print(f"Duplicate scores: learned from {learned['pairs']:,} candidate pairs "
                  f"({learned['duplicates']:,} duplicates)." if learned else
                  "Duplicate scores: hand-set (too few markDuplicate decisions to learn from).")


@triage_app.command("evaluate")
def evaluate_cmd(since: datetime | None = SINCE, until: datetime | None = UNTIL,
                 test_share: float = typer.Option(0.2, min=0.05, max=0.5,
                                                  help="The latest share of the window "
                                                       "tested on (a time split)."),
                 segmentation: bool = typer.Option(
                     False, help="Also score a model trained on the texts with Vietnamese "
                                 "compound words joined (pyvi's tokenizer).")) -> None:
    """Train on the earlier part of the history, test on the later part, and print top-1,
    top-3, macro-F1 and per-category precision and recall beside two baselines; then the
    duplicate scorer's ROC AUC and precision at 1 and 5 beside distance and time only."""
    from triage import service

    engine = get_engine()
    with progress_bar() as bar:
        history = service.load_history(engine, since, until, _loading(bar))
        step = _stepper(bar, EVALUATE_STEPS + (("segmented model",) if segmentation else ()))
        result = or_exit(lambda: service.evaluate(history, test_share, step,
                                                  segmentation=segmentation))
        step("done")
    console.print(f"Trained on {result.train_size:,} complaints before "
                  f"{result.split_at:%Y-%m-%d %H:%M}, tested on the {result.test_size:,} after.")
    table = Table("method", "top-1", "top-3", "macro-F1", title="Category suggestion")
    for method, scores in result.scores.items():
        table.add_row(method, *(f"{scores[k]:.3f}" for k in ("top1", "top3", "macro_f1")))
    console.print(table)
    per_category = Table("category", "precision", "recall", "support", title="Model, per category")
    for code, (precision, recall, support) in result.per_category.items():
        per_category.add_row(code, f"{precision:.3f}", f"{recall:.3f}", str(support))
    console.print(per_category)
    duplicates = or_exit(lambda: service.evaluate_duplicates(engine, since, until, test_share))
    table = Table("method", "ROC AUC", "P@1", "P@5", title=(
        f"Duplicate detection: fitted on {duplicates.train_pairs:,} candidate pairs of the "
        f"earlier decided complaints, tested on the {duplicates.test_pairs:,} of the later"))
    for method, scores in duplicates.scores.items():
        table.add_row(method, *(f"{scores[k]:.3f}" for k in ("roc_auc", "p_at_1", "p_at_5")))
    console.print(table)
    console.print("P@k: per later complaint with a duplicate among its candidates "
                  f"({duplicates.scores['learned']['queries']:.0f}), the share of duplicates "
                  "among its best k, averaged.")


@triage_app.command("models")
def models_cmd() -> None:
    """List the stored model versions, the active one marked."""
    with get_engine().connect() as conn:
        rows = triage_sql.model_versions(conn)
    table = Table("version", "trained", "window", "complaints", "active")
    for row in rows:
        table.add_row(str(row.version), f"{row.created_at:%Y-%m-%d %H:%M}",
                      f"{row.trained_from:%Y-%m-%d} – {row.trained_to:%Y-%m-%d}",
                      f"{row.samples:,}", "yes" if row.active else "")
    console.print(table)


def _loading(bar: Progress, description: str = "Loading history"
             ) -> Callable[[int, int], None]:
    task = bar.add_task(description, total=None)
    return lambda done, total: bar.update(task, completed=done, total=total)


def _stepper(bar: Progress, steps: tuple[str, ...]) -> Callable[[str], None]:
    task = bar.add_task("Training", total=len(steps))

    def step(name: str) -> None:
        """Show the step under way; "done" fills the bar."""
        done = steps.index(name) if name in steps else len(steps)
        bar.update(task, completed=done, description=f"Training: {name}")

    return step
