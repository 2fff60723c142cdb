#!/usr/bin/env bash
# A throwaway PostgreSQL + PostGIS cluster for this checkout, used when DATABASE_URL is unset.
#   scripts/localdb.sh start [DBNAME…]   init (first time) and start on 127.0.0.1:$PORT, create DBs
#   scripts/localdb.sh stop              stop it
#   scripts/localdb.sh destroy           stop it and delete its files
# Data lives under .data/pg (or under /var/tmp when the postgres user cannot reach the checkout).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${PHANANH_PGPORT:-55432}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
datadir="$root/.data/pg"

as_owner() {
  # initdb refuses to run as root, so root runs the cluster as the postgres system user.
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$root/.data"
  if ! runuser -u postgres -- test -x "$root/.data"; then
    datadir="/var/tmp/phananh-$(echo "$root" | md5sum | cut -c1-12)/pg"
  fi
fi

start() {
  if [[ ! -f "$datadir/PG_VERSION" ]]; then
    mkdir -p "$datadir"
    [[ $(id -u) -eq 0 ]] && chown -R postgres: "$(dirname "$datadir")"
    as_owner "$pgbin/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! as_owner "$pgbin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      echo "Port $port is taken by another PostgreSQL; set PHANANH_PGPORT to a free port" \
           "or DATABASE_URL to use that server." >&2
      exit 1
    fi
    as_owner "$pgbin/pg_ctl" -D "$datadir" -l "$datadir/../postgres.log" -w -o \
      "-p $port -h 127.0.0.1 -c unix_socket_directories='' -c fsync=off -c full_page_writes=off -c shared_buffers=512MB -c work_mem=64MB -c max_connections=200" \
      start >/dev/null
    echo "PostgreSQL started on 127.0.0.1:$port (data in $datadir)"
  fi
  for db in "$@"; do
    exists=$("$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'")
    [[ "$exists" == "1" ]] || "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  done
}

case "${1:-start}" in
  start) shift || true; start "$@" ;;
  stop) as_owner "$pgbin/pg_ctl" -D "$datadir" stop -m fast || true ;;
  destroy) as_owner "$pgbin/pg_ctl" -D "$datadir" stop -m fast 2>/dev/null || true
           rm -rf "$datadir" ;;
  *) echo "usage: $0 start [DB…] | stop | destroy" >&2; exit 2 ;;
esac
