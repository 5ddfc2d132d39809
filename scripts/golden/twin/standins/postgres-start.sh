#!/bin/sh
# PostgreSQL stand-in for RDS: Debian's postgresql, data under the state folder, TLS from
# the local CA only (hostssl), the app's role and database made on first start.
set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
ROOT=/var/lib/golden-pg
DATA=$ROOT/data
install -d -o postgres -g postgres -m 700 "$ROOT"
if [ ! -s "$DATA/PG_VERSION" ]; then
  runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=peer \
    --auth-host=scram-sha-256 >/dev/null
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
fi
install -o postgres -g postgres -m 600 /tls/server.key "$DATA/server.key"
install -o postgres -g postgres -m 644 /tls/server.crt "$DATA/server.crt"
exec runuser -u postgres -- "$PGBIN/postgres" -D "$DATA" -c listen_addresses='*' \
  -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key \
  -c unix_socket_directories=/tmp -c max_connections=200
