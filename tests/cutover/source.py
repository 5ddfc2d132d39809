"""The single server's data, made by the real libraries (nothing committed as binaries):

- ``app.db``: SQLite with UTF-8 text (accents, CJK, emoji, combining marks, quotes),
  NULLs, blobs, reals, booleans as 0/1, dates as ISO text, as Unix seconds and both in one
  column, foreign keys (with ON DELETE CASCADE), a composite primary key, unique and plain
  indexes, AUTOINCREMENT and plain INTEGER PRIMARY KEY tables, and ``messages`` with
  MESSAGES rows (at least 100,000);
- ``uploads/``: nested folders, non-ASCII names, an empty file and one of BIG_MB MB;
- ``chroma/``: a PersistentClient directory with two collections: the sample app's
  documents (64 dimensions, cosine) and ``notes`` (128 dimensions, l2).

Run as a script to make one: ``python tests/cutover/source.py DIR [--big-mb N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import sys
from pathlib import Path

MESSAGES = 101_000
USERS = 500
DOCUMENTS = 2_000
BIG_MB = 100
NOTES = 3_000
NOTE_DIMENSIONS = 128

SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email VARCHAR(255) NOT NULL UNIQUE,
  name TEXT,
  is_admin BOOLEAN NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_seen TIMESTAMP,
  avatar BLOB
);
CREATE TABLE documents (
  id INTEGER PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body TEXT,
  score REAL,
  size_bytes INTEGER,
  published DATE,
  updated_at DATETIME,
  thumbnail BLOB
);
CREATE INDEX documents_owner ON documents(owner_id);
CREATE TABLE document_tags (
  document_id INTEGER NOT NULL REFERENCES documents(id),
  tag TEXT NOT NULL,
  weight NUMERIC,
  PRIMARY KEY (document_id, tag)
);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  document_id INTEGER REFERENCES documents(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  tokens INTEGER,
  helpful BOOLEAN,
  created_at DATETIME NOT NULL
);
CREATE INDEX messages_document ON messages(document_id, created_at);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT, updated DATETIME);
"""

WORDS = ["naïve", "café", "Zoë", "東京", "データ", "🙂", "e\u0301", "straße", "ø", "it's",
         'say "hi"', "tab\there", "line\nbreak", "plain", "golden", "Чебурашка", "ß", "∑"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_sqlite(path: Path, *, messages: int = MESSAGES, seed: int = 7) -> dict[str, int]:
    """Write the database; returns {table: rows}."""
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    users = []
    for i in range(1, USERS + 1):
        when = base + dt.timedelta(minutes=rng.randrange(500_000))
        users.append((f"user{i}@example.org", None if i % 7 == 0 else _text(rng, 2),
                      1 if i % 50 == 0 else 0, when.strftime("%Y-%m-%d %H:%M:%S"),
                      None if i % 3 == 0 else int(when.timestamp()) + rng.randrange(86400),
                      None if i % 4 else rng.randbytes(rng.randrange(0, 64))))
    conn.executemany("INSERT INTO users (email, name, is_admin, created_at, last_seen, avatar)"
                     " VALUES (?, ?, ?, ?, ?, ?)", users)
    docs = []
    for i in range(1, DOCUMENTS + 1):
        when = base + dt.timedelta(seconds=rng.randrange(30_000_000))
        # Half the rows hold the update time as text, half as Unix seconds.
        updated = when.isoformat() if i % 2 else int(when.timestamp())
        docs.append((i, rng.randrange(1, USERS + 1), _text(rng, 4),
                     None if i % 11 == 0 else _text(rng, 30),
                     None if i % 5 == 0 else rng.random() * 1e6 / 3,
                     rng.randrange(0, 1 << 40), when.date().isoformat() if i % 9 else None,
                     updated, rng.randbytes(128) if i % 3 == 0 else None))
    conn.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", docs)
    tags = {(rng.randrange(1, DOCUMENTS + 1), rng.choice(WORDS)) for _ in range(3_000)}
    conn.executemany("INSERT INTO document_tags VALUES (?, ?, ?)",
                     [(d, t, rng.choice([None, 1, 0.5, 2.25])) for d, t in sorted(tags)])
    start = int(base.timestamp())
    conn.executemany(
        "INSERT INTO messages (document_id, user_id, role, content, tokens, helpful, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((None if i % 13 == 0 else rng.randrange(1, DOCUMENTS + 1),
          rng.randrange(1, USERS + 1), "user" if i % 2 else "assistant",
          _text(rng, rng.randrange(1, 12)), None if i % 17 == 0 else rng.randrange(1, 4000),
          None if i % 3 == 0 else i % 2, start + i * 7) for i in range(messages)))
    conn.executemany("INSERT INTO settings VALUES (?, ?, ?)",
                     [("site.name", "Gölden ✓", "2024-05-01T10:00:00Z"),
                      ("empty", "", None), ("nothing", None, None)])
    # Gaps in the ids: the sequences must go past the highest id, not the row count.
    conn.execute("DELETE FROM messages WHERE id % 1000 = 999")
    conn.commit()
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("users", "documents", "document_tags", "messages", "settings")}
    conn.close()
    return counts


