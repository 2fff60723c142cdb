#!/usr/bin/env bash
# A throwaway PostgreSQL + PostGIS cluster for this checkout, used when DATABASE_URL is unset.
#   scripts/localdb.sh start [DB…]     init (first time), start on 127.0.0.1:$PHANANH_PGPORT, create DBs
#   scripts/localdb.sh run [--any-port] DB -- CMD…
#                                      run CMD with the cluster up, given PHANANH_PGPORT and
#                                      DATABASE_URL (database DB); stop the cluster when CMD ends,
#                                      also on failure or Ctrl-C, if this call started it.
#                                      --any-port: when the port is taken, use a free one.
#   scripts/localdb.sh stop            stop it
#   scripts/localdb.sh destroy         stop it and delete its files
#   scripts/localdb.sh sweep           stop clusters of deleted checkouts (start and run do it first)
#   scripts/localdb.sh replica start PORT
#                                      a streaming read replica of the cluster (pg_basebackup -R,
#                                      made once, data beside the cluster's in pg-replica), started
#                                      on 127.0.0.1:PORT; the cluster must be running
#   scripts/localdb.sh replica stop    stop the replica (stop and destroy also stop it)
# Data lives under .data/pg (or under /var/tmp when the postgres user cannot reach the checkout).
# Each cluster names its checkout twice: in its data directory (phananh-checkout) and on its
# postmaster's command line (-c phananh.checkout=…, readable in /proc even when the data directory
# was deleted with the checkout). A cluster whose checkout, or whose data directory, no longer
# exists is stopped, and its data under /var/tmp deleted: no server outlives its checkout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${PHANANH_PGPORT:-55432}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
datadir="$root/.data/pg"
fallback=/var/tmp/phananh-
marker=phananh.checkout
started=0

