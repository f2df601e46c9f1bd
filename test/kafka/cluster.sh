#!/usr/bin/env bash
# A replicated Kafka cluster on loopback for the high-availability and fault tests: three KRaft
# nodes, each a combined broker+controller (the controller quorum needs a majority, 2 of 3, so
# any single node may die), started from the same Maven Central jars as test/kafka/kafka.sh.
# Topics default to replication factor 3 and min.insync.replicas 2, as in production.
#
# Usage: bash test/kafka/cluster.sh {start|stop|destroy|status|brokers|kill N|resume N|stop-node N|pause N|unpause N}
#
#   start      fresh, empty cluster: every node formatted anew, started together (no node can
#              finish starting before a quorum of controllers answers), ready when all are
#   stop       stop every node
#   destroy    SIGKILL every node (a test's clean-up: the data is thrown away at the next start)
#   status     each node's state
#   brokers    the bootstrap list, host:port,host:port,host:port
#   kill N     SIGKILL node N (a crash); its data stays
#   stop-node N  SIGTERM node N (a clean shutdown); its data stays
#   resume N   start node N again on its own data
#   pause N    SIGSTOP node N (a hung process: its connections stay open, nothing answers)
#   unpause N  SIGCONT node N
#
# Environment:
#   KAFKA_CLUSTER_HOME   work dir (default <repo>/.cache/kafka-cluster), node1..node3 inside
#   KAFKA_CLUSTER_PORT   node 1's client port (default 30092); node N listens on +10*(N-1), and
#                        its controller on the port after that. Below the kernel's ephemeral range
#                        (32768+): a test's outgoing connection can hold a port up there, and a node
#                        starting on it fails to bind ("Address already in use")
#   KAFKA_CLUSTER_HEAP   each node's JVM options (default -Xmx384m -Xms96m: three nodes and the
#                        services fit in 2 cores and a few GiB; plus C1 only and the serial
#                        collector, see JVM_OPTS below)
#   PIGEON_KAFKA_LIBS    the jars (default <repo>/.cache/kafka/libs, shared with kafka.sh)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
HOME_DIR="${KAFKA_CLUSTER_HOME:-$REPO_ROOT/.cache/kafka-cluster}"
BASE_PORT="${KAFKA_CLUSTER_PORT:-30092}"
# C1 only and the serial collector: a node (re)starting on a 2-core machine shared with the whole
# deployment gets a small share of a core, and its start-up is CPU-bound (class loading, JIT). C2
# and a parallel collector's threads cost about 4 of the 10 CPU-seconds a node needs to be ready
# (measured: 6.5 s instead of 10.3 s, one broker, same run); at 60 msg/s C1 code is plenty.
# The nodes' own GC and JIT choice, for a small footprint: kafka.sh's default JVM options (G1)
# are replaced, as the JVM refuses two collectors.
JVM_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
HEAP="${KAFKA_CLUSTER_HEAP:--Xmx384m -Xms96m $JVM_OPTS}"
export PIGEON_KAFKA_LIBS="${PIGEON_KAFKA_LIBS:-$REPO_ROOT/.cache/kafka/libs}"
NODES=(1 2 3)
# A dead broker is fenced, and its partitions get new leaders, after 6 s without a heartbeat
# rather than the default 9 s: the fault tests measure Pigeon's recovery, not a slow default.
# Not less: at 3 s, on the shared 2-core machine (load average 30-50), live brokers whose
# heartbeat was late were fenced every minute or two, moving their leaders for nothing.
#
# The controller quorum (Raft) gets more patience than its defaults (fetch 2 s, election 1 s):
# with a starved JVM a follower's fetch often takes over 2 s, so followers kept turning
# candidate, elections kept timing out before the votes came back, and a node resumed on its
# data flapped between follower and prospective instead of catching up the metadata it needs
# to be unfenced. Seen in the suite: 25 s of elections at the first start, and a resumed leader
# not ready 180 s later. A dead active controller is replaced about 6 s after its last answer.
FAILOVER_PROPS='broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
controller.quorum.fetch.timeout.ms=6000
controller.quorum.election.timeout.ms=3000
controller.quorum.election.backoff.max.ms=2000'

