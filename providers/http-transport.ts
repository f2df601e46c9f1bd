import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * The HTTP transport of the provider adapters: one request and its whole answer over Node's own
 * `http`/`https` with kept-alive connection pools.
 *
 * Why not `fetch`: a bridge makes one provider call per message, and `fetch` wraps each in WHATWG
 * streams, a `Response`, `Headers` and a `TextDecoder`. In the end-to-end bench that machinery was
 * a fifth of the bridge's CPU (undici 15 %, web streams 5 %, plus their garbage) for answers of a
 * few hundred bytes. Here an answer is read once into a string.
 *
 * The pools: idle connections are kept 4 s (as undici does), so a provider that closes idle
 * connections after 5 s (Node's server default) does not close one under a request we are
 * writing; LIFO, so the busiest connections stay warm and the rest age out. Up to 1,024 idle
 * connections per host are kept (Node's default is 256): a bridge has 64 sends in flight per
 * partition it holds, and with six partitions to one provider every lull returned more connections
 * than 256, which were closed and opened again at the next burst: one send in sixteen paid a new
 * connection in the end-to-end bench, a TLS handshake against a real provider.
 */

/** The part of an answer the adapters read. */
export interface ProviderResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** The whole body as UTF-8. Rejects when the connection is lost before its end. */
  text(): Promise<string>;
}

export interface ProviderRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** An answer larger than this is not a provider's answer to one message: it is cut off as an error. */
export const ANSWER_MAX_BYTES = 1024 * 1024;

const POOL = { keepAlive: true, timeout: 4_000, scheduling: 'lifo', maxFreeSockets: 1_024 } as const;
const httpPool = new HttpAgent(POOL);
const httpsPool = new HttpsAgent(POOL);

/** The answer's status and headers once they arrive; its body is read at once, into `text()`. */
export function providerRequest(
  url: string,
  init: ProviderRequest,
  signal: AbortSignal,
): Promise<ProviderResponse> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') {
    return Promise.reject(new TypeError(`unsupported protocol ${target.protocol}`));
  }
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  const headers: Record<string, string | number> = { ...init.headers };
  if (body) headers['content-length'] = body.byteLength;
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(target, {
      method: init.method ?? 'GET',
      headers,
      agent: secure ? httpsPool : httpPool,
      signal,
    });
    request.on('error', reject);
    request.once('response', (response) => resolve(answer(response)));
    request.end(body);
  });
}

function answer(response: IncomingMessage): ProviderResponse {
  const body = readBody(response);
  // Read even when nobody asks for it, so the connection goes back to the pool; a failure is
  // reported to whoever calls text(), and is no unhandled rejection when nobody does.
  body.catch(() => undefined);
  const status = response.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get(name) {
        const value = response.headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    text: () => body,
  };
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > ANSWER_MAX_BYTES) {
        response.destroy(new Error(`answer over ${ANSWER_MAX_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString()),
    );
    response.on('error', reject);
    // `aborted` without `error`: the peer closed the connection before the body's end.
    response.once('close', () => {
      if (!response.complete) reject(Object.assign(new Error('answer cut off'), { code: 'ECONNRESET' }));
    });
  });
}
