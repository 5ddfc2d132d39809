"""Alembic's environment: online migrations against DATABASE_URL (the app's own setting)."""

from logging.config import fileConfig

from alembic import context
from app.db import Base
from app.settings import load
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

settings = load()
if not settings.database_url:
    raise SystemExit("DATABASE_URL is not set: nothing to migrate")

# One connection, no pool: a migration is a one-off.
engine = create_engine(settings.database_url, poolclass=pool.NullPool,
                       connect_args={"connect_timeout": 10})
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
