/**
 * Supplier bridge throughput: one bridge instance (dispatcher + lane consumers, real Kafka and
 * Redis) draining a pre-filled lane through two `http` providers that call the bench's fake
 * provider process (`bench/fake-provider.ts`, answering at once), then through two simulators at
 * 50 ms (where concurrency, not CPU, sets the pace), plus the cost of one routing decision.
 *
 * The baseline, measured in the same run: a bare consumer — the same bus consumer, the same
 * number of records — that decodes each record and makes the same provider HTTP call (the same
 * `http` adapter to the same fake provider) at the same concurrency per batch, with no Redis, no
 * routing and no outcome records. The ratio is ours at 0 ms over it.
 *
 *   bash bench/with-kafka.sh bench/bridge.ts
 *   BENCH_MESSAGES=20000 BENCH_BRIDGE_CONCURRENCY=256 bash bench/with-kafka.sh bench/bridge.ts
 *
 * Ends with one JSON line: {"bench":"bridge","ours":{…},"baseline":{…},"ratio":…}.
 */
import { Registry } from 'prom-client';
import { buildMessageRequested } from '../core/message-request.ts';
import { KafkaBus } from '../core/bus/kafka-bus.ts';
import { RedisCache } from '../core/cache/redis-cache.ts';
import { loadConfig } from '../core/config.ts';
import { decodeEvent } from '../core/events.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/logger.ts';
import { isOutcome, type MessageRequested, type OutcomeEvent } from '../core/message.ts';
import { topicSpecs } from '../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../core/topics.ts';
import type { ProviderAdapter } from '../providers/provider.ts';
import { type ConfiguredProvider, createAdapter } from '../providers/registry.ts';
import { createSimulator } from '../providers/simulator.ts';
import { mapLimit } from '../core/concurrency.ts';
import { startBridge } from '../supplier-bridge/src/bridge.ts';
import { CatalogPlanner, fixedRouting } from '../routing/planner.ts';
import { fixedDispatcher } from '../test/support/fixed-dispatcher.ts';
import { TEST_KAFKA_BROKERS, TEST_MYSQL_URL, TEST_REDIS_URL, uniqueSuffix } from '../test/support/infra.ts';
import { SIMULATOR_ENV } from '../test/support/simulator-env.ts';
import { waitFor } from '../test/support/wait.ts';
import { CpuMeter, formatCpuTable, infrastructurePids, withoutChildren } from './cpu.ts';
import {
  bridgeGroups,
  type FakeProvider,
  fakeProviderOptions,
  startFakeProvider,
  startGroupsAtTopicEnds,
} from './pipelines.ts';
import { benchSize, envInt } from './support.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

function messages(count: number, tenantId: string): MessageRequested[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) =>
    buildMessageRequested(
      { to: `+1415555${String(1000 + (i % 9000))}`, body: `bench message ${i}` },
      // A long accept window: the records are produced before the bridge starts.
      { tenantId, messageId: newId(now), now, publishTimeoutMs: 3_600_000 },
    ),
  );
}

async function fill(bus: KafkaBus, topic: string, events: MessageRequested[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    await bus.publish(
      topic,
      events.slice(i, i + 1000).map((e) => ({ key: e.to, value: JSON.stringify(e) })),
    );
  }
}

/** A fresh set of topics per run (prefix-free names are fixed, so a fresh broker is expected). */
async function drainBaseline(
  bus: KafkaBus,
  topic: string,
  count: number,
  concurrency: number,
  adapter: ProviderAdapter,
): Promise<number> {
  let seen = 0;
  const started = performance.now();
  const subscription = await bus.subscribe({
    groupId: `bench-baseline-${uniqueSuffix()}`,
    topics: [topic],
    handler: async (batch) => {
      await mapLimit(batch.records, concurrency, async (record) => {
        const event = decodeEvent(record.value) as MessageRequested;
        await adapter.send(
          {
            messageId: event.messageId,
            tenantId: event.tenantId,
            to: event.to,
            from: event.from,
            body: event.body,
            segments: event.segments,
            messageClass: event.class,
            country: event.country,
            expiresAt: event.expiresAt,
            callbackUrl: BASELINE_CALLBACK,
          },
          AbortSignal.timeout(10_000),
        );
      });
      seen += batch.records.length;
    },
  });
  await waitFor(() => seen >= count, 300_000, 'baseline drained');
  const seconds = (performance.now() - started) / 1000;
  await subscription.close();
  return count / seconds;
}

