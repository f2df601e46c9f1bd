import { randomBytes } from 'node:crypto';
import type { Store } from '../../core/store/store.ts';

/** Recognisable prefix, as for API keys, so leaked secrets are easy to find by secret scanners. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** A new signing secret: 256 random bits, base64url, behind the `whsec_` prefix. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** The start of a secret, shown so people can tell secrets apart without seeing one. */
export function secretHint(secret: string): string {
  return `${secret.slice(0, WEBHOOK_SECRET_PREFIX.length + 4)}…`;
}

/**
 * Whether a tenant can sign callbacks, asked for every message that names a `statusCallback`.
 * Cached in-process like API keys — the send path must not wait on the database — for 30 s
 * when there is a secret and 5 s when there is none, so a secret just created is usable on every
 * replica within seconds. Writes through this process's routes update the cache at once.
 */
export class TenantSigningSecrets {
  private readonly cache = new Map<string, { has: boolean; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 30_000,
    private readonly negativeTtlMs = 5_000,
  ) {}

  async has(tenantId: string): Promise<boolean> {
    const now = Date.now();
    const cached = this.cache.get(tenantId);
    if (cached && cached.until > now) return cached.has;
    const has = (await this.store.getWebhook(tenantId)) !== undefined;
    this.remember(tenantId, has, now);
    return has;
  }

  /** Records a change this process made. */
  remember(tenantId: string, has: boolean, now = Date.now()): void {
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { has, until: now + (has ? this.ttlMs : this.negativeTtlMs) });
  }
}
