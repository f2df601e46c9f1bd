import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageFailed, MessageRequested, MessageSubmitted, OutcomeEvent } from '../../core/message.ts';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import {
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../../providers/provider.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';
import { Dispatcher, type DispatcherOptions } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import type { Pass, PassResult } from '../../supplier-bridge/src/dispatch/pass.ts';
import { CacheProviderGate } from '../../supplier-bridge/src/provider-gate.ts';

/**
 * A dispatcher over fake providers with a clock the test moves, as the dispatcher's unit specs
 * build one: every pass runs against an in-memory cache, no broker or database.
 */

export type Behaviour = (request: SendRequest, signal: AbortSignal) => Promise<SendResult>;

/** Stand-in for an SMS provider's API: answers as told and remembers what it was sent. */
export class FakeProvider implements ProviderAdapter {
  readonly type = 'fake';
  readonly requests: SendRequest[] = [];
  readonly signals: AbortSignal[] = [];

  constructor(
    readonly name: string,
    private behaviour: Behaviour = accepts,
  ) {}

  get calls(): number {
    return this.requests.length;
  }

  answer(behaviour: Behaviour): void {
    this.behaviour = behaviour;
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    this.requests.push(request);
    this.signals.push(signal);
    return this.behaviour(request, signal);
  }

  async parseReceipt(): Promise<ParsedReceipt[]> {
    return [];
  }
}

export const accepts: Behaviour = async (request) => ({ providerMessageId: `pm-${request.messageId}` });
export const unavailable: Behaviour = async () => {
  throw new ProviderError('retryable', '503', 'service unavailable');
};
export const rejectsPermanently: Behaviour = async () => {
  throw new ProviderError('permanent', '21211', 'invalid destination');
};
export const mayHaveSent: Behaviour = async () => {
  throw new ProviderError('retryable', 'SOCKET_HANG_UP', 'connection reset after the request was written', {
    sent: 'maybe',
  });
};
/** A provider that never answers, with an adapter that does not listen to its signal either. */
export const neverAnswers: Behaviour = () => new Promise<never>(() => {});
/** Like fetch: no answer ever comes, but the request is cancelled when the signal aborts. */
export const hangsUntilAborted: Behaviour = (_request, signal) =>
  new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

export const T0 = Date.parse('2030-06-01T12:00:00.000Z');
export const PUBLISH_TIMEOUT_MS = 2_000;

export function requested(input: Partial<MessageInput> = {}, now = T0): MessageRequested {
  return buildMessageRequested(
    { to: '+14155550123', body: 'Your parcel is on its way', ...input },
    { tenantId: 'tenant-1', messageId: newId(now), now, publishTimeoutMs: PUBLISH_TIMEOUT_MS },
  );
}

export interface Harness {
  dispatcher: Dispatcher;
  cache: MemoryCache;
  registry: Registry;
  clock: { now: number };
  gate: CacheProviderGate;
}

export function setup(
  t: TestContext,
  providers: FakeProvider[],
  options: Partial<DispatcherOptions> = {},
): Harness {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const clock = { now: T0 + 100 };
  const gate = new CacheProviderGate(cache, () => clock.now);
  const dispatcher = new Dispatcher({
    planner: new CatalogPlanner(
      fixedRouting(
        providers.map((adapter) => ({
          adapter,
          weight: 1,
          definition: { name: adapter.name, type: 'fake' },
        })),
      ),
      undefined,
      () => 0,
    ),
    gate,
    cache,
    logger: createLogger({ level: 'silent' }),
    registry,
    publicUrl: 'http://127.0.0.1:3000',
    random: () => 0,
    now: () => clock.now,
    breaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    ...options,
  });
  t.after(async () => {
    await dispatcher.close();
    await cache.close();
  });
  return { dispatcher, cache, registry, clock, gate };
}

export function firstPass(appendedAt: number, overrides: Partial<Pass> = {}): Pass {
  return { kind: 'send', round: 0, appendedAt, exclude: [], attemptsSoFar: 0, ...overrides };
}

/** Dispatches the first pass as if the record had been appended just after the API published it. */
export async function dispatchPass(
  h: Harness,
  message: MessageRequested,
  overrides: Partial<Pass> = {},
): Promise<PassResult> {
  return h.dispatcher.dispatch(message, firstPass(Date.parse(message.occurredAt) + 10, overrides));
}

export async function dispatch(h: Harness, message: MessageRequested): Promise<OutcomeEvent | undefined> {
  return (await dispatchPass(h, message)).outcome;
}

export function asSubmitted(outcome: OutcomeEvent | undefined): MessageSubmitted {
  assert.equal(outcome?.type, 'message.submitted', `expected submitted, got ${JSON.stringify(outcome)}`);
  return outcome;
}

export function asFailed(outcome: OutcomeEvent | undefined): MessageFailed {
  assert.equal(outcome?.type, 'message.failed', `expected failed, got ${JSON.stringify(outcome)}`);
  return outcome;
}

export async function breakerState(registry: Registry, provider: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric('pigeon_bridge_breaker_state');
  assert.ok(metric, 'breaker state gauge is registered');
  const { values } = await metric.get();
  return values.find((v) => v.labels.breaker === `${provider}:*`)?.value;
}