/** What the bare consumer passes as the receipt URL: the fake provider posts no receipts here. */
const BASELINE_CALLBACK = 'http://127.0.0.1:9/v1/receipts/http-a';

/** Two `http` providers calling the fake provider, as a deployment of a generic aggregator would. */
function httpProviders(provider: FakeProvider, cache: RedisCache): ConfiguredProvider[] {
  const config = loadConfig(SIMULATOR_ENV);
  const logger = createLogger({ level: 'warn' });
  return ['http-a', 'http-b'].map((name) => {
    const definition = { name, type: 'http', options: fakeProviderOptions(provider) };
    return { definition, weight: 1, adapter: createAdapter(definition, { config, cache, logger }) };
  });
}

/** Two simulators answering after `latencyMs`, inside the bridge's process. */
function simulators(cache: RedisCache, latencyMs: number): ConfiguredProvider[] {
  const config = loadConfig(SIMULATOR_ENV);
  const logger = createLogger({ level: 'warn' });
  return ['sim-a', 'sim-b'].map((name) => ({
    definition: { name, type: 'simulator' },
    weight: 1,
    adapter: createSimulator(
      name,
      // Receipts are not part of this measurement: far beyond the run, then cancelled at close.
      { latencyMs, receiptDelayMs: 3_600_000 },
      { config, cache, logger },
    ),
  }));
}

