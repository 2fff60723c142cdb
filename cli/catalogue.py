"""``phananh catalogue``: a city's categories, agencies, routing rules and calendar, from a
YAML file (docs/catalogue.md)."""

from pathlib import Path

import typer
import yaml

from catalogue.apply import apply_document
from cli.common import console, or_exit, progress_bar
from db.engine import get_engine
from errors import ErrorCode, PhananhError

catalogue_app = typer.Typer(help="The city's catalogue: categories and their attributes, "
                                 "agencies, routing rules, working hours and holidays.",
                            no_args_is_help=True)


def read_document(path: Path) -> object:
    """The YAML document of ``path``; BAD_INPUT when it cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PhananhError(ErrorCode.BAD_INPUT, f"Cannot read {path}: {error}") from None


@catalogue_app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="The catalogue, YAML (docs/examples/"
                                          "city-catalogue.yaml is a complete example)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the changes; write nothing."),
) -> None:
    """Make the database's catalogue match FILE, in one transaction: create and update what
    differs, retire (never delete) what the file no longer lists. Running it twice changes
    nothing the second time; a file with any problem changes nothing at all."""
    document = or_exit(lambda: read_document(file))
    with get_engine().begin() as conn:
        changes = or_exit(lambda: apply_document(conn, document, dry_run=True))
        if not dry_run and changes:
            with progress_bar() as bar:
                task = bar.add_task("Applying", total=len(changes))
                or_exit(lambda: apply_document(
                    conn, document, on_progress=lambda step: bar.advance(task)))
    for change in changes:
        console.print(str(change), markup=False, highlight=False)
    verb = "would change" if dry_run else "changed"
    console.print(f"[green]{len(changes)} entries {verb}.[/green]" if changes
                  else "[green]Nothing to change: the database matches the file.[/green]")
