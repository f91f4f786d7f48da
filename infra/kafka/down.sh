#!/usr/bin/env bash
# Stop the Kafka node(s) started by infra/kafka/up.sh (all of them, whatever
# BROKERS was). Safe when nothing runs.
#
#   bash infra/kafka/down.sh          # stop, keep data (next up.sh is a warm start)
#   bash infra/kafka/down.sh --wipe   # stop and delete $CASES_INFRA_DIR/kafka
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wipe=0
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (usage: down.sh [--wipe])" ;;
  esac
done

if [[ ! -d "$KAFKA_RUN" ]]; then
  log "nothing to stop ($KAFKA_RUN does not exist)"
  exit 0
fi

exec 9>"$KAFKA_RUN/.lock"
flock -w 120 9 || die "timed out waiting for the lock on $KAFKA_RUN/.lock"

# SIGTERM all nodes at once: each does a controlled shutdown. Stopping them one
# by one would make the last ones wait for a controller quorum that is gone.
pids=()
for id in $(known_nodes); do
  if pid="$(node_pid "$id")"; then
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    log "stopping node $id (pid $pid)"
  fi
done

if ((${#pids[@]} == 0)); then
  log "no Kafka node running"
else
  deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while :; do
    alive=()
    for pid in "${pids[@]}"; do
      [[ -e "/proc/$pid" ]] && alive+=("$pid")
    done
    ((${#alive[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      log "still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL to ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  log "stopped ${#pids[@]} node(s)"
fi
rm -f "$KAFKA_RUN"/node-*/kafka.pid "$KAFKA_RUN/bootstrap.servers"

if ((wipe)); then
  rm -rf "$KAFKA_RUN"
  log "wiped $KAFKA_RUN"
fi
