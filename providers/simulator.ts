import { randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../core/cache/cache.ts';
import type { Config } from '../core/config.ts';
import { PigeonError } from '../core/errors.ts';
import { hmacSha256 } from '../core/hmac.ts';
import { loadOrCreateKeyFile } from '../core/keys.ts';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import { backoffDelay, type ExponentialBackoff } from '../core/retry.ts';
import {
  header,
  type InboundHttpRequest,
  type InboundSms,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type SendRequest,
  type SendResult,
} from './provider.ts';

export interface SimulatorOptions {
  /** Time the fake SMSC takes to accept a message. */
  latencyMs?: number;
  /** Share of sends answered with a transient 5xx-like error (0..1). */
  failureRatio?: number;
  /** Time from acceptance to the delivery receipt. */
  receiptDelayMs?: number;
  /** Share of accepted messages whose receipt says `undelivered` (0..1); the rest are `delivered`. */
  undeliveredRatio?: number;
  secret: string;
  /**
   * The shared cache: sent messages are recorded here for `GET /simulator/messages`, and faults
   * set at runtime (`PUT /simulator/providers/:name/fault`) are read from here.
   */
  outbox: Cache;
  logger: Logger;
  random?: () => number;
  /** Scripted faults, timed from the adapter's creation; the first one in force applies. */
  faults?: ScriptedFault[];
  now?: () => number;
}

/**
 * What a simulated provider can be made to do wrong, to exercise the gateway's failure handling:
 * - `down`: refuses every send before taking it (retryable, sent `no`, ECONNREFUSED);
 * - `slow`: answers `slowMs` later than usual;
 * - `throttle`: answers 429 with `retryAfterMs`;
 * - `ambiguous`: takes the message (it is delivered) but the answer never arrives (TIMEOUT, sent `maybe`);
 * - `silent`: takes the message and never sends its receipt;
 * - `reject`: refuses the number (permanent, INVALID_NUMBER);
 * - `none`: behaves, even while a script says otherwise.
 */
export const SIMULATOR_FAULT_MODES = [
  'down',
  'slow',
  'throttle',
  'ambiguous',
  'silent',
  'reject',
  'none',
] as const;
export type SimulatorFaultMode = (typeof SIMULATOR_FAULT_MODES)[number];

/** A fault set at runtime, stored as JSON under `simulatorFaultKey(provider)`. */
export interface SimulatorFault {
  fault: SimulatorFaultMode;
  slowMs?: number;
  retryAfterMs?: number;
  /** Epoch ms after which the fault no longer applies. */
  until?: number;
}

/** One step of a provider definition's `faults` script, relative to the adapter's creation. */
export interface ScriptedFault {
  fault: SimulatorFaultMode;
  afterMs?: number;
  /** How long it lasts; for good when absent. */
  forMs?: number;
  slowMs?: number;
  retryAfterMs?: number;
}

export function simulatorFaultKey(provider: string): string {
  return `sim:fault:${provider}`;
}

/** How stale a runtime fault may be: one cache read per interval, never one per send. */
export const FAULT_REFRESH_MS = 250;
const DEFAULT_SLOW_MS = 1_000;
const DEFAULT_RETRY_AFTER_MS = 1_000;

function isFaultMode(value: unknown): value is SimulatorFaultMode {
  return SIMULATOR_FAULT_MODES.includes(value as SimulatorFaultMode);
}

/** A runtime fault read back from the cache; undefined for anything malformed. */
export function parseSimulatorFault(raw: string): SimulatorFault | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const v = value as Partial<Record<keyof SimulatorFault, unknown>> | null;
  if (!v || !isFaultMode(v.fault)) return undefined;
  const fault: SimulatorFault = { fault: v.fault };
  if (typeof v.slowMs === 'number') fault.slowMs = v.slowMs;
  if (typeof v.retryAfterMs === 'number') fault.retryAfterMs = v.retryAfterMs;
  if (typeof v.until === 'number') fault.until = v.until;
  return fault;
}

export const SIMULATOR_SIGNATURE_HEADER = 'x-simulator-signature';
export const SIMULATOR_TIMESTAMP_HEADER = 'x-simulator-timestamp';
const OUTBOX_MAX = 100;
const OUTBOX_TTL_MS = 3_600_000;
const SIGNATURE_TOLERANCE_MS = 5 * 60_000;
/** Waits between posts of a receipt the gateway did not take: from 200 ms doubling to 10 s, 8 posts. */
const RECEIPT_POST_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 200,
  factor: 2,
  maxMs: 10_000,
  jitter: 0,
};

