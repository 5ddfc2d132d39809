"""`golden cutover run local` against the local stack's stand-ins (golden local up:
PostgreSQL with TLS on 127.0.0.1:15432, Chroma on 127.0.0.1:18000, the emulator's S3 and
SSM on 127.0.0.1:15000): the ENV ``local`` path, where the instance document's network
names become the published loopback ports and the local CA is the default bundle.

Needs Docker (marker ``twin``). It empties what the cutover writes in the local stack
first (the app database's public tables, the two collections, the uploads/ prefix): the
sample app seeds ``golden_sample_documents`` and ``golden-sample-docs`` itself, which the
cutover would rightly refuse to overwrite."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from golden.cli import main

from tests.cutover import source

pytestmark = [pytest.mark.twin, pytest.mark.slow]


def _empty_local_targets() -> None:
    import chromadb
    import psycopg
    from chromadb.config import Settings
    from golden.cutover import target as targets

    target = targets.resolve("local")
    creds = targets.fetch_credentials(target)
    with psycopg.connect(host=target.db_host, port=target.db_port, dbname=target.db_name,
                         user=target.db_user, password=creds.db_password,
                         sslmode="verify-full", sslrootcert=target.ca_bundle,
                         autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS golden_cutover CASCADE")
        for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE "
                                    "schemaname = 'public'").fetchall():
            conn.execute(f'DROP TABLE public."{name}" CASCADE')
    client = chromadb.HttpClient(host=target.chroma_host, port=target.chroma_port,
                                 settings=Settings(anonymized_telemetry=False))
    for col in client.list_collections():
        if col.name in ("golden-sample-docs", "notes"):
            client.delete_collection(col.name)
    s3 = targets.client(target, "s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket,
                                                             Prefix="uploads/"):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=target.bucket, Key=obj["Key"])


def test_cutover_into_the_local_stack(local_standins, tmp_path):
    root = tmp_path / "server"
    made = source.make_all(root, big_mb=5, messages=101_000)
    _empty_local_targets()
    runner = CliRunner()
    planned = runner.invoke(main, ["cutover", "plan", "local", "--from", str(root), "--json"])
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["database"]["action"] == "load"
    ran = runner.invoke(main, ["cutover", "run", "local", "--from", str(root), "--json",
                               "--quiet", "--report", str(tmp_path / "report.json")])
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["verify"]["ok"] is True
    assert result["verify"]["database"]["tables"]["messages"]["rows"] == \
        made["tables"]["messages"]
    verified = runner.invoke(main, ["cutover", "verify", "local", "--from", str(root)])
    assert verified.exit_code == 0, verified.output
