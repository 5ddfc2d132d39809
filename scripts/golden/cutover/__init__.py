"""`golden cutover plan|run|verify ENV --from PATH`: the move from the single server.

The single server keeps its data in one folder (``--from``): an SQLite database, an
uploads folder and a Chroma persistent directory. The cutover copies them into the
environment's PostgreSQL (pgloader, through a staging schema swapped in at the end), its
S3 bucket (boto3's managed transfer) and its Chroma host (chromadb's HttpClient), and
verifies each: rows per table with a content checksum, objects by size and SHA-256,
vectors by count and nearest-neighbour queries.

Modules: ``schema`` and ``checksum`` (pure decisions about tables), ``plan`` (pure:
where things are in ``--from``, what the database step does, what moves and how long),
``target`` (where the environment's services are, and the credentials from SSM),
``sqlite``, ``postgres``, ``pgload``, ``uploads`` and ``vectors`` (adapters, with their
small pure parts), ``run`` (the orchestration) and ``commands`` (the CLI).
"""
