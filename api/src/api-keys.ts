import { createHash, randomBytes } from 'node:crypto';
import { PigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { ApiKeyRecord } from '../../core/store/kinds/api-keys.ts';
import type { Store } from '../../core/store/store.ts';

/** Recognisable prefix, so leaked keys are easy to find by secret scanners. */
export const API_KEY_PREFIX = 'pgn_';
/**
 * `alerts:write`: post alerts for on-call paging and acknowledge pages (give Alertmanager its own key).
 * `simulator`: the `/simulator/*` routes of a test deployment (outbox, faults, replies).
 */
export const ALL_SCOPES = [
  'messages:write',
  'messages:read',
  'pii:read',
  'alerts:write',
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
  return createHash('sha256').update(key).digest('hex');
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
  };
}

/**
 * Resolves Bearer keys to principals. Lookups are cached in-process for a short time — the
 * request path must not wait on the database — and misses are cached briefly too, so a flood of
 * bad keys cannot hammer the store.
 */
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 30_000,
    private readonly negativeTtlMs = 5_000,
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
    const now = Date.now();
    const cached = this.cache.get(hash);
    let principal: Principal | undefined;
    if (cached && cached.until > now) {
      principal = cached.principal;
    } else {
      const record = await this.store.findApiKeyByHash(hash);
      principal =
        record && record.revokedAt === null
          ? { keyId: record.id, tenantId: record.tenantId, scopes: new Set(record.scopes) }
          : undefined;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { principal, until: now + (principal ? this.ttlMs : this.negativeTtlMs) });
    }
    if (!principal) throw new PigeonError('PIGEON_ERR_UNAUTHORIZED', 'API key is not valid');
    return principal;
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
