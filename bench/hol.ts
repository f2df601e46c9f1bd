/**
 * Head-of-line blocking in the supplier bridge: one bridge (lane consumers, dispatcher, real Kafka
 * and Redis) drains a bulk backlog through two simulated providers while OTPs arrive on the high
 * lane at a steady rate. In the measured phase one provider hangs on every fifth bulk send until
 * the bridge's send timeout cuts it; the baseline phase, in the same run, has no hanging provider.
 *
 * Printed per phase: OTP accept→submitted p50/p99 (publish to the `message.submitted` outcome on
 * `sms.outcomes`) and the bulk drain rate (bulk messages with an outcome or attempt per second).
 * The hang is kept to bulk sends: an OTP whose own send hangs waits for the timeout whatever the
 * bus does, so what this measures is whether a hang elsewhere holds OTPs (and healthy bulk) back.
 *
 *   TEST_KAFKA_BROKERS=127.0.0.1:9092 node --import tsx bench/hol.ts
 *   BENCH_MESSAGES=20000 node --import tsx bench/hol.ts      # a quick run
 *   bash bench/with-kafka.sh bench/hol.ts                    # on a broker of its own
 *
 * The backlog stays on the shared lane topics: on a broker that tests share, a test whose new
 * consumer group reads the lanes from their beginning (bridge-crash) then has it to chew through
 * first. Prefer a broker of its own there.
 *
 * Knobs: BENCH_MESSAGES (bulk backlog, 100,000), BENCH_OTP_RATE (OTPs per second, 20),
 * BENCH_SEND_TIMEOUT_MS (2,000), BENCH_PHASE_SECONDS (longest a phase runs, 45).
 * Ends with one JSON line: {"bench":"hol","ours":<OTP p99 ms, hanging provider>,
 * "baseline":<OTP p99 ms, no hanging provider>,"ratio":ours/baseline}.
 */
import { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { KafkaBus } from '../core/bus/kafka-bus.ts';
import { RedisCache } from '../core/cache/redis-cache.ts';
import { loadConfig } from '../core/config.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/logger.ts';
import { buildMessageRequested, type MessageInput } from '../core/message-request.ts';
import type { MessageRequested } from '../core/message.ts';
import { topicSpecs } from '../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../core/topics.ts';
import type { ProviderAdapter, SendRequest } from '../providers/provider.ts';
import type { ConfiguredProvider } from '../providers/registry.ts';
import { createSimulator } from '../providers/simulator.ts';
import { startBridge } from '../supplier-bridge/src/bridge.ts';
import { fixedDispatcher } from '../test/support/fixed-dispatcher.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../test/support/infra.ts';
import { SIMULATOR_ENV } from '../test/support/simulator-env.ts';
import { sleep, waitFor } from '../test/support/wait.ts';
import { envInt } from './support.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Requests the bridge's Kafka clients send, by API (Fetch, Produce, OffsetCommit, …): what the
 * broker pays for per delivered message. Counted from kafkajs' request events of the clients
 * whose id is `bench-hol` (the bridge's bus; the producers and the observer have ids of their own).
 */
const bridgeRequests = new Map<string, number>();
function countBridgeRequests(): void {
  const tally = (event: { payload: { apiName: string; clientId: string } }) => {
    if (event.payload.clientId !== 'bench-hol') return;
    bridgeRequests.set(event.payload.apiName, (bridgeRequests.get(event.payload.apiName) ?? 0) + 1);
  };
  const consumer = Object.getOwnPropertyDescriptor(Kafka.prototype, 'consumer')!.value as Kafka['consumer'];
  const producer = Object.getOwnPropertyDescriptor(Kafka.prototype, 'producer')!.value as Kafka['producer'];
  Kafka.prototype.consumer = function (this: Kafka, ...args: Parameters<Kafka['consumer']>) {
    const created = consumer.apply(this, args);
    created.on(created.events.REQUEST, tally);
    return created;
  };
  Kafka.prototype.producer = function (this: Kafka, ...args: Parameters<Kafka['producer']>) {
    const created = producer.apply(this, args);
    created.on(created.events.REQUEST, tally);
    return created;
  };
}

interface PhaseResult {
  otps: number;
  otp_p50_ms: number;
  otp_p99_ms: number;
  /** OTPs with no `message.submitted` by the phase's end (counted in the percentiles at that end). */
  otp_unsubmitted: number;
  /** The accept part of it: until the OTP's publish was acknowledged (acks=all). */
  otp_publish_p99_ms: number;
  bulk_drained: number;
  bulk_per_second: number;
  hung_sends: number;
  /** The bridge's Kafka requests per message handled (bulk and OTP), and their count by API. */
  bridge_requests_per_message: number;
  bridge_requests: Record<string, number>;
}

/** The adapter, except that every `every`-th bulk send never answers: the send timeout ends it. */
function hangingOnBulk(adapter: ProviderAdapter, every: number, hung: { count: number }): ProviderAdapter {
  let sends = 0;
  const send = (request: SendRequest, signal: AbortSignal) => {
    if (request.messageClass !== 'otp' && sends++ % every === 0) {
      hung.count++;
      return new Promise<never>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
    return adapter.send(request, signal);
  };
  return new Proxy(adapter, {
    get(target, property) {
      if (property === 'send') return send;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function percentile(sorted: number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? 0;
}

/**
 * `bus` is the bridge's; `producers` stand for the API processes, which publish through producers
 * of their own: an OTP does not queue behind the backlog's produce requests.
 */
async function phase(
  bus: KafkaBus,
  producers: { bulk: KafkaBus; otp: KafkaBus; observer: KafkaBus; bridgeUrgent: KafkaBus },
  cache: RedisCache,
  options: { bulk: number; otpRate: number; sendTimeoutMs: number; maxSeconds: number; hang: boolean },
): Promise<PhaseResult> {
  const logger = createLogger({ level: 'error' });
  const registry = new Registry();
  const config = loadConfig(SIMULATOR_ENV);
  const tenantId = `hol-${uniqueSuffix()}`;
  const hung = { count: 0 };
  const providers: ConfiguredProvider[] = ['sim-a', 'sim-b'].map((name, i) => {
    const simulator = createSimulator(
      `${name}-${tenantId}`,
      // Receipts are not part of this measurement: far beyond the run, then cancelled at close.
      { latencyMs: 5, receiptDelayMs: 3_600_000 },
      { config, cache, logger },
    );
    return {
      // The breaker would soon take the hanging provider out of the routes; kept closed here so
      // the hang goes on for the whole phase.
      definition: {
        name: `${name}-${tenantId}`,
        type: 'simulator',
        breaker: { timeoutMs: options.sendTimeoutMs, errorThresholdPercentage: 100, volumeThreshold: 1e9 },
      },
      weight: 1,
      adapter: options.hang && i === 0 ? hangingOnBulk(simulator, 5, hung) : simulator,
    };
  });
  const dispatcher = fixedDispatcher(providers, { cache, logger, registry });
  const make = (input: MessageInput, fromBatch: boolean): MessageRequested => {
    const now = Date.now();
    return buildMessageRequested(input, {
      tenantId,
      messageId: newId(now),
      now,
      publishTimeoutMs: 3_600_000,
      fromBatch,
    });
  };

  const otpSentAt = new Map<string, number>();
  const otpLatencies: number[] = [];
  const publishLatencies: number[] = [];
  const bulkSeen = new Set<string>();
  let firstBulkAt = 0;
  let lastBulkAt = 0;
  const observer = await producers.observer.subscribe({
    groupId: `bench-hol-observer-${uniqueSuffix()}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    fetch: 'immediate',
    handler: async (batch) => {
      const at = Date.now();
      for (const record of batch.records) {
        const event = JSON.parse(record.value) as { type?: string; messageId?: string; tenantId?: string };
        if (event.tenantId !== tenantId || !event.messageId) continue;
        const sentAt = otpSentAt.get(event.messageId);
        if (sentAt !== undefined) {
          if (event.type === 'message.submitted') {
            otpLatencies.push(at - sentAt);
            otpSentAt.delete(event.messageId);
          }
          continue;
        }
        if (!bulkSeen.has(event.messageId)) {
          bulkSeen.add(event.messageId);
          firstBulkAt ||= at;
          lastBulkAt = at;
        }
      }
    },
  });
  const requestsBefore = new Map(bridgeRequests);
  const bridge = await startBridge({
    bus,
    // As the service wires it: the high lane's outcomes on a producer of their own.
    urgentPublisher: producers.bridgeUrgent,
    dispatcher,
    logger,
    registry,
    concurrency: 64,
    groupId: `bench-hol-${uniqueSuffix()}`,
    fromBeginning: false,
  });
  // The new groups start at the end of the lanes once they first fetch.
  await sleep(2_000);

  const bulk = Array.from({ length: options.bulk }, (_, i) =>
    make({ to: `+1415555${String(1000 + (i % 9000))}`, body: `notice ${i}`, class: 'marketing' }, true),
  );
  const started = Date.now();
  const filling = (async () => {
    for (let i = 0; i < bulk.length; i += 1000) {
      await producers.bulk.publish(
        LANE_TOPICS.bulk,
        bulk.slice(i, i + 1000).map((m) => ({ key: m.to, value: JSON.stringify(m) })),
      );
    }
  })();

  let otps = 0;
  let stop = false;
  const otpLoop = (async () => {
    const interval = 1000 / options.otpRate;
    while (!stop) {
      const otp = make(
        {
          to: `+1415556${String(1000 + (otps % 9000))}`,
          body: `Your code is ${100000 + otps}`,
          class: 'otp',
        },
        false,
      );
      otps++;
      const sentAt = Date.now();
      otpSentAt.set(otp.messageId, sentAt);
      await producers.otp.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);
      publishLatencies.push(Date.now() - sentAt);
      await sleep(interval);
    }
  })();

  await filling;
  await waitFor(
    () => bulkSeen.size >= options.bulk * 0.95 || Date.now() - started > options.maxSeconds * 1000,
    options.maxSeconds * 1000 + 60_000,
    'bulk drained or phase over',
  );
  stop = true;
  await otpLoop;
  // OTPs still in flight get their chance; one never submitted counts at the phase's end.
  await waitFor(() => otpSentAt.size === 0, 5_000, 'last OTPs').catch(() => {});
  const end = Date.now();
  const unsubmitted = otpSentAt.size;
  for (const sentAt of otpSentAt.values()) otpLatencies.push(end - sentAt);

  await bridge.close();
  const requests: Record<string, number> = {};
  for (const [api, count] of bridgeRequests) {
    const during = count - (requestsBefore.get(api) ?? 0);
    if (during > 0) requests[api] = during;
  }
  await observer.close();
  await dispatcher.close();
  for (const p of providers) await p.adapter.close?.();

  otpLatencies.sort((a, b) => a - b);
  publishLatencies.sort((a, b) => a - b);
  const drainSeconds = Math.max(0.001, (lastBulkAt - firstBulkAt) / 1000);
  return {
    otps: otpLatencies.length,
    otp_p50_ms: round(percentile(otpLatencies, 0.5)),
    otp_p99_ms: round(percentile(otpLatencies, 0.99)),
    otp_unsubmitted: unsubmitted,
    otp_publish_p99_ms: round(percentile(publishLatencies, 0.99)),
    bulk_drained: bulkSeen.size,
    bulk_per_second: round(bulkSeen.size / drainSeconds),
    hung_sends: hung.count,
    bridge_requests_per_message: round(
      Object.values(requests).reduce((sum, count) => sum + count, 0) /
        Math.max(1, bulkSeen.size + otpLatencies.length),
      2,
    ),
    bridge_requests: requests,
  };
}

async function main(): Promise<void> {
  const options = {
    bulk: envInt('BENCH_MESSAGES', 100_000),
    otpRate: envInt('BENCH_OTP_RATE', 20),
    sendTimeoutMs: envInt('BENCH_SEND_TIMEOUT_MS', 2_000),
    maxSeconds: envInt('BENCH_PHASE_SECONDS', 45),
  };
  const newBus = (clientId: string) =>
    new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId, logger: createLogger({ level: 'warn' }) });
  countBridgeRequests();
  const bus = newBus('bench-hol');
  const producers = {
    bulk: newBus('bench-hol-bulk'),
    otp: newBus('bench-hol-otp'),
    observer: newBus('bench-hol-observer'),
    // The bridge's second producer, counted with the bridge's requests.
    bridgeUrgent: newBus('bench-hol'),
  };
  const cache = new RedisCache(TEST_REDIS_URL);
  try {
    await bus.ensureTopics(topicSpecs(6));
    log(`baseline: ${options.bulk} bulk + ${options.otpRate} OTP/s, both providers healthy…`);
    const baseline = await phase(bus, producers, cache, { ...options, hang: false });
    log(`  ${JSON.stringify(baseline)}`);
    log(`ours: the same, one provider hanging on every fifth bulk send for ${options.sendTimeoutMs} ms…`);
    const ours = await phase(bus, producers, cache, { ...options, hang: true });
    log(`  ${JSON.stringify(ours)}`);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'hol',
        ours: ours.otp_p99_ms,
        baseline: baseline.otp_p99_ms,
        ratio: round(ours.otp_p99_ms / Math.max(1, baseline.otp_p99_ms), 3),
      })}\n`,
    );
  } finally {
    await Promise.all([bus.close(), ...Object.values(producers).map((p) => p.close())]);
    await cache.close();
  }
}

await main();
