import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPublicAddress } from '../../../core/callback-url.ts';

/** What one POST came to: the HTTP status, or why there was none. */
export type PostResult = { status: number } | { error: string };

export interface CallbackHttpOptions {
  timeoutMs: number;
  /** Resolved addresses may be private (PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS). */
  allowPrivateNetworks: boolean;
}

/** Most of a receiver's answer read (then dropped): the status is all that matters. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * A name that resolves only to non-public addresses is refused at connect time, after DNS, so a
 * customer's hostname cannot be pointed at the operator's network (literal addresses are refused
 * before, by callbackUrlProblem). Connections then go to an address that passed.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    const allowed = addresses.filter((a) => isPublicAddress(a.address));
    if (allowed.length === 0) {
      const refused = Object.assign(new Error(`${hostname} resolves to no public address`), {
        code: 'ECALLBACKPRIVATE',
      });
      callback(refused, '', 0);
      return;
    }
    if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    else callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

/**
 * POSTs callbacks. Keep-alive agents reuse connections to busy receivers; redirects are not
 * followed (a 3xx is a failed attempt), so a callback only ever goes to the URL it was given.
 */
export class CallbackHttp {
  private readonly agents: { http: HttpAgent; https: HttpsAgent };

  constructor(private readonly options: CallbackHttpOptions) {
    const lookup = options.allowPrivateNetworks ? undefined : publicOnlyLookup;
    const agentOptions = { keepAlive: true, maxSockets: 256, ...(lookup ? { lookup } : {}) };
    this.agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  }

  post(url: string, body: string, headers: Record<string, string>): Promise<PostResult> {
    const target = new URL(url);
    const https = target.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise<PostResult>((resolve) => {
      // One budget for everything (connect, TLS, response, body): a receiver that trickles bytes
      // holds a slot no longer than one that never answers. A timer cleared when the call ends, not
      // `AbortSignal.timeout`, which cannot be cleared and fired for every callback seconds later
      // (a TimeoutError built and an abort dispatched: ~20 µs a callback, as in the bridge).
      const controller = new AbortController();
      const signal = controller.signal;
      const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      let settled = false;
      const finish = (result: PostResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const req = send(
        target,
        {
          method: 'POST',
          agent: https ? this.agents.https : this.agents.http,
          signal,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res: IncomingMessage) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) res.destroy();
          });
          res.on('error', () => finish({ status: res.statusCode ?? 0 }));
          res.on('close', () => finish({ status: res.statusCode ?? 0 }));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const timedOut = signal.aborted;
        finish({
          error: timedOut ? `timed out after ${this.options.timeoutMs} ms` : (err.code ?? err.message),
        });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