export interface OutboxEntry {
  provider: string;
  providerMessageId: string;
  messageId: string;
  to: string;
  from: string | null;
  body: string;
  acceptedAt: string;
}

export function outboxKey(to: string): string {
  return `sim:outbox:${to}`;
}

/**
 * The secret simulator receipts are signed with: PIGEON_SIMULATOR_SECRET, or in embedded mode one
 * generated once into PIGEON_DATA_DIR (`simulator-secret`, 0600) like the other embedded keys, so
 * no two deployments share it and it survives restarts. The api (verifying) and the supplier
 * bridge (signing) share it there by sharing the process. Config refuses the remaining case.
 */
export function simulatorReceiptSecret(config: Config): string {
  const { receiptSecret } = config.simulator;
  if (receiptSecret !== undefined) return receiptSecret;
  if (config.mode === 'embedded')
    return loadOrCreateKeyFile(config.dataDir, 'simulator-secret').toString('hex');
  throw new PigeonError('PIGEON_ERR_CONFIG', 'PIGEON_SIMULATOR_SECRET: required outside embedded mode');
}

export function signSimulatorReceipt(secret: string, timestamp: string, body: string): string {
  return hmacSha256(secret).digest(`${timestamp}.${body}`, 'hex');
}

/**
 * A simulated SMS provider. It accepts messages after a configurable latency, records them in an
 * outbox, and later posts a signed delivery receipt to the gateway's receipt webhook over HTTP —
 * exactly as a real provider would — so the whole receipt path is exercised.
 */
