/**
 * A TCP proxy that fault tests put between a client and a real service, to cut the link on demand.
 * While cut, the proxy keeps listening but resets every connection it accepts: clients fail at
 * once with ECONNRESET, as when a server dies, instead of waiting out a connect timeout.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxyOptions {
  targetHost: string;
  targetPort: number;
  /** 0 (the default) picks a free port. */
  listenPort?: number;
}

export interface TcpProxy {
  readonly port: number;
  /** Resets every open connection, and every new one until `restore()`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let isCut = false;

  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Resets and peer hang-ups are the point of this proxy, not failures of the test.
    socket.on('error', () => {});
  };

  const server = createServer((client) => {
    track(client);
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: options.targetHost, port: options.targetPort });
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    // A half-dead pair is worse than none: when one side goes, the other must go too.
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });

  const resetAll = (): void => {
    for (const socket of sockets) {
      if (socket.connecting || socket.destroyed) socket.destroy();
      else socket.resetAndDestroy();
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');

  return {
    port: address.port,
    cut() {
      isCut = true;
      resetAll();
    },
    restore() {
      isCut = false;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        resetAll();
      });
    },
  };
}