client_port() { echo $((BASE_PORT + 10 * ($1 - 1))); }
controller_port() { echo $(($(client_port "$1") + 1)); }

voters() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port "$n")"); done
  local IFS=,
  echo "${out[*]}"
}

brokers() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(client_port "$n")"); done
  local IFS=,
  echo "${out[*]}"
}

# node <N> <kafka.sh command>: kafka.sh for one node of the cluster
node() {
  local n="$1"
  shift
  PIGEON_KAFKA_HOME="$HOME_DIR/node$n" KAFKA_NODE_ID="$n" KAFKA_QUORUM_VOTERS="$(voters)" \
    KAFKA_PORT="$(client_port "$n")" KAFKA_CONTROLLER_PORT="$(controller_port "$n")" \
    KAFKA_REPLICATION=3 KAFKA_MIN_ISR=2 KAFKA_HEAP_OPTS="$HEAP" KAFKA_JVM_PERFORMANCE_OPTS="-server" KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}" \
    KAFKA_EXTRA_PROPS="$FAILOVER_PROPS${KAFKA_EXTRA_PROPS:+
$KAFKA_EXTRA_PROPS}" \
    bash "$SCRIPT_DIR/kafka.sh" "$@"
}

node_pid() { tr -dc '0-9' <"$HOME_DIR/node$1/kafka.pid" 2>/dev/null || true; }

need_node() { [[ "${1:-}" =~ ^[123]$ ]] || { echo "cluster.sh: a node number 1-3 is needed" >&2; exit 2; }; }

# every node at once, each waiting for its own readiness; fails if any node fails
all_nodes() {
  local n pids=() failed=0
  for n in "${NODES[@]}"; do
    node "$n" "$@" >"$HOME_DIR/node$n.out" 2>&1 &
    pids+=($!)
  done
  for n in "${!pids[@]}"; do
    if ! wait "${pids[$n]}"; then
      failed=1
      sed "s/^/node$((n + 1)): /" "$HOME_DIR/node$((n + 1)).out" >&2
    fi
  done
  return $failed
}

cmd="${1:-}"
case "$cmd" in
  start)
    mkdir -p "$HOME_DIR"
    bash "$SCRIPT_DIR/kafka.sh" fetch >/dev/null
    for n in "${NODES[@]}"; do node "$n" stop >/dev/null 2>&1 || true; done
    t0=$(date +%s%N)
    all_nodes start
    echo "kafka cluster ready on $(brokers) in $((($(date +%s%N) - t0) / 1000000)) ms"
    ;;
  stop)
    mkdir -p "$HOME_DIR"
    for n in "${NODES[@]}"; do pid="$(node_pid "$n")"; if [[ -n "$pid" ]]; then kill -CONT "$pid" 2>/dev/null || true; fi; done
    all_nodes stop
    echo "kafka cluster stopped"
    ;;
  destroy)
    for n in "${NODES[@]}"; do pid="$(node_pid "$n")"; if [[ -n "$pid" ]]; then kill -CONT "$pid" 2>/dev/null || true; fi; done
    for n in "${NODES[@]}"; do node "$n" kill >/dev/null 2>&1 || true; done
    echo "kafka cluster destroyed"
    ;;
  status) for n in "${NODES[@]}"; do echo "node$n: $(node "$n" status || true)"; done ;;
  brokers) brokers ;;
  kill) need_node "${2:-}"; node "$2" kill ;;
  stop-node) need_node "${2:-}"; node "$2" stop ;;
  resume) need_node "${2:-}"; node "$2" resume ;;
  pause) need_node "${2:-}"; pid="$(node_pid "$2")"; [[ -n "$pid" ]] && kill -STOP "$pid"; echo "node$2 paused" ;;
  unpause) need_node "${2:-}"; pid="$(node_pid "$2")"; [[ -n "$pid" ]] && kill -CONT "$pid"; echo "node$2 unpaused" ;;
  *) echo "usage: $0 {start|stop|destroy|status|brokers|kill N|resume N|stop-node N|pause N|unpause N}" >&2; exit 2 ;;
esac
