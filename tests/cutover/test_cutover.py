"""`golden cutover plan|run|verify` against real PostgreSQL (TLS, verify-full), a real
Chroma server and the S3/SSM emulator, all on loopback (tests/cutover/conftest.py), from
a single server's data made by the real libraries (tests/cutover/source.py): a full run,
runs killed part way that resume, and each bad input failing before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden.cli import main

from tests.cutover.conftest import PASSWORD, REGION, seed_aws, write_env

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


class World:
    """One test's target: a fresh database, bucket and empty Chroma, and its env file."""

    def __init__(self, tmp: Path, postgres, chroma_port: int, emulator, *, db: str,
                 bucket: str | None = "cutover-agent-data", chroma_token: str | None = None):
        emulator.reset()
        seed_aws(emulator.url, bucket, chroma_token=chroma_token)
        postgres.fresh_database(db)
        _clear_chroma(chroma_port)
        self.postgres, self.db, self.chroma_port = postgres, db, chroma_port
        self.bucket = bucket or "cutover-agent-data"
        self.aws = emulator.url
        self.env = write_env(tmp, aws=emulator.url, pg_port=postgres.port, db=db,
                             chroma_port=chroma_port, bucket=self.bucket)
        self.ca = str(postgres.ca)

    def args(self, command: str, root: Path, *extra: str) -> list[str]:
        return ["cutover", command, str(self.env), "--from", str(root), "--ca-bundle",
                self.ca, *extra]

    def golden(self, command: str, root: Path, *extra: str):
        return CliRunner().invoke(main, self.args(command, root, *extra))

    def pg(self):
        return self.postgres.admin(self.db)

    def tables(self, schema: str = "public") -> list[str]:
        with self.pg() as conn:
            return [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "ORDER BY 1", (schema,)).fetchall()]

    def schemas(self) -> list[str]:
        with self.pg() as conn:
            return [r[0] for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'golden%'").fetchall()]

    def s3(self):
        from golden.core import awsclient

        return awsclient.client("s3", region=REGION, endpoint=self.aws)

    def objects(self) -> dict[str, int]:
        reply = self.s3().list_objects_v2(Bucket=self.bucket)
        return {o["Key"]: o["Size"] for o in reply.get("Contents", [])}

    def chroma(self):
        import chromadb
        from chromadb.config import Settings

        return chromadb.HttpClient(host="127.0.0.1", port=self.chroma_port,
                                   settings=Settings(anonymized_telemetry=False))

    def collections(self) -> dict[str, int]:
        return {c.name: c.count() for c in self.chroma().list_collections()}

    def nothing_written(self) -> None:
        assert self.tables() in ([], ["accounts"])
        assert self.schemas() == []
        assert self.collections() in ({}, {"notes": 1})
        if self.bucket_exists():
            assert self.objects() == {}

    def bucket_exists(self) -> bool:
        names = [b["Name"] for b in self.s3().list_buckets().get("Buckets", [])]
        return self.bucket in names


def _clear_chroma(port: int) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(host="127.0.0.1", port=port,
                                 settings=Settings(anonymized_telemetry=False))
    for col in client.list_collections():
        client.delete_collection(col.name)


@pytest.fixture
def world(tmp_path, postgres, chroma_server, emulator, request):
    return World(tmp_path, postgres, chroma_server, emulator,
                 db=f"agent_{request.node.name[5:40]}".lower())


# -- a full run --------------------------------------------------------------------------


def test_plan_changes_nothing_then_run_moves_everything_and_verify_agrees(world, source_dir,
                                                                         tmp_path):
    root, made = source_dir
    planned = world.golden("plan", root, "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["database"]["action"] == "load"
    assert plan["database"]["per_table"] == made["tables"]
    assert plan["database"]["per_table"]["messages"] >= 100_000
    assert plan["uploads"]["files"] == len(made["uploads"])
    assert plan["uploads"]["bytes"] == sum(made["uploads"].values())
    assert plan["vectors"]["collections"]["notes"] == {"vectors": 3000, "dimension": 128,
                                                        "space": "l2"}
    assert plan["estimated_seconds"] > 0
    world.nothing_written()

    report = tmp_path / "report.json"
    ran = world.golden("run", root, "--report", str(report))
    assert ran.exit_code == 0, ran.output
    assert "ETA" in ran.stderr  # progress lines
    written = json.loads(report.read_text())
    assert written["verify"]["ok"] is True
    assert PASSWORD not in report.read_text() and PASSWORD not in ran.output

    _assert_database_content(world, root / "app.db")
    objects = world.objects()
    assert len(objects) == len(made["uploads"])
    assert objects["uploads/videos/große Präsentation.mp4"] == 100 << 20
    assert objects["uploads/報告書/第1四半期.txt"] == made["uploads"]["報告書/第1四半期.txt"]
    assert world.collections() == made["collections"]

    verified = world.golden("verify", root, "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True

    again = world.golden("run", root, "--json", "--quiet", "--report", str(report))
    assert again.exit_code == 0, again.output
    moved = json.loads(again.stdout)["moved"]
    assert moved["database"]["action"] == "skip"
    assert moved["uploads"]["uploaded"] == 0
    assert moved["vectors"]["copied"] == 0


def _assert_database_content(world: World, source_db: Path) -> None:
    with world.pg() as conn:
        name, admin, created, seen, avatar = conn.execute(
            "SELECT name, is_admin, created_at, last_seen, avatar FROM users WHERE id = 50"
        ).fetchone()
        src = sqlite3.connect(source_db)
        s_name, s_admin, s_created, s_seen, s_avatar = src.execute(
            "SELECT name, is_admin, created_at, last_seen, avatar FROM users WHERE id = 50"
        ).fetchone()
        assert name == s_name and admin is (s_admin == 1)
        assert created == dt.datetime.fromisoformat(s_created).replace(tzinfo=dt.timezone.utc)
        assert seen == (None if s_seen is None else
                        dt.datetime.fromtimestamp(s_seen, dt.timezone.utc))
        assert avatar == s_avatar
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'documents'").fetchall())
        assert types["score"] == "double precision" and types["thumbnail"] == "bytea"
        assert types["published"] == "date"
        assert types["updated_at"] == "timestamp with time zone"
        nullable = dict(conn.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'messages'").fetchall())
        assert nullable["content"] == "NO" and nullable["tokens"] == "YES"
        fkeys = {r[0] for r in conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'")}
        assert "FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE CASCADE" in fkeys
        indexes = {r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE "
                                              "schemaname = 'public'")}
        assert any("(document_id, created_at)" in i for i in indexes)
        assert any("UNIQUE" in i and "(email)" in i for i in indexes)
        # New rows get ids past the highest one (there are gaps), in every id table.
        top = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
        new = conn.execute("INSERT INTO messages (user_id, role, content, created_at) VALUES "
                           "(1, 'user', 'after the cutover', now()) RETURNING id").fetchone()[0]
        assert new == top + 1
        doc = conn.execute("INSERT INTO documents (owner_id, title) VALUES (1, 'x') "
                           "RETURNING id").fetchone()[0]
        assert doc == 2001
        conn.execute("DELETE FROM messages WHERE id = %s", (new,))
        conn.execute("DELETE FROM documents WHERE id = %s", (doc,))
        conn.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), %s)", (top,))
        conn.execute("SELECT setval(pg_get_serial_sequence('documents', 'id'), 2000)")


# -- interrupted runs resume ---------------------------------------------------------------


def _run_and_kill(world: World, root: Path, trigger: str, delay: float, tmp: Path) -> str:
    """Start `golden cutover run` as its own process, SIGKILL it ``delay`` seconds after
    stderr shows ``trigger``; returns what it printed."""
    argv = [sys.executable, "-m", "golden.cli", *world.args("run", root, "--report",
                                                              str(tmp / "killed.json"))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen: list[str] = []
    fired = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if trigger in line and not fired.is_set():
                fired.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert fired.wait(120), "".join(seen)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    reader.join(10)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_run_killed_during_the_database_load_leaves_public_untouched_and_resumes(
        world, source_dir, tmp_path):
    root, made = source_dir
    _run_and_kill(world, root, "pgloader loading", 1.0, tmp_path)
    # Killed inside pgloader: schema public holds nothing, the staging schema may.
    assert world.tables() == []
    ran = world.golden("run", root, "--report", str(tmp_path / "report.json"))
    assert ran.exit_code == 0, ran.output
    assert "golden_cutover_load" not in world.schemas()
    with world.pg() as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == \
            made["tables"]["messages"]
    verified = world.golden("verify", root)
    assert verified.exit_code == 0, verified.output


def test_run_killed_during_the_uploads_resumes_without_sending_finished_files_again(
        world, source_dir, tmp_path):
    root, made = source_dir
    _run_and_kill(world, root, "uploads:", 0.0, tmp_path)
    before = world.objects()
    # The database was swapped in before the uploads started; the 100 MB multipart
    # upload had not finished, so its object does not exist (S3 shows none until
    # CompleteMultipartUpload).
    assert "messages" in world.tables()
    assert "uploads/videos/große Präsentation.mp4" not in before
    ran = world.golden("run", root, "--json", "--quiet", "--report",
                       str(tmp_path / "report.json"))
    assert ran.exit_code == 0, ran.output
    moved = json.loads(ran.stdout)["moved"]
    assert moved["database"]["action"] == "skip"
    assert moved["uploads"]["skipped"] == len(before)
    assert moved["uploads"]["uploaded"] == len(made["uploads"]) - len(before)
    verified = world.golden("verify", root)
    assert verified.exit_code == 0, verified.output


def test_final_delta_run_after_the_source_changed_moves_the_changes(world, source_dir,
                                                                     tmp_path):
    root, _ = source_dir
    delta = tmp_path / "server"
    shutil_copy(root, delta)
    first = world.golden("run", delta, "--quiet")
    assert first.exit_code == 0, first.output
    # The old server kept running: a new message, a new upload, a new vector.
    conn = sqlite3.connect(delta / "app.db")
    conn.execute("INSERT INTO messages (user_id, role, content, created_at) VALUES "
                 "(2, 'user', 'written after the first run 🙂', 1800000000)")
    conn.commit()
    conn.close()
    (delta / "uploads" / "late arrival ✓.txt").write_text("late")
    _add_vector(delta / "chroma")
    ran = world.golden("run", delta, "--json", "--quiet")
    assert ran.exit_code == 0, ran.output
    moved = json.loads(ran.stdout)["moved"]
    assert moved["database"]["action"] == "reload"
    assert moved["uploads"]["uploaded"] == 1
    assert moved["vectors"]["copied"] == 1
    with world.pg() as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE content LIKE "
                            "'written after%'").fetchone()[0] == 1


def shutil_copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def _add_vector(path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(path),
                                       settings=Settings(anonymized_telemetry=False))
    client.get_collection("notes").add(ids=["note-late"], embeddings=[[0.5] * 128],
                                       documents=["late"], metadatas=[{"late": True}])


# -- bad input fails before anything is written ------------------------------------------


def _fails(world: World, root: Path, *names: str, extra: tuple[str, ...] = ()) -> str:
    result = world.golden("run", root, *extra)
    assert result.exit_code == 3, result.output
    for name in names:
        assert name in result.stderr, result.stderr
    assert "nothing was written" in result.stderr or "no such file" in result.stderr
    world.nothing_written()
    return result.stderr


def test_a_missing_sqlite_file_is_named(world, source_dir, tmp_path):
    root, _ = source_dir
    _fails(world, root, "nowhere.db", "no such file", extra=("--sqlite", "nowhere.db"))


def test_a_locked_sqlite_file_is_named(world, source_dir):
    root, _ = source_dir
    holder = sqlite3.connect(root / "app.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        _fails(world, root, str(root / "app.db"), "lock")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_writer_in_the_middle_of_a_transaction_is_named(world, source_dir):
    root, _ = source_dir
    holder = sqlite3.connect(root / "app.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        _fails(world, root, str(root / "app.db"), "writer holds a lock")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_target_database_holding_other_data_is_named(world, source_dir):
    root, _ = source_dir
    with world.pg() as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY)")
        conn.execute("INSERT INTO accounts VALUES (1)")
    stderr = _fails(world, root, f"target database {world.db}", "accounts")
    assert "did not write" in stderr


def test_a_bucket_that_does_not_exist_is_named(tmp_path, postgres, chroma_server, emulator,
                                               source_dir):
    world = World(tmp_path, postgres, chroma_server, emulator, db="agent_nobucket",
                  bucket=None)
    root, _ = source_dir
    _fails(world, root, "S3 bucket cutover-agent-data", "does not exist")


def test_objects_in_the_bucket_the_cutover_did_not_write_are_named(world, source_dir):
    root, _ = source_dir
    world.s3().put_object(Bucket=world.bucket, Key="uploads/plain.txt", Body=b"theirs")
    result = world.golden("run", root)
    assert result.exit_code == 3, result.output
    assert "S3 bucket cutover-agent-data" in result.stderr
    assert "uploads/plain.txt" in result.stderr
    assert world.objects() == {"uploads/plain.txt": 6}
    assert world.tables() == [] and world.collections() == {}


def test_a_chroma_collection_of_another_dimension_is_named(world, source_dir):
    root, _ = source_dir
    world.chroma().create_collection("notes", embedding_function=None).add(
        ids=["x"], embeddings=[[0.1] * 32])
    _fails(world, root, "Chroma collection notes", "32-dimensional", "128-dimensional")
    assert world.chroma().get_collection("notes").count() == 1


def test_source_values_that_cannot_move_are_named(world, tmp_path):
    root = tmp_path / "server"
    (root / "uploads").mkdir(parents=True)
    import shutil

    from tests.cutover import source

    source.make_chroma(root / "chroma", notes=10)
    conn = sqlite3.connect(root / "app.db")
    conn.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, ok BOOLEAN, "
                       "at DATETIME); INSERT INTO t VALUES (1, 'twelve', 2, 'yesterday');")
    conn.commit()
    conn.close()
    stderr = _fails(world, root, "t.n", "text values", "t.ok", "other than 0 and 1", "t.at")
    assert "ISO 8601" in stderr
    shutil.rmtree(root)


def test_chroma_token_goes_to_the_authenticating_proxy(tmp_path, postgres, chroma_server,
                                                       emulator, source_dir):
    """The Chroma host's proxy (salt/chroma) answers 401 without `Authorization: Bearer`
    and 403 with a wrong token; here a loopback stand-in of it with the same answers in
    front of the real server (not nginx: the rendered proxy runs on the Chroma host)."""
    from tests.cutover.proxy import BearerProxy

    token = "cutover-test-token-0123456789abcdefghijklmnop"
    world = World(tmp_path, postgres, chroma_server, emulator, db="agent_proxy",
                  chroma_token=token)
    with BearerProxy(chroma_server, token) as proxy:
        world.env = write_env(tmp_path, aws=world.aws, pg_port=postgres.port, db=world.db,
                              chroma_port=proxy.port, bucket=world.bucket)
        root, _ = source_dir
        ran = world.golden("run", root, "--only", "vectors", "--quiet")
        assert ran.exit_code == 0, ran.output
        assert proxy.refused == 0 and proxy.passed > 0
        assert token not in ran.output
