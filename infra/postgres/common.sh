# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# Shared settings and helpers for infra/postgres/up.sh and down.sh.
# Sourced, not executed. Overridable from the environment: CASES_INFRA_DIR,
# CASES_PG_PORT, PG_BIN. Database, role and password are fixed: cases/cases/cases.

PG_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$PG_SCRIPT_DIR/../.." && pwd)"

# Runtime state. Defaults to <repo>/var/infra, i.e. $PWD/var/infra when run
# from the repository root; var/ is gitignored.
CASES_INFRA_DIR="${CASES_INFRA_DIR:-$REPO_ROOT/var/infra}"
[[ "$CASES_INFRA_DIR" == /* ]] || CASES_INFRA_DIR="$PWD/$CASES_INFRA_DIR"
PG_RUN="$CASES_INFRA_DIR/postgres"
PG_DATA="$PG_RUN/data"
PG_SOCKET_DIR="$PG_RUN/run"
PG_LOG="$PG_RUN/postgres.log"
PG_PORT="${CASES_PG_PORT:-55432}"

PG_DB=cases
PG_USER=cases
PG_PASSWORD=cases
PG_DSN="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"

log() { printf '[postgres] %s\n' "$*" >&2; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

# Directory with initdb/pg_ctl/postgres: $PG_BIN if set, else the newest
# /usr/lib/postgresql/<major>/bin (Debian's layout). Prints nothing if none.
find_pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    printf '%s\n' "$PG_BIN"
    return
  fi
  local d
  local d found=""
  # Glob order is lexical; sort numerically by major version (9.6 < 10 < 15).
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k4,4n); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
      found="$d"
    fi
  done
  printf '%s' "$found"
}

# PostgreSQL refuses to run as root, so as root the server and its tools run as
# the 'postgres' OS user (created by Debian's package); otherwise as ourselves.
if [[ "$(id -u)" == 0 ]]; then
  PG_OS_USER=postgres
  as_pg() { runuser -u "$PG_OS_USER" -- "$@"; }
else
  PG_OS_USER="$(id -un)"
  as_pg() { "$@"; }
fi

# True if the private cluster's postmaster is running.
pg_running() {
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}
