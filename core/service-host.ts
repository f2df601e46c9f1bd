import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Bus } from './bus/bus.ts';
import type { Cache } from './cache/cache.ts';
import { type Config, loadConfig } from './config.ts';
import { exitOnConfigError } from './config-exit.ts';
import { Readiness } from './health.ts';
import { type HeartbeatDetail, startHeartbeat } from './heartbeat.ts';
import { createLogger, type Logger } from './logger.ts';
import { createRegistry } from './metrics.ts';
import { buildOpsServer } from './ops-routes.ts';
import { Backoff, type ExponentialBackoff } from './retry.ts';
import { createBus, createCache, createStore, topicSpecs } from './runtime.ts';
import type { Store } from './store/store.ts';

/** What a service gets from its host: configuration, observability and lazily created infrastructure. */
export interface ServiceContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  bus(): Bus;
  store(): Store;
  cache(): Cache;
  /** Creates the project's topics if missing (idempotent). */
  ensureTopics(): Promise<void>;
  /** The consumer group of a service, e.g. `pigeon-bridge` (`KAFKA_GROUP_PREFIX` sets the first part). */
  groupId(service: 'api' | 'bridge' | 'persister' | 'monitor'): string;
  /** Closes whatever infrastructure was created. */
  closeInfrastructure(): Promise<void>;
}

export interface RunningService {
  /** Stops taking work, finishes and commits in-flight work. */
  close(): Promise<void>;
  /** True when the service serves its own HTTP (the API); others get an ops server for /metrics. */
  servesHttp?: boolean;
  /** Vital signs the service adds to its heartbeats (the bridge's breaker states). */
  heartbeat?: () => HeartbeatDetail | undefined;
}

export function createServiceContext(config: Config, logger: Logger, registry: Registry): ServiceContext {
  const readiness = new Readiness();
  const created: Array<{ close(): Promise<void> }> = [];
  /** Creates a dependency on first use and makes readiness depend on it from then on. */
  const lazily = <T extends { ping(): Promise<boolean>; close(): Promise<void> }>(
    name: string,
    create: () => T,
    watch?: (made: T) => void,
  ): (() => T) => {
    let instance: T | undefined;
    return () => {
      if (!instance) {
        const made = create();
        instance = made;
        created.push(made);
        readiness.add(name, () => made.ping());
        watch?.(made);
      }
      return instance;
    };
  };
  const context: ServiceContext = {
    config,
    logger,
    registry,
    readiness,
    bus: lazily(
      'bus',
      () => createBus(config, logger),
      (bus) => watchConsumers(readiness, bus),
    ),
    store: lazily('store', () => {
      if (config.mysqlUrl && !config.secretsKey) {
        logger.warn(
          { hint: 'set PIGEON_SECRETS_KEY to seal provider credentials and webhook secrets at rest' },
          'store.secrets_in_clear',
        );
      }
      return createStore(config);
    }),
    cache: lazily('cache', () => createCache(config)),
    ensureTopics: async () => {
      await context.bus().ensureTopics(topicSpecs(config.kafka?.partitions ?? 1));
    },
    groupId: (service) => `${config.kafka?.groupPrefix ?? 'pigeon'}-${service}`,
    closeInfrastructure: async () => {
      await Promise.allSettled(created.map((c) => c.close()));
    },
  };
  return context;
}

/**
 * Readiness follows every consumer the service's bus has, whichever module subscribed: a
 * reachable broker is not enough when a consumer is out of its group (crashed, rebalancing) or
 * its fetches go unanswered. The detail names the groups that are not consuming and why.
 */
export function watchConsumers(readiness: Readiness, bus: Bus): void {
  readiness.add('consumers', () => bus.consumers().every((consumer) => consumer.state === 'consuming'));
  readiness.describe('consumers', () => {
    const consumers = bus.consumers();
    const notConsuming = consumers.filter((consumer) => consumer.state !== 'consuming');
    return {
      groups: consumers.length,
      notConsuming: notConsuming.map(({ groupId, topics, state }) => ({ groupId, topics, state })),
    };
  });
}

/**
 * Runs one service as its own process: validated config (a bad variable stops it with a clear
 * message), pino logger, Prometheus registry, an ops server for /healthz /readyz /metrics, and a
 * graceful shutdown: readiness fails first, then the service drains, then connections close.
 */
export async function runService(
  name: string,
  defaults: { port: number },
  start: (context: ServiceContext) => Promise<RunningService>,
  options: { workers?: (config: Config) => number } = {},
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, { ...defaults, mode: 'distributed' });
  } catch (err) {
    exitOnConfigError(err, `pigeon ${name}`);
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, name });
  const workers = options.workers?.(config) ?? 1;
  if (workers > 1 && cluster.isPrimary) {
    superviseWorkers(name, workers, logger);
    return;
  }
  const { context, service } = await startWhenReachable(name, config, logger, start);
  const { registry } = context;

  const fastifyLogger: FastifyBaseLogger = logger;
  let ops: FastifyInstance | undefined;
  if (!service.servesHttp) {
    ops = buildOpsServer({ logger: fastifyLogger, readiness: context.readiness, registry });
    await ops.listen({ port: config.port, host: config.host });
  }
  // Every instance says it is alive; the monitor alerts on one that goes quiet without saying so.
  const heartbeat = startHeartbeat({ bus: context.bus(), service: name, logger, detail: service.heartbeat });
  logger.info({ port: config.port }, `${name}.started`);

  closeWithGrace({ delay: 20_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, `${name}.crashed`);
    logger.info({ signal }, `${name}.stopping`);
    context.readiness.markShuttingDown();
    // A crash is not a planned stop: the monitor should notice the silence.
    if (!err) await heartbeat.stop();
    await service.close();
    await ops?.close();
    await context.closeInfrastructure();
  });
}

/**
 * Runs `count` copies of the service sharing its port (node:cluster), one event loop per core.
 * A worker that dies is replaced; SIGTERM/SIGINT are passed on and the primary exits when all
 * workers have drained.
 */
function superviseWorkers(name: string, count: number, logger: Logger): void {
  let stopping = false;
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, `${name}.worker_died`);
    cluster.fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  logger.info({ workers: count }, `${name}.primary_started`);
}

/** Waits between attempts to start: from half a second doubling to 10 s. */
const START_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 500,
  factor: 2,
  maxMs: 10_000,
  jitter: 0,
};

/**
 * Starts the service, retrying with backoff while its infrastructure is unreachable (Kafka still
 * electing a controller, the database restarting), so services can start in any order. Only a
 * configuration error stops the process.
 */
async function startWhenReachable(
  name: string,
  config: Config,
  logger: Logger,
  start: (context: ServiceContext) => Promise<RunningService>,
): Promise<{ context: ServiceContext; service: RunningService }> {
  const backoff = new Backoff(START_BACKOFF);
  for (;;) {
    // A fresh registry per attempt: a failed attempt may have registered some metrics already.
    const context = createServiceContext(config, logger, createRegistry(name, { defaultMetrics: true }));
    try {
      return { context, service: await start(context) };
    } catch (err) {
      await context.closeInfrastructure();
      exitOnConfigError(err, `pigeon ${name}`);
      const delayMs = backoff.next();
      logger.warn({ err: (err as Error).message, retryInMs: delayMs }, `${name}.start_failed`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
