#!/usr/bin/env bash
# Stop the private PostgreSQL cluster started by infra/postgres/up.sh.
# Safe when nothing runs.
#
#   bash infra/postgres/down.sh          # stop, keep data
#   bash infra/postgres/down.sh --wipe   # stop and delete $CASES_INFRA_DIR/postgres
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wipe=0
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: down.sh [--wipe])" ;;
  esac
done

if [[ ! -d "$PG_RUN" ]]; then
  log "nothing to stop ($PG_RUN does not exist)"
  exit 0
fi

# The postgres OS user may not be able to enter the caller's cwd (e.g. /root).
cd "$PG_RUN"
exec 9>"$PG_RUN/.lock"
flock -w 120 9 || die "timed out waiting for the lock on $PG_RUN/.lock"

PG_BIN="$(find_pg_bin)"
if [[ -n "$PG_BIN" ]] && pg_running; then
  log "stopping PostgreSQL ($PG_DATA)"
  # fast: roll back open transactions and disconnect clients instead of
  # waiting for test connections that were never closed.
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 9>&- ||
    die "pg_ctl stop failed (log: $PG_LOG)"
  log "stopped"
else
  log "PostgreSQL not running"
fi

if ((wipe)); then
  rm -rf "$PG_RUN"
  log "wiped $PG_RUN"
fi
