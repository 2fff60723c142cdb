"""``phananh export``: a layer to a file, with the filters and formats of ``/export``."""

from pathlib import Path

import typer

from cli.common import console, or_exit, progress_bar
from db.engine import get_engine
from layers.export import FORMATS, get_format, write_gpkg
from layers.features import count
from layers.query import TEXT_PARAMETER
from layers.registry import LAYERS, get_layer
from layers.versions import snapshot


def export_cmd(
    layer: str = typer.Argument(..., help=f"The layer: {', '.join(LAYERS)}."),
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (replaced if present)."),
    format_name: str = typer.Option("geojson", "--format", "-f",
                                    help=f"One of {', '.join(FORMATS)}."),
    bbox: str | None = typer.Option(None, help="west,south,east,north in degrees."),
    when: str | None = typer.Option(
        None, "--datetime", help="An RFC 3339 instant or interval, e.g. 2025-01-01T00:00:00Z/.."),
    search: str | None = typer.Option(
        None, "--text", "-q", help="Free text in the public description (layers of "
                                   "complaints), accents and case ignored, as `q` in /export."),
    filters: list[str] = typer.Option(
        [], "--filter", help="NAME=VALUE[,VALUE…] on a queryable property (repeatable), "
                             "e.g. status=RESOLVED or ward_code=P001."),
) -> None:
    """Export LAYER to a GeoJSON, NDJSON, CSV or GeoPackage file. No personal data, ever."""
    chosen = or_exit(lambda: get_layer(layer))
    export_format = or_exit(lambda: get_format(format_name))
    params = [(name, value) for name, value in (("bbox", bbox), ("datetime", when),
                                                (TEXT_PARAMETER, search)) if value is not None]
    for item in filters:
        name, separator, value = item.partition("=")
        if not separator:
            console.print(f"[red]BAD_INPUT: --filter {item!r} is not NAME=VALUE.[/red]")
            raise typer.Exit(1)
        params.append((name.strip(), value))
    query = or_exit(lambda: chosen.parse(params))
    with snapshot(get_engine()) as conn, progress_bar() as bar:
        total = count(conn, chosen, query)
        task = bar.add_task(f"Exporting {chosen.id} to {out.name}", total=total)

        def advance(rows: int) -> None:
            bar.advance(task, rows)

        if export_format.chunks is None:
            write_gpkg(conn, chosen, query, out, advance)
        else:
            with out.open("wb") as file:
                for chunk in export_format.chunks(conn, chosen, query, advance):
                    file.write(chunk)
    console.print(f"[green]{total} {chosen.id} written to {out}.[/green]")