as_owner() {
  # initdb refuses to run as root, so root runs the cluster as the postgres system user.
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$root/.data"
  if ! runuser -u postgres -- test -x "$root/.data"; then
    datadir="$fallback$(echo "$root" | md5sum | cut -c1-12)/pg"
  fi
fi

listening() {  # is anything accepting connections on 127.0.0.1:$1?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

postmasters() {  # "pid checkout datadir port" of every running cluster this script started
  local file pid arg previous checkout dir at
  for file in $(grep -lz "^$marker=" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${file#/proc/}; pid=${pid%/cmdline}
    checkout="" dir="" at="" previous=""
    while IFS= read -r -d '' arg; do
      case "$previous" in -D) dir=$arg ;; -p) at=$arg ;; esac
      [[ "$arg" == "$marker="* ]] && checkout=${arg#"$marker="}
      previous=$arg
    done < "$file" 2>/dev/null || continue
    [[ -n "$checkout" && -n "$dir" ]] && printf '%s\t%s\t%s\t%s\n' "$pid" "$checkout" "$dir" "$at"
  done
}

stop_postmaster() {  # pid datadir: fast shutdown, through pg_ctl while its data directory is there
  local pid=$1 dir=$2
  if [[ "$(head -n 1 "$dir/postmaster.pid" 2>/dev/null)" == "$pid" ]]; then
    as_owner "$pgbin/pg_ctl" -D "$dir" stop -m fast >/dev/null
  else
    kill -INT "$pid" 2>/dev/null || return 0
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    echo "PostgreSQL $pid did not stop" >&2; return 1
  fi
}

owns_data() {  # pid datadir: does the postmaster still own its data directory? (Asked twice a
  # second apart, so that a postmaster still writing its postmaster.pid is never taken as stale.)
  local attempt
  for attempt in 1 2; do
    [[ "$(head -n 1 "$2/postmaster.pid" 2>/dev/null)" == "$1" ]] && return 0
    (( attempt == 2 )) || sleep 1
  done
  return 1
}

sweep() {
  local pid checkout dir at base
  while IFS=$'\t' read -r pid checkout dir at; do
    if [[ ! -d "$checkout" ]] || ! owns_data "$pid" "$dir"; then
      echo "Stopping the PostgreSQL left on port $at by $checkout (checkout or data deleted)"
      stop_postmaster "$pid" "$dir"
    fi
  done < <(postmasters)
  for base in "$fallback"*/; do
    checkout=$(cat "${base}pg/phananh-checkout" 2>/dev/null) || continue
    [[ -d "$checkout" ]] || rm -rf "$base"
  done
}

owner_of() {  # the checkout whose cluster listens on port $1, if one of ours
  postmasters | awk -F'\t' -v port="$1" '$4 == port { print $2 }'
}

free_port() {
  local candidate
  for candidate in $(seq $((port + 1)) $((port + 200))); do
    listening "$candidate" || { echo "$candidate"; return; }
  done
  echo "No free port in $((port + 1))..$((port + 200))" >&2; exit 1
}

start() {  # [--any-port] [DB…]; sets $port to the cluster's port and $started=1 if started here
  local any_port=0 owner db exists
  [[ "${1:-}" == --any-port ]] && { any_port=1; shift; }
  sweep
  if [[ ! -f "$datadir/PG_VERSION" ]]; then
    mkdir -p "$datadir"
    [[ $(id -u) -eq 0 ]] && chown -R postgres: "$(dirname "$datadir")"
    as_owner "$pgbin/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  echo "$root" | as_owner tee "$datadir/phananh-checkout" >/dev/null
  if as_owner "$pgbin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    port=$(sed -n 4p "$datadir/postmaster.pid")
  else
    if listening "$port"; then
      if (( any_port )); then
        port=$(free_port)
      elif owner=$(owner_of "$port") && [[ -n "$owner" ]]; then
        echo "Port $port is taken by the cluster of $owner (\`$owner/scripts/localdb.sh stop\`" \
             "stops it); set PHANANH_PGPORT to a free port." >&2
        exit 1
      else
        echo "Port $port is taken by another server; set PHANANH_PGPORT to a free port" \
             "or DATABASE_URL to use that server." >&2
        exit 1
      fi
    fi
    started=1  # before pg_ctl: a Ctrl-C while it starts the server still stops it
    as_owner "$pgbin/pg_ctl" -D "$datadir" -l "$datadir/../postgres.log" -w -o \
      "-p $port -h 127.0.0.1 -c unix_socket_directories='' -c $marker='$root' -c fsync=off -c full_page_writes=off -c shared_buffers=512MB -c work_mem=64MB -c max_connections=200" \
      start >/dev/null
    echo "PostgreSQL started on 127.0.0.1:$port (data in $datadir)"
  fi
  for db in "$@"; do
    exists=$("$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'")
    [[ "$exists" == "1" ]] || "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  done
}

stop() {
  replica_stop
  as_owner "$pgbin/pg_ctl" -D "$datadir" stop -m fast >/dev/null 2>&1 || true
}

replica_start() {  # PORT: copy the running cluster once (pg_basebackup), start the copy as a
  # hot standby streaming from it. Same marker as the cluster, so sweep stops it with its checkout.
  local at=${1:?usage: replica start PORT} replica="$datadir-replica" primary
  as_owner "$pgbin/pg_ctl" -D "$datadir" status >/dev/null 2>&1 ||
    { echo "The cluster is not running: start it first." >&2; exit 1; }
  primary=$(sed -n 4p "$datadir/postmaster.pid")
  if [[ ! -f "$replica/PG_VERSION" ]]; then
    as_owner "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$replica" \
      -R -X stream -c fast
    rm -f "$replica/phananh-checkout"
  fi
  if ! as_owner "$pgbin/pg_ctl" -D "$replica" status >/dev/null 2>&1; then
    listening "$at" && { echo "Port $at is taken; choose another for the replica." >&2; exit 1; }
    as_owner "$pgbin/pg_ctl" -D "$replica" -l "$datadir/../replica.log" -w -o \
      "-p $at -h 127.0.0.1 -c unix_socket_directories='' -c $marker='$root' -c fsync=off -c hot_standby=on -c max_connections=200" \
      start >/dev/null
    echo "Replica of 127.0.0.1:$primary started on 127.0.0.1:$at (data in $replica)"
  fi
}

replica_stop() {
  as_owner "$pgbin/pg_ctl" -D "$datadir-replica" stop -m fast >/dev/null 2>&1 || true
}

run() {  # [--any-port] DB -- CMD…
  local options=()
  [[ "${1:-}" == --any-port ]] && { options+=(--any-port); shift; }
  local db=${1:?usage: run [--any-port] DB -- CMD…}; shift
  [[ "${1:-}" == -- ]] && shift
  trap 'if (( started )); then stop; echo "PostgreSQL on 127.0.0.1:$port stopped"; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start "${options[@]}" "$db"
  PHANANH_PGPORT=$port DATABASE_URL="postgresql://postgres@127.0.0.1:$port/$db" "$@"
}

case "${1:-start}" in
  start) shift || true; start "$@" ;;
  run) shift; run "$@" ;;
  stop) stop ;;
  sweep) sweep ;;
  replica) case "${2:-}" in
             start) replica_start "${3:-}" ;;
             stop) replica_stop ;;
             *) echo "usage: $0 replica start PORT | replica stop" >&2; exit 2 ;;
           esac ;;
  destroy) stop
           if [[ "$datadir" == "$fallback"* ]]; then rm -rf "$(dirname "$datadir")"
           else rm -rf "$datadir" "$datadir-replica"; fi ;;
  *) echo "usage: $0 start [DB…] | run [--any-port] DB -- CMD… | stop | destroy | sweep | replica start PORT | replica stop" >&2
     exit 2 ;;
esac
