import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { backoffDelay, type ExponentialBackoff } from '../../core/retry.ts';
import { type Behaviour, parseBehaviour, planSend } from './behaviour.ts';

/**
 * Simulated SMS providers as a process of their own (`pigeon simulator`), so a fault test can
 * kill a supplier bridge without killing the "provider": messages taken before the kill keep
 * their receipts, and the provider's log says what it really received. The bridge reaches it as a
 * generic HTTP provider (definition.ts), so nothing in the gateway knows it is a simulator.
 *
 * - `POST /providers/:name/messages` (Bearer send key): `{to, from, body, reference, callbackUrl}`
 *   → `{id}`; the receipt is posted, signed, to `callbackUrl` later, retried until taken.
 * - `GET /log[?provider=&after=]` (Bearer control token): every message taken, oldest first.
 * - `PUT|DELETE /providers/:name/behaviour` (Bearer control token): down, slow, ambiguous,
 *   throttle or normal (behaviour.ts), optionally for `forMs`.
 */

export const RECEIPT_SIGNATURE_HEADER = 'x-sim-signature';
export const RECEIPT_TIMESTAMP_HEADER = 'x-sim-timestamp';
/** Receipt words on the wire, as SMPP-style DLRs say them. */
export const RECEIPT_WORDS = { delivered: 'DELIVRD' } as const;

export interface SimulatorServerOptions {
  providers: readonly string[];
  /** Guards the log and the behaviour switches. */
  controlToken: string;
  /** What the gateway presents when sending, as it would an aggregator's API key. */
  sendKey: string;
  /** Signs receipts: HMAC-SHA256 hex of `${timestamp}.${body}`. */
  receiptSecret: string;
  port?: number;
  host?: string;
  latencyMs?: number;
  receiptDelayMs?: number;
  logger: Logger;
}

/** One message a simulated provider took. */
export interface ReceivedMessage {
  seq: number;
  provider: string;
  /** The provider's id for it. */
  id: string;
  /** The gateway's message id, echoed as the receipt's reference. */
  reference: string;
  to: string;
  body: string;
  at: number;
}

export interface SimulatorLog {
  count: number;
  /** Sends answered 503 or 429: never taken. */
  refused: number;
  messages: ReceivedMessage[];
}

export interface SimulatorServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Receipt posts: 200 ms doubling to 5 s, 30 posts (about two minutes), outlasting an api restart. */
const RECEIPT_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 200,
  factor: 2,
  maxMs: 5_000,
  jitter: 0.2,
};
const RECEIPT_POSTS = 30;
const MAX_BODY_BYTES = 64 * 1024;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Whether the request carries `Bearer <expected>`; compared in constant time. */
function bearer(req: IncomingMessage, expected: string): boolean {
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(given), digest(expected));
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  if (res.writableEnded || res.destroyed) return;
  const contentType =
    status >= 400 && 'code' in (value as object) ? 'application/problem+json' : 'application/json';
  res.writeHead(status, { 'content-type': contentType, ...headers });
  res.end(JSON.stringify(value));
}

function problem(res: ServerResponse, error: PigeonError, instance: string) {
  sendJson(res, error.status, error.toProblem(instance));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PigeonError('PIGEON_ERR_VALIDATION', 'body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'body is not JSON', { cause });
  }
}

interface SendBody {
  to: string;
  body: string;
  reference: string;
  callbackUrl: string;
}

function sendBody(value: unknown): SendBody {
  const v = (value ?? {}) as Record<string, unknown>;
  for (const key of ['to', 'body', 'reference', 'callbackUrl'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') {
      throw new PigeonError('PIGEON_ERR_VALIDATION', `${key} must be a non-empty string`);
    }
  }
  const url = v.callbackUrl as string;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'callbackUrl must be an http(s) URL');
  }
  return v as unknown as SendBody;
}

