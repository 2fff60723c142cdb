"""``phananh boundaries``: which imported boundary generations may be in force."""

import typer

from cli.common import console, or_exit
from db import areas as area_sql
from db.engine import get_engine

boundaries_app = typer.Typer(
    help="Boundary generations: activate or deactivate them after an import. Of the active "
         "generations valid today, the newest is in force (per level).",
    no_args_is_help=True)


def _set_active(name: str, active: bool) -> None:
    with get_engine().begin() as conn:
        or_exit(lambda: area_sql.set_generation_active(conn, name, active))


@boundaries_app.command("activate")
def activate(name: str = typer.Argument(..., help="The generation, as named at import.")) -> None:
    """Let generation NAME be in force over its validity (imports start active)."""
    _set_active(name, True)
    console.print(f"[green]Generation {name!r} is active.[/green]")


@boundaries_app.command("deactivate")
def deactivate(name: str = typer.Argument(..., help="The generation, as named at import.")
               ) -> None:
    """Keep generation NAME out of force; its areas stay queryable by name."""
    _set_active(name, False)
    console.print(f"[green]Generation {name!r} is inactive.[/green]")
