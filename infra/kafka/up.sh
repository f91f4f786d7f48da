#!/usr/bin/env bash
# Start a local Apache Kafka (KRaft, combined broker+controller nodes) on
# 127.0.0.1 for tests, and wait until it serves metadata.
#
#   bash infra/kafka/up.sh              # 1 node:  127.0.0.1:9092
#   BROKERS=3 bash infra/kafka/up.sh    # 3 nodes: 127.0.0.1:9092,9093,9094
#   SECURE=1 bash infra/kafka/up.sh     # SASL/SCRAM-SHA-512 + ACLs, principals provisioned
#
# First use fetches the jars with Maven (see pom.xml) into $KAFKA_CACHE.
# Idempotent: if the requested cluster already runs, it says so and exits 0.
# stdout gets exactly one line, the bootstrap servers; progress goes to stderr.
# Settings (env vars) are documented in common.sh and README.md.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ "$BROKERS" =~ ^[1-9]$ ]] || die "BROKERS must be 1..9, got '$BROKERS'"
t0=$SECONDS

mkdir -p "$KAFKA_RUN"
# Serialise concurrent up/down calls (e.g. parallel test sessions).
exec 9>"$KAFKA_RUN/.lock"
flock -w 120 9 || die "timed out waiting for the lock on $KAFKA_RUN/.lock"

# Everything that decides the on-disk format: a change means re-formatting.
topology="version=$KAFKA_VERSION brokers=$BROKERS port=$KAFKA_PORT controller_port=$KAFKA_CONTROLLER_PORT secure=$SECURE"
current_topology="$(cat "$KAFKA_RUN/topology" 2>/dev/null || true)"

# --- already running? ----------------------------------------------------------
running=()
for id in $(known_nodes); do
  if node_pid "$id" >/dev/null; then running+=("$id"); fi
