import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A local SMTP server (RFC 5321) speaking just what a mail client needs: greeting, EHLO/HELO,
 * AUTH PLAIN (when credentials are set), MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET,
 * NOOP and QUIT. Accepted messages are kept with their envelope and parsed headers. It can fail
 * as mail servers do:
 *
 * - `tempfail`: `421` at the greeting (the server is shutting down or overloaded);
 * - `reject`: `550` to every recipient (no such mailbox);
 * - `hang`: accepts the connection and never greets;
 * - `refuse`: stops listening, so connections are refused; `up` listens on the same port again.
 */
export type SmtpMode = 'up' | 'tempfail' | 'reject' | 'hang' | 'refuse';

export interface SmtpMessage {
  from: string;
  to: string[];
  /** The message as sent, after dot-unstuffing, CRLF line ends. */
  data: string;
  headers: Record<string, string>;
  /** The body after the blank line (undecoded). */
  body: string;
  authenticatedAs: string | undefined;
}

export interface SmtpFake {
  readonly host: string;
  readonly port: number;
  readonly messages: SmtpMessage[];
  setMode(mode: SmtpMode): Promise<void>;
  close(): Promise<void>;
}

const addressOf = (argument: string) => /<([^>]*)>/.exec(argument)?.[1] ?? argument.trim();

function parseHeaders(data: string): { headers: Record<string, string>; body: string } {
  const split = data.indexOf('\r\n\r\n');
  const head = split === -1 ? data : data.slice(0, split);
  const body = split === -1 ? '' : data.slice(split + 4);
  const headers: Record<string, string> = {};
  let last: string | undefined;
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && last) headers[last] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) {
        last = line.slice(0, colon).toLowerCase();
        headers[last] = line.slice(colon + 1).trim();
      }
    }
  }
  return { headers, body };
}

export async function startSmtpFake(options: { user?: string; password?: string } = {}): Promise<SmtpFake> {
  const messages: SmtpMessage[] = [];
  const sockets = new Set<Socket>();
  let mode: SmtpMode = 'up';

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    const reply = (line: string) => socket.write(`${line}\r\n`);
    if (mode === 'hang') return;
    if (mode === 'tempfail') {
      reply('421 4.3.2 fake.smtp Service not available, closing transmission channel');
      socket.end();
      return;
    }
    reply('220 fake.smtp ESMTP ready');

    let buffer = '';
    let inData = false;
    let data: string[] = [];
    let from: string | undefined;
    let to: string[] = [];
    let user: string | undefined;
    const needsAuth = options.user !== undefined;

    const command = (line: string) => {
      const [verb = '', ...rest] = line.split(' ');
      const argument = rest.join(' ');
      switch (verb.toUpperCase()) {
        case 'EHLO':
          socket.write('250-fake.smtp greets you\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n');
          reply(needsAuth ? '250 AUTH PLAIN' : '250 SMTPUTF8');
          return;
        case 'HELO':
          reply('250 fake.smtp');
          return;
        case 'AUTH': {
          const [mechanism = '', initial = ''] = argument.split(' ');
          if (mechanism.toUpperCase() !== 'PLAIN' || !needsAuth) {
            reply('504 5.5.4 Unrecognized authentication type');
            return;
          }
          const [, login = '', password = ''] = Buffer.from(initial, 'base64').toString('utf8').split('\0');
          if (login === options.user && password === options.password) {
            user = login;
            reply('235 2.7.0 Authentication successful');
          } else reply('535 5.7.8 Authentication credentials invalid');
          return;
        }
        case 'MAIL':
          if (needsAuth && !user) {
            reply('530 5.7.0 Authentication required');
            return;
          }
          from = addressOf(argument.replace(/^FROM:/i, ''));
          to = [];
          reply('250 2.1.0 OK');
          return;
        case 'RCPT':
          if (from === undefined) {
            reply('503 5.5.1 MAIL first');
            return;
          }
          if (mode === 'reject') {
            reply('550 5.1.1 No such user here');
            return;
          }
          to.push(addressOf(argument.replace(/^TO:/i, '')));
          reply('250 2.1.5 OK');
          return;
        case 'DATA':
          if (to.length === 0) {
            reply('554 5.5.1 No valid recipients');
            return;
          }
          inData = true;
          data = [];
          reply('354 End data with <CR><LF>.<CR><LF>');
          return;
        case 'RSET':
          from = undefined;
          to = [];
          reply('250 2.0.0 OK');
          return;
        case 'NOOP':
          reply('250 2.0.0 OK');
          return;
        case 'QUIT':
          reply('221 2.0.0 Bye');
          socket.end();
          return;
        default:
          reply('502 5.5.2 Command not recognized');
      }
    };

    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            const text = data.join('\r\n');
            messages.push({ from: from ?? '', to, data: text, ...parseHeaders(text), authenticatedAs: user });
            from = undefined;
            to = [];
            reply('250 2.0.0 OK queued as FAKE');
          } else data.push(line.startsWith('..') ? line.slice(1) : line);
        } else command(line);
      }
    });
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
      for (const socket of sockets) socket.destroy();
      if (!server.listening) resolve();
      else server.close(() => resolve());
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    messages,
    async setMode(next) {
      const wasRefusing = mode === 'refuse';
      mode = next;
      if (next === 'refuse' && !wasRefusing) await stop();
      else if (next !== 'refuse' && wasRefusing) await listen(port);
    },
    close: stop,
  };
}
