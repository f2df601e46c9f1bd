import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A customer's endpoint for Pigeon's status callbacks. It checks `Pigeon-Signature:
 * t=<unix seconds>,v1=<hex>` the way docs/architecture.md tells customers to — HMAC-SHA-256 keyed
 * with the whole `whsec_…` secret over `<t>.<raw body>`, any of several `v1` values, a timestamp
 * within five minutes of its clock — written here apart from the sender's code, so a mistake
 * there cannot hide itself. Bad signatures get 401; callbacks are deduplicated by their `id`, as
 * the docs recommend. It can be made to fail the ways real endpoints do.
 *
 * - `up`: 204 for a callback whose signature holds;
 * - `error`: 500 with an HTML body;
 * - `hang`: reads the request and never answers;
 * - `refuse`: stops listening, so connections are refused; `up` listens on the same port again.
 */
export type CallbackReceiverMode = 'up' | 'error' | 'hang' | 'refuse';

export interface ReceivedCallback {
  headers: IncomingHttpHeaders;
  body: string;
  /** The signature held (right secret, fresh timestamp). */
  verified: boolean;
  /** The receiver's clock when it arrived (ms). */
  at: number;
  /** What it answered; undefined while (or if never) answered. */
  status?: number;
}

export interface CallbackReceiver {
  readonly url: string;
  /** Every request, whatever its signature and answer. */
  readonly requests: ReceivedCallback[];
  /** Verified callbacks by their `id`, the first of each (a receiver's dedup table). */
  readonly events: Map<string, Record<string, unknown>>;
  setMode(mode: CallbackReceiverMode): Promise<void>;
  /** The secret it checks signatures with (a rotation changes it). */
  setSecret(secret: string): void;
  close(): Promise<void>;
}

export interface CallbackReceiverOptions {
  secret: string;
  /** The receiver's clock, for the timestamp check (tests that drive the sender's clock pass the same). */
  now?: () => number;
  toleranceSeconds?: number;
  /** Extra time before answering, for a receiver that is slow but alive. */
  delayMs?: number;
}

/** What a customer's code does with the header: true when one `v1` matches and `t` is fresh. */
export function verifyPigeonSignature(
  header: string | undefined,
  rawBody: string,
  secret: string,
  nowMs: number,
  toleranceSeconds = 300,
): boolean {
  if (!header) return false;
  let t: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't') t = value;
    else if (key === 'v1' && value) signatures.push(value);
  }
  if (t === undefined || !/^\d+$/.test(t) || Math.abs(nowMs / 1000 - Number(t)) > toleranceSeconds)
    return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return signatures.some((hex) => {
    const given = Buffer.from(hex, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export async function startCallbackReceiver(options: CallbackReceiverOptions): Promise<CallbackReceiver> {
  const now = options.now ?? Date.now;
  let secret = options.secret;
  let mode: CallbackReceiverMode = 'up';
  const requests: ReceivedCallback[] = [];
  const events = new Map<string, Record<string, unknown>>();
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['pigeon-signature'];
      const received: ReceivedCallback = {
        headers: req.headers,
        body,
        verified: verifyPigeonSignature(
          typeof header === 'string' ? header : undefined,
          body,
          secret,
          now(),
          options.toleranceSeconds,
        ),
        at: now(),
      };
      requests.push(received);
      const answer = (status: number, text = '') => {
        received.status = status;
        res.writeHead(status, { 'content-type': 'text/html' }).end(text);
      };
      const respond = () => {
        if (mode === 'hang') {
          hanging.add(res);
          return;
        }
        if (mode === 'error') return answer(500, '<html><body>Internal Server Error</body></html>');
        if (!received.verified) return answer(401, 'bad signature');
        const event = JSON.parse(body) as Record<string, unknown>;
        if (typeof event.id === 'string' && !events.has(event.id)) events.set(event.id, event);
        answer(204);
      };
      if (options.delayMs) setTimeout(respond, options.delayMs);
      else respond();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    events,
    setSecret: (value) => {
      secret = value;
    },
    async setMode(next) {
      if (next === mode) return;
      if (mode === 'refuse') await listen(port);
      if (mode === 'hang') {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
      mode = next;
      if (next === 'refuse') await stopListening();
    },
    close: async () => {
      if (mode !== 'refuse') await stopListening();
    },
  };
}
