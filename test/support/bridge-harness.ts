/**
 * One supplier bridge in this process — lane and delay consumers, dispatcher, Redis gate — on the
 * real Kafka and Redis, routing to Twilio adapters that talk to local Twilio fakes. Messages are
 * published straight to the lanes; their outcomes are collected from `sms.outcomes`; copies are
 * counted at the fakes. Every harness has its own tenant and run tag, so records of other tests on
 * the shared topics are told apart.
 */
import { Registry } from 'prom-client';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { isOutcome, type MessageRequested, type OutcomeEvent } from '../../core/message.ts';
import type { HealthBoard } from '../../core/provider-health.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { type BreakerSettings, type ConfiguredProvider, createAdapter } from '../../providers/registry.ts';
import { type RunningBridge, startBridge } from '../../supplier-bridge/src/bridge.ts';
import type { DispatcherOptions } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { fixedDispatcher } from './fixed-dispatcher.ts';
import { startTwilioFake, type TwilioFake, type TwilioFakeMessage } from '../fakes/twilio-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from './infra.ts';
import { waitForQuiet } from './wait.ts';

export interface BridgeHarnessOptions {
  providers: Array<{ name: string; weight?: number; tps?: number; breaker?: BreakerSettings }>;
  dispatcher?: Partial<DispatcherOptions>;
  /** Provider health the routes weigh (a HealthBoard fed by the monitor); every provider healthy without. */
  health?: Pick<HealthBoard, 'health'>;
}

export interface BridgeHarness {
  fakes: Map<string, TwilioFake>;
  outcomes: OutcomeEvent[];
  registry: Registry;
  /** Publishes messages to their lanes; every body carries the run tag. */
  publish(inputs: MessageInput[], options?: { fromBatch?: boolean }): Promise<MessageRequested[]>;
  /** Copies each fake accepted, per message body (bodies are unique per message). */
  copies(): Map<string, number>;
  /** Requests a fake received for this run. */
  requestsTo(provider: string): number;
  outcomesOf(messages: readonly MessageRequested[]): OutcomeEvent[];
  close(): Promise<void>;
}

export async function startBridgeHarness(options: BridgeHarnessOptions): Promise<BridgeHarness> {
  const logger = createLogger({ level: process.env.PIGEON_TEST_LOG ?? 'silent' });
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bridge-harness', logger });
  const cache = new RedisCache(TEST_REDIS_URL);
  const registry = new Registry();
  const config = loadConfig({});
  const tag = `run-${uniqueSuffix()}`;
  const tenant = `tenant-${tag}`;
  const fakes = new Map<string, TwilioFake>();
  const providers: ConfiguredProvider[] = [];
  for (const spec of options.providers) {
    const fake = await startTwilioFake();
    fakes.set(spec.name, fake);
    const definition = {
      name: spec.name,
      type: 'twilio',
      weight: spec.weight ?? 1,
      ...(spec.tps ? { tps: spec.tps } : {}),
      ...(spec.breaker ? { breaker: spec.breaker } : {}),
      options: {
        baseUrl: fake.url,
        accountSid: fake.accountSid,
        authToken: fake.authToken,
        from: '+15005550006',
      },
    };
    providers.push({
      definition,
      weight: definition.weight,
      adapter: createAdapter(definition, { config, cache, logger }),
    });
  }
  // Each run has providers of its own names, so rate-limit buckets are named per run too.
  const health = options.health ? { health: options.health } : {};
  const dispatcher = fixedDispatcher(providers, { cache, logger, registry, ...health }, options.dispatcher);
  await bus.ensureTopics(topicSpecs(6));
  const outcomes: OutcomeEvent[] = [];
  let seen = 0;
  const observer = await bus.subscribe({
    groupId: `observer-${tag}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    handler: async (batch) => {
      seen += batch.records.length;
      for (const record of batch.records) {
        const outcome = JSON.parse(record.value) as OutcomeEvent;
        if (isOutcome(outcome) && outcome.tenantId === tenant) outcomes.push(outcome);
      }
    },
  });
  const bridge: RunningBridge = await startBridge({
    bus,
    dispatcher,
    logger,
    registry,
    concurrency: 32,
    groupId: `bridge-${tag}`,
    fromBeginning: false,
  });
  // The groups start at the end of their topics once they first fetch: wait until they have
  // (and anything still in flight from an earlier test has passed) before messages go in.
  await waitForQuiet(() => seen);
  const ours = (body: string) => body.includes(tag);
  return {
    fakes,
    outcomes,
    registry,
    publish: async (inputs, publishOptions = {}) => {
      const now = Date.now();
      const messages = inputs.map((input) =>
        buildMessageRequested(
          { ...input, body: `${input.body} ${tag}` },
          {
            tenantId: tenant,
            messageId: newId(now),
            now,
            publishTimeoutMs: 60_000,
            fromBatch: publishOptions.fromBatch ?? false,
          },
        ),
      );
      for (const message of messages) {
        await bus.publish(LANE_TOPICS[message.lane], [{ key: message.to, value: JSON.stringify(message) }]);
      }
      return messages;
    },
    copies: () => {
      const counts = new Map<string, number>();
      for (const fake of fakes.values()) {
        for (const message of fake.accepted.filter((m: TwilioFakeMessage) => ours(m.body))) {
          counts.set(message.body, (counts.get(message.body) ?? 0) + 1);
        }
      }
      return counts;
    },
    requestsTo: (provider) => fakes.get(provider)!.requests.filter((r) => ours(r.form.Body ?? '')).length,
    outcomesOf: (messages) => {
      const ids = new Set(messages.map((m) => m.messageId));
      return outcomes.filter((o) => ids.has(o.messageId));
    },
    close: async () => {
      await bridge.close();
      await observer.close();
      await dispatcher.close();
      for (const p of providers) await p.adapter.close?.();
      for (const fake of fakes.values()) await fake.close();
      await bus.close();
      await cache.close();
    },
  };
}
