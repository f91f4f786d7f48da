# shellcheck shell=bash
# Shared settings and helpers for up.sh, down.sh and kafka-tool.sh.
# Sourced, not executed. Every setting can be overridden from the environment.

KAFKA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$KAFKA_DIR/../.." && pwd)"

# Kafka version: 4.3.1 is the newest 4.x for which both kafka_2.13 and
# kafka-tools are on Maven Central (kafka-tools 4.4.0 is not).
KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
# Jars live outside git, shared by every checkout on the machine.
KAFKA_CACHE="${KAFKA_CACHE:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/cases-kafka}"
KAFKA_LIBS="$KAFKA_CACHE/$KAFKA_VERSION/libs"

# Runtime state (configs, data, logs, pid files). Defaults to <repo>/var/infra,
# i.e. $PWD/var/infra when run from the repository root; var/ is gitignored.
CASES_INFRA_DIR="${CASES_INFRA_DIR:-$REPO_ROOT/var/infra}"
# Absolute path: it ends up in server.properties (log.dirs) and in the JVM's
# command line, which down.sh matches against.
[[ "$CASES_INFRA_DIR" == /* ]] || CASES_INFRA_DIR="$PWD/$CASES_INFRA_DIR"
KAFKA_RUN="$CASES_INFRA_DIR/kafka"

BROKERS="${BROKERS:-1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"                        # node i listens on KAFKA_PORT+i-1
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19092}" # node i: KAFKA_CONTROLLER_PORT+i-1
# SECURE=1: the client listener requires SASL/SCRAM-SHA-512 and the StandardAuthorizer
# denies whatever no ACL allows; credentials are provisioned into $KAFKA_SECRETS.
SECURE="${SECURE:-0}"
[[ "$SECURE" == 1 || "$SECURE" == true || "$SECURE" == yes ]] && SECURE=1 || SECURE=0
# One <principal>.json per principal plus the `secure` marker the clients look for
# (services/runtime/kafka/config.py secrets_dir(); CASES_KAFKA_SECRETS points elsewhere).
KAFKA_SECRETS="$KAFKA_RUN/secrets"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"        # seconds
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"          # seconds before SIGKILL

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="java"
fi

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

node_dir() { printf '%s/node-%s' "$KAFKA_RUN" "$1"; }

# Print the broker pid of node $1 if that broker is running, else return 1.
# The pid file alone is not trusted: the pid must be alive AND be a kafka.Kafka
# JVM started with this node's config (guards against recycled pids).
node_pid() {
  local pidfile pid
  pidfile="$(node_dir "$1")/kafka.pid"
  [[ -f "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $(node_dir "$1")/server.properties" || return 1
  printf '%s\n' "$pid"
}

# Node ids that have a directory under $KAFKA_RUN (sorted numerically).
known_nodes() {
  local d
  for d in "$KAFKA_RUN"/node-*; do
    [[ -d "$d" ]] && printf '%s\n' "${d##*/node-}"
  done | sort -n
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

bootstrap_servers() {
  local i out=""
  for ((i = 0; i < BROKERS; i++)); do
    out+="${out:+,}127.0.0.1:$((KAFKA_PORT + i))"
  done
  printf '%s\n' "$out"
}

# Run one of Kafka's Java entry points with the cached jars, e.g.
#   kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
# Short-lived CLI JVMs: small heap, serial GC and C1 only start faster.
kafka_java() {
  local main="$1"; shift
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$KAFKA_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$main" "$@"
}

# Install a Debian package if a command is missing (we are root on dev/CI
# machines; elsewhere, say what to install).
ensure_cmd() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "'$cmd' not found; install the '$pkg' package"
  fi
  log "installing $pkg (apt-get) for '$cmd'..."
  # The package lists may be missing or stale on a fresh machine: update once on failure.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; } ||
    die "apt-get install $pkg failed"
}

# Fetch Kafka's jars into $KAFKA_LIBS once (Maven Central via infra/kafka/pom.xml).
# A ".complete" marker, written last, makes an interrupted download retry
# rather than leave a half-filled libs/ behind.
install_jars() {
  [[ -f "$KAFKA_LIBS/.complete" ]] && return 0
  [[ "$JAVA" == java ]] && ensure_cmd java openjdk-17-jre-headless
  ensure_cmd mvn maven
  local tmp="$KAFKA_LIBS.partial" mvnlog="$KAFKA_CACHE/$KAFKA_VERSION/mvn.log"
  log "first use: fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIBS ..."
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -B -q -f "$KAFKA_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2
    die "Maven could not fetch Kafka $KAFKA_VERSION (full log: $mvnlog)"
  fi
  touch "$tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "installed $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIBS" | cut -f1))"
}

# A random password of 32 hex characters: safe inside JSON, JAAS quotes and sed.
random_password() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# The password in $KAFKA_SECRETS/<principal>.json (written by up.sh or provision.py).
secret_password() {
  sed -nE 's/.*"password": *"([^"]*)".*/\1/p' "$KAFKA_SECRETS/$1.json"
}