done
if ((${#running[@]} > 0)); then
  if [[ "$current_topology" != "$topology" ]]; then
    die "Kafka is already running with a different setup ($current_topology; wanted $topology). Run infra/kafka/down.sh first."
  fi
  ((SECURE)) || rm -rf "$KAFKA_SECRETS" # a plain broker: clients must not try SASL
  if ((${#running[@]} == BROKERS)); then
    log "already running ($BROKERS node(s), Kafka $KAFKA_VERSION): $(bootstrap_servers)"
    bootstrap_servers
    exit 0
  fi
  log "only node(s) ${running[*]} of $BROKERS running; starting the others"
fi

install_jars

# --- (re)create cluster state ---------------------------------------------------
if [[ -n "$current_topology" && "$current_topology" != "$topology" ]]; then
  # Storage formatted for another quorum/ports/version cannot be reused; the
  # data is disposable test data.
  log "setup changed ($current_topology -> $topology): wiping old data under $KAFKA_RUN"
  rm -rf "$KAFKA_RUN"/node-* "$KAFKA_RUN/cluster.id"
fi
if ((SECURE)) && [[ ! -s "$KAFKA_SECRETS/admin.json" ]] && compgen -G "$KAFKA_RUN/node-*" >/dev/null; then
  # The storage holds admin's SCRAM credential, formatted in; without its password
  # nothing can authenticate, so start over (test data).
  log "secured storage without its admin credentials: wiping old data under $KAFKA_RUN"
  rm -rf "$KAFKA_RUN"/node-* "$KAFKA_RUN/cluster.id"
fi
printf '%s\n' "$topology" >"$KAFKA_RUN/topology"

admin_password=""
if ((SECURE)); then
  # admin's password is needed before anything starts: it is formatted into the metadata
  # log and the nodes authenticate to each other with it. The other principals are
  # provisioned by provision.py once the broker runs.
  (umask 077 && mkdir -p "$KAFKA_SECRETS")
  chmod 700 "$KAFKA_SECRETS"
  if [[ ! -s "$KAFKA_SECRETS/admin.json" ]]; then
    (umask 077 && printf '{"username": "admin", "password": "%s"}\n' "$(random_password)" \
      >"$KAFKA_SECRETS/admin.json")
  fi
  admin_password="$(secret_password admin)"
  [[ "$admin_password" =~ ^[A-Za-z0-9]+$ ]] || die "unreadable password in $KAFKA_SECRETS/admin.json"
  # For Kafka's own CLI tools: kafka-tool.sh ... --command-config $KAFKA_SECRETS/admin.properties
  (umask 077 && cat >"$KAFKA_SECRETS/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
EOF
  )
  # The clients' cue (config.py KafkaSettings.secured): this broker requires SASL.
  : >"$KAFKA_SECRETS/secure"
else
  rm -rf "$KAFKA_SECRETS"
fi

if [[ ! -s "$KAFKA_RUN/cluster.id" ]]; then
  kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_RUN/cluster.id"
fi
cluster_id="$(<"$KAFKA_RUN/cluster.id")"

voters=""
for ((i = 1; i <= BROKERS; i++)); do
  voters+="${voters:+,}$i@127.0.0.1:$((KAFKA_CONTROLLER_PORT + i - 1))"
done
rf=$((BROKERS < 3 ? BROKERS : 3))
min_isr=$((rf > 1 ? 2 : 1))

# If startup fails (or is interrupted), stop the nodes this run started so
# nothing half-working is left behind.
started=()     # pids
started_ids=() # node ids
on_exit() {
  local rc=$?
  if ((rc != 0 && ${#started[@]} > 0)); then
    log "stopping the node(s) this run started"
    kill -TERM "${started[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "${started[@]}" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "${started[@]}" 2>/dev/null || true
    for id in "${started_ids[@]}"; do rm -f "$(node_dir "$id")/kafka.pid"; done
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

fail() {
  local id dir
  log "ERROR: $*"
  for id in "${started_ids[@]}"; do
    dir="$(node_dir "$id")"
    for f in "$dir/logs/kafka.out" "$dir/logs/server.log"; do
      [[ -s "$f" ]] || continue
      printf '\n----- node %s: last lines of %s -----\n' "$id" "$f" >&2
      tail -n 25 "$f" >&2
    done
  done
  exit 1
}

# --- configure, format, start ---------------------------------------------------
# Check every port first, so a conflict is reported before anything starts.
for ((id = 1; id <= BROKERS; id++)); do
  node_pid "$id" >/dev/null && continue
  for p in $((KAFKA_PORT + id - 1)) $((KAFKA_CONTROLLER_PORT + id - 1)); do
    if port_open "$p"; then
      die "port $p on 127.0.0.1 is already in use by a process that up.sh did not start (set KAFKA_PORT / KAFKA_CONTROLLER_PORT to move the cluster)"
    fi
  done
done

for ((id = 1; id <= BROKERS; id++)); do
  node_pid "$id" >/dev/null && continue
  dir="$(node_dir "$id")"
  port=$((KAFKA_PORT + id - 1))
  cport=$((KAFKA_CONTROLLER_PORT + id - 1))
  mkdir -p "$dir/data" "$dir/logs"

  sed -e "s|@NODE_ID@|$id|g" \
      -e "s|@VOTERS@|$voters|g" \
      -e "s|@PORT@|$port|g" \
      -e "s|@CONTROLLER_PORT@|$cport|g" \
      -e "s|@DATA_DIR@|$dir/data|g" \
      -e "s|@RF@|$rf|g" \
      -e "s|@MIN_ISR@|$min_isr|g" \
      "$KAFKA_DIR/server.properties.template" >"$dir/server.properties"
  if ((SECURE)); then
    # The secure fragment replaces the plain lines for the same keys; it holds admin's
    # password, so the rendered file is for this user only.
    secure_conf="$(sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
      -e "s|@ADMIN_PASSWORD@|$admin_password|g" "$KAFKA_DIR/server-secure.properties.template")"
    keys="$(grep -oE '^[a-z][a-z0-9.-]*=' <<<"$secure_conf" | sed -e 's/=$//' -e 's/\./\\./g' | paste -sd'|')"
    chmod 600 "$dir/server.properties"
    plain_conf="$(grep -vE "^($keys)=" "$dir/server.properties" || true)"
    printf '%s\n\n%s\n' "$plain_conf" "$secure_conf" >"$dir/server.properties"
  fi

  if [[ ! -f "$dir/data/meta.properties" ]]; then
    # Static voters (controller.quorum.voters) => no --standalone/--initial-controllers.
    scram=()
    ((SECURE)) && scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]")
    kafka_java kafka.tools.StorageTool format --cluster-id "$cluster_id" \
      --config "$dir/server.properties" "${scram[@]}" >"$dir/logs/format.log" 2>&1 ||
      fail "formatting storage of node $id failed: $(tail -n 5 "$dir/logs/format.log")"
  fi

  # The readiness check greps server.log, so a previous run's lines must go.
  if [[ -f "$dir/logs/server.log" ]]; then
    mv -f "$dir/logs/server.log" "$dir/logs/server.log.1"
  fi

  # JVM flags as in Kafka's kafka-run-class.sh, with a small heap. setsid puts
  # the broker in its own session: a Ctrl-C or hang-up aimed at the calling
  # terminal/make does not reach it.
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of flags
  (
    cd "$dir"
    exec 9>&- # do not hand the lock fd to the broker: it would hold the lock forever
    exec setsid "$JAVA" $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
      -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      -Dkafka.logs.dir="$dir/logs" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
  ) </dev/null >"$dir/logs/kafka.out" 2>&1 &
  echo $! >"$dir/kafka.pid"
  started+=("$!")
  started_ids+=("$id")
  log "started node $id (pid $!): client 127.0.0.1:$port, controller 127.0.0.1:$cport"
done

# --- wait until ready -----------------------------------------------------------
deadline=$((SECONDS + KAFKA_START_TIMEOUT))
for ((id = 1; id <= BROKERS; id++)); do
  dir="$(node_dir "$id")"
  # 1. the node's own "started" line (KafkaRaftServer logs it once broker and
  #    controller are both up and the broker is unfenced)
  until grep -qF "[KafkaRaftServer nodeId=$id] Kafka Server started" "$dir/logs/server.log" 2>/dev/null; do
    node_pid "$id" >/dev/null || fail "node $id exited during startup"
    ((SECONDS < deadline)) || fail "node $id not started after ${KAFKA_START_TIMEOUT}s"
    sleep 0.2
  done
  # 2. its client port accepts connections
  until port_open $((KAFKA_PORT + id - 1)); do
    ((SECONDS < deadline)) || fail "node $id: port $((KAFKA_PORT + id - 1)) closed after ${KAFKA_START_TIMEOUT}s"
    sleep 0.2
  done
done

# 3. a real client round trip: ApiVersions + Metadata through the admin client;
#    the metadata must list every broker, unfenced (BrokerApiVersionsCommand
#    prints one "host:port (id: N rack: null isFenced: false) -> (" block per
#    broker it learns from metadata).
bs="$(bootstrap_servers)"
auth=()
((SECURE)) && auth=(--command-config "$KAFKA_SECRETS/admin.properties")
while :; do
  out="$(kafka_java org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$bs" "${auth[@]}" 2>&1)" || true
  seen="$(grep -E '^127\.0\.0\.1:[0-9]+ \(id: [0-9]+ rack: .*\) -> \($' <<<"$out" |
    grep -cv 'isFenced: true' || true)"
  ((seen == BROKERS)) && break
  ((SECONDS < deadline)) ||
    fail "metadata lists $seen of $BROKERS broker(s) after ${KAFKA_START_TIMEOUT}s; last output: $(tail -n 5 <<<"$out")"
  sleep 0.5
done

if ((SECURE)); then
  # The principals' credentials, the case topics and the least-privilege ACLs
  # (services/runtime/kafka/access.py); idempotent, so a warm start re-applies them.
  py="$REPO_ROOT/.venv/bin/python"
  [[ -x "$py" ]] || py="$(command -v python3 || true)"
  [[ -n "$py" ]] || fail "no Python to provision the principals (make the venv: .venv/)"
  CASES_KAFKA_SECRETS="$KAFKA_SECRETS" PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" "$KAFKA_DIR/provision.py" "$bs" >&2 || fail "provisioning principals and ACLs failed"
fi

printf '%s\n' "$bs" >"$KAFKA_RUN/bootstrap.servers"
log "Kafka $KAFKA_VERSION ready in $((SECONDS - t0))s ($BROKERS node(s), cluster id $cluster_id): $bs"
log "logs: $KAFKA_RUN/node-*/logs/server.log; stop with: bash infra/kafka/down.sh"
printf '%s\n' "$bs"
