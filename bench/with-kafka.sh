#!/usr/bin/env bash
# Runs a benchmark script against a fresh Kafka broker of its own (ports 29092/29093), so the
# benchmark's records and consumer groups never mix with a development broker's or a test run's.
# Usage: bash bench/with-kafka.sh bench/api-accept.ts
set -euo pipefail
cd "$(dirname "$0")/.."
export PIGEON_KAFKA_HOME="$PWD/.cache/kafka-bench" PIGEON_KAFKA_LIBS="$PWD/.cache/kafka/libs"
export KAFKA_PORT="${BENCH_KAFKA_PORT:-29092}" KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-29093}"
bash test/kafka/kafka.sh stop >/dev/null 2>&1 || true
bash test/kafka/kafka.sh start >&2
trap 'bash test/kafka/kafka.sh stop >/dev/null 2>&1 || true' EXIT
# one broker: one copy of each topic
export PIGEON_KAFKA_REPLICATION_FACTOR=1 PIGEON_KAFKA_MIN_INSYNC_REPLICAS=1
# A Redis database of the benches' own, emptied first: the services' markers live for days, and a
# bench should not start from what earlier runs left behind (bench/fresh-cache.ts).
export TEST_REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/15}"
node --import tsx bench/fresh-cache.ts
TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" node --import tsx "$@"