export class SimulatorProvider implements ProviderAdapter {
  readonly type = 'simulator';
  private readonly pendingReceipts = new Set<AbortController>();
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly createdAt: number;
  private runtimeFault: SimulatorFault | undefined;
  private runtimeFaultReadAt = Number.NEGATIVE_INFINITY;
  private runtimeFaultRead: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly options: SimulatorOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.createdAt = this.now();
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const fault = await this.activeFault();
    if (fault?.fault === 'down') {
      throw new ProviderError(
        'retryable',
        'ECONNREFUSED',
        `${this.name}: simulated outage, connection refused`,
        {
          sent: 'no',
        },
      );
    }
    const latency =
      (this.options.latencyMs ?? 0) + (fault?.fault === 'slow' ? (fault.slowMs ?? DEFAULT_SLOW_MS) : 0);
    if (latency > 0) await sleep(latency, undefined, { signal });
    if (fault?.fault === 'throttle') {
      throw new ProviderError('throttled', '429', `${this.name}: simulated throttling`, {
        retryAfterMs: fault.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS,
      });
    }
    if (fault?.fault === 'reject') {
      throw new ProviderError('permanent', 'INVALID_NUMBER', `${this.name}: simulated invalid number`);
    }
    if (this.random() < (this.options.failureRatio ?? 0)) {
      throw new ProviderError('retryable', '503', `${this.name}: simulated temporary failure`);
    }
    const providerMessageId = `SIM${randomBytes(10).toString('hex')}`;
    const entry: OutboxEntry = {
      provider: this.name,
      providerMessageId,
      messageId: request.messageId,
      to: request.to,
      from: request.from ?? null,
      body: request.body,
      acceptedAt: new Date().toISOString(),
    };
    await this.options.outbox.pushCapped(
      outboxKey(request.to),
      JSON.stringify(entry),
      OUTBOX_MAX,
      OUTBOX_TTL_MS,
    );
    const status: ReceiptStatus =
      this.random() < (this.options.undeliveredRatio ?? 0) ? 'undelivered' : 'delivered';
    if (fault?.fault !== 'silent') this.scheduleReceipt(request, providerMessageId, status);
    if (fault?.fault === 'ambiguous') {
      // The message went out and its receipt will come (matched by the reference it echoes), but
      // the gateway never learns it was taken: the case where resending means a duplicate.
      throw new ProviderError('retryable', 'TIMEOUT', `${this.name}: simulated timeout after acceptance`, {
        sent: 'maybe',
      });
    }
    return { providerMessageId, segments: request.segments };
  }

  /** The runtime fault (from the cache) when one is set and current, else the script's. */
  private async activeFault(): Promise<SimulatorFault | undefined> {
    const now = this.now();
    if (now - this.runtimeFaultReadAt >= FAULT_REFRESH_MS) {
      this.runtimeFaultReadAt = now;
      this.runtimeFaultRead ??= this.readRuntimeFault().finally(() => {
        this.runtimeFaultRead = undefined;
      });
    }
    if (this.runtimeFaultRead) await this.runtimeFaultRead;
    const runtime = this.runtimeFault;
    if (runtime && (runtime.until === undefined || now < runtime.until)) {
      return runtime.fault === 'none' ? undefined : runtime;
    }
    const elapsed = now - this.createdAt;
    const step = this.options.faults?.find(
      (s) => elapsed >= (s.afterMs ?? 0) && (s.forMs === undefined || elapsed < (s.afterMs ?? 0) + s.forMs),
    );
    return step && step.fault !== 'none' ? step : undefined;
  }

  private async readRuntimeFault(): Promise<void> {
    try {
      const raw = await this.options.outbox.get(simulatorFaultKey(this.name));
      this.runtimeFault = raw === undefined ? undefined : parseSimulatorFault(raw);
    } catch (err) {
      // A cache outage must not become a simulated provider outage: keep the last known fault.
      this.options.logger.debug({ err, provider: this.name }, 'simulator could not read its fault');
    }
  }

  private scheduleReceipt(request: SendRequest, providerMessageId: string, status: ReceiptStatus): void {
    const controller = new AbortController();
    this.pendingReceipts.add(controller);
    void this.deliverReceipt(request, providerMessageId, status, controller.signal).finally(() =>
      this.pendingReceipts.delete(controller),
    );
  }

  // Retries like real providers do, so a gateway restart does not lose receipts.
  private async deliverReceipt(
    request: SendRequest,
    providerMessageId: string,
    status: ReceiptStatus,
    signal: AbortSignal,
  ): Promise<void> {
    const url = request.callbackUrl;
    try {
      await sleep(this.options.receiptDelayMs ?? 100, undefined, { signal });
      const body = JSON.stringify({
        id: providerMessageId,
        reference: request.messageId,
        status,
        code: status === 'delivered' ? 'DELIVRD' : 'UNDELIV',
        doneAt: new Date().toISOString(),
      });
      for (let attempt = 0; attempt < 8 && !signal.aborted; attempt++) {
        try {
          const response = await this.postSigned(url, body, signal);
          // Reading the (small) body lets the connection be reused; cancelling it would abort it.
          await response.arrayBuffer();
          if (response.ok) return;
        } catch (err) {
          if (signal.aborted) return;
          this.options.logger.debug({ err }, 'simulator receipt post failed; retrying');
        }
        await sleep(backoffDelay(attempt + 1, RECEIPT_POST_BACKOFF), undefined, { signal });
      }
      this.options.logger.warn({ provider: this.name }, 'simulator gave up delivering a receipt');
    } catch {
      // aborted during shutdown
    }
  }

  /** Throws PIGEON_ERR_RECEIPT_SIGNATURE unless the request is signed with our secret, recently. */
  private verifySignature(request: InboundHttpRequest): void {
    const timestamp = header(request, SIMULATOR_TIMESTAMP_HEADER);
    const signature = header(request, SIMULATOR_SIGNATURE_HEADER);
    if (!timestamp || !signature || Math.abs(Date.now() - Number(timestamp)) > SIGNATURE_TOLERANCE_MS) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'missing or stale simulator signature');
    }
    const expected = Buffer.from(
      signSimulatorReceipt(this.options.secret, timestamp, request.rawBody),
      'hex',
    );
    const given = Buffer.from(signature, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'simulator signature does not match');
    }
  }

  /**
   * Simulates someone texting one of our numbers: posts the message, signed like a receipt, to
   * `url` (the gateway's `/v1/inbound/{provider}`) as a real provider would. Resolves with the
   * gateway's HTTP status.
   */
  async simulateInbound(url: string, sms: { from: string; to: string; body: string }): Promise<number> {
    const body = JSON.stringify({
      id: `SIMIN${randomBytes(10).toString('hex')}`,
      from: sms.from,
      to: sms.to,
      text: sms.body,
      receivedAt: new Date().toISOString(),
    });
    const response = await this.postSigned(url, body, AbortSignal.timeout(10_000));
    await response.arrayBuffer();
    return response.status;
  }

  /** Posts `body` to the gateway signed as a provider's webhook: timestamp and HMAC headers. */
  private postSigned(url: string, body: string, signal: AbortSignal): Promise<Response> {
    const timestamp = String(Date.now());
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIMULATOR_TIMESTAMP_HEADER]: timestamp,
        [SIMULATOR_SIGNATURE_HEADER]: signSimulatorReceipt(this.options.secret, timestamp, body),
      },
      body,
      signal,
    });
  }

  async parseInbound(request: InboundHttpRequest): Promise<InboundSms[]> {
    this.verifySignature(request);
    let payload: {
      id?: unknown;
      from?: unknown;
      to?: unknown;
      text?: unknown;
      receivedAt?: unknown;
      part?: { reference?: unknown; index?: unknown; total?: unknown };
    };
    try {
      payload = JSON.parse(request.rawBody) as typeof payload;
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'inbound body is not JSON', { cause });
    }
    const { id, from, to, text, receivedAt, part } = payload;
    if (
      typeof id !== 'string' ||
      typeof from !== 'string' ||
      typeof to !== 'string' ||
      typeof text !== 'string'
    ) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'inbound message needs string id, from, to and text');
    }
    const sms: InboundSms = { from, to, body: text, providerMessageId: id };
    if (typeof receivedAt === 'string') sms.receivedAt = receivedAt;
    // One part of a long SMS, as a handset's UDH would number it: the gateway joins them.
    if (
      part &&
      typeof part.reference === 'string' &&
      Number.isInteger(part.index) &&
      Number.isInteger(part.total)
    ) {
      sms.part = { reference: part.reference, index: Number(part.index), total: Number(part.total) };
    }
    return [sms];
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    this.verifySignature(request);
    let payload: { id?: unknown; reference?: unknown; status?: unknown; code?: unknown; doneAt?: unknown };
    try {
      payload = JSON.parse(request.rawBody) as typeof payload;
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'receipt body is not JSON', { cause });
    }
    if (typeof payload.id !== 'string' || typeof payload.status !== 'string') {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'receipt needs string id and status');
    }
    const known: ReceiptStatus[] = ['delivered', 'undelivered', 'expired', 'rejected', 'unknown'];
    const status = known.includes(payload.status as ReceiptStatus)
      ? (payload.status as ReceiptStatus)
      : 'unknown';
    const receipt: ParsedReceipt = {
      providerMessageId: payload.id,
      status,
      providerStatus: typeof payload.code === 'string' ? payload.code : payload.status,
    };
    if (typeof payload.reference === 'string') receipt.reference = payload.reference;
    if (typeof payload.doneAt === 'string') receipt.doneAt = payload.doneAt;
    return [receipt];
  }

  async close(): Promise<void> {
    for (const controller of this.pendingReceipts) controller.abort();
    this.pendingReceipts.clear();
  }
}

