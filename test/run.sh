#!/usr/bin/env bash
# The project's test command (`npm test`): unit, contract, integration, fault and end-to-end
# suites in two runs of Node's test runner (see below), against the real Kafka, MariaDB and Redis.
# Extra arguments (more test files) go to the second run.
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

# Two runs of Node's test runner. First the unit suites beside the code, two files at a time: they
# reach no Kafka, MariaDB or Redis (a file that does imports test/support/infra.ts) and listen only
# on ports the system picks, so they share nothing. Then everything that uses the real
# infrastructure, and the suites under test/, one file at a time: they share the broker's topics
# and consumer groups, MariaDB and Redis, and some time what they wait for.
unit=() serial=()
while IFS= read -r file; do
  if grep -q 'test/support/infra' "$file"; then serial+=("$file"); else unit+=("$file"); fi
done < <(find lint core providers routing alerting bin api supplier-bridge persister monitor bench \
  -name node_modules -prune -o -name '*.test.ts' -print | LC_ALL=C sort)

unit_log=$(mktemp) serial_log=$(mktemp)
set +e
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${unit[@]}" 2>&1 | tee "$unit_log"
unit_status=${PIPESTATUS[0]}
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  "${serial[@]}" 'test/**/*.test.ts' "$@" 2>&1 | tee "$serial_log"
serial_status=${PIPESTATUS[0]}
set -e

# The skipped and todo counts of both runs' summaries (the last such line of each log).
count() {
  local log n=0
  for log in "$unit_log" "$serial_log"; do
    n=$((n + $(grep -E "^ℹ $1 [0-9]+" "$log" | awk '{print $3}' | tail -1 | grep . || echo 0)))
  done
  echo "$n"
}
skipped=$(count skipped)
todo=$(count todo)
rm -f "$unit_log" "$serial_log"
if [[ $unit_status -ne 0 ]]; then exit "$unit_status"; fi
if [[ $serial_status -ne 0 ]]; then exit "$serial_status"; fi
if [[ $skipped != 0 || $todo != 0 ]]; then
  echo "test/run.sh: $skipped skipped and $todo todo tests; every test must run" >&2
  exit 1
fi
