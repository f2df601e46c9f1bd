#!/usr/bin/env bash
# Real Kafka (KRaft, combined broker+controller) for Pigeon's tests and CI: one node of a
# single-node cluster by default, or one node of a replicated cluster (test/kafka/cluster.sh
# runs three with KAFKA_NODE_ID / KAFKA_QUORUM_VOTERS / KAFKA_REPLICATION).
#
# Usage: bash test/kafka/kafka.sh {fetch|start|resume|stop|kill|restart|status}
#
#   fetch    resolve the broker jars from Maven Central (via test/kafka/pom.xml) into
#            $PIGEON_KAFKA_HOME/libs; skipped when the jars for this pom are already there
#   start    fetch if needed, wipe the data dir (fresh, empty cluster on every start),
#            format storage, start the broker in the background and wait until it is
#            ready; a no-op when it is already running
#   resume   start on the data the broker left (formatting only when there is none): a restart
#            of a killed or stopped node, as in production
#   stop     SIGTERM the broker, wait for it to exit (SIGKILL after $KAFKA_STOP_TIMEOUT s)
#   kill     SIGKILL the broker (a crash); its data stays for `resume`
#   restart  stop + resume: the same node back on its own data
#   status   print whether it runs; exit 0 if running, 1 if not
#
# Environment:
#   PIGEON_KAFKA_HOME      cache/work dir (default: <repo>/.cache/kafka, git-ignored)
#   PIGEON_KAFKA_LIBS      where the jars live (default: $PIGEON_KAFKA_HOME/libs); lets several
#                          brokers share one download
#   KAFKA_PORT             client listener port            (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener port  (default 9093)
#   KAFKA_NODE_ID          this node's id                  (default 1)
#   KAFKA_QUORUM_VOTERS    the controller quorum, id@host:port,... (default: this node alone)
#   KAFKA_REPLICATION      default and internal topics' replication factor (default 1)
#   KAFKA_MIN_ISR          min.insync.replicas             (default: 2 when replicated, else 1)
#   KAFKA_VERSION          override the pom's kafka.version (e.g. 4.3.1); re-fetches jars
#   KAFKA_EXTRA_PROPS      extra server.properties lines, appended (later keys win)
#   KAFKA_HEAP_OPTS        JVM heap options                (default -Xmx512m -Xms128m)
#   KAFKA_JVM_PERFORMANCE_OPTS  JVM GC and JIT options     (default: kafka-run-class.sh's own)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness   (default 60)
#   KAFKA_STOP_TIMEOUT     seconds before SIGKILL on stop  (default 20)
#   JAVA / MVN             java and mvn executables        (default: from PATH / JAVA_HOME)
#
# Layout under $PIGEON_KAFKA_HOME: libs/ (jars + .stamp), conf/ (server.properties,
# log4j2*.properties), formatted/ (pristine formatted storage, copied to data/ on every
# start), data/, logs/ (server.log = broker log4j, stdout.log, format.log), kafka.pid, .lock
#
# Readiness: "kafka ready on 127.0.0.1:$KAFKA_PORT" is printed once the port answers and
# the broker has logged "Kafka Server started" (i.e. it is unfenced and serving).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"

KAFKA_HOME="${PIGEON_KAFKA_HOME:-$REPO_ROOT/.cache/kafka}"
LIBS="${PIGEON_KAFKA_LIBS:-$KAFKA_HOME/libs}"
CONF="$KAFKA_HOME/conf"
DATA="$KAFKA_HOME/data"
LOGS="$KAFKA_HOME/logs"
PID_FILE="$KAFKA_HOME/kafka.pid"
SERVER_LOG="$LOGS/server.log"
STDOUT_LOG="$LOGS/stdout.log"
FORMAT_LOG="$LOGS/format.log"

HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
# The options Kafka's own start script gives every broker: G1 aiming at 20 ms pauses (the JVM's
# default aim is 200 ms: a pause that long is a produce request waiting as long, acks=all).
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
# Fixed cluster id (22-char base64url of 16 bytes): the data dir is fresh on every
# start anyway, so there is nothing to gain from a random one.
CLUSTER_ID="cGlnZW9uLXRlc3Qta2Fmaw"
KAFKA_NODE_ID="${KAFKA_NODE_ID:-1}"
KAFKA_QUORUM_VOTERS="${KAFKA_QUORUM_VOTERS:-$KAFKA_NODE_ID@$HOST:$KAFKA_CONTROLLER_PORT}"
KAFKA_REPLICATION="${KAFKA_REPLICATION:-1}"
if ((KAFKA_REPLICATION > 1)); then KAFKA_MIN_ISR="${KAFKA_MIN_ISR:-2}"; else KAFKA_MIN_ISR="${KAFKA_MIN_ISR:-1}"; fi

