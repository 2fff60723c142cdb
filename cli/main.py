"""``phananh``: one command for operators. Every subcommand has ``--help``."""

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from cli.accounts import tokens_app, users_app, workflow_app
from cli.boundaries import boundaries_app
from cli.catalogue import catalogue_app
from cli.common import console, or_exit, progress_bar
from cli.export import export_cmd
from cli.notify import notify_app
from cli.open311 import open311_app
from cli.rollups import rollups_app
from cli.serve import serve
from cli.triage import triage_app
from db.engine import get_engine
from db.partitions import add_partitions, default_rows, partitions
from demo import seed as demo_seed
from geo.boundaries import BoundaryFile, import_boundaries
from settings import get_settings, setting_errors

if TYPE_CHECKING:  # alembic itself is imported where it is used: a quarter of a second
    from alembic.config import Config

ROOT = Path(__file__).resolve().parents[1]
app = typer.Typer(help="phananh: citizen reports on a city, on PostGIS.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("export")(export_cmd)
app.command("serve")(serve)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(workflow_app, name="workflow")
app.add_typer(boundaries_app, name="boundaries")
app.add_typer(open311_app, name="open311")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(notify_app, name="notify")
app.add_typer(triage_app, name="triage")
app.add_typer(rollups_app, name="rollups")


@app.callback()
def check_settings() -> None:
    """Stop before any work when a setting is out of bounds, naming the variable to fix."""
    try:
        get_settings()
    except ValidationError as error:
        console.print("[red]Invalid settings:[/red]")
        for line in setting_errors(error):
            console.print(f"  {line}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def alembic_config(url: str | None = None) -> "Config":
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = url or get_settings().sqlalchemy_url
    return config


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate DATABASE_URL to the latest schema (or to REVISION)."""
    from alembic import command

    command.upgrade(alembic_config(), revision)
    console.print(f"[green]Database at {revision}.[/green]")


@db_app.command("partitions")
def db_partitions(
    ahead: int = typer.Option(2, min=0, max=20, help="Years after this one to create."),
) -> None:
    """Create the yearly partitions of complaints and events, and the monthly ones of the
    statistics' duration rollups, through AHEAD years from now, then list them all (run it
    yearly: a row of a period without its partition lands in the default partition)."""
    with get_engine().begin() as conn:
        created = add_partitions(conn, ahead)
        listed = partitions(conn)
        stray = default_rows(conn)
    for name in created:
        console.print(f"[green]Created {name}.[/green]")
    for partition in listed:
        console.print(f"{partition.name}\t{partition.bounds}", soft_wrap=True, markup=False)
    for table, rows in stray.items():
        if rows:
            console.print(f"[yellow]{rows} rows in {table}_default: see "
                          "docs/partitions.md.[/yellow]")


@app.command("import-boundaries")
def import_boundaries_cmd(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile: anything GDAL reads."),
    level: str = typer.Option(..., help="ward, district or city."),
    generation: str = typer.Option("default", help="Boundary generation to import into."),
    valid_from: datetime | None = typer.Option(None, formats=["%Y-%m-%d"],
                                               help="First day the generation is in force."),
    valid_to: datetime | None = typer.Option(None, formats=["%Y-%m-%d"],
                                             help="First day it is no longer in force."),
    code_field: str | None = typer.Option(None, help="Field with the area code."),
    name_field: str | None = typer.Option(None, help="Field with the area name."),
    name_en_field: str | None = typer.Option(None, help="Field with the English name."),
    population_field: str | None = typer.Option(None, help="Field with the population."),
    parent_field: str | None = typer.Option(
        None, help="Field with the parent's code; without it parents are found spatially."),
    layer: str | None = typer.Option(None, help="Layer name, for multi-layer files."),
) -> None:
    """Import (or re-import: upsert by code) administrative boundaries from FILE."""
    source = BoundaryFile(path=file, level=level, code_field=code_field, name_field=name_field,
                          name_en_field=name_en_field, population_field=population_field,
                          parent_field=parent_field, layer=layer)
    with progress_bar() as bar:
        task = bar.add_task(f"Importing {file.name}", total=None)
        report = or_exit(lambda: import_boundaries(
            get_engine(), source, generation, _day(valid_from), _day(valid_to),
            on_progress=lambda done, total: bar.update(task, completed=done, total=total)))
    console.print(f"[green]{report.read} {level} areas read into generation "
                  f"{generation!r}: {report.inserted} new, {report.updated} updated.[/green]")
    for code, reason in report.repaired:
        console.print(f"  repaired {code}: {reason}")
    if report.parents_linked:
        console.print(f"  {report.parents_linked} areas linked to their parent")
    if report.without_parent:
        console.print(f"  [yellow]{len(report.without_parent)} {level} areas have no parent "
                      f"(import the level above to link them): "
                      f"{', '.join(report.without_parent[:8])}…[/yellow]")


@app.command("seed-demo")
def seed_demo_cmd(
    complaints: int = typer.Option(10_000, min=0, help="How many demo complaints."),
    seed: int = typer.Option(2025, help="Random seed: the same seed gives the same city."),
    years: int = typer.Option(1, min=1, help="Years of history the complaints span."),
    reset: bool = typer.Option(False, help="Delete all complaints and boundaries first."),
) -> None:
    """Load a generated demo city (two boundary generations) and N complaints."""
    engine = get_engine()
    if reset:
        demo_seed.reset(engine)
    elif demo_seed.has_complaints(engine):
        console.print("The database already has complaints; nothing seeded "
                      "(use --reset to start over).")
        return
    with progress_bar() as bar:
        task = bar.add_task("Seeding complaints", total=complaints)
        reports, loaded = or_exit(lambda: demo_seed.seed_demo(
            engine, complaints, seed,
            on_progress=lambda done, total: bar.update(task, completed=done), years=years))
    areas = sum(r.read for r in reports)
    accounts = or_exit(lambda: demo_seed.seed_demo_users(engine))
    console.print(f"[green]Demo city: {areas} areas in {len({r.generation for r in reports})} "
                  f"generations; {loaded} complaints.[/green]")
    console.print("Demo accounts (send the token as 'Authorization: Bearer <token>'):")
    for role, username, token in accounts:
        console.print(f"  {role:<17} {username:<22} {token}", soft_wrap=True)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None