async function runBridge(
  bus: KafkaBus,
  cache: RedisCache,
  providers: ConfiguredProvider[],
  count: number,
  concurrency: number,
): Promise<{ rps: number; p50_ms: number; p99_ms: number }> {
  const logger = createLogger({ level: 'warn' });
  const registry = new Registry();
  const dispatcher = fixedDispatcher(providers, { cache, logger, registry });
  const tenant = `bench-${uniqueSuffix()}`;
  const groupId = `bench-bridge-${uniqueSuffix()}`;
  // A new group would start from the beginning: on a shared broker, everyone's history.
  await startGroupsAtTopicEnds(bridgeGroups(groupId));
  await fill(bus, LANE_TOPICS.normal, messages(count, tenant));
  const latencies: number[] = [];
  const observer = await bus.subscribe({
    groupId: `bench-observer-${uniqueSuffix()}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    handler: async (batch) => {
      for (const record of batch.records) {
        const event = JSON.parse(record.value) as OutcomeEvent;
        if (isOutcome(event) && event.tenantId === tenant)
          latencies.push(event.type === 'message.submitted' ? event.latencyMs : 0);
      }
    },
  });
  const started = performance.now();
  const bridge = await startBridge({
    bus,
    dispatcher,
    logger,
    registry,
    concurrency,
    groupId,
  });
  await waitFor(() => latencies.length >= count, 600_000, `${count} outcomes`);
  const seconds = (performance.now() - started) / 1000;
  await bridge.close();
  await observer.close();
  await dispatcher.close();
  for (const p of providers) await p.adapter.close?.();
  latencies.sort((a, b) => a - b);
  return {
    rps: round(count / seconds),
    p50_ms: round(latencies[Math.floor(latencies.length * 0.5)] ?? 0, 2),
    p99_ms: round(latencies[Math.floor(latencies.length * 0.99)] ?? 0, 2),
  };
}

/** Cost of one routing decision, in microseconds, over many decisions. */
function routingDecisionMicros(): number {
  const logger = createLogger({ level: 'silent' });
  const config = loadConfig(SIMULATOR_ENV);
  const cache = new RedisCache(TEST_REDIS_URL);
  const providers: ConfiguredProvider[] = ['a', 'b', 'c', 'd'].map((name, i) => ({
    definition: { name, type: 'simulator', prices: { US: 0.0075 + i / 1000, '*': 0.05 } },
    weight: i + 1,
    adapter: createSimulator(name, {}, { config, cache, logger }),
  }));
  const planner = new CatalogPlanner(fixedRouting(providers));
  const message = messages(1, 'routing')[0]!;
  const signals = { breakerOpen: () => false };
  for (let i = 0; i < 10_000; i++) planner.plan(message, signals);
  const iterations = 200_000;
  const started = performance.now();
  for (let i = 0; i < iterations; i++) planner.plan(message, signals);
  const micros = ((performance.now() - started) * 1000) / iterations;
  void cache.close();
  return round(micros, 3);
}

async function main(): Promise<void> {
  const count = envInt('BENCH_MESSAGES', benchSize(10_000, 2000));
  const concurrency = envInt('BENCH_BRIDGE_CONCURRENCY', 64);
  const logger = createLogger({ level: 'warn' });
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bench-bridge', logger });
  const cache = new RedisCache(TEST_REDIS_URL);
  const provider = await startFakeProvider(0, false);
  try {
    await bus.ensureTopics(topicSpecs(6));
    const meter = () =>
      new CpuMeter({
        // Without its child, the fake provider, which has a row of its own.
        'bench (bridge)': withoutChildren(process.pid),
        'fake provider': provider.pid,
        ...infrastructurePids({
          kafkaBroker: TEST_KAFKA_BROKERS[0],
          mysqlUrl: TEST_MYSQL_URL,
          redisUrl: TEST_REDIS_URL,
        }),
      });
    const baselineTopic = `bench.baseline.${uniqueSuffix()}`;
    await bus.ensureTopics([{ name: baselineTopic, partitions: 6 }]);
    await fill(bus, baselineTopic, messages(count, 'baseline'));
    log(`baseline: a bare consumer making the provider call, ${count} records, ${concurrency} per batch…`);
    const baselineCpu = meter();
    baselineCpu.start();
    const baselineRps = await drainBaseline(
      bus,
      baselineTopic,
      count,
      concurrency,
      httpProviders(provider, cache)[0]!.adapter,
    );
    const baselineRows = baselineCpu.stop(count);

    log(`ours: ${count} messages through one bridge, http providers to the fake provider at 0 ms…`);
    const oursCpu = meter();
    oursCpu.start();
    const zero = await runBridge(bus, cache, httpProviders(provider, cache), count, concurrency);
    const oursRows = oursCpu.stop(count);
    log(`ours: ${count} messages through one bridge, simulators at 50 ms…`);
    const slow = await runBridge(bus, cache, simulators(cache, 50), count, concurrency);
    const routingUs = routingDecisionMicros();
    process.stdout.write(
      `${formatCpuTable('CPU per message — bare consumer', baselineRows)}\n\n` +
        `${formatCpuTable('CPU per message — bridge', oursRows)}\n\n`,
    );

    const ours = {
      messages: count,
      concurrency,
      rps_latency_0ms: zero.rps,
      provider_p99_ms_latency_0ms: zero.p99_ms,
      cpu_us_per_msg: Object.fromEntries(oursRows.map((r) => [r.process, r.us_per_msg])),
      rps_latency_50ms: slow.rps,
      provider_p50_ms_latency_50ms: slow.p50_ms,
      routing_decision_us: routingUs,
    };
    const baseline = {
      messages: count,
      concurrency,
      bare_consumer_provider_call_rps: round(baselineRps),
      cpu_us_per_msg: Object.fromEntries(baselineRows.map((r) => [r.process, r.us_per_msg])),
    };
    process.stdout.write(
      `${JSON.stringify({ bench: 'bridge', ours, baseline, ratio: round(zero.rps / baselineRps, 3) })}\n`,
    );
  } finally {
    await bus.close();
    await cache.close();
    await provider.stop();
  }
}

await main();
