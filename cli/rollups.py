"""``phananh rollups``: the daily, grid-cell, statistics (in total and per area), due-day (in
total and per area) and duration rollups, and the durations per area and month, rebuilt from
the complaints."""

import typer
from sqlalchemy import text

from analytics import rollups
from cli.common import console
from db.engine import get_engine

rollups_app = typer.Typer(help="Daily, grid-cell, statistics, due-day and duration rollups "
                               "(migrations 0013, 0017, 0021, 0022, 0025, 0028, 0029, 0030, "
                               "0032, 0033, 0034 and 0037).",
                          no_args_is_help=True)


@rollups_app.command("rebuild")
def rebuild_cmd() -> None:
    """Recount every rollup from the complaints in one transaction (writers wait meanwhile):
    a repair, or the end of a bulk load made with the rollup triggers disabled."""
    with get_engine().begin() as conn:
        rollups.rebuild(conn)
        (areas, cells, months, kpis, area_kpis, area_months, due, area_due, hours, fine_hours,
         area_hours) = conn.execute(text(
            "SELECT (SELECT count(*) FROM complaint_rollup), "
            "(SELECT count(*) FROM complaint_grid_rollup), "
            "(SELECT count(*) FROM complaint_grid_month_rollup), "
            "(SELECT count(*) FROM complaint_kpi_rollup), "
            "(SELECT count(*) FROM complaint_area_kpi_rollup), "
            "(SELECT count(*) FROM complaint_area_kpi_month_rollup), "
            "(SELECT count(*) FROM complaint_due_rollup), "
            "(SELECT count(*) FROM complaint_area_due_rollup), "
            "(SELECT count(*) FROM complaint_duration_rollup), "
            "(SELECT count(*) FROM complaint_duration_fine_rollup), "
            "(SELECT count(*) FROM complaint_area_duration_values)")).one()
    console.print(f"[green]Rollups rebuilt[/green]: {areas:,} area rows, {cells:,} grid rows, "
                  f"{months:,} monthly grid rows, {kpis:,} statistics rows, {area_kpis:,} "
                  f"statistics rows per area ({area_months:,} per month), {due:,} due-day "
                  f"rows ({area_due:,} per area and month), {hours:,} duration rows "
                  f"({fine_hours:,} in finer buckets), "
                  f"{area_hours:,} rows of durations per area and month.")