export async function startSimulatorServer(options: SimulatorServerOptions): Promise<SimulatorServer> {
  const { logger } = options;
  const known = new Set(options.providers);
  const behaviours = new Map<string, Behaviour>();
  const received: ReceivedMessage[] = [];
  let refused = 0;
  const closing = new AbortController();
  const latencyMs = options.latencyMs ?? 20;
  const receiptDelayMs = options.receiptDelayMs ?? 300;

  const postReceipt = async (message: ReceivedMessage, callbackUrl: string): Promise<void> => {
    const signal = closing.signal;
    const body = JSON.stringify({
      id: message.id,
      reference: message.reference,
      status: RECEIPT_WORDS.delivered,
      doneAt: new Date().toISOString(),
    });
    try {
      await sleep(receiptDelayMs, undefined, { signal });
      for (let attempt = 1; attempt <= RECEIPT_POSTS; attempt++) {
        const timestamp = String(Date.now());
        try {
          const response = await fetch(callbackUrl, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [RECEIPT_TIMESTAMP_HEADER]: timestamp,
              [RECEIPT_SIGNATURE_HEADER]: createHmac('sha256', options.receiptSecret)
                .update(`${timestamp}.${body}`)
                .digest('hex'),
            },
            body,
            signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
          });
          await response.arrayBuffer();
          if (response.ok) return;
        } catch (err) {
          if (signal.aborted) return;
          logger.debug({ err, provider: message.provider }, 'simulator receipt post failed; retrying');
        }
        await sleep(backoffDelay(attempt, RECEIPT_BACKOFF), undefined, { signal });
      }
      logger.warn({ provider: message.provider, id: message.id }, 'simulator gave up posting a receipt');
    } catch {
      // closing
    }
  };

  const send = async (provider: string, req: IncomingMessage, res: ServerResponse) => {
    if (!bearer(req, options.sendKey)) {
      problem(res, new PigeonError('PIGEON_ERR_UNAUTHORIZED'), req.url ?? '');
      return;
    }
    const request = sendBody(parseJsonBody(await readBody(req)));
    const plan = planSend(behaviours.get(provider), Date.now(), latencyMs);
    if (!plan.take) {
      refused++;
      if (plan.answerAfterMs > 0) await sleep(plan.answerAfterMs);
      const headers: Record<string, string> =
        plan.retryAfterSeconds === undefined ? {} : { 'retry-after': String(plan.retryAfterSeconds) };
      sendJson(res, plan.status, { error: plan.status === 429 ? 'throttled' : 'unavailable' }, headers);
      return;
    }
    // Taken on arrival: from here the message goes out whether or not the answer reaches the caller.
    const message: ReceivedMessage = {
      seq: received.length + 1,
      provider,
      id: `SIM${randomBytes(10).toString('hex')}`,
      reference: request.reference,
      to: request.to,
      body: request.body,
      at: Date.now(),
    };
    received.push(message);
    void postReceipt(message, request.callbackUrl);
    if (plan.answerAfterMs > 0) {
      await sleep(plan.answerAfterMs, undefined, { signal: closing.signal }).catch(() => undefined);
    }
    sendJson(res, 200, { id: message.id, status: 'accepted' });
  };

  const log = (url: URL): SimulatorLog => {
    const provider = url.searchParams.get('provider');
    const after = Number(url.searchParams.get('after') ?? 0);
    const messages = received.filter((m) => m.seq > after && (provider === null || m.provider === provider));
    return { count: received.length, refused, messages };
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    const match = /^\/providers\/([^/]+)\/(messages|behaviour)$/.exec(path);
    const provider = match ? decodeURIComponent(match[1]!) : undefined;
    if (match && req.method === 'POST' && match[2] === 'messages') {
      if (!known.has(provider!)) throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER');
      return send(provider!, req, res);
    }
    // Everything else reads what was sent (codes included) or stops a provider.
    if (!bearer(req, options.controlToken)) throw new PigeonError('PIGEON_ERR_UNAUTHORIZED');
    if (req.method === 'GET' && path === '/log') return sendJson(res, 200, log(url));
    if (match && match[2] === 'behaviour') {
      if (!known.has(provider!)) throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER');
      if (req.method === 'PUT') {
        const parsed = parseBehaviour(parseJsonBody(await readBody(req)), Date.now());
        if (typeof parsed === 'string') throw new PigeonError('PIGEON_ERR_VALIDATION', parsed);
        behaviours.set(provider!, parsed);
        logger.info({ provider, behaviour: parsed }, 'simulator behaviour set');
        return sendJson(res, 200, { provider, ...parsed });
      }
      if (req.method === 'DELETE') {
        behaviours.delete(provider!);
        res.writeHead(204).end();
        return;
      }
    }
    throw new PigeonError('PIGEON_ERR_NOT_FOUND');
  };

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const error =
        err instanceof PigeonError ? err : new PigeonError('PIGEON_ERR_INTERNAL', undefined, { cause: err });
      if (error.status >= 500) logger.error({ err }, 'simulator request failed');
      problem(res, error, req.url ?? '');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator has no TCP address');
  const host = options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: async () => {
      closing.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
