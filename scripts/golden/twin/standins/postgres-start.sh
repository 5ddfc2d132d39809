#!/bin/sh
# PostgreSQL stand-in for RDS: Debian's postgresql, data under the state folder, TLS from
# the local CA only (hostssl, as rds.force_ssl=1), the app's role and database made on
# first start. Like an RDS database it is UTF8 (RDS's default character set; collation
# C.UTF-8 here, en_US.UTF-8 on RDS: only the sort order of non-ASCII text differs).
set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
ROOT=/var/lib/golden-pg
DATA=$ROOT/data
install -d -o postgres -g postgres -m 700 "$ROOT"
# A cluster made by an older stand-in (SQL_ASCII) is set aside, never served: an app
# would read bytes where RDS gives text.
if [ -s "$DATA/PG_VERSION" ] && [ "$(cat "$ROOT/encoding" 2>/dev/null)" != UTF8 ]; then
  mv "$DATA" "$ROOT/data.not-utf8.$(date +%s)"
  echo "golden-postgres-start: the old cluster was not UTF8; set aside, making a new one" >&2
fi
if [ ! -s "$DATA/PG_VERSION" ]; then
  runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  cat > "$DATA/pg_hba.conf" <<HBA
local all postgres peer
hostssl all all 0.0.0.0/0 scram-sha-256
hostssl all all ::/0 scram-sha-256
HBA
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
  runuser -u postgres -- psql -h /tmp -q -v ON_ERROR_STOP=1 \
    -v user="$DB_USER" -v db="$DB_NAME" -v pw="$(cat /run/golden-secrets/db_password)" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -w stop >/dev/null
  echo UTF8 > "$ROOT/encoding"
fi
install -o postgres -g postgres -m 600 /tls/server.key "$DATA/server.key"
install -o postgres -g postgres -m 644 /tls/server.crt "$DATA/server.crt"
exec runuser -u postgres -- "$PGBIN/postgres" -D "$DATA" -c listen_addresses='*' \
  -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key \
  -c unix_socket_directories=/tmp -c max_connections=200
