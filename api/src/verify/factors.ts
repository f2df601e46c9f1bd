import type { Cache } from '../../../core/cache/cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import { requireE164 } from '../../../core/phone.ts';
import { openSealed, SealedBodyError, sealBody } from '../../../core/sealed-body.ts';
import type { TotpFactorRecord } from '../../../core/store/kinds/factors.ts';
import type { Store } from '../../../core/store/store.ts';
import { TenantCache } from '../../../core/tenant-cache.ts';
import type { Caller, VerificationLimits } from './limits.ts';
import { claimTotpStep, VerifyKeys } from './scripts.ts';
import { requireKey, type VerificationSettings } from './settings.ts';
import { newTotpSecret, TOTP_STEP_TTL_MS, totpStep, totpUri } from './totp.ts';

export interface FactorsDeps {
  store: Store;
  cache: Cache;
  logger: Logger;
  settings: VerificationSettings;
  limits: VerificationLimits;
  now: () => number;
}

/**
 * How long an api process trusts "this tenant has no verified factor" before asking the store
 * again. The cost of keeping a database read off every verification start: a tenant's first factor,
 * confirmed through another api replica, is offered by this one's verifications up to this long
 * later (until then they go without the fallback, as during a database outage). A confirmation
 * through this process applies at once; a tenant that has factors is looked up on every start.
 */
export const TENANT_FACTORS_TTL_MS = 5_000;

/**
 * Authenticator-app (TOTP) factors: the fallback a check accepts besides the SMS code. Secrets are
 * stored sealed under PIGEON_FACTOR_KEY; each time step is accepted once.
 */
export class Factors {
  /**
   * Whether a tenant has any verified factor, kept in process for TENANT_FACTORS_TTL_MS: most
   * tenants have none, and for them a verification's start then needs no database read.
   */
  private readonly tenantsWithFactors: TenantCache<boolean>;

  constructor(private readonly deps: FactorsDeps) {
    this.tenantsWithFactors = new TenantCache(
      (tenantId) => deps.store.hasVerifiedTotpFactor(tenantId),
      'verification.factor_presence_unreadable',
      deps.now,
      TENANT_FACTORS_TTL_MS,
    );
    this.tenantsWithFactors.logger = deps.logger;
  }

  /** Creates (or replaces) the number's TOTP factor; the URI carrying the secret is shown only here. */
  async create(
    tenantId: string,
    input: { to: string; issuer?: string; label?: string },
  ): Promise<{ factor: TotpFactorRecord; uri: string }> {
    const factorKey = requireKey(this.deps.settings.factorKey, 'PIGEON_FACTOR_KEY');
    const number = requireE164(input.to, 'to');
    const secret = newTotpSecret();
    const now = this.deps.now();
    const factor: TotpFactorRecord = {
      id: newId(now),
      tenantId,
      recipient: number.e164,
      secret: sealBody(secret, factorKey),
      status: 'unverified',
      createdAt: now,
      verifiedAt: null,
    };
    await this.deps.store.putTotpFactor(factor);
    return { factor, uri: totpUri(secret, input.issuer ?? 'Pigeon', input.label ?? number.e164) };
  }

  /** Confirms a factor with a code from the app; from then on checks accept its codes. */
  async confirm(tenantId: string, id: string, code: string, caller: Caller): Promise<TotpFactorRecord> {
    requireKey(this.deps.settings.factorKey, 'PIGEON_FACTOR_KEY');
    const now = this.deps.now();
    const factor = await this.deps.store.getTotpFactor(tenantId, id);
    if (!factor) throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such factor for this API key');
    await this.deps.limits.hitFactorConfirmLimit(caller, id);
    if (!(await this.accepts(id, factor.secret, code, now))) return factor;
    if (factor.status !== 'verified') {
      await this.deps.store.verifyTotpFactor(tenantId, id, now);
      // This process offers the factor from its next verification on, without waiting for the TTL.
      this.tenantsWithFactors.forget(tenantId);
    }
    return { ...factor, status: 'verified', verifiedAt: factor.verifiedAt ?? now };
  }

  async delete(tenantId: string, id: string): Promise<void> {
    if (!(await this.deps.store.deleteTotpFactor(tenantId, id))) {
      throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such factor for this API key');
    }
  }

  /** Whether `code` is the factor's code for now, claiming its time step so it is not accepted twice. */
  async accepts(factorId: string, sealedSecret: string, code: string, now: number): Promise<boolean> {
    const factorKey = this.deps.settings.factorKey;
    if (!factorKey || !/^\d{6}$/.test(code)) return false;
    let secret: string;
    try {
      secret = openSealed(sealedSecret, factorKey);
    } catch (err) {
      // Sealed under another PIGEON_FACTOR_KEY: the factor is unusable, the SMS code still works.
      if (!(err instanceof SealedBodyError)) throw err;
      this.deps.logger.warn({ factorId }, 'verification.factor_unreadable');
      return false;
    }
    const step = await totpStep(secret, code, now);
    if (step === undefined) return false;
    const claimed = await this.deps.cache.runScript(
      claimTotpStep,
      [VerifyKeys.totpStep(factorId)],
      [step, TOTP_STEP_TTL_MS],
      // A promoted replica without the claim would take the same TOTP code again.
      { replicated: true },
    );
    return claimed === 1;
  }

  /**
   * The number's verified factor, looked up when a verification starts so that checks need no
   * database. A database outage must not stop SMS codes: the verification then goes without it.
   * A tenant known to have no verified factor at all is not asked about (see TENANT_FACTORS_TTL_MS).
   */
  async verifiedFor(tenantId: string, e164: string): Promise<TotpFactorRecord | undefined> {
    // undefined: unknown (the store could not be read yet), so the number is looked up as before.
    if ((await this.tenantsWithFactors.get(tenantId)) === false) return undefined;
    try {
      const factor = await this.deps.store.findTotpFactor(tenantId, e164);
      return factor?.status === 'verified' ? factor : undefined;
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'verification.factor_lookup_failed');
      return undefined;
    }
  }
}
