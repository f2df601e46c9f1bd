/**
 * The production cache over ioredis. Rate limits and OTP checks sit on the request path, so the
 * client is tuned to fail fast and let callers fail closed, never to queue commands while Redis is
 * away:
 * - until the first connection attempt settles, commands queue (so a request right after boot does
 *   not fail spuriously), bounded by `commandTimeoutMs`;
 * - after that the offline queue is switched off: while the link is down every command rejects at
 *   once with PIGEON_ERR_CACHE_UNAVAILABLE;
 * - in-flight commands on a dropped link are not resent after reconnect (an INCRBY the caller saw
 *   fail must not land later) and reject after `commandTimeoutMs`;
 * - reconnection never gives up, with capped, jittered exponential backoff.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { PigeonError } from '../errors.ts';
import { backoffDelay, exponentialBackoff } from '../retry.ts';
import type { Cache, CacheScript, ScriptOptions, ScriptReply, SetOptions } from './cache.ts';
import { assertOneSlot } from './slots.ts';

/** A Redis Cluster to connect to: seed nodes (the client discovers the rest) and shared credentials. */
export interface RedisClusterTarget {
  readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

export interface RedisCacheOptions {
  /** Prepended to every key (ioredis `keyPrefix`), e.g. `pigeon:`. */
  keyPrefix?: string;
  /** TCP connect budget per attempt. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Budget for one command, including time spent waiting for the first connection. Default 1500 ms. */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect backoff. Default 2000 ms. */
  maxBackoffMs?: number;
  /**
   * Replicas a `replicated` script's writes must reach (Redis WAIT) before it resolves. Default 0:
   * no wait, as for a Redis without replicas.
   */
  waitReplicas?: number;
  /** How long a `replicated` script waits for them. Default 250 ms. */
  waitTimeoutMs?: number;
  /** Connection errors, reported on every failed attempt; commands report their own failures. */
  onError?: (err: Error) => void;
}

/**
 * Replies that mean "this Redis cannot serve you right now" (loading a dump, failing over, out of
 * memory, stuck in a script) rather than "your command is wrong". On a cluster, MOVED and ASK can
 * reach the caller when an auto-pipeline straddles a failover (ioredis follows them for lone
 * commands only): the command did not run there, and the slot map is refreshed for the next one.
 */
const UNAVAILABLE_REPLIES = new Set([
  'MOVED',
  'ASK',
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'READONLY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'NOREPLICAS',
  'OOM',
]);

/**
 * Maps a failure of a Redis call to PIGEON_ERR_CACHE_UNAVAILABLE, except replies that reveal a bug
 * (WRONGTYPE, syntax, a broken script), which are returned unchanged. Exported for code that runs
 * its own commands on `RedisCache.redis`.
 */
export function toCacheError(err: unknown, operation: string): unknown {
  if (err instanceof PigeonError) return err;
  if (err instanceof Error && err.name === 'ReplyError') {
    const prefix = err.message.split(' ', 1)[0] ?? '';
    if (!UNAVAILABLE_REPLIES.has(prefix)) return err;
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', `Cache ${operation} failed: ${reason}`, {
    cause: err,
  });
}

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  readonly #client: Redis | Cluster;
  /** Lua source and SHA1 per script name, to catch two different scripts sharing a name. */
  readonly #scripts = new Map<string, { lua: string; sha: string }>();
  #closing: Promise<void> | undefined;
  readonly #waitReplicas: number;
  readonly #waitTimeoutMs: number;
  readonly #deadlineMs: number;

  /** `target`: a redis:// URL for one Redis, or a cluster's seed nodes. */
  constructor(target: string | RedisClusterTarget, options: RedisCacheOptions = {}) {
    // The default policy (from 100 ms doubling, ±20 % so a fleet does not reconnect in lockstep)
    // up to the configured maximum.
    const reconnect = exponentialBackoff({ maxMs: options.maxBackoffMs });
    const retryStrategy = (attempt: number) => backoffDelay(attempt, reconnect);
    const connection = {
      connectTimeout: options.connectTimeoutMs ?? 2000,
      commandTimeout: options.commandTimeoutMs ?? 1500,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      // ioredis keeps a timer this long after disconnect() even when the socket is already gone,
      // which would hold the process open after close().
      disconnectTimeout: 500,
    };
    // Commands issued in one turn of the event loop go out as one write: under load many
    // requests' commands cost one syscall, not one each (socket writes were a tenth of an accept
    // request's CPU). A lone command waits one setImmediate at most. Scripts run as plain EVALSHA
    // for this (see runScript). On a cluster the pipelines are per node.
    const shared = {
      keyPrefix: options.keyPrefix ?? '',
      enableOfflineQueue: true,
      enableAutoPipelining: true,
    };
    this.#client =
      typeof target === 'string'
        ? new Redis(target, { ...connection, ...shared, retryStrategy })
        : new Cluster(
            target.nodes.map((n) => ({ host: n.host, port: n.port })),
            {
              ...shared,
              redisOptions: {
                ...connection,
                ...(target.username === undefined ? {} : { username: target.username }),
                ...(target.password === undefined ? {} : { password: target.password }),
                ...(target.tls ? { tls: {} } : {}),
              },
              clusterRetryStrategy: retryStrategy,
              // A command whose node connection dropped fails at once, as on one Redis, rather
              // than being sent again elsewhere: it may have run before the link dropped (an
              // INCRBY the caller saw fail must not land twice). The slot map is refreshed on
              // every such failure instead (#run), so once a replica has taken over, the next
              // command finds it. MOVED and ASK are still followed: those commands never ran.
              retryDelayOnFailover: 0,
              // CLUSTERDOWN and TRYAGAIN mean nothing ran: a short wait, bounded by
              // maxRedirections, rides out a slot migration's last step.
              retryDelayOnClusterDown: 100,
              retryDelayOnTryAgain: 100,
              maxRedirections: 6,
              slotsRefreshTimeout: options.connectTimeoutMs ?? 2000,
              // Masters only: a replica's copy lags, and an OTP check must read what the last
              // check wrote.
              scaleReads: 'master',
            },
          );
    this.#waitReplicas = options.waitReplicas ?? 0;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 250;
    this.#deadlineMs = 2 * connection.commandTimeout;
    const onError = options.onError;
    // Without a listener ioredis prints every failed reconnect to stderr.
    this.#client.on('error', (err: Error) => onError?.(err));
    // The queue only smooths the first connect after boot; once Redis has answered, or has been
    // found unreachable, waiting in it would just turn a fast failure into a slow one.
    const stopQueueing = (): void => {
      this.#client.options.enableOfflineQueue = false;
      this.#client.off('ready', stopQueueing).off('reconnecting', stopQueueing);
    };
    const client = this.#client;
    if (client instanceof Cluster) {
      // ioredis opens a node's connection on its first command, and without the offline queue
      // every other command for that node is refused while it connects: the first burst after
      // boot, or after a failover, would fail. So every node the cluster reports (replicas too,
      // the next masters) is connected as soon as it is known, and the queue stays on until those
      // of the first layout have connected or failed.
      client.on('+node', (node: Redis) => {
        if (node.status === 'wait') node.connect().catch(() => undefined);
      });
      const settled = async (node: Redis): Promise<void> => {
        if (node.status === 'ready') return;
        await once(node, 'ready', { signal: AbortSignal.timeout(connection.connectTimeout) }).catch(
          () => undefined,
        );
      };
      client.once('ready', () => {
        void Promise.all(client.nodes('all').map(settled)).then(stopQueueing);
      });
      client.on('reconnecting', stopQueueing);
    } else {
      client.on('ready', stopQueueing).on('reconnecting', stopQueueing);
    }
  }

  /**
   * The raw client, for commands the Cache interface does not cover. Scripts go through runScript:
   * one given to `defineCommand` here could be missing from an auto-pipeline already open.
   */
  get redis(): Redis | Cluster {
    return this.#client;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#run('get', async () => (await this.#client.get(key)) ?? undefined);
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const ttl = options.ttlMs === undefined ? undefined : ttlArg(options.ttlMs);
    return this.#run('set', async () => {
      const c = this.#client;
      let reply: 'OK' | null;
      if (ttl !== undefined && options.nx) reply = await c.set(key, value, 'PX', ttl, 'NX');
      else if (ttl !== undefined) reply = await c.set(key, value, 'PX', ttl);
      else if (options.nx) reply = await c.set(key, value, 'NX');
      else reply = await c.set(key, value);
      return reply === 'OK';
    });
  }

  async del(key: string): Promise<void> {
    return this.#run('del', async () => {
      await this.#client.del(key);
    });
  }

  async incrBy(key: string, by: number, ttlMs?: number): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new RangeError(`by must be a safe integer, got ${by}`);
    if (ttlMs === undefined) return this.#run('incrBy', () => this.#client.incrby(key, by));
    const ttl = ttlArg(ttlMs);
    return this.#run('incrBy', async () => {
      // SET NX seeds the key with its ttl only when absent and INCRBY keeps an existing ttl; MULTI
      // makes the pair atomic, so the window is set exactly once, by whoever creates the key.
      const results = await this.#client.multi().set(key, '0', 'PX', ttl, 'NX').incrby(key, by).exec();
      return Number(transactionResults(results)[1]);
    });
  }

  async pushCapped(key: string, value: string, max: number, ttlMs: number): Promise<void> {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`max must be a positive integer, got ${max}`);
    }
    const ttl = ttlArg(ttlMs);
    return this.#run('pushCapped', async () => {
      const results = await this.#client
        .multi()
        .lpush(key, value)
        .ltrim(key, 0, max - 1)
        .pexpire(key, ttl)
        .exec();
      transactionResults(results);
    });
  }

  async list(key: string): Promise<string[]> {
    return this.#run('list', () => this.#client.lrange(key, 0, -1));
  }

  async runScript<T extends ScriptReply>(
    script: CacheScript<T>,
    keys: readonly string[],
    args: readonly (string | number)[],
    options: ScriptOptions = {},
  ): Promise<T> {
    assertOneSlot(script.name, keys);
    const sha = this.#scriptSha(script);
    const argv = args.map(String);
    const client = this.#client;
    if (options.replicated && this.#waitReplicas > 0) {
      return this.#run(`script ${script.name}`, () => this.#replicatedScript<T>(script, sha, keys, argv));
    }
    // Plain EVALSHA, and EVAL when this Redis has not seen the script (NOSCRIPT: first use, a
    // restart, SCRIPT FLUSH); ioredis prefixes the KEYS as it does for every other command. Not
    // ioredis' defineCommand: an auto-pipeline opened before a script was defined lacks it, and
    // the first call then left the pipeline one reply short, which ioredis 5.11 answers by
    // throwing from a nextTick and killing the process.
    return this.#run(`script ${script.name}`, async () => {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...argv);
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
        return await client.eval(script.lua, keys.length, ...keys, ...argv);
      }
    }) as Promise<T>;
  }

  /**
   * The script, then WAIT on the same connection: one pipeline goes to one node (on a cluster, the
   * node of the keys' slot), so WAIT counts the replicas of the master that ran the script.
   */
  async #replicatedScript<T>(
    script: CacheScript,
    sha: string,
    keys: readonly string[],
    argv: string[],
  ): Promise<T> {
    const run = async (command: 'evalsha' | 'eval') => {
      const pipeline = this.#client.pipeline();
      if (command === 'evalsha') pipeline.evalsha(sha, keys.length, ...keys, ...argv);
      else pipeline.eval(script.lua, keys.length, ...keys, ...argv);
      pipeline.call('WAIT', this.#waitReplicas, this.#waitTimeoutMs);
      const results = (await pipeline.exec()) ?? [];
      return [results[0] ?? [new Error('no reply')], results[1] ?? [new Error('no reply')]] as const;
    };
    let [[err, reply], [waitErr, acked]] = await run('evalsha');
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
      [[err, reply], [waitErr, acked]] = await run('eval');
    }
    if (err) throw err;
    if (waitErr) throw waitErr;
    if (Number(acked) < this.#waitReplicas) {
      // The write is on the master alone: a failover now could lose it, so the caller must not act
      // on it. Failing closed here costs availability while a shard has no live replica.
      throw new PigeonError(
        'PIGEON_ERR_CACHE_UNAVAILABLE',
        `Cache script ${script.name}: ${Number(acked)} of ${this.#waitReplicas} replicas acknowledged within ${this.#waitTimeoutMs} ms`,
      );
    }
    return reply as T;
  }

  /**
   * On a cluster a command can wait in a queue where ioredis' commandTimeout does not reach it (a
   * node still connecting after a failover, a pipeline waiting for the slot map): the caller is
   * answered after two command budgets at most, so a request fails closed rather than hangs.
   */
  #withDeadline<T>(pending: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#deadlineMs} ms`)),
        this.#deadlineMs,
      );
    });
    return Promise.race([pending, deadline]).finally(() => clearTimeout(timer));
  }

  #scriptSha(script: CacheScript): string {
    const known = this.#scripts.get(script.name);
    if (known === undefined) {
      const sha = createHash('sha1').update(script.lua).digest('hex');
      this.#scripts.set(script.name, { lua: script.lua, sha });
      return sha;
    }
    if (known.lua !== script.lua) throw new Error(`two different cache scripts are named "${script.name}"`);
    return known.sha;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.#client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const client = this.#client;
    if (client.status === 'end') return;
    const ended = once(client, 'end', { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (client.status === 'ready') {
      // QUIT lets Redis finish what it has; bounded by commandTimeout, so a dead link cannot hang it.
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    } else if (client.status === 'reconnecting') {
      // Between attempts there is no socket to close, so ioredis never emits 'end': cancelling the
      // pending reconnect is all there is to do.
      client.disconnect();
      return;
    } else {
      client.disconnect();
    }
    // Listening began before QUIT/disconnect, so an 'end' that already happened is not missed.
    await ended;
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return this.#client instanceof Cluster ? await this.#withDeadline(fn()) : await fn();
    } catch (err) {
      const mapped = toCacheError(err, operation);
      // A node gone or a slot moved: learn the new layout now rather than at the next periodic
      // refresh (ioredis skips this while a refresh is already running).
      if (this.#client instanceof Cluster && mapped !== err) this.#client.refreshSlotsCache();
      throw mapped;
    }
  }
}

function ttlArg(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be positive, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

/** The replies of an EXEC, throwing the first per-command error (EXEC does not reject on those). */
function transactionResults(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new Error('Transaction was aborted');
  return results.map(([err, reply]) => {
    if (err) throw err;
    return reply;
  });
}
