/**
 * The benches' load generator's HTTP client: one kept-alive socket per worker, requests written
 * as prepared bytes and answers parsed by Content-Length. fetch cost the e2e bench 2.2 ms of CPU
 * per message in its own process (streams, Headers objects, a promise chain per body), which made
 * the load generator the largest row of the CPU table; this costs a few tens of µs. It speaks only
 * what the benches' servers answer: HTTP/1.1, bodies with Content-Length, no chunked encoding.
 */
import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  status: number;
  body: string;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One connection, one request at a time (as a fetch worker with keep-alive has). */
export class KeptAliveConnection {
  private socket: Socket | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve: (a: HttpAnswer) => void; reject: (e: Error) => void } | undefined;
  private readonly head: string;

  constructor(
    private readonly url: URL,
    headers: Record<string, string>,
  ) {
    const lines = Object.entries({ host: url.host, connection: 'keep-alive', ...headers }).map(
      ([name, value]) => `${name}: ${value}\r\n`,
    );
    this.head = lines.join('');
  }

  /** POSTs `body` to `path`; rejects on a connection error (the next request reconnects). */
  post(path: string, body: string): Promise<HttpAnswer> {
    const payload = Buffer.from(body);
    const request = `POST ${path} HTTP/1.1\r\n${this.head}content-length: ${payload.length}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      const socket = this.connected();
      socket.write(request);
      socket.write(payload);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connected(): Socket {
    if (this.socket) return this.socket;
    const socket = connect(Number(this.url.port || 80), this.url.hostname);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      if (this.socket === socket) this.socket = undefined;
      this.buffered = Buffer.alloc(0);
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headEnd = this.buffered.indexOf(CRLF2);
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.socket?.destroy(new Error(`answer without content-length: ${head.slice(0, 200)}`));
      return;
    }
    const end = headEnd + 4 + Number(length[1]);
    if (this.buffered.length < end) return;
    const status = Number(head.slice(9, 12));
    const body = this.buffered.toString('utf8', headEnd + 4, end);
    this.buffered = this.buffered.subarray(end);
    const pending = this.pending;
    this.pending = undefined;
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
    pending?.resolve({ status, body });
  }
}
