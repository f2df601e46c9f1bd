import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { EventDecodeError } from './events.ts';
import { newId } from './ids.ts';
import { SCHEMA_VERSION } from './message.ts';

/** Country of a health verdict that covers every destination of the provider. */
export const ANY_COUNTRY = '*';

/** How long a health verdict holds when the monitor does not repeat it. */
export const DEFAULT_HEALTH_TTL_MS = 10 * 60_000;

/**
 * The monitor's verdict on a provider, for one destination country or all (`*`): 1 healthy, 0
 * dead. The bridge weighs routes by it (routing/plan.ts).
 */
export const ProviderHealth = Type.Object({
  schemaVersion: Type.Integer({ minimum: 1 }),
  id: Type.String({ description: 'Unique event id (ULID)' }),
  occurredAt: Type.String({ format: 'date-time' }),
  type: Type.Literal('provider.health'),
  provider: Type.String({ minLength: 1 }),
  country: Type.String({ pattern: '^([A-Z]{2}|\\*)$', description: "ISO 3166 alpha-2, or '*' for all" }),
  health: Type.Number({ minimum: 0, maximum: 1 }),
  reason: Type.String({ description: 'What the verdict is based on, for people reading logs' }),
});
export type ProviderHealth = Static<typeof ProviderHealth>;

const validator = Compile(ProviderHealth);

/** A new `provider.health` event. */
export function providerHealthEvent(
  fields: { provider: string; country?: string; health: number; reason: string },
  now = Date.now(),
): ProviderHealth {
  return {
    schemaVersion: SCHEMA_VERSION,
    id: newId(now),
    occurredAt: new Date(now).toISOString(),
    type: 'provider.health',
    provider: fields.provider,
    country: fields.country ?? ANY_COUNTRY,
    health: fields.health,
    reason: fields.reason,
  };
}

export function encodeProviderHealth(event: ProviderHealth): string {
  return JSON.stringify(event);
}

/** Parses and validates a `provider.health` event; throws EventDecodeError for anything malformed. */
export function decodeProviderHealth(raw: string): ProviderHealth {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EventDecodeError('event is not JSON', raw);
  }
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    throw new EventDecodeError(
      `invalid provider.health: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      raw,
    );
  }
  if (Number.isNaN(Date.parse(value.occurredAt))) {
    throw new EventDecodeError('invalid provider.health: /occurredAt is not a date-time', raw);
  }
  return value;
}

interface Verdict {
  health: number;
  reason: string;
  occurredAt: number;
}

export interface HealthBoardOptions {
  ttlMs?: number;
  now?: () => number;
}

/**
 * The latest health of each provider per destination country. A country without a verdict of its
 * own takes the provider's `*` verdict; with neither, or once a verdict is older than the TTL, the
 * provider counts as healthy (1): a monitor that stops publishing must not leave a provider
 * starved for good.
 */
export class HealthBoard {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: HealthBoardOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_HEALTH_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Records a verdict unless a later one for the same provider and country is already held: events
   * from several partitions, or a replay, may arrive out of order. Age is counted from the event's
   * own time, so replayed old verdicts are already expired.
   */
  apply(event: ProviderHealth): void {
    const occurredAt = Date.parse(event.occurredAt);
    const key = boardKey(event.provider, event.country);
    const held = this.verdicts.get(key);
    if (held && held.occurredAt > occurredAt) return;
    this.verdicts.set(key, { health: event.health, reason: event.reason, occurredAt });
  }

  /** Health of the provider for messages to this country (0..1). */
  health(provider: string, country: string | undefined): number {
    const now = this.now();
    if (country !== undefined && country !== ANY_COUNTRY) {
      const own = this.fresh(boardKey(provider, country), now);
      if (own) return own.health;
    }
    return this.fresh(boardKey(provider, ANY_COUNTRY), now)?.health ?? 1;
  }

  /** Every verdict still in force, for status pages and the admin API. */
  snapshot(): Array<{
    provider: string;
    country: string;
    health: number;
    reason: string;
    occurredAt: string;
  }> {
    const now = this.now();
    const result = [];
    for (const [key, verdict] of this.verdicts) {
      if (!this.fresh(key, now)) continue;
      const [provider = '', country = ANY_COUNTRY] = key.split('\u0000');
      result.push({
        provider,
        country,
        health: verdict.health,
        reason: verdict.reason,
        occurredAt: new Date(verdict.occurredAt).toISOString(),
      });
    }
    return result.sort((a, b) => (a.provider + a.country < b.provider + b.country ? -1 : 1));
  }

  private fresh(key: string, now: number): Verdict | undefined {
    const verdict = this.verdicts.get(key);
    if (!verdict) return undefined;
    if (now - verdict.occurredAt >= this.ttlMs) {
      this.verdicts.delete(key);
      return undefined;
    }
    return verdict;
  }
}

function boardKey(provider: string, country: string): string {
  return `${provider}\u0000${country}`;
}
