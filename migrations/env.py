"""Alembic environment: migrate the database named by phananh's settings (or -x url=…).

The project's root is importable, so that a revision can reuse an earlier one's SQL as
``importlib.import_module("migrations.versions.<revision>")`` (the installed ``phananh``
command does not otherwise find ``migrations``)."""

import sys
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool

from settings import Settings

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

config = context.config
url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
url = url or Settings().sqlalchemy_url


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
