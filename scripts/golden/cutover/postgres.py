"""The target database (adapter over psycopg): connect with the environment's TLS
settings, read what it holds, checksum tables, and swap a verified load into place.

What the cutover loaded is recorded in ``golden_cutover.loads`` (tables, kinds, row
counts, checksums), so a later run can tell its own earlier load (replaced by the final
delta run) from data someone else wrote (refused)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from golden.core.errors import OperationFailed, PreflightError
from golden.cutover import checksum, schema
from golden.cutover.target import Credentials, Target

CONNECT_TIMEOUT = 10


def connect(target: Target, creds: Credentials, *, autocommit: bool = True):
    """A psycopg connection (libpq: sslmode verify-full checks the chain and the host
    name). Autocommit: each step opens its own transaction. Raises PreflightError naming
    the database, never showing the password."""
    import psycopg

    kwargs = {"host": target.db_host, "port": target.db_port, "dbname": target.db_name,
              "user": target.db_user, "password": creds.db_password,
              "sslmode": target.sslmode, "connect_timeout": CONNECT_TIMEOUT,
              "application_name": "golden-cutover"}
    if target.ca_bundle:
        kwargs["sslrootcert"] = target.ca_bundle
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        text = str(exc).replace(creds.db_password, "***") if creds.db_password else str(exc)
        raise PreflightError(f"database {target.db_user}@{target.db_host}:{target.db_port}/"
                             f"{target.db_name}: {text.strip()}") from None


def public_tables(conn) -> dict[str, int]:
    """{table: exact row count} of the ordinary tables in schema public."""
    names = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1").fetchall()]
    return {name: conn.execute(f"SELECT count(*) FROM public.{schema.quote_ident(name)}")
            .fetchone()[0] for name in names}


def last_load(conn) -> dict | None:
    """The latest load record: {"tables": {name: {"rows", "checksum", "kinds"}}, ...}."""
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema.RECORD_SCHEMA}.loads",)
                          ).fetchone()[0]
    if exists is None:
        return None
    row = conn.execute(f"SELECT record FROM {schema.RECORD_SCHEMA}.loads "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def rows(conn, schema_name: str, table: str, columns: list[str]) -> Iterator[tuple]:
    cols = ", ".join(schema.quote_ident(c) for c in columns)
    qt = f"{schema.quote_ident(schema_name)}.{schema.quote_ident(table)}"
    # A server-side cursor: a large table never sits in memory whole.
    with conn.cursor(name=f"golden_cutover_{table}"[:60]) as cur:
        cur.itersize = 5000
        cur.execute(f"SELECT {cols} FROM {qt}")
        yield from cur


def table_checksums(conn, schema_name: str, specs: dict[str, dict]) -> dict:
    """{table: {"rows", "checksum"}} for ``specs`` ({table: {"columns": [...], "kinds":
    [...]}}), read in one repeatable-read transaction."""
    out = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table, spec in specs.items():
            count, digest = checksum.table_checksum(
                spec["kinds"], rows(conn, schema_name, table, spec["columns"]))
            out[table] = {"rows": count, "checksum": digest}
    return out


def prepare_staging(conn) -> None:
    """An empty staging schema (a previous, interrupted load's leftovers dropped)."""
    staging = schema.quote_ident(schema.STAGING_SCHEMA)
    with conn.transaction():
        conn.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
        conn.execute(f"CREATE SCHEMA {staging}")


def apply(conn, statements: list[str]) -> None:
    with conn.transaction():
        for sql in statements:
            conn.execute(sql)


def swap(conn, tables: list[schema.Table], record: dict, replace: list[str]) -> None:
    """In one transaction: drop ``replace`` (the cutover's own earlier load) from public,
    move the staging tables (with their indexes, constraints and owned sequences) into
    public, set every sequence past the highest id, record the load, drop staging. A
    failure changes nothing."""
    staging = schema.quote_ident(schema.STAGING_SCHEMA)
    record_schema = schema.quote_ident(schema.RECORD_SCHEMA)
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '30s'")
            if replace:
                conn.execute("DROP TABLE " + ", ".join(
                    f"public.{schema.quote_ident(t)}" for t in replace) + " CASCADE")
            for table in tables:
                conn.execute(f"ALTER TABLE {staging}.{schema.quote_ident(table.name)} "
                             "SET SCHEMA public")
            for sql in schema.sequence_resets(tables, "public"):
                conn.execute(sql)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {record_schema}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {record_schema}.loads (id bigserial "
                         "PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), record jsonb "
                         "NOT NULL)")
            conn.execute(f"INSERT INTO {record_schema}.loads (record) VALUES (%s::jsonb)",
                         (json.dumps(record),))
            conn.execute(f"DROP SCHEMA {staging} CASCADE")
    except Exception as exc:  # noqa: BLE001 - psycopg's errors, reported by name
        raise OperationFailed(f"database: moving the verified load into schema public "
                              f"failed, nothing changed: {exc}") from None


def table_shape(conn, schema_name: str, table: str) -> dict:
    """Columns, NOT NULL, indexes, foreign keys and column defaults of one table, for the
    schema checks in verify."""
    cols = conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM "
        "information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema_name, table)).fetchall()
    fkeys = conn.execute(
        "SELECT count(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'f' "
        "AND n.nspname = %s AND t.relname = %s", (schema_name, table)).fetchone()[0]
    indexes = conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema_name, table)).fetchone()[0]
    return {"columns": [{"name": c[0], "type": c[1], "nullable": c[2] == "YES",
                         "default": c[3]} for c in cols],
            "foreign_keys": fkeys, "indexes": indexes}


def next_values(conn, tables: list[schema.Table]) -> dict[str, int]:
    """{table.column: the value the sequence gives next} without consuming one."""
    out = {}
    for table in tables:
        for col in table.columns:
            seq = conn.execute("SELECT pg_get_serial_sequence(%s, %s)",
                               (f"public.{schema.quote_ident(table.name)}",
                                col.name)).fetchone()[0]
            if seq:
                last, called = conn.execute(f"SELECT last_value, is_called FROM {seq}"
                                            ).fetchone()
                out[f"{table.name}.{col.name}"] = last + 1 if called else last
    return out
