import { randomUUID } from 'node:crypto';
import type { Bus, BusRecord, Subscription } from '../../core/bus/bus.ts';
import { PigeonError } from '../../core/errors.ts';
import { EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import { Topics } from '../../core/topics.ts';
import type { ApiKeyAuthenticator } from './api-keys.ts';

/**
 * A change that makes what api processes cached about keys wrong: a key revoked or rotated away
 * from (by the SHA-256 of the key, which is what the caches are keyed by), or a tenant suspended
 * or resumed.
 */
export type CredentialChange = { kind: 'key'; hash: string } | { kind: 'tenant'; tenantId: string };

/** Log event names of credential changes. */
export const CredentialEvents = {
  badChange: 'auth.bad_credential_change',
  /** A change stored but not published: other api processes apply it when their cache expires. */
  notAnnounced: 'auth.credential_change_not_announced',
} as const;

export function encodeCredentialChange(change: CredentialChange): BusRecord {
  return { key: change.kind === 'key' ? change.hash : change.tenantId, value: JSON.stringify(change) };
}

export function decodeCredentialChange(raw: string): CredentialChange {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EventDecodeError('not JSON', raw);
  }
  const change = value as Partial<Record<string, unknown>> | null;
  if (change?.kind === 'key' && typeof change.hash === 'string' && /^[0-9a-f]{64}$/.test(change.hash)) {
    return { kind: 'key', hash: change.hash };
  }
  if (change?.kind === 'tenant' && typeof change.tenantId === 'string' && change.tenantId !== '') {
    return { kind: 'tenant', tenantId: change.tenantId };
  }
  throw new EventDecodeError('not a credential change', raw);
}

function apply(authenticator: ApiKeyAuthenticator, change: CredentialChange): void {
  if (change.kind === 'key') authenticator.forgetKey(change.hash);
  else authenticator.forgetTenant(change.tenantId);
}

/**
 * Tells every api process of a credential change, so a revoked key or a suspended tenant is
 * refused everywhere within a second rather than when each process's 30 s key cache runs out.
 *
 * Through the Bus rather than Redis pub/sub. Every api process already follows a topic with a
 * consumer group of its own (routing/health-feed.ts), and both Bus implementations deliver that
 * way, so embedded mode (the in-process bus) needs nothing more. Pub/sub would need a new Cache
 * method with an in-process twin and a connection of its own (a subscribed Redis connection
 * takes no other commands), and it is fire-and-forget: a process reconnecting to Redis at that
 * moment would never hear of the revocation, whereas a Kafka consumer resumes at its offset.
 * And `announce` resolves only once the bus acknowledged the change (acks=all), so an operator
 * told "revoked" knows every process will hear of it; consumers wait at most 100 ms per fetch
 * (core/bus/kafka-subscription.ts), well inside the second.
 */
export class CredentialChanges {
  constructor(
    private readonly bus: Bus,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly publishTimeoutMs: number,
  ) {}

  /**
   * Applies the change to this process's cache at once and publishes it for the others. The
   * change is already in the store: when the bus does not take it, the caller gets
   * PIGEON_ERR_BUS_UNAVAILABLE (retrying is harmless) and the other processes catch up when their
   * cache of the key expires, within 30 s.
   */
  async announce(change: CredentialChange): Promise<void> {
    apply(this.authenticator, change);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.publishTimeoutMs);
    });
    const published = this.bus
      .publish(Topics.credentialChanges, [encodeCredentialChange(change)])
      .then(() => 'ok' as const);
    try {
      const result = await Promise.race([published, timeout]);
      if (result === 'timeout') throw new Error(`no acknowledgement within ${this.publishTimeoutMs} ms`);
    } catch (err) {
      throw new PigeonError(
        'PIGEON_ERR_BUS_UNAVAILABLE',
        'The change is stored, but other API instances could not be told at once: they apply it within 30 s. Retry to tell them now.',
        { cause: err, retryAfterSeconds: 1 },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Applies the credential changes every api process publishes to this one's authenticator. Each
 * process is a consumer group of its own, starting at the end: older changes concern nothing a
 * process that is only starting can have cached.
 */
export function followCredentialChanges(
  bus: Bus,
  authenticator: ApiKeyAuthenticator,
  logger: Logger,
  groupPrefix: string,
): Promise<Subscription> {
  return bus.subscribe({
    groupId: `${groupPrefix}.credentials.${randomUUID()}`,
    topics: [Topics.credentialChanges],
    fromBeginning: false,
    // The process that made the change applied it already; the others within a second is what an
    // operator revoking a key across replicas can expect, and a 200 ms poll costs the broker five
    // requests a second from every api process, nearly always for nothing.
    fetch: 'relaxed',
    handler: async (batch) => {
      for (const record of batch.records) {
        try {
          apply(authenticator, decodeCredentialChange(record.value));
        } catch (err) {
          if (!(err instanceof EventDecodeError)) throw err;
          logger.warn({ offset: record.offset, reason: err.message }, CredentialEvents.badChange);
        }
      }
    },
  });
}