if [[ -n "${JAVA:-}" ]]; then :
elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"
else JAVA=java; fi
MVN="${MVN:-mvn}"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# show_log_tail [file...]  (default: the broker's stdout/stderr, then its log4j log)
show_log_tail() {
  local f
  (($#)) || set -- "$STDOUT_LOG" "$SERVER_LOG"
  for f in "$@"; do
    if [[ -s "$f" ]]; then
      log "last lines of $f:"
      tail -n 40 "$f" | sed 's/^/    /' >&2
    fi
  done
  log "full logs: $LOGS"
}

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH ($2)"; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

read_pid() { if [[ -f "$PID_FILE" ]]; then tr -dc '0-9' <"$PID_FILE"; fi; }

# true if $1 is a live process that is this home's broker (guards against recycled pids)
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$CONF/server.properties" || return 1
  fi
  return 0
}

# serialize start/stop/fetch of one home (parallel test workers may all call start)
take_lock() {
  mkdir -p "$KAFKA_HOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KAFKA_HOME/.lock"
    flock -w 300 9 || die "could not lock $KAFKA_HOME/.lock within 300 s"
  fi
}

check_java() {
  need_cmd "$JAVA" "Java 17+ is required to run Kafka 4; set JAVA or JAVA_HOME"
  local v major
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${v%%.*}"
  [[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
  if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 17)); then
    die "Kafka 4 needs Java 17+, but $JAVA is version $v (set JAVA or JAVA_HOME)"
  fi
}

pom_stamp() { { cat "$POM"; echo "kafka.version=${KAFKA_VERSION:-}"; echo "java=$("$JAVA" -version 2>&1 | head -n1)"; } | sha256sum | cut -d' ' -f1; }

cmd_fetch() {
  local stamp
  check_java
  stamp="$(pom_stamp)"
  if [[ -f "$LIBS/.stamp" && "$(cat "$LIBS/.stamp")" == "$stamp" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  need_cmd "$MVN" "Maven is needed once to download the Kafka jars"
  log "resolving Kafka jars from $POM into $LIBS ..."
  mkdir -p "$KAFKA_HOME"
  local tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  local mvn_args=(-q -B -Dstyle.color=never -f "$POM")
  if [[ -n "${KAFKA_VERSION:-}" ]]; then mvn_args+=("-Dkafka.version=$KAFKA_VERSION"); fi
  # (mvn output goes to a file: Debian's Maven 3.8 prints stray ANSI codes even with -q)
  if ! "$MVN" "${mvn_args[@]}" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$tmp.log" | tail -n 40 >&2
    rm -rf "$tmp" "$tmp.log"
    die "maven could not resolve the Kafka jars (output above)"
  fi
  rm -f "$tmp.log"
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "no kafka_2.13 jar after resolution"; }
  echo "$stamp" >"$tmp/.stamp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "$(find "$LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in $LIBS"
}

write_config() {
  mkdir -p "$CONF" "$LOGS"
  cat >"$CONF/server.properties" <<EOF
# generated by test/kafka/kafka.sh; overwritten on every start
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_QUORUM_VOTERS
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=6
default.replication.factor=$KAFKA_REPLICATION
min.insync.replicas=$KAFKA_MIN_ISR
auto.create.topics.enable=false
offsets.topic.replication.factor=$KAFKA_REPLICATION
transaction.state.log.replication.factor=$KAFKA_REPLICATION
transaction.state.log.min.isr=$KAFKA_MIN_ISR
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION
share.coordinator.state.topic.min.isr=$KAFKA_MIN_ISR
group.initial.rebalance.delay.ms=0
# 1 partition instead of 50 for the internal topics: a consumer group's first join and a
# producer's first InitProducerId then wait ~0.4 s instead of ~1 s on a fresh broker
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
EOF
  if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
    printf '# from KAFKA_EXTRA_PROPS\n%s\n' "$KAFKA_EXTRA_PROPS" >>"$CONF/server.properties"
  fi
  cat >"$CONF/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $SERVER_LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
  # command-line tools (StorageTool): warnings and errors only, on stderr
  cat >"$CONF/log4j2-tools.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Fresh, empty storage for every start (or, with keep=1, the data left by the last run when there
# is any). Formatting (kafka.tools.StorageTool, a JVM of its
# own) costs ~2 s, so the formatted dir is made once per jar set + config and then copied.
prepare_data() {
  local keep="${1:-0}" tpl="$KAFKA_HOME/formatted" key
  if [[ $keep == 1 && -f "$DATA/meta.properties" ]]; then return 0; fi
  key="$({ cat "$LIBS/.stamp"; grep -vE '^(listeners|advertised\.listeners|controller\.quorum\.voters|log\.dirs)=' "$CONF/server.properties"; } | sha256sum | cut -d' ' -f1)"
  if [[ ! -f "$tpl/.key" || "$(cat "$tpl/.key")" != "$key" ]]; then
    rm -rf "$tpl" "$tpl.tmp"
    mkdir -p "$tpl.tmp/data"
    sed "s|^log\.dirs=.*|log.dirs=$tpl.tmp/data|" "$CONF/server.properties" >"$tpl.tmp/server.properties"
    if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$CONF/log4j2-tools.properties" \
        -cp "$LIBS/*" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$tpl.tmp/server.properties" \
        >"$FORMAT_LOG" 2>&1; then
      show_log_tail "$FORMAT_LOG"
      die "formatting the Kafka storage (kafka.tools.StorageTool format) failed"
    fi
    echo "$key" >"$tpl.tmp/.key"
    mv "$tpl.tmp" "$tpl"
  fi
  rm -rf "$DATA"
  cp -a "$tpl/data" "$DATA"
}

cmd_status() {
  local pid; pid="$(read_pid)"
  if is_our_broker "$pid"; then
    if port_open "$KAFKA_PORT"; then
      echo "kafka running (pid $pid) on $HOST:$KAFKA_PORT"
    else
      echo "kafka process running (pid $pid) but $HOST:$KAFKA_PORT does not answer (starting or broken; see $SERVER_LOG)"
    fi
    return 0
  fi
  echo "kafka not running"
  return 1
}

cmd_start() {
  local keep="${1:-0}"
  local pid; pid="$(read_pid)"
  if is_our_broker "$pid" && port_open "$KAFKA_PORT"; then
    echo "kafka already running (pid $pid) on $HOST:$KAFKA_PORT"
    return 0
  fi
  if is_our_broker "$pid"; then
    log "broker pid $pid is alive but its port does not answer: restarting it"
    cmd_stop
  fi
  rm -f "$PID_FILE"
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT, or PIGEON_KAFKA_HOME if it is a broker of another checkout)"
    fi
  done

  cmd_fetch
  write_config
  : >"$SERVER_LOG"
  : >"$STDOUT_LOG"

  local t0 t1 cp="$LIBS/*"
  t0=$(date +%s%N)
  local log4j="-Dlog4j2.configurationFile=$CONF/log4j2.properties"
  prepare_data "$keep"

  # (9>&-: the broker must not inherit the lock fd)
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS are lists of JVM flags
  nohup "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS -Djava.awt.headless=true "$log4j" \
    -cp "$cp" kafka.Kafka "$CONF/server.properties" </dev/null >>"$STDOUT_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  # ready = process alive, client port answers, and KafkaRaftServer logged that it has
  # started (BrokerServer startup completes only once the broker is unfenced)
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      show_log_tail
      die "kafka exited during startup"
    fi
    if port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$SERVER_LOG" 2>/dev/null; then
      break
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      die "kafka not ready after ${KAFKA_START_TIMEOUT}s (killed pid $pid)"
    fi
    sleep 0.2
  done
  t1=$(date +%s%N)
  log "started in $(( (t1 - t0) / 1000000 )) ms (pid $pid, logs in $LOGS)"
  echo "kafka ready on $HOST:$KAFKA_PORT"
}

cmd_kill() {
  local pid; pid="$(read_pid)"
  if is_our_broker "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  echo "kafka killed"
}

cmd_stop() {
  local pid; pid="$(read_pid)"
  if ! is_our_broker "$pid"; then
    rm -f "$PID_FILE"
    echo "kafka not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  echo "kafka stopped"
}

case "${1:-}" in
  fetch) take_lock; cmd_fetch; echo "kafka jars in $LIBS" ;;
  start) take_lock; cmd_start 0 ;;
  resume) take_lock; cmd_start 1 ;;
  stop) take_lock; cmd_stop ;;
  kill) take_lock; cmd_kill ;;
  restart) take_lock; cmd_stop; cmd_start 1 ;;
  status) cmd_status ;;
  *) echo "usage: $0 {fetch|start|resume|stop|kill|restart|status}" >&2; exit 2 ;;
esac