const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

const SCRIPT_NUMBERS = ['afterMs', 'forMs', 'slowMs', 'retryAfterMs'] as const;

/** The `faults` option, validated; throws PIGEON_ERR_CONFIG naming the bad step. */
export function scriptedFaults(provider: string, value: unknown): ScriptedFault[] | undefined {
  if (value === undefined) return undefined;
  const bad = (path: string, expected: string): never => {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${provider}": option "${path}" must be ${expected}`,
    );
  };
  if (!Array.isArray(value)) return bad('faults', 'an array');
  return value.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null) return bad(`faults[${i}]`, 'an object');
    const step = raw as Record<string, unknown>;
    for (const key of Object.keys(step)) {
      if (key !== 'fault' && !(SCRIPT_NUMBERS as readonly string[]).includes(key)) {
        bad(`faults[${i}].${key}`, `one of fault, ${SCRIPT_NUMBERS.join(', ')} (unknown option)`);
      }
    }
    if (!isFaultMode(step.fault))
      return bad(`faults[${i}].fault`, `one of ${SIMULATOR_FAULT_MODES.join(', ')}`);
    const parsed: ScriptedFault = { fault: step.fault };
    for (const key of SCRIPT_NUMBERS) {
      const n = step[key];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) bad(`faults[${i}].${key}`, 'a number ≥ 0');
      parsed[key] = n as number;
    }
    return parsed;
  });
}

export const createSimulator: ProviderFactory = (name, options, deps) => {
  const faults = scriptedFaults(name, options.faults);
  return new SimulatorProvider(name, {
    latencyMs: num(options.latencyMs, 20),
    failureRatio: num(options.failureRatio, 0),
    receiptDelayMs: num(options.receiptDelayMs, 300),
    undeliveredRatio: num(options.undeliveredRatio, 0),
    secret: simulatorReceiptSecret(deps.config),
    outbox: deps.cache,
    logger: deps.logger,
    ...(faults ? { faults } : {}),
  });
};
