"""``phananh users``, ``phananh tokens`` and ``phananh workflow``: accounts, access, upkeep."""

from datetime import timedelta

import typer
from rich.table import Table

from auth import tokens, users
from auth.principal import Role
from cli.common import console, or_exit
from db.engine import get_engine
from settings import get_settings
from workflow import service as workflow

users_app = typer.Typer(help="Accounts and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens: issue and revoke.", no_args_is_help=True)
workflow_app = typer.Typer(help="Workflow upkeep jobs (run them from cron).",
                           no_args_is_help=True)


@users_app.command("add")
def add_user(
    username: str = typer.Argument(..., help="Login name, unique."),
    role: Role = typer.Option(..., help="citizen, ward_officer, district_officer, "
                                        "agency_officer, city_admin or analyst."),
    area: list[str] = typer.Option([], help="Ward code (ward_officer) or district code "
                                            "(district_officer) served; repeat for several."),
    name: str | None = typer.Option(None, help="Display name."),
    agency: list[str] = typer.Option([], help="Agency code the official belongs to (needed "
                                              "for agency_officer); repeat for several."),
) -> None:
    """Create an account; officers are scoped to the areas they serve and, when they belong
    to agencies, to the complaints routed to those agencies."""
    with get_engine().begin() as conn:
        or_exit(lambda: users.add_user(conn, username, role, area, name, agency))
    scope = f" for {', '.join(area + agency)}" if area or agency else ""
    console.print(f"[green]Created {role} {username!r}{scope}.[/green] "
                  f"Give them a token: phananh tokens issue {username}")


@users_app.command("list")
def list_users() -> None:
    """List accounts with their roles, areas and live tokens."""
    with get_engine().connect() as conn:
        rows = users.list_users(conn)
    table = Table("username", "role", "areas", "agencies", "live tokens", "disabled")
    for row in rows:
        table.add_row(row.username, row.role, row.areas, row.agencies, str(row.live_tokens),
                      "yes" if row.disabled else "")
    console.print(table)


@users_app.command("disable")
def disable_user(username: str = typer.Argument(..., help="The account to disable.")) -> None:
    """Disable an account: its tokens stop working at once."""
    with get_engine().begin() as conn:
        or_exit(lambda: users.set_disabled(conn, username, True))
    console.print(f"[green]{username!r} disabled.[/green]")


@users_app.command("enable")
def enable_user(username: str = typer.Argument(..., help="The account to enable.")) -> None:
    """Enable a disabled account again."""
    with get_engine().begin() as conn:
        or_exit(lambda: users.set_disabled(conn, username, False))
    console.print(f"[green]{username!r} enabled.[/green]")


@tokens_app.command("issue")
def issue(
    username: str = typer.Argument(..., help="Whose token."),
    label: str | None = typer.Option(None, help="What it is for, e.g. 'mobile app'."),
    days: int | None = typer.Option(None, min=1, help="Expire after this many days."),
) -> None:
    """Print a new bearer token for USERNAME (shown once; keep it secret)."""
    with get_engine().begin() as conn:
        token = or_exit(lambda: tokens.issue_token(conn, username, label=label, days=days,
                                                   secret=get_settings().token_secret))
    print(token)


@tokens_app.command("revoke")
def revoke(key: str = typer.Argument(..., help="A token, a token id, or a username (all of "
                                               "that user's tokens).")) -> None:
    """Revoke tokens: they stop working on the next request."""
    with get_engine().begin() as conn:
        count = tokens.revoke(conn, key, get_settings().token_secret)
    console.print(f"[green]{count} token(s) revoked.[/green]")


@workflow_app.command("warn-due")
def warn_due(hours: float = typer.Option(
        24.0, min=0.1, help="Warn of deadlines within this many hours.")) -> None:
    """Tell the officials in charge of open complaints whose deadline is near (once per
    deadline; notifications go out through `phananh notify run`)."""
    with get_engine().begin() as conn:
        warned = workflow.warn_due_soon(conn, timedelta(hours=hours))
    console.print(f"[green]{warned} complaint(s) due within {hours:g} h; officials notified."
                  "[/green]")


@workflow_app.command("close-stale")
def close_stale(days: int | None = typer.Option(
        None, min=1, help="Close answered complaints older than this (default: the reopen "
                          "window).")) -> None:
    """Close answered complaints nobody rated or reopened in time (as the system)."""
    window = days or get_settings().reopen_window_days
    with get_engine().begin() as conn:
        closed = workflow.close_stale(conn, window)
    console.print(f"[green]{closed} complaint(s) closed.[/green]")
