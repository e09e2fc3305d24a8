#!/usr/bin/env bash
# Throwaway PostgreSQL server for tests and development (never for production data: fsync is off).
#
# Usage: scripts/pg-test-server.sh start|env|url|status|stop
#   start   initialise the cluster if needed, start it (or reuse a running one), create the test
#           database, and print its URL on stdout (progress goes to stderr)
#   env     like start, but print `export SWITCHBOARD_TEST_DATABASE_URL=...` for `eval "$(...)"`
#   url     print the URL of the running server; exit 1 when it is not running
#   status  exit 0 when running (and print the URL), 3 when not
#   stop    stop the server and delete its data directory
#
# Settings (environment):
#   SWITCHBOARD_PG_DIR   cluster directory (default ${TMPDIR:-/tmp}/switchboard-pg-test)
#   SWITCHBOARD_PG_PORT  first port to try (default 54329; the next free one is taken when busy)
#   SWITCHBOARD_PG_DB    database name (default switchboard_test)
#
# As root, the cluster belongs to the `postgres` system user (initdb refuses to run as root);
# otherwise it belongs to the calling user. It listens on 127.0.0.1 only, with trust
# authentication: anyone on this machine can use it, which is fine for a throwaway test server.
set -euo pipefail

PG_DIR="${SWITCHBOARD_PG_DIR:-${TMPDIR:-/tmp}/switchboard-pg-test}"
FIRST_PORT="${SWITCHBOARD_PG_PORT:-54329}"
DB_NAME="${SWITCHBOARD_PG_DB:-switchboard_test}"
DATA="$PG_DIR/data"
PORT_FILE="$PG_DIR/port"
LOG_FILE="$PG_DIR/server.log"
# How many ports above FIRST_PORT to try before giving up.
PORT_SEARCH_SPAN=50

log() { echo "pg-test-server: $*" >&2; }

find_bindir() {
  local d
  if [ -n "${SWITCHBOARD_PG_BINDIR:-}" ]; then echo "$SWITCHBOARD_PG_BINDIR"; return 0; fi
  # Newest installed major version first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return 0; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

# Runs a command as the cluster owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

is_running() {
  [ -f "$DATA/PG_VERSION" ] && [ -f "$PORT_FILE" ] && as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

url() {
  echo "postgres://postgres@127.0.0.1:$(cat "$PORT_FILE")/$DB_NAME"
}

ensure_database() {
  local port
  port="$(cat "$PORT_FILE")"
  local exists
  exists="$(as_owner "$BINDIR/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
  if [ "$exists" != "1" ]; then
    as_owner "$BINDIR/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE \"$DB_NAME\"" >&2
    log "created database $DB_NAME"
  fi
}

start() {
  if is_running; then
    log "reusing the server running on port $(cat "$PORT_FILE")"
    ensure_database
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    log "no 'postgres' system user (install postgresql first)"
    return 1
  fi
  mkdir -p "$PG_DIR"
  chmod 755 "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    log "initdb in $DATA"
    as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
      || { log "initdb failed, see $PG_DIR/initdb.log"; cat "$PG_DIR/initdb.log" >&2; return 1; }
  fi
  local port="$FIRST_PORT" last=$((FIRST_PORT + PORT_SEARCH_SPAN))
  while port_busy "$port"; do
    port=$((port + 1))
    if [ "$port" -gt "$last" ]; then log "no free port in $FIRST_PORT-$last"; return 1; fi
  done
  echo "$port" >"$PORT_FILE"
  # Speed over durability: this cluster holds nothing worth keeping. The socket lives in the
  # cluster directory so no system directory (/var/run/postgresql) is needed.
  local opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR"
  opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
  # 9>&-: the server must not inherit (and so hold forever) the lock taken below.
  if ! as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t 60 -o "$opts" start >&2 9>&-; then
    tail -20 "$LOG_FILE" >&2 || true
    if [ "${1:-}" = "retry" ]; then log "start failed, see $LOG_FILE"; return 1; fi
    # A cluster left broken by a killed run is worth nothing: start over from initdb once.
    log "start failed; re-initialising the cluster"
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 9>&- || true
    rm -rf "$DATA"
    start retry
    return
  fi
  log "started on 127.0.0.1:$port"
  ensure_database
}

stop() {
  if [ -f "$DATA/PG_VERSION" ]; then
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2 2>/dev/null || true
  fi
  rm -rf "$PG_DIR" "$PG_DIR.lock"
  log "stopped and removed $PG_DIR"
}

cmd="${1:-start}"
BINDIR="$(find_bindir)" || { log "PostgreSQL is not installed (no initdb found)"; exit 2; }

# One start/stop at a time: several test runs may call this script at once.
mkdir -p "$(dirname "$PG_DIR")"
exec 9>"$PG_DIR.lock"
flock 9

case "$cmd" in
  start) start; url ;;
  env) start; echo "export SWITCHBOARD_TEST_DATABASE_URL=$(url)" ;;
  url) if is_running; then url; else exit 1; fi ;;
  status) if is_running; then url; else echo "not running" >&2; exit 3; fi ;;
  stop) stop ;;
  *) echo "usage: $0 start|env|url|status|stop" >&2; exit 64 ;;
esac
