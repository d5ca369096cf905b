#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks, on 127.0.0.1 and a free port.
#
#   scripts/postgres.sh start    install Debian's postgresql if missing, initdb a fresh cluster in
#                                a temp directory, start it, print its URL
#                                (postgres://wirewatch@127.0.0.1:PORT/wirewatch)
#   scripts/postgres.sh stop     stop the cluster and delete its directory
#   scripts/postgres.sh status   print the URL if running
#
# Tests read the URL from WIREWATCH_TEST_POSTGRES:
#   export WIREWATCH_TEST_POSTGRES="$(scripts/postgres.sh start)"; cargo test -p wirewatch-store
#   scripts/postgres.sh stop
#
# Nothing depends on a server that happens to be running: the cluster is new each time, trusts
# local TCP connections only (it listens on 127.0.0.1 alone) and lives until `stop`. PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres` user (created by the
# Debian package) through runuser. The state file is target/postgres/state (data dir, port, pid).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${WIREWATCH_POSTGRES_STATE:-$ROOT/target/postgres}"

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

install() {
  if pg_bindir >/dev/null; then return 0; fi
  echo "installing postgresql from Debian packages..." >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "postgresql is not installed and this is not root: run 'apt-get install postgresql'" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  # The package starts a system cluster on 5432; the tests never use it.
  pg_bindir >/dev/null
}

free_port() {
  # Ask the kernel for a free port by binding port 0.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $(( 20000 + RANDOM % 20000 ))
}

as_db_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url_of() { echo "postgres://wirewatch@127.0.0.1:$1/wirewatch"; }

running() {
  [ -f "$STATE/state" ] || return 1
  # shellcheck disable=SC1091
  . "$STATE/state"
  [ -n "${PGDATA_DIR:-}" ] && as_db_user "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

start() {
  if running; then url_of "$PORT"; return 0; fi
  install
  local bindir port data
  bindir="$(pg_bindir)"
  port="$(free_port)"
  mkdir -p "$STATE"
  data="$(mktemp -d /tmp/wirewatch-pg.XXXXXX)"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$data"; fi
  as_db_user "$bindir/initdb" -D "$data/data" -U wirewatch --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 \
    || { cat "$STATE/initdb.log" >&2; exit 1; }
  # Sockets in the data dir (not /var/run/postgresql, which may not exist or be writable).
  as_db_user "$bindir/pg_ctl" -D "$data/data" -l "$data/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=on -c max_connections=50" start >&2 \
    || { cat "$data/server.log" >&2; exit 1; }
  as_db_user "$bindir/createdb" -h 127.0.0.1 -p "$port" -U wirewatch wirewatch
  printf 'BINDIR=%q\nPGDATA_DIR=%q\nPGROOT=%q\nPORT=%q\n' "$bindir" "$data/data" "$data" "$port" >"$STATE/state"
  url_of "$port"
}

stop() {
  [ -f "$STATE/state" ] || return 0
  # shellcheck disable=SC1091
  . "$STATE/state"
  as_db_user "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 2>/dev/null || true
  case "$PGROOT" in /tmp/wirewatch-pg.*) rm -rf "$PGROOT" ;; esac
  rm -f "$STATE/state"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then url_of "$PORT"; else echo "not running" >&2; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
