import { connect, type Socket } from 'node:net';

/**
 * Removes a member we abandoned from its consumer group, by sending the LeaveGroup it could not
 * send itself.
 *
 * Why: kafkajs restarts a crashed consumer as a new member and forgets the old member's id; its
 * own LeaveGroup at the crash fails when the broker is what went away. A broker restarted on its
 * data loads the old member from `__consumer_offsets` and holds the new member's JoinGroup until
 * the old one's session expires, counted from the load: a session timeout (6 s) added to every
 * recovery from a broker restart. kafkajs has neither static membership nor a way to rejoin
 * with the old id, so the old member is made to leave, which completes the pending join at once.
 *
 * kafkajs offers no LeaveGroup of its own, so this speaks the two requests it needs on a plain
 * connection (the bus connects without TLS or SASL): FindCoordinator v2 and LeaveGroup v2, both
 * in every broker version since 2.0 and still in Kafka 4.
 */

const API = { findCoordinator: 10, leaveGroup: 13 } as const;
const VERSION = 2;

/** Kafka error codes the outcome depends on. */
const ERROR = {
  none: 0,
  coordinatorLoadInProgress: 14,
  coordinatorNotAvailable: 15,
  notCoordinator: 16,
  unknownMemberId: 25,
  groupIdNotFound: 69,
} as const;

/** Worth asking again shortly: the coordinator is elsewhere, loading or not elected yet. */
const RETRIABLE_CODES: ReadonlySet<number> = new Set([
  ERROR.coordinatorLoadInProgress,
  ERROR.coordinatorNotAvailable,
  ERROR.notCoordinator,
]);

/**
 * Why a member was not removed. `retriable`: no broker answered, or the coordinator is elsewhere,
 * loading or not elected yet, so asking again shortly may succeed; otherwise the broker refused
 * for good.
 */
export class MemberEvictionError extends Error {
  readonly retriable: boolean;
  constructor(message: string, retriable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MemberEvictionError';
    this.retriable = retriable;
  }
}

function refused(what: string, errorCode: number): MemberEvictionError {
  return new MemberEvictionError(`${what}: Kafka error code ${errorCode}`, RETRIABLE_CODES.has(errorCode));
}

function str(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(2);
  length.writeInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** One request-response connection to a broker, correlation ids in order. */
class BrokerConnection {
  readonly #socket: Socket;
  readonly #clientId: string;
  readonly #timeoutMs: number;
  #buffered = Buffer.alloc(0);
  #correlationId = 0;
  #pending: { id: number; resolve(body: Buffer): void; reject(err: Error): void } | null = null;

  private constructor(socket: Socket, clientId: string, timeoutMs: number) {
    this.#socket = socket;
    this.#clientId = clientId;
    this.#timeoutMs = timeoutMs;
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  static open(host: string, port: number, clientId: string, timeoutMs: number): Promise<BrokerConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, timeout: timeoutMs });
      const fail = (err: Error) => {
        socket.destroy();
        reject(err);
      };
      socket.once('timeout', () => fail(new Error(`connect to ${host}:${port} timed out`)));
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        socket.setTimeout(0);
        resolve(new BrokerConnection(socket, clientId, timeoutMs));
      });
    });
  }

  /** Sends a non-flexible request (header v1) and resolves with the response after its header. */
  request(apiKey: number, body: Buffer): Promise<Buffer> {
    const id = ++this.#correlationId;
    const header = Buffer.alloc(8);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(VERSION, 2);
    header.writeInt32BE(id, 4);
    const payload = Buffer.concat([header, str(this.#clientId), body]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error('request timed out')), this.#timeoutMs);
      this.#pending = {
        id,
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#socket.write(Buffer.concat([size, payload]));
    });
  }

  #receive(chunk: Buffer): void {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    while (this.#buffered.length >= 4) {
      const length = this.#buffered.readInt32BE(0);
      if (this.#buffered.length < 4 + length) return;
      const frame = this.#buffered.subarray(4, 4 + length);
      this.#buffered = this.#buffered.subarray(4 + length);
      const pending = this.#pending;
      if (pending && frame.readInt32BE(0) === pending.id) {
        this.#pending = null;
        pending.resolve(frame.subarray(4));
      }
    }
  }

  #fail(err: Error): void {
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(err);
    this.#socket.destroy();
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function findCoordinator(
  connection: BrokerConnection,
  groupId: string,
): Promise<{ host: string; port: number }> {
  const GROUP_KEY = 0;
  const response = await connection.request(
    API.findCoordinator,
    Buffer.concat([str(groupId), Buffer.from([GROUP_KEY])]),
  );
  // throttle_time_ms INT32, error_code INT16, error_message NULLABLE_STRING, node_id INT32,
  // host STRING, port INT32
  let at = 4;
  const errorCode = response.readInt16BE(at);
  at += 2;
  const messageLength = response.readInt16BE(at);
  at += 2 + Math.max(0, messageLength);
  if (errorCode !== ERROR.none) throw refused('FindCoordinator', errorCode);
  at += 4;
  const hostLength = response.readInt16BE(at);
  at += 2;
  const host = response.toString('utf8', at, at + hostLength);
  at += hostLength;
  return { host, port: response.readInt32BE(at) };
}

export interface EvictMemberOptions {
  brokers: readonly string[];
  clientId: string;
  groupId: string;
  memberId: string;
  /** Bounds each connect and each request. */
  timeoutMs: number;
}

/**
 * Asks the group's coordinator to remove `memberId`. Resolves `left`, or `gone` when the
 * coordinator no longer knows the member or its group; rejects with a MemberEvictionError.
 */
export async function evictMember(options: EvictMemberOptions): Promise<'left' | 'gone'> {
  let seedError: unknown;
  for (const broker of options.brokers) {
    const at = broker.lastIndexOf(':');
    let seed: BrokerConnection;
    try {
      seed = await BrokerConnection.open(
        broker.slice(0, at),
        Number(broker.slice(at + 1)),
        options.clientId,
        options.timeoutMs,
      );
    } catch (err) {
      seedError = err;
      continue;
    }
    let coordinator: BrokerConnection | undefined;
    try {
      const { host, port } = await findCoordinator(seed, options.groupId);
      coordinator = await BrokerConnection.open(host, port, options.clientId, options.timeoutMs);
      const response = await coordinator.request(
        API.leaveGroup,
        Buffer.concat([str(options.groupId), str(options.memberId)]),
      );
      // throttle_time_ms INT32, error_code INT16
      const errorCode = response.readInt16BE(4);
      if (errorCode === ERROR.none) return 'left';
      if (errorCode === ERROR.unknownMemberId || errorCode === ERROR.groupIdNotFound) return 'gone';
      throw refused('LeaveGroup', errorCode);
    } catch (err) {
      if (err instanceof MemberEvictionError) throw err;
      // The connection failed, closed or timed out: the broker is not (or no longer) there.
      throw new MemberEvictionError(
        `no answer from the group's coordinator: ${(err as Error).message}`,
        true,
        {
          cause: err,
        },
      );
    } finally {
      seed.close();
      coordinator?.close();
    }
  }
  throw new MemberEvictionError(`no broker answered: ${(seedError as Error | undefined)?.message}`, true, {
    cause: seedError,
  });
}
