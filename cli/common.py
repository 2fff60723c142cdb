"""What every command shares: the console, the progress bar, and clear exits on bad input."""

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from errors import PhananhError

T = TypeVar("T")
console = Console()


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def or_exit(work: Callable[[], T]) -> T:
    """Run ``work``; an expected error becomes a clear message and exit code 1, no traceback."""
    try:
        return work()
    except PhananhError as exc:
        console.print(f"[red]{exc.code}: {exc.message}[/red]")
        raise typer.Exit(1) from None
