import { hash, randomBytes } from 'node:crypto';
import { PigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { ApiKeyRecord } from '../../core/store/kinds/api-keys.ts';
import type { Store } from '../../core/store/store.ts';

/** Recognisable prefix, so leaked keys are easy to find by secret scanners. */
export const API_KEY_PREFIX = 'pgn_';
/**
 * `alerts:write`: post alerts for on-call paging and acknowledge pages (give Alertmanager its own key).
 * `simulator`: the `/simulator/*` routes of a test deployment (outbox, faults, replies).
 * `templates:read` / `templates:write`: list and preview, or create, replace and delete, message
 * templates (`/v1/templates`); sending by template needs only `messages:write`.
 * `campaigns:read` / `campaigns:write`: follow and export, or create, upload, submit, pause, resume
 * and cancel, bulk campaigns (`/v1/campaigns`); `campaigns:approve`: approve or reject a campaign
 * above the tenant's threshold (give it to someone other than the campaign's creator).
 */
export const ALL_SCOPES = [
  'messages:write',
  'messages:read',
  'pii:read',
  'alerts:write',
  'templates:read',
  'templates:write',
  'campaigns:read',
  'campaigns:write',
  'campaigns:approve',
  'simulator',
  'admin',
] as const;
export type Scope = (typeof ALL_SCOPES)[number];

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: ReadonlySet<string>;
}

export function hashApiKey(key: string): string {
  // One-shot: a Hash object per request cost twice the digest itself.
  return hash('sha256', key, 'hex');
}

/** A new key: 192 random bits, base64url, behind the `pgn_` prefix. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(24).toString('base64url');
}

export function apiKeyRecord(
  key: string,
  tenantId: string,
  scopes: readonly string[],
  name: string,
): ApiKeyRecord {
  return {
    id: newId(),
    tenantId,
    prefix: key.slice(0, 12),
    hash: hashApiKey(key),
    scopes: [...scopes],
    name,
    createdAt: Date.now(),
    revokedAt: null,
    expiresAt: null,
    hint: key.slice(-4),
  };
}

/** The scopes in `scopes` that are none of ALL_SCOPES. */
export function unknownScopes(scopes: readonly string[]): string[] {
  const known: ReadonlySet<string> = new Set(ALL_SCOPES);
  return scopes.filter((scope) => !known.has(scope));
}

/** What the authenticator keeps of a key in force: who it is, until when, and its tenant's state. */
interface KnownKey {
  principal: Principal;
  expiresAt: number | null;
  tenantSuspended: boolean;
}

/**
 * Resolves Bearer keys to principals. Lookups are cached in-process for a short time — the
 * request path must not wait on the database — and misses are cached briefly too, so a flood of
 * bad keys cannot hammer the store. A revocation or a tenant's suspension does not wait for the
 * cache to expire: `forgetKey` / `forgetTenant` drop the entries, called on every api process
 * through the bus (credential-changes.ts). An expiry needs no telling: it is checked on every use.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { key: KnownKey | undefined; until: number }>();
  /**
   * Bumped by every forget: a lookup that started before one may have read what it dropped, so it
   * answers its request but does not cache.
   */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 30_000,
    private readonly negativeTtlMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    // The scheme is case-insensitive (RFC 9110 §11.1): some clients send `bearer`.
    if (authorization === undefined || !/^bearer /i.test(authorization)) {
      throw new PigeonError('PIGEON_ERR_UNAUTHORIZED', 'Send the API key as "Authorization: Bearer <key>"');
    }
    const key = authorization.slice('Bearer '.length).trim();
    if (!key.startsWith(API_KEY_PREFIX) || key.length < 24 || key.length > 128) {
      throw new PigeonError('PIGEON_ERR_UNAUTHORIZED', 'API key is malformed');
    }
    const hash = hashApiKey(key);
    const now = this.now();
    const cached = this.cache.get(hash);
    const known = cached && cached.until > now ? cached.key : await this.lookUp(hash, now);
    if (!known || (known.expiresAt !== null && known.expiresAt <= now)) {
      throw new PigeonError('PIGEON_ERR_UNAUTHORIZED', 'API key is not valid');
    }
    if (known.tenantSuspended) {
      throw new PigeonError(
        'PIGEON_ERR_TENANT_SUSPENDED',
        `Tenant "${known.principal.tenantId}" is suspended`,
      );
    }
    return known.principal;
  }

  /** Drops what is cached of the key with this hash (revoked, or rotated away from). */
  forgetKey(hash: string): void {
    this.generation++;
    this.cache.delete(hash);
  }

  /** Drops what is cached of every key of the tenant (suspended or resumed). */
  forgetTenant(tenantId: string): void {
    this.generation++;
    for (const [hash, entry] of this.cache) {
      if (entry.key?.principal.tenantId === tenantId) this.cache.delete(hash);
    }
  }

  private async lookUp(hash: string, now: number): Promise<KnownKey | undefined> {
    const generation = this.generation;
    const record = await this.store.findApiKeyByHash(hash);
    let known: KnownKey | undefined;
    if (record && record.revokedAt === null && (record.expiresAt === null || record.expiresAt > now)) {
      // No tenant record: a tenant from before tenants were recorded, which is active.
      const tenant = await this.store.getTenant(record.tenantId);
      known = {
        principal: { keyId: record.id, tenantId: record.tenantId, scopes: new Set(record.scopes) },
        expiresAt: record.expiresAt,
        tenantSuspended: tenant?.status === 'suspended',
      };
    }
    if (generation === this.generation) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { key: known, until: now + (known ? this.ttlMs : this.negativeTtlMs) });
    }
    return known;
  }
}

/** Whether the key holds `scope`; an admin key holds every scope. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope) || principal.scopes.has('admin');
}

/** Whether the key may see phone numbers in full (else they are masked). */
export function seesPii(principal: Principal): boolean {
  return hasScope(principal, 'pii:read');
}

/** Who did it, when the request names no one: the key. */
export function actorOf(principal: Principal): string {
  return `key:${principal.keyId}`;
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!hasScope(principal, scope)) {
    throw new PigeonError('PIGEON_ERR_FORBIDDEN', `This API key lacks the "${scope}" scope`);
  }
}
