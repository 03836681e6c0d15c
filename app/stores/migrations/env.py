"""Alembic's environment for the metadata schema.

`MetadataStore.migrate()` runs it on its own connection, already inside the migration transaction
(`config.attributes["connection"]`). The command line (`alembic -c app/stores/alembic.ini history`,
`… upgrade head`, `… revision --autogenerate -m "…"`) runs it on the database the settings name.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from app.stores.schema import adopt_previous_release, lock_schema
from app.stores.tables import metadata


def run_migrations(connection: Connection) -> None:
    lock_schema(connection)
    context.configure(connection=connection, target_metadata=metadata)
    adopt_previous_release(context.get_context(), ScriptDirectory.from_config(context.config))
    with context.begin_transaction():
        context.run_migrations()


def run_on_configured_database() -> None:
    from app.config import get_settings
    from app.stores.database import configured_database

    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name)
    database = configured_database(get_settings())
    try:
        with database.transaction(write=True) as connection:
            run_migrations(connection)
    finally:
        database.close()


if context.is_offline_mode():
    raise SystemExit("The metadata migrations run online only: drop --sql")
given = context.config.attributes.get("connection")
if given is None:
    run_on_configured_database()
else:
    run_migrations(given)
