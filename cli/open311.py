"""``phananh open311 keys``: the API keys Open311 client applications submit with."""

import typer
from rich.table import Table

from auth import api_keys
from cli.common import console, or_exit
from db.engine import get_engine

open311_app = typer.Typer(help="Open311 GeoReport v2 (/open311/v2/).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of client applications: issue, list, revoke.",
                       no_args_is_help=True)
open311_app.add_typer(keys_app, name="keys")


@keys_app.command("issue")
def issue(label: str = typer.Argument(..., help="The application, e.g. 'FixMyStreet VN'.")
          ) -> None:
    """Print a new api_key for an application (shown once; only its hash is kept)."""
    with get_engine().begin() as conn:
        key_id, key = or_exit(lambda: api_keys.issue_key(conn, label))
    console.print(f"Key {key_id} for {label!r}; send it as api_key:", style="green")
    print(key)


@keys_app.command("list")
def list_keys() -> None:
    """List keys with their application and whether they are revoked (never the keys)."""
    with get_engine().connect() as conn:
        rows = api_keys.list_keys(conn)
    table = Table("id", "application", "issued", "revoked")
    for row in rows:
        table.add_row(str(row.id), row.label, f"{row.issued_at:%Y-%m-%d %H:%M}",
                      f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(key: str = typer.Argument(..., help="The key itself, or its id.")) -> None:
    """Revoke a key: submissions with it are refused (HTTP 403) from the next request."""
    with get_engine().begin() as conn:
        count = api_keys.revoke_key(conn, key)
    if not count:
        console.print("No such live key.", style="red")
        raise typer.Exit(1)
    console.print("Key revoked.", style="green")
