import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The server plumbing every HTTP provider fake shares, so that each fake is only its provider's
 * wire format: listening on a free loopback port, reading bodies, noticing requests the client
 * gave up on, refusing connections on the same port, and posting receipts to our webhook.
 */

/** What every fake records of a request it received. */
export interface FakeRequest {
  method: string;
  /** Path and query as received, unless the fake keeps the path alone. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Whether the provider's authentication held. */
  authenticated: boolean;
  /** Resolves if the client closes the connection before the fake answered. */
  closedEarly: Promise<void>;
}

/** The faults every fake plays: no answer at all, or a load balancer's error page. */
export type HttpFault = { kind: 'status'; status: number } | { kind: 'hang' };

/** A receipt posted to our webhook, as it was answered. */
export interface PostResult {
  status: number;
  body: string;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request URL, parsed (the host is a placeholder). */
  url: URL;
  /** The whole request body, once it has arrived. */
  body: Promise<string>;
  /** Resolves if the client closes the connection before the fake answered. */
  closedEarly: Promise<void>;
  /** The fields every fake records of this request, unauthenticated until the fake says otherwise. */
  record(body: string): FakeRequest;
}

export interface FakeHttpOptions {
  /**
   * One request per connection: after a refusal starts, the next request then meets a refused
   * connection, never a kept-alive socket closing under it.
   */
  closeEachConnection?: boolean;
}

export interface FakeHttp {
  /** `http://127.0.0.1:<port>`, the same for the fake's whole life. */
  readonly url: string;
  /**
   * Stops listening, so connections are refused (and hung ones closed), or listens again on the
   * same port. Changes apply in the order asked; resolves once the socket matches this one.
   */
  setRefusing(refusing: boolean): Promise<void>;
  /** A request from the provider to us (a receipt); still in flight when close() is called, it is aborted. */
  post(url: string, init: RequestInit): Promise<PostResult>;
  /** POSTs `value` as JSON, as providers that push batches of reports do. */
  postJson(url: string, value: unknown, contentType?: string): Promise<PostResult>;
  close(): Promise<void>;
}

/** Starts a fake on a free loopback port; `handle` is called as each request arrives. */
export async function startFakeHttp(
  handle: (exchange: Exchange) => void,
  options: FakeHttpOptions = {},
): Promise<FakeHttp> {
  const posts = new Set<AbortController>();
  let listening = false;
  let transition: Promise<void> = Promise.resolve();

  const server = createServer((req, res) => {
    const closedEarly = new Promise<void>((resolve) => {
      res.on('close', () => {
        if (!res.writableFinished) resolve();
      });
    });
    if (options.closeEachConnection) res.setHeader('connection', 'close');
    const body = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    const url = new URL(req.url ?? '/', 'http://fake');
    handle({
      req,
      res,
      url,
      body,
      closedEarly,
      record: (text) => ({
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: req.headers,
        body: text,
        authenticated: false,
        closedEarly,
      }),
    });
  });

  function listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  }

  function stopListening(): Promise<void> {
    if (!listening) return Promise.resolve();
    listening = false;
    return new Promise((resolve) => {
      server.close(() => resolve());
      // Hung connections go too: a provider that refuses connections answers nothing.
      server.closeAllConnections();
    });
  }

  await listen(0);
  const port = (server.address() as AddressInfo).port;

  const fake: FakeHttp = {
    url: `http://127.0.0.1:${port}`,
    setRefusing(refusing) {
      transition = transition.then(() => {
        if (refusing) return stopListening();
        return listening ? undefined : listen(port);
      });
      return transition;
    },
    async post(url, init) {
      const controller = new AbortController();
      posts.add(controller);
      try {
        const response = await fetch(url, { ...init, signal: controller.signal });
        return { status: response.status, body: await response.text() };
      } finally {
        posts.delete(controller);
      }
    },
    postJson(url, value, contentType = 'application/json') {
      return fake.post(url, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: JSON.stringify(value),
      });
    },
    async close() {
      for (const controller of posts) controller.abort();
      await transition;
      await stopListening();
    },
  };
  return fake;
}

/** Answers as a load balancer in front of the API would: an HTML page with this status. */
export function htmlError(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-type': 'text/html' });
  res.end(`<html><body><h1>${status}</h1></body></html>`);
}
