"""The Alembic environment of the secrets database.

The store runs it on its own connection, inside a transaction it holds (see
`jupyterlab_secrets.migrations.upgrade_schema`). A developer can also run Alembic against a URL,
for instance to write a new revision:

    from jupyterlab_secrets.migrations import alembic_config
    from alembic import command
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite:////tmp/secrets.db")
    command.revision(config, "what changes", autogenerate=True)

On SQLite, a migration that rebuilds a table (``batch_alter_table``) must not rebuild
``secrets`` while foreign keys are on: dropping the old table would cascade to its shares and
attachments.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from jupyterlab_secrets.migrations import VERSION_TABLE
from jupyterlab_secrets.stores.sql_schema import Base

config = context.config
options = {
    "target_metadata": Base.metadata,
    "version_table": VERSION_TABLE,
    "render_as_batch": True,
    "compare_type": True,
}

connection = config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as own_connection:
        context.configure(connection=own_connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
