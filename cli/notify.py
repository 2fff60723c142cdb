"""``phananh notify``: the outbox worker, and the dead letters an admin inspects and replays."""

import signal
from types import FrameType

import typer
from rich.table import Table

from cli.common import console, progress_bar
from db import outbox
from db.engine import get_engine
from notify.worker import Tally, Worker
from settings import get_settings

notify_app = typer.Typer(help="Notifications: deliver the outbox, inspect and replay dead "
                              "letters.", no_args_is_help=True)


@notify_app.command("run")
def run(until_empty: bool = typer.Option(
        False, help="Stop once nothing is due (a one-off drain, e.g. from cron)."),
) -> None:
    """Deliver notifications (webhooks, e-mail) until stopped; SIGTERM or Ctrl-C finishes the
    batch in hand first. Safe to kill at any moment: nothing is lost, a notification whose
    delivery was not yet recorded is sent again (same id)."""
    engine, settings = get_engine(), get_settings()
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with engine.connect() as conn:
        due = outbox.pending(conn)
    worker = Worker(engine, settings)
    with progress_bar() as bar:
        task = bar.add_task("Delivering notifications", total=due or None)

        def progress(tally: Tally) -> None:
            bar.update(task, advance=tally.delivered + tally.failed)
            if not until_empty:
                bar.update(task, total=max(bar.tasks[0].completed, due))

        total = worker.run(until_empty=until_empty, on_batch=progress,
                           should_stop=lambda: stopping)
    console.print(f"Delivered {total.delivered}, failed {total.failed} (retried later or dead).")


@notify_app.command("dead-letters")
def dead_letters(limit: int = typer.Option(100, min=1, help="Most to list.")) -> None:
    """List notifications that failed every attempt."""
    with get_engine().connect() as conn:
        rows = outbox.dead_letters(conn, limit)
    table = Table("id", "channel", "target", "attempts", "dead since", "last error")
    for row in rows:
        table.add_row(str(row.id), row.channel, row.target, str(row.attempts),
                      row.dead_at.isoformat(timespec="seconds"), row.last_error or "")
    console.print(table)


@notify_app.command("replay")
def replay(ids: list[str] = typer.Argument(None, help="Dead letters to replay (ids)."),
           all_: bool = typer.Option(False, "--all", help="Replay every dead letter.")) -> None:
    """Give dead letters a fresh set of attempts; the worker sends them again."""
    if not ids and not all_:
        console.print("[red]Name dead letters by id, or give --all.[/red]")
        raise typer.Exit(2)
    with get_engine().begin() as conn:
        count = outbox.replay(conn, None if all_ else ids)
    console.print(f"[green]{count} dead letters due again.[/green]")
