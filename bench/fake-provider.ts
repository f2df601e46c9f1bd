/**
 * A bare fake SMS provider, run as a process of its own so its CPU is counted apart: it answers
 * each `POST /send` at once with an id of its own, and after BENCH_RECEIPT_DELAY_MS posts a signed
 * delivery receipt to the callback URL the request named. Pigeon (as an `http` provider) and the
 * bare pipeline call this same program, so both pay the same provider and receipt costs.
 *
 *   PORT=0 FAKE_PROVIDER_SECRET=… node --import tsx bench/fake-provider.ts   # prints "listening <port>"
 *
 * Request body: {"to", "text", "ref", "callback"}; answer {"id"}; receipt body {"id", "ref",
 * "status":"DELIVERED"} with `x-fake-signature: hex(HMAC-SHA256(secret, body))`.
 * `GET /stats` answers how many sends it took and receipts it posted, refused or failed to post.
 */
import { createHmac } from 'node:crypto';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAKE_SIGNATURE_HEADER } from './support.ts';

const secret = process.env.FAKE_PROVIDER_SECRET ?? '';
const receiptDelayMs = Number(process.env.BENCH_RECEIPT_DELAY_MS ?? 200);
/** Receipts off, for benches with no receipt route (the bridge bench). */
const receiptsOff = process.env.FAKE_PROVIDER_RECEIPTS === 'off';
/**
 * Receipts in flight at once: a real provider posts from a bounded pool too, and an unbounded one
 * would open a connection per receipt under load.
 */
const receiptConcurrency = Number(process.env.FAKE_RECEIPT_CONCURRENCY ?? 64);
const RECEIPT_ATTEMPTS = 5;

const agent = new Agent({ keepAlive: true, maxSockets: receiptConcurrency });
const stats = { sends: 0, receipts: 0, receiptRefusals: 0, receiptFailures: 0, connections: 0 };
const queue: Array<{ url: string; body: string }> = [];
let inFlight = 0;
let sequence = 0;

/** One POST over the kept-alive pool; resolves with the status, or 0 when the request failed. */
function postOnce(url: string, body: string, signature: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          [FAKE_SIGNATURE_HEADER]: signature,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function post(url: string, body: string): Promise<void> {
  const signature = createHmac('sha256', secret).update(body).digest('hex');
  for (let attempt = 1; attempt <= RECEIPT_ATTEMPTS; attempt++) {
    const status = await postOnce(url, body, signature);
    if (status >= 200 && status < 300) {
      stats.receipts++;
      return;
    }
    if (status === 0) stats.receiptFailures++;
    else stats.receiptRefusals++;
    await sleep(200 * attempt);
  }
}

function pump(): void {
  while (inFlight < receiptConcurrency && queue.length > 0) {
    const next = queue.shift()!;
    inFlight++;
    void post(next.url, next.body).finally(() => {
      inFlight--;
      pump();
    });
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...stats, pending: queue.length + inFlight }));
      return;
    }
    let request: { ref?: string; callback?: string };
    try {
      request = JSON.parse(Buffer.concat(chunks).toString()) as typeof request;
    } catch {
      res.writeHead(400).end();
      return;
    }
    stats.sends++;
    const id = `FP${process.pid}-${++sequence}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"id":"${id}"}`);
    if (request.callback && !receiptsOff) {
      const receipt = JSON.stringify({ id, ref: request.ref, status: 'DELIVERED' });
      const url = request.callback;
      setTimeout(() => {
        queue.push({ url, body: receipt });
        pump();
      }, receiptDelayMs).unref();
    }
  });
});
server.keepAliveTimeout = 30_000;
server.on('connection', () => stats.connections++);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  agent.destroy();
  process.exit(0);
});
