"""The cutover's pure decisions: SQLite types to PostgreSQL, values that cannot move,
pgloader's command file, the checksum both databases are compared by, what the database
step does with what the target holds, uploads to skip, nearest-neighbour agreement,
where the target is."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from golden.core.errors import ConfigError
from golden.cutover import checksum, pgload, schema, uploads, vectors
from golden.cutover import plan as decide
from golden.cutover import target as targets
from golden.cutover.target import Credentials

UTC = dt.timezone.utc


@pytest.mark.parametrize("declared,kind", [
    ("INTEGER", "integer"), ("BIGINT", "integer"), ("tinyint(1)", "integer"),
    ("BOOLEAN", "boolean"), ("bool", "boolean"), ("VARCHAR(255)", "text"), ("TEXT", "text"),
    ("CLOB", "text"), ("", "text"), ("BLOB", "blob"), ("REAL", "real"), ("DOUBLE", "real"),
    ("FLOAT", "real"), ("NUMERIC", "numeric"), ("DECIMAL(10,2)", "numeric"),
    ("DATETIME", "timestamp"), ("TIMESTAMP", "timestamp"), ("DATE", "date"),
    ("JSON", "numeric"),
])
def test_declared_types_follow_sqlite_affinity_with_bool_and_dates(declared, kind):
    assert schema.kind_of(declared) == kind


def _col(name, declared, **kw):
    return schema.Column(name=name, declared=declared, **kw)


def test_values_sqlite_accepted_but_postgresql_would_not_are_named_by_column():
    table = schema.Table("t", (
        _col("n", "INTEGER", types={"integer": 5, "text": 2}),
        _col("x", "REAL", types={"real": 3, "integer": 1, "null": 4}),
        _col("b", "BLOB", types={"text": 1}),
        _col("ok", "BOOLEAN", types={"integer": 3}, bad_values=1),
        _col("at", "DATETIME", types={"text": 3}, bad_values=2),
    ))
    found = [str(p) for p in schema.problems([table])]
    assert found == [
        "t.n: declared INTEGER (bigint in PostgreSQL) but 2 row(s) hold text values",
        "t.b: declared BLOB (bytea in PostgreSQL) but 1 row(s) hold text values",
        "t.ok: declared BOOLEAN: 1 row(s) hold values other than 0 and 1",
        "t.at: declared DATETIME: 2 row(s) hold dates that are neither ISO 8601 text nor "
        "Unix seconds from 1970 to 9999",
    ]


def test_names_pgloader_cannot_take_by_name_are_problems():
    table = schema.Table("my table", (_col("a-b", "TEXT"),))
    assert [p.column for p in schema.problems([table])] == [None, "a-b"]


def test_load_command_casts_every_column_and_guards_dates_stored_as_numbers():
    table = schema.Table("t", (
        _col("id", "INTEGER", pk=1),
        _col("seen", "TIMESTAMP", types={"integer": 3, "null": 1}),
        _col("mixed", "DATETIME", types={"integer": 1, "text": 1}),
        _col("text_date", "DATE", types={"text": 1}),
        _col("score", "REAL"),
        _col("ok", "BOOLEAN"),
    ))
    text = schema.load_command([table], source="/tmp/x.db",
                               target_url="postgresql://u@h:5432/d?sslmode=require")
    assert "on error stop" in text and "include drop" in text
    assert f"search_path to '{schema.STAGING_SCHEMA}'" in text and "timezone to 'UTC'" in text
    # pgloader's own SQLite default turns a number in a date column into a year, and a
    # transform on NULL fails: both are guarded.
    assert ("column t.seen to timestamptz drop typemod using (lambda (x) (if x "
            "(unix-timestamp-to-timestamptz x) nil))") in text
    assert "(if (integerp x) (unix-timestamp-to-timestamptz x) x)" in text
    assert "column t.text_date to date drop typemod using (lambda (x) x)" in text
    # pgloader's default maps SQLite REAL to a 4-byte real.
    assert 'column t.score to "double precision"' in text
    assert "column t.ok to boolean" in text


def test_fixups_restore_not_null_and_give_rowid_tables_a_sequence():
    rowid = schema.Table("a", (_col("id", "INTEGER", pk=1), _col("n", "TEXT", notnull=True),
                              _col("m", "TEXT")))
    keyed = schema.Table("b", (_col("k", "TEXT", pk=1),))
    composite = schema.Table("c", (_col("x", "INTEGER", pk=1), _col("y", "INTEGER", pk=2)))
    sql = schema.fixups([rowid, keyed, composite], schema="s")
    assert 'ALTER TABLE "s"."a" ALTER COLUMN "n" SET NOT NULL' in sql
    assert not any('"m" SET NOT NULL' in s for s in sql)
    assert 'CREATE SEQUENCE IF NOT EXISTS "s"."a_id_seq" OWNED BY "s"."a"."id"' in sql
    assert not any("SEQUENCE" in s and ('"b"' in s or '"c"' in s) for s in sql)


def test_sequence_resets_only_touch_integer_columns():
    table = schema.Table("t", (_col("id", "INTEGER", pk=1), _col("tag", "TEXT")))
    sql = schema.sequence_resets([table])
    assert len(sql) == 1 and "pg_get_serial_sequence('\"public\".\"t\"', 'id')" in sql[0]


# -- the checksum ------------------------------------------------------------------------


KINDS = ["integer", "text", "boolean", "timestamp", "timestamp", "date", "blob", "real",
         "numeric"]


def test_a_sqlite_row_and_its_postgresql_copy_checksum_alike():
    sqlite_row = (7, "Zoë 東京 🙂", 1, "2024-01-02 03:04:05", 1700000000, "1999-12-31",
                  b"\x00\xff", 0.30000000000000004, 2.25)
    pg_row = (7, "Zoë 東京 🙂", True, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
              dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), dt.date(1999, 12, 31),
              memoryview(b"\x00\xff"), 0.30000000000000004, Decimal("2.25"))
    assert checksum.row_hash(KINDS, sqlite_row) == checksum.row_hash(KINDS, pg_row)


@pytest.mark.parametrize("index,other", [
    (1, ""), (2, 0), (3, "2024-01-02 03:04:06"), (6, b"\x00\xfe"), (7, 0.3), (1, None),
])
def test_any_changed_value_changes_the_checksum(index, other):
    row = [7, "x", 1, "2024-01-02 03:04:05", 1700000000, "1999-12-31", b"\x00\xff",
           0.30000000000000004, 2.25]
    changed = list(row)
    changed[index] = other
    assert checksum.row_hash(KINDS, row) != checksum.row_hash(KINDS, changed)


def test_table_checksum_ignores_order_but_counts_duplicates():
    kinds = ["integer", "text"]
    rows = [(1, "a"), (2, "b"), (3, "c")]
    assert checksum.table_checksum(kinds, rows) == checksum.table_checksum(kinds, rows[::-1])
    assert checksum.table_checksum(kinds, rows + [(1, "a")])[1] != \
        checksum.table_checksum(kinds, rows)[1]
    # XOR would cancel a pair of equal rows; the sum does not.
    assert checksum.table_checksum(kinds, rows + [(9, "z")] * 2)[1] != \
        checksum.table_checksum(kinds, rows)[1]


@pytest.mark.parametrize("text,expected", [
    ("2024-01-02 03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T03:04:05Z", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T05:04:05+02:00", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (0, dt.datetime(1970, 1, 1, tzinfo=UTC)),
])
def test_timestamps_are_utc_instants(text, expected):
    assert checksum.parse_timestamp(text) == expected


@pytest.mark.parametrize("kind,value", [
    ("boolean", 2), ("timestamp", "yesterday"), ("timestamp", -1),
    ("timestamp", 1_700_000_000_000), ("date", "31/12/1999"),
])
def test_values_that_cannot_move_are_bad(kind, value):
    with pytest.raises(checksum.BadValue):
        checksum.check(kind, value)


# -- what the database step does ---------------------------------------------------------

SOURCE = {"a": {"rows": 2, "checksum": "11"}, "b": {"rows": 0, "checksum": "00"}}


def _record(tables):
    return {"tables": {t: {**v, "columns": ["x"], "kinds": ["text"]}
                       for t, v in tables.items()}}


def test_an_empty_target_is_loaded():
    assert decide.database_action(SOURCE, {}, None, None).action == "load"


def test_tables_the_cutover_did_not_write_are_refused():
    got = decide.database_action(SOURCE, {"accounts": 1}, None, None)
    assert got.action == "refuse" and "accounts" in got.problem
    got = decide.database_action(SOURCE, {"a": 2, "accounts": 1}, _record(SOURCE),
                                 {"a": SOURCE["a"]})
    assert got.action == "refuse" and "accounts" in got.problem


def test_the_cutovers_own_tables_changed_since_are_refused():
    got = decide.database_action(SOURCE, {"a": 3, "b": 0}, _record(SOURCE),
                                 {"a": {"rows": 3, "checksum": "12"}, "b": SOURCE["b"]})
    assert got.action == "refuse" and "changed since" in got.problem and "a" in got.problem


def test_the_same_source_again_is_skipped_and_a_changed_one_reloaded():
    now = dict(SOURCE)
    assert decide.database_action(SOURCE, {"a": 2, "b": 0}, _record(SOURCE), now).action \
        == "skip"
    newer = {**SOURCE, "a": {"rows": 3, "checksum": "99"}}
    got = decide.database_action(newer, {"a": 2, "b": 0}, _record(SOURCE), now)
    assert got.action == "reload" and got.replace == ("a", "b")


# -- uploads -------------------------------------------------------------------------------


def test_uploads_skip_objects_of_the_same_size_and_checksum():
    files = [uploads.LocalFile("ré/sumé.pdf", 10, "aa"), uploads.LocalFile("b", 5, "bb"),
             uploads.LocalFile("c", 5, "cc"), uploads.LocalFile("d", 1, "dd")]
    remote = {"uploads/ré/sumé.pdf": uploads.Remote(10, "aa"),
              "uploads/b": uploads.Remote(4, "bb"), "uploads/c": uploads.Remote(5, "xx")}
    assert [f.relpath for f in uploads.to_copy(files, remote)] == ["b", "c", "d"]


def test_objects_the_cutover_did_not_write_are_not_overwritten():
    files = [uploads.LocalFile("a", 1, "aa"), uploads.LocalFile("b", 1, "bb")]
    remote = {"uploads/a": uploads.Remote(1, None), "uploads/b": uploads.Remote(2, "old"),
              "uploads/c": uploads.Remote(1, None)}
    assert uploads.foreign(files, remote) == ["uploads/a"]


def test_file_names_that_cannot_be_keys_are_named():
    undecodable = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    found = uploads.name_problems([undecodable, "ok ✓.txt", "x" * 1020])
    assert len(found) == 2 and "not UTF-8" in found[0] and "longer than" in found[1]


# -- vectors -------------------------------------------------------------------------------


def test_nearest_neighbours_agree_despite_approximation_but_not_when_they_move():
    a = [f"v{i}" for i in range(10)]
    dist = [float(i) for i in range(10)]
    tail_swap = a[:8] + ["x1", "x2"]
    assert vectors.neighbours_agree(a, dist, tail_swap, dist)
    assert not vectors.neighbours_agree(a, dist, a[:7] + ["x1", "x2", "x3"], dist)
    other_first = ["x0"] + a[1:]
    assert not vectors.neighbours_agree(a, dist, other_first, [0.5] + dist[1:])
    assert vectors.neighbours_agree(a, dist, other_first, dist)  # a tie at the top


def test_a_non_empty_collection_the_cutover_did_not_write_conflicts():
    src = [vectors.CollectionInfo("notes", 10, 128, "l2", None)]
    dst = [vectors.CollectionInfo("notes", 4, 128, "l2", {"owner": "app"})]
    assert vectors.conflicts(src, dst) == [
        "Chroma collection notes: the target already holds 4 vector(s) the cutover did "
        "not write"]


def test_a_collection_of_another_dimension_or_metric_conflicts():
    mark = {vectors.MARK: "copied"}
    src = [vectors.CollectionInfo("notes", 10, 128, "l2", None),
           vectors.CollectionInfo("docs", 5, 64, "cosine", None),
           vectors.CollectionInfo("kept", 5, 64, "l2", None)]
    dst = [vectors.CollectionInfo("notes", 1, 32, "l2", mark),
           vectors.CollectionInfo("docs", 0, None, "l2", None),
           vectors.CollectionInfo("kept", 3, 64, "l2", mark)]
    found = vectors.conflicts(src, dst)
    assert found == [
        "Chroma collection notes: the target holds 32-dimensional embeddings, the source "
        "128-dimensional",
        "Chroma collection docs: the target measures distance by l2, the source by cosine",
    ]


# -- where the target is ------------------------------------------------------------------


def _doc(sslmode="verify-full"):
    return {"environment": "local", "region": "us-east-1",
            "database": {"host": "golden-local-postgres", "port": 5432, "name": "agent",
                         "user": "agent_app", "sslmode": sslmode},
            "chroma": {"host": "golden-local-chroma", "port": 8000},
            "s3": {"bucket": "b", "region": "us-east-1"}, "ssm": {"path": "/golden/local/"}}


def test_the_target_is_what_instances_are_told_with_local_names_rewritten():
    table = {("golden-local-postgres", 5432): ("127.0.0.1", 15432),
             ("golden-local-chroma", 8000): ("127.0.0.1", 18000)}
    got = targets.from_document(_doc(), ca_bundle="/ca.pem", aws_endpoint=None,
                                rewrites=table)
    assert (got.db_host, got.db_port, got.chroma_port) == ("127.0.0.1", 15432, 18000)
    assert got.ca_bundle == "/ca.pem" and got.db_user == "agent_app"
    assert targets.rewrite_url("http://golden-local-aws:5000",
                               {("golden-local-aws", 5000): ("127.0.0.1", 15000)}) \
        == "http://127.0.0.1:15000"


def test_verify_full_without_a_ca_bundle_is_refused():
    with pytest.raises(ConfigError, match="--ca-bundle"):
        targets.from_document(_doc(), ca_bundle=None, aws_endpoint=None)
    assert targets.from_document(_doc("disable"), ca_bundle=None,
                                 aws_endpoint=None).ca_bundle is None


def test_the_target_never_shows_a_credential():
    creds = Credentials("s3cret-pass", "t0ken")
    assert "s3cret" not in repr(creds) and "t0ken" not in repr(creds)
    public = targets.from_document(_doc(), ca_bundle="/ca", aws_endpoint=None).public()
    assert "agent_app@golden-local-postgres:5432/agent (sslmode verify-full)" == \
        public["database"]


def test_pgloader_gets_names_it_can_parse_and_an_ascii_password():
    target = targets.from_document(_doc(), ca_bundle="/ca", aws_endpoint=None)
    assert pgload.target_url(target) == \
        "postgresql://agent_app@golden-local-postgres:5432/agent?sslmode=require"
    odd = targets.from_document({**_doc(), "database": {**_doc()["database"],
                                                         "user": "a@b"}},
                                ca_bundle="/ca", aws_endpoint=None)
    with pytest.raises(ConfigError, match="database.user"):
        pgload.target_url(odd)
    with pytest.raises(ConfigError, match="non-ASCII"):
        pgload.check_password(Credentials("Pässword"))
    env = pgload.environment(target, Credentials("pw"))
    assert env["PGPASSWORD"] == "pw" and env["SSL_CERT_FILE"] == "/ca"


def test_progress_line_gives_the_eta_from_the_rate_so_far():
    line = decide.progress_line("uploads", 40e6, 100e6, 2.0, "MB", 1e6)
    assert line == "uploads: 40.0/100.0 MB (40%) 20.0 MB/s ETA 3s"
    assert decide.progress_line("vectors", 0, 10, 0.0, "vectors").endswith("ETA ?")


def test_a_step_that_reports_nothing_gets_its_eta_from_the_estimate():
    assert decide.waiting_line("database: pgloader", 4.2, 10) == \
        "database: pgloader: 4s of about 10s, ETA 6s"
    assert "longer than the estimated 10s" in decide.waiting_line("x", 12, 10)


def test_the_estimate_uses_the_measured_rates():
    assert decide.estimate_seconds(decide.ROWS_PER_S, int(decide.MB_PER_S * 1e6),
                                   decide.VECTORS_PER_S) == decide.FIXED_SECONDS + 3
