import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../../core/cache/cache.ts';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { ReceiptStatus } from '../../core/message.ts';
import {
  type InboundHttpRequest,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
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
  /** Where sent messages are recorded for `GET /simulator/messages`. */
  outbox: Cache;
  logger: Logger;
  random?: () => number;
}

export const SIMULATOR_SIGNATURE_HEADER = 'x-simulator-signature';
export const SIMULATOR_TIMESTAMP_HEADER = 'x-simulator-timestamp';
const OUTBOX_MAX = 100;
const OUTBOX_TTL_MS = 3_600_000;
const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

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

export function signSimulatorReceipt(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
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

  constructor(
    readonly name: string,
    private readonly options: SimulatorOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const latency = this.options.latencyMs ?? 0;
    if (latency > 0) await sleep(latency, undefined, { signal });
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
    this.scheduleReceipt(request, providerMessageId, status);
    return { providerMessageId, segments: request.segments };
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
        const timestamp = String(Date.now());
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [SIMULATOR_TIMESTAMP_HEADER]: timestamp,
              [SIMULATOR_SIGNATURE_HEADER]: signSimulatorReceipt(this.options.secret, timestamp, body),
            },
            body,
            signal,
          });
          // Reading the (small) body lets the connection be reused; cancelling it would abort it.
          await response.arrayBuffer();
          if (response.ok) return;
        } catch (err) {
          if (signal.aborted) return;
          this.options.logger.debug({ err }, 'simulator receipt post failed; retrying');
        }
        await sleep(Math.min(200 * 2 ** attempt, 10_000), undefined, { signal });
      }
      this.options.logger.warn({ provider: this.name }, 'simulator gave up delivering a receipt');
    } catch {
      // aborted during shutdown
    }
  }

  parseReceipt(request: InboundHttpRequest): ParsedReceipt[] {
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

function header(request: InboundHttpRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
