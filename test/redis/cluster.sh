#!/usr/bin/env bash
# A Redis Cluster for Pigeon's tests: 3 masters and 3 replicas from Debian's redis-server, on
# loopback ports $BASE..$BASE+5 (cluster bus: +10000), below the kernel's ephemeral range so no
# outgoing connection can hold one. A short cluster-node-timeout (2 s) makes a failover take a few
# seconds, so tests can kill a master and watch its replica take over.
#
# Usage: bash test/redis/cluster.sh {start|stop|kill <port>|resume <port>|status|nodes}
#
#   start          start every node not running and form the cluster; a no-op when a healthy
#                  cluster is already up. A cluster left broken (a node gone, slots uncovered, a
#                  node from another layout) is wiped and created afresh.
#   stop           SIGTERM every node and wait for it to exit (SIGKILL after 10 s)
#   kill <port>    SIGKILL one node (a crash); its data dir stays for `resume`
#   resume <port>  start that node again (empty, on its cluster config): it rejoins, a former
#                  master as the replica of whoever took its slots
#   status         exit 0 when every node answers and the cluster state is ok, else 1
#   nodes          print the seed list, host:port,... (what REDIS_CLUSTER_NODES takes)
#
# Environment:
#   PIGEON_REDIS_CLUSTER_HOME  data and logs (default: <repo>/.cache/redis-cluster, git-ignored)
#   PIGEON_REDIS_CLUSTER_PORT  first port (default 7380)
#   REDIS_SERVER / REDIS_CLI   executables (default: from PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
HOME_DIR="${PIGEON_REDIS_CLUSTER_HOME:-$REPO_ROOT/.cache/redis-cluster}"
BASE="${PIGEON_REDIS_CLUSTER_PORT:-7380}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
REDIS_CLI="${REDIS_CLI:-redis-cli}"
HOST=127.0.0.1
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE + i))); done

cli() { "$REDIS_CLI" -h "$HOST" -p "$1" "${@:2}"; }
answers() { [ "$(cli "$1" ping 2>/dev/null)" = "PONG" ]; }
# The node's own word for its pid first: a node another checkout started has no pid file here.
pid_of() {
  local pid
  pid=$(cli "$1" info server 2>/dev/null | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
  [ -n "$pid" ] && echo "$pid" || cat "$HOME_DIR/$1/redis.pid" 2>/dev/null || true
}

start_node() {
  local port=$1 dir="$HOME_DIR/$1"
  answers "$port" && return 0
  mkdir -p "$dir"
  # A node comes back empty, like a pod without persistence. The snapshot a replica's full sync
  # leaves behind would bring back keys the cluster has changed since: a master restarted on it
  # before its replica took over would serve an old copy.
  rm -f "$dir/dump.rdb"
  # No persistence: a node that comes back empty is resynced from its master by the cluster, as
  # a replaced pod would be. 64 MB is plenty for tests and keeps six nodes small. Without full
  # coverage required, the masters that are up keep serving their slots while one fails over.
  "$REDIS_SERVER" --port "$port" --bind "$HOST" --protected-mode no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-require-full-coverage no \
    --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --save '' --appendonly no --maxmemory 64mb --maxmemory-policy noeviction \
    --repl-diskless-sync-delay 0
  for _ in $(seq 1 50); do answers "$port" && return 0; sleep 0.1; done
  echo "redis on $port did not start; see $dir/redis.log" >&2
  return 1
}

stop_node() {
  local port=$1 pid
  pid=$(pid_of "$port")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Healthy: every node answers, sees all six, and says the cluster is ok.
healthy() {
  local port info
  for port in "${PORTS[@]}"; do
    info=$(cli "$port" cluster info 2>/dev/null) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_known_nodes:6' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
    # A replica that has not finished its first sync cannot take over ("disconnected from master
    # for longer than allowed"): a test that kills a master must find every replica linked.
    info=$(cli "$port" info replication 2>/dev/null) || return 1
    if grep -q '^role:slave' <<<"$info"; then grep -q '^master_link_status:up' <<<"$info" || return 1; fi
  done
}

wait_healthy() {
  for _ in $(seq 1 "${1:-100}"); do healthy && return 0; sleep 0.2; done
  return 1
}

create() {
  local seeds=()
  for port in "${PORTS[@]}"; do seeds+=("$HOST:$port"); done
  "$REDIS_CLI" --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$HOME_DIR/create.log" 2>&1 || {
    cat "$HOME_DIR/create.log" >&2
    return 1
  }
}

wipe() {
  for port in "${PORTS[@]}"; do stop_node "$port"; done
  rm -rf "${HOME_DIR:?}"/[0-9]*
}

cmd_start() {
  mkdir -p "$HOME_DIR"
  for port in "${PORTS[@]}"; do start_node "$port"; done
  # Nodes never clustered know only themselves: form the cluster. Otherwise give one that is
  # recovering (a node just restarted) a few seconds, and start afresh if it stays broken.
  if ! cli "${PORTS[0]}" cluster info | grep -q '^cluster_known_nodes:1'; then
    if wait_healthy 25; then
      echo "redis cluster ready on $(cmd_nodes)"
      return 0
    fi
    echo "redis cluster on $BASE.. is not healthy: starting afresh" >&2
    wipe
    for port in "${PORTS[@]}"; do start_node "$port"; done
  fi
  create
  wait_healthy 150 || {
    echo "redis cluster did not become healthy" >&2
    return 1
  }
  echo "redis cluster ready on $(cmd_nodes)"
}

cmd_nodes() {
  local out=()
  for port in "${PORTS[@]}"; do out+=("$HOST:$port"); done
  (
    IFS=,
    echo "${out[*]}"
  )
}

case "${1:-}" in
  start) cmd_start ;;
  stop) for port in "${PORTS[@]}"; do stop_node "$port"; done ;;
  kill)
    pid=$(pid_of "${2:?port}")
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    ;;
  resume) start_node "${2:?port}" ;;
  status) healthy ;;
  nodes) cmd_nodes ;;
  *)
    echo "usage: $0 {start|stop|kill <port>|resume <port>|status|nodes}" >&2
    exit 2
    ;;
esac
