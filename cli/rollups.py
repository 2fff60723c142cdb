"""``phananh rollups``: the daily, grid-cell, statistics (in total and per area), due-day (in
total and per area) and duration rollups, and the durations per area and month, rebuilt from
the complaints; and the snapshots of the statistics' durations, refreshed."""

import time
from datetime import timedelta

import typer
from sqlalchemy import text

from analytics import rollups, snapshots
from cli.common import console, or_exit, progress_bar
from db.engine import get_engine
from settings import get_settings

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


@rollups_app.command("refresh")
def refresh_cmd(
    asked_within_days: float = typer.Option(
        7, min=0.01, max=366, help="Keep the windows asked for within this many days; drop the "
                                   "others."),
    every: float | None = typer.Option(
        None, min=1, help="Run again every this many seconds, until stopped (a worker); "
                          "choose half of PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS."),
) -> None:
    """Re-read the snapshots of the statistics' durations (in total, per category, per
    district and ward) and of clusters that writes have made stale, for those asked for
    lately (analytics/snapshots.py). Run it from cron or with --every when
    PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS is set."""
    if get_settings().stats_snapshot_max_age_seconds <= 0:
        console.print("[yellow]PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS is 0: requests keep no "
                      "snapshots, so there is nothing to refresh.[/yellow]")
    while True:
        done = _refresh_once(timedelta(days=asked_within_days))
        for one in done:
            outcome = f"dropped: {one.dropped}" if one.dropped else f"{one.seconds:.2f} s"
            console.print(f"  {one.what}: {outcome}", highlight=False)
        refreshed = sum(one.dropped is None for one in done)
        console.print(f"[green]{refreshed} snapshots refreshed, {len(done) - refreshed} "
                      f"dropped.[/green]")
        if every is None:
            return
        time.sleep(every)


def _refresh_once(asked_within: timedelta) -> list[snapshots.Refreshed]:
    with progress_bar() as bar:
        task = bar.add_task("Refreshing", total=None)
        done = or_exit(lambda: snapshots.refresh(
            get_engine(), asked_within,
            on_progress=lambda n, total: bar.update(task, completed=n, total=total)))
        bar.update(task, total=len(done), completed=len(done))
    return done
