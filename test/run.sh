#!/usr/bin/env bash
# The project's test command (`npm test`): unit, contract, integration, fault and end-to-end
# suites in one run of Node's test runner, against the real Kafka, MariaDB and Redis.
# Starts a fresh Kafka broker for the run (and stops it afterwards); MariaDB and
# Redis must already answer (.ci/run starts them on a fresh machine). Fails when any test was
# skipped or left as todo: a suite that cannot reach its infrastructure must fail, not vanish.
set -euo pipefail
cd "$(dirname "$0")/.."

# A broker of its own, fresh for every run, on ports apart from a development broker's: tests
# then never see another run's records or consumer groups. TEST_KAFKA_BROKERS points at an
# existing broker instead.
started_kafka=0
if [[ -z "${TEST_KAFKA_BROKERS:-}" ]]; then
  export PIGEON_KAFKA_HOME="$PWD/.cache/kafka-test" PIGEON_KAFKA_LIBS="$PWD/.cache/kafka/libs"
  bash test/kafka/kafka.sh stop >/dev/null 2>&1 || true
  port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  # Another checkout's test broker may hold the default ports: take the next free pair.
  port="${TEST_KAFKA_PORT:-19092}"
  while port_busy "$port" || port_busy $((port + 1)); do port=$((port + 100)); done
  export KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT=$((port + 1))
  bash test/kafka/kafka.sh start
  started_kafka=1
  export TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
fi
# One broker holds one copy of each topic; the replicated cluster's tests set their own.
export PIGEON_KAFKA_REPLICATION_FACTOR="${PIGEON_KAFKA_REPLICATION_FACTOR:-1}"
export PIGEON_KAFKA_MIN_INSYNC_REPLICAS="${PIGEON_KAFKA_MIN_INSYNC_REPLICAS:-1}"
# The Redis Cluster suites start test/redis/cluster.sh themselves; none is left running.
cleanup() {
  if [[ $started_kafka == 1 ]]; then bash test/kafka/kafka.sh stop || true; fi
  bash test/redis/cluster.sh stop || true
}
trap cleanup EXIT

log=$(mktemp)
set +e
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  'lint/**/*.test.ts' 'core/**/*.test.ts' 'providers/**/*.test.ts' 'routing/**/*.test.ts' 'alerting/**/*.test.ts' 'bin/**/*.test.ts' 'api/**/*.test.ts' 'supplier-bridge/**/*.test.ts' 'persister/**/*.test.ts' \
  'monitor/**/*.test.ts' 'test/**/*.test.ts' "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

skipped=$(grep -E '^ℹ skipped [0-9]+' "$log" | awk '{print $3}' | tail -1)
todo=$(grep -E '^ℹ todo [0-9]+' "$log" | awk '{print $3}' | tail -1)
rm -f "$log"
if [[ $status -ne 0 ]]; then exit "$status"; fi
if [[ "${skipped:-0}" != 0 || "${todo:-0}" != 0 ]]; then
  echo "test/run.sh: ${skipped:-0} skipped and ${todo:-0} todo tests; every test must run" >&2
  exit 1
fi
