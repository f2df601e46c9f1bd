/**
 * Heartbeats: every service instance says it is alive on `service.heartbeats` every 10 s, keyed by
 * service and instance so the compacted topic keeps each instance's latest. The monitor raises an
 * alert for an instance that goes quiet without having said it was stopping, and for a service
 * with no live instance left. A heartbeat may carry vital signs the monitor cannot see on the
 * other topics: the bridge's breaker states.
 */
import { hostname } from 'node:os';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Bus } from './bus/bus.ts';
import { EventDecodeError } from './events.ts';
import type { Logger } from './logger.ts';
import { SCHEMA_VERSION } from './message.ts';
import { Topics } from './topics.ts';

/** Log event names of the heartbeat. */
export const HeartbeatEvents = {
  publishFailed: 'heartbeat.publish_failed',
} as const;

export const HEARTBEAT_INTERVAL_MS = 10_000;

export const Heartbeat = Type.Object({
  schemaVersion: Type.Integer({ minimum: 1 }),
  type: Type.Literal('service.heartbeat'),
  service: Type.String({ minLength: 1, maxLength: 64 }),
  instance: Type.String({ minLength: 1, maxLength: 128 }),
  at: Type.String({ format: 'date-time' }),
  startedAt: Type.String({ format: 'date-time' }),
  /** The next heartbeat is due within this. */
  intervalMs: Type.Integer({ minimum: 1 }),
  /** The last heartbeat of an instance shutting down on purpose: nothing to alert about. */
  stopping: Type.Optional(Type.Boolean()),
  /** Bridge breakers (`provider:country` or `provider:*`): 0 closed, 1 half-open, 2 open. */
  breakers: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: 2 }))),
});
export type Heartbeat = Static<typeof Heartbeat>;

/** What a service adds to its heartbeats. */
export type HeartbeatDetail = Pick<Heartbeat, 'breakers'>;

const validator = Compile(Heartbeat);

/** Parses and validates a heartbeat; throws EventDecodeError for anything malformed. */
export function decodeHeartbeat(raw: string): Heartbeat {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EventDecodeError('heartbeat is not JSON', raw);
  }
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    throw new EventDecodeError(
      `invalid heartbeat: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      raw,
    );
  }
  return value;
}

/** This process's instance name: the pod name in Kubernetes, plus the pid for several per host. */
export function instanceName(): string {
  return `${hostname()}:${process.pid}`;
}

export interface HeartbeatOptions {
  bus: Bus;
  service: string;
  logger: Logger;
  instance?: string;
  intervalMs?: number;
  detail?: () => HeartbeatDetail | undefined;
  now?: () => number;
}

export interface HeartbeatPublisher {
  /** Publishes a last heartbeat marked `stopping` (best effort) and stops. */
  stop(): Promise<void>;
}

/** Publishes a heartbeat now and every interval; a failed publish is logged, never thrown. */
export function startHeartbeat(options: HeartbeatOptions): HeartbeatPublisher {
  const { bus, service, logger } = options;
  const instance = options.instance ?? instanceName();
  const intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const startedAt = new Date(now()).toISOString();
  let failing = false;
  const publish = async (stopping: boolean) => {
    const beat: Heartbeat = {
      schemaVersion: SCHEMA_VERSION,
      type: 'service.heartbeat',
      service,
      instance,
      at: new Date(now()).toISOString(),
      startedAt,
      intervalMs,
      ...options.detail?.(),
    };
    if (stopping) beat.stopping = true;
    try {
      await bus.publish(Topics.heartbeats, [{ key: `${service}/${instance}`, value: JSON.stringify(beat) }]);
      failing = false;
    } catch (err) {
      // Once per outage: the bus being down is reported by readiness and by the monitor's silence.
      if (!failing) logger.warn({ err: (err as Error).message }, HeartbeatEvents.publishFailed);
      failing = true;
    }
  };
  let inFlight = publish(false);
  const timer = setInterval(() => {
    inFlight = inFlight.then(() => publish(false));
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
      await publish(true);
    },
  };
}