UPLOAD_NAMES = ["résumé.pdf", "報告書/第1四半期.txt", "emoji 🎉 party.png", "plain.txt",
                "deep/a/b/c/naïve café.md", "Ωmega-ß.bin", "quotes 'single' and \"double\".txt",
                "empty.dat"]


def make_uploads(folder: Path, *, big_mb: int = BIG_MB, seed: int = 11) -> dict[str, int]:
    """Write the uploads; returns {relative path: size}."""
    rng = random.Random(seed)
    sizes = {}
    for name in UPLOAD_NAMES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = b"" if name == "empty.dat" else rng.randbytes(rng.randrange(1, 300_000))
        path.write_bytes(data)
        sizes[name] = len(data)
    big = folder / "videos" / "große Präsentation.mp4"
    big.parent.mkdir(parents=True, exist_ok=True)
    with big.open("wb") as handle:
        for _ in range(big_mb):
            handle.write(os.urandom(1 << 20))
    sizes[big.relative_to(folder).as_posix()] = big_mb << 20
    return sizes


def make_chroma(path: Path, *, notes: int = NOTES, seed: int = 3) -> dict[str, int]:
    """Write the Chroma directory; returns {collection: vectors}."""
    import chromadb
    from chromadb.config import Settings

    sample = Path(__file__).resolve().parents[1] / "sample_app" / "backend"
    sys.path.insert(0, str(sample))
    from sample_backend.corpus import DOCUMENT_VECTORS, DOCUMENTS

    rng = random.Random(seed)
    client = chromadb.PersistentClient(path=str(path),
                                       settings=Settings(anonymized_telemetry=False))
    docs = client.get_or_create_collection("golden-sample-docs", embedding_function=None,
                                           configuration={"hnsw": {"space": "cosine"}})
    docs.upsert(ids=[d["id"] for d in DOCUMENTS], embeddings=DOCUMENT_VECTORS,
                documents=[d["body"] for d in DOCUMENTS],
                metadatas=[{"title": d["title"], "part": i} for i, d in enumerate(DOCUMENTS)])
    col = client.get_or_create_collection("notes", embedding_function=None,
                                          metadata={"owner": "Zoë", "kind": "notes"})
    for start in range(0, notes, 1000):
        ids = [f"note-{i:05d}" for i in range(start, min(notes, start + 1000))]
        col.upsert(ids=ids,
                   embeddings=[[rng.gauss(0, 1) for _ in range(NOTE_DIMENSIONS)] for _ in ids],
                   documents=[_text(rng, 8) for _ in ids],
                   metadatas=[{"n": int(i[5:]), "lang": rng.choice(["de", "ja", "fr"]),
                               "score": rng.random()} if int(i[5:]) % 10 else None
                              for i in ids])
    return {"golden-sample-docs": len(DOCUMENTS), "notes": notes}


def make_all(root: Path, *, big_mb: int = BIG_MB, messages: int = MESSAGES) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    return {"tables": make_sqlite(root / "app.db", messages=messages),
            "uploads": make_uploads(root / "uploads", big_mb=big_mb),
            "collections": make_chroma(root / "chroma")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--big-mb", type=int, default=BIG_MB)
    parser.add_argument("--messages", type=int, default=MESSAGES)
    options = parser.parse_args()
    print(make_all(options.root, big_mb=options.big_mb, messages=options.messages))
