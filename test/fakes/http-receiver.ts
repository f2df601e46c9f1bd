import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The plumbing the alert receivers' fakes share (Slack, DingTalk, WeCom, Feishu, PagerDuty, a
 * generic webhook): a local HTTP server that records every request and can be made to fail the
 * ways real receivers do. Each fake adds its receiver's wire format on top.
 *
 * - `up`: the fake's own handler answers;
 * - `error`: 500 with an HTML body, as a load balancer in front of a sick service;
 * - `hang`: reads the request and never answers;
 * - `refuse`: stops listening, so connections are refused; `up` listens on the same port again.
 */
export type ReceiverMode = 'up' | 'error' | 'hang' | 'refuse';

export interface ReceivedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the fake answered; undefined while (or if never) answered. */
  status?: number;
}

export interface Answer {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface HttpReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  setMode(mode: ReceiverMode): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpReceiver(handle: (request: ReceivedRequest) => Answer): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let mode: ReceiverMode = 'up';

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const record: ReceivedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(record);
      if (mode === 'hang') {
        hanging.add(res);
        return;
      }
      const answer: Answer =
        mode === 'error'
          ? {
              status: 500,
              body: '<html><body><h1>500 Internal Server Error</h1></body></html>',
              contentType: 'text/html',
            }
          : handle(record);
      record.status = answer.status;
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        'content-type':
          answer.contentType ?? (typeof answer.body === 'string' ? 'text/plain' : 'application/json'),
        ...answer.headers,
      });
      res.end(text);
    });
  });
  server.on('connection', (socket) => {
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
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const socket of sockets) socket.destroy();
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async setMode(next) {
      const wasRefusing = mode === 'refuse';
      mode = next;
      if (next === 'refuse' && !wasRefusing) await stop();
      else if (next !== 'refuse' && wasRefusing) await listen(port);
    },
    close: stop,
  };
}

/** The JSON body of a request, or undefined when it is not JSON. */
export function jsonBody(request: ReceivedRequest): unknown {
  try {
    return JSON.parse(request.body) as unknown;
  } catch {
    return undefined;
  }
}
