import { Counter, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import { loadConfig, type RateLimit } from '../../../core/config.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import { VerificationEvents } from '../../../core/verification.ts';
import type { VerificationAudit } from './audit.ts';
import { numberRange } from '../send-policy/destination.ts';
import { clientKey, utcDay } from './policy.ts';
import type { SendCandidate, SendPolicy } from '../send-policy/engine.ts';
import {
  type AdmissionPlan,
  type AdmitWindow,
  refusalOf,
  scriptInput,
  SendKeys,
} from '../send-policy/plan.ts';
import { estimateCostMicros, MICROS } from '../send-policy/pricing.ts';
import { type AdmitReply, admitSend } from '../send-policy/scripts.ts';
import { VerifyKeys } from './scripts.ts';
import type { VerificationSettings } from './settings.ts';
import { type TenantOtpSettingsCache, tenantOtpSettingsPath } from './tenant-settings.ts';

/** Log event names of verification limits; the pumping alert and its runbook use the same words. */
export const VerifyLogEvents = {
  pumpingSuspected: 'otp.pumping_suspected',
} as const;

/** Wrong tries at confirming a new factor, per factor and window. */
const FACTOR_CONFIRM_LIMIT: RateLimit = { limit: 5, windowMs: 300_000 };

export interface Caller {
  tenantId: string;
  /** The client address as the trusted proxy hops report it. */
  ip: string;
}

/** The allowlist and spend cap in force for one tenant, and where each comes from (for errors). */
export interface TenantPolicy {
  allowedCountries: ReadonlySet<string>;
  countriesSetting: string;
  dailySpendCap: number;
  spendCapSetting: string;
}

export interface VerificationLimitsDeps {
  cache: Cache;
  logger: Logger;
  registry: Registry;
  settings: VerificationSettings;
  tenantSettings: TenantOtpSettingsCache;
  audit: VerificationAudit;
  now: () => number;
  /**
   * The send policy whose tenant bucket and spend caps codes count in too, and whose price (the
   * route table's, per country) the OTP spend cap counts in. Absent: only the windows here, and
   * every part at the default PIGEON_SEND_PRICE_PER_PART, as with no route table.
   */
  sendPolicy?: SendPolicy;
}

/**
 * Velocity limits and the daily spend cap over sliding windows in the cache (one atomic script per
 * request, all windows or none), and the record of every refusal: a metric and an audit event.
 */
export class VerificationLimits {
  private readonly blocked: Counter<'reason'>;
  /** A code's estimated cost in millionths: the send policy's price model, the one of every send. */
  private readonly costMicros: (send: Pick<SendCandidate, 'segments' | 'country'>) => number;

  constructor(private readonly deps: VerificationLimitsDeps) {
    const { sendPolicy } = deps;
    if (sendPolicy) this.costMicros = (send) => sendPolicy.costMicros(send);
    else {
      const fallback = loadConfig({}).send.pricePerPart;
      this.costMicros = (send) => estimateCostMicros([], send.country, send.segments, fallback);
    }
    this.blocked = new Counter({
      name: 'pigeon_otp_blocked_total',
      help: 'Verification requests refused by policy (country, number type, velocity, pumping, spend)',
      labelNames: ['reason'],
      registers: [deps.registry],
    });
  }

  /**
   * The gateway's allowlist and spend cap with the tenant's overrides applied. The overrides come
   * from an in-process cache, so a change made through another api replica takes up to
   * TENANT_OTP_SETTINGS_TTL_MS (seconds) to apply here; see tenant-settings.ts.
   */
  async tenantPolicy(tenantId: string): Promise<TenantPolicy> {
    const s = this.deps.settings;
    const tenant = await this.deps.tenantSettings.get(tenantId);
    const where = tenantOtpSettingsPath(tenantId);
    return {
      ...(tenant?.allowedCountries
        ? {
            allowedCountries: new Set(tenant.allowedCountries),
            countriesSetting: `this tenant's OTP country allowlist (${where}; default PIGEON_OTP_ALLOWED_COUNTRIES)`,
          }
        : {
            allowedCountries: s.allowedCountries,
            countriesSetting: "the gateway's PIGEON_OTP_ALLOWED_COUNTRIES setting",
          }),
      ...(tenant && tenant.dailySpendCap !== null
        ? {
            dailySpendCap: tenant.dailySpendCap,
            spendCapSetting: `this tenant's OTP daily spend cap ${tenant.dailySpendCap}: ${where}; default PIGEON_OTP_DAILY_SPEND_CAP`,
          }
        : {
            dailySpendCap: s.dailySpendCap,
            spendCapSetting: `PIGEON_OTP_DAILY_SPEND_CAP ${s.dailySpendCap}`,
          }),
    };
  }

  /**
   * Velocity limits and the spend cap for one send, all or nothing, together with the send policy's
   * tenant-wide part (the tenant's token bucket and message spend caps) when there is one: a code
   * counts in the tenant's sends like any message, at the price any message to its country has.
   * Returns what was counted, so a send that does not happen can give it back (giveBackSpend).
   */
  async hitSendLimits(
    caller: Caller,
    destination: { e164: string; country: string; segments?: number },
    isNew: boolean,
    now: number,
    policy: TenantPolicy,
  ): Promise<SendHold> {
    const limits = await this.sendLimits(caller, destination, isNew, now, policy);
    limits.settle(await this.deps.cache.runScript(admitSend, limits.keys, limits.args));
    return limits.hold;
  }

  /**
   * hitSendLimits as one admitSend call not yet made: its KEYS and ARGV, for a caller that runs
   * them inside a script of its own (a new verification's create), and `settle` for its reply.
   */
  async sendLimits(
    caller: Caller,
    { e164, country, segments = 1 }: { e164: string; country: string; segments?: number },
    isNew: boolean,
    now: number,
    { dailySpendCap, spendCapSetting }: TenantPolicy,
  ): Promise<SendLimitsCall> {
    const s = this.deps.settings;
    const costMicros = this.costMicros({ segments, country });
    const windows: WindowSpec[] = [
      [
        VerifyKeys.window(caller.tenantId, 'send-phone', e164),
        s.sendsPerPhone,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'codes to this number',
      ],
      [
        VerifyKeys.window(caller.tenantId, 'send-ip', clientKey(caller.ip)),
        s.sendsPerIp,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'code requests from this client address',
      ],
      [
        VerifyKeys.window(caller.tenantId, 'send-tenant'),
        s.sendsPerTenant,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'code requests of this tenant',
      ],
    ];
    if (isNew) {
      windows.push([
        // The send policy's range counter: codes sent as otp messages count in the same burst.
        SendKeys.range(caller.tenantId, numberRange(e164)),
        s.prefixBurst,
        1,
        s.prefixBlockMs,
        'PIGEON_ERR_PUMPING_SUSPECTED',
        `new verifications to the number range ${numberRange(e164)}…`,
      ]);
    }
    let spendKey: string | undefined;
    if (dailySpendCap > 0) {
      const { day, msLeft } = utcDay(now);
      spendKey = VerifyKeys.window(caller.tenantId, 'spend', day);
      windows.push([
        spendKey,
        // A day, not a sliding window: the key is made to end at UTC midnight.
        { limit: Math.round(dailySpendCap * MICROS), windowMs: msLeft },
        costMicros,
        0,
        'PIGEON_ERR_SPEND_CAP',
        `estimated spend of this tenant today (${spendCapSetting})`,
      ]);
    }
    const shared = await this.deps.sendPolicy?.tenantPlan(
      caller.tenantId,
      { to: e164, messageClass: 'otp', segments, country },
      costMicros,
      now,
    );
    return {
      ...this.windowsCall(caller, country, windows, shared),
      hold: { spendKey, costMicros, shared: shared?.windows ?? [] },
    };
  }

  /** Takes back the spend hitSendLimits counted for a send that did not happen; best effort. */
  async giveBackSpend({ spendKey, costMicros, shared }: SendHold): Promise<void> {
    const { cache } = this.deps;
    await Promise.all([
      ...(spendKey ? [cache.incrBy(spendKey, -costMicros)] : []),
      ...shared.map((w) => cache.incrBy(w.key, -w.by, w.windowMs)),
    ]).catch(() => undefined);
  }

  /** Checks per client address and per tenant. */
  async hitCheckLimits(caller: Caller): Promise<void> {
    const call = this.checkLimits(caller);
    call.settle(await this.deps.cache.runScript(admitSend, call.keys, call.args));
  }

  /**
   * hitCheckLimits as one admitSend call not yet made: its KEYS and ARGV, for a check that runs
   * them inside its own script (admitAndBeginCheck), and `settle` for its reply.
   */
  checkLimits(caller: Caller): Omit<SendLimitsCall, 'hold'> {
    const s = this.deps.settings;
    return this.windowsCall(caller, undefined, [
      [
        VerifyKeys.window(caller.tenantId, 'check-ip', clientKey(caller.ip)),
        s.checksPerIp,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'checks from this client address',
      ],
      [
        VerifyKeys.window(caller.tenantId, 'check-tenant'),
        s.checksPerTenant,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'checks of this tenant',
      ],
    ]);
  }

  /** Tries at confirming one factor. */
  async hitFactorConfirmLimit(caller: Caller, factorId: string): Promise<void> {
    await this.hitWindowsOrThrow(caller, undefined, [
      [
        VerifyKeys.window(caller.tenantId, 'factor', factorId),
        FACTOR_CONFIRM_LIMIT,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'tries to confirm this factor',
      ],
    ]);
  }

  /** Runs a policy check, recording a refusal as a block before passing it on. */
  refusedAs<T>(caller: Caller, country: string | undefined, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isPigeonError(err) && err.code !== 'PIGEON_ERR_INVALID_NUMBER')
        this.block(caller, country, err.code);
      throw err;
    }
  }

  /** Records a refused request: a bounded metric label and an audit event. */
  block(caller: Caller, country: string | undefined, reason: string): void {
    this.blocked.inc({ reason: BLOCK_REASONS[reason] ?? 'other' });
    this.deps.audit.record(VerificationEvents.blocked, caller.tenantId, this.deps.now(), {
      reason,
      ...(country ? { country } : {}),
    });
  }

  /**
   * Runs the windows through the send policy's script, all or nothing, with the policy's tenant
   * bucket and windows when given (else no bucket: rate 0).
   */
  private async hitWindowsOrThrow(
    caller: Caller,
    country: string | undefined,
    windows: WindowSpec[],
    shared?: AdmissionPlan,
  ): Promise<void> {
    const call = this.windowsCall(caller, country, windows, shared);
    call.settle(await this.deps.cache.runScript(admitSend, call.keys, call.args));
  }

  /** The windows (and the policy's tenant plan) as admitSend's KEYS and ARGV, and its reply's meaning. */
  private windowsCall(
    caller: Caller,
    country: string | undefined,
    windows: WindowSpec[],
    shared?: AdmissionPlan,
  ): Omit<SendLimitsCall, 'hold'> {
    const now = this.deps.now();
    const tail = shared ? scriptInput(shared, now) : undefined;
    return {
      keys: [
        shared?.bucket.key ?? VerifyKeys.window(caller.tenantId, 'bucket'),
        ...windows.map((w) => w[0]),
        ...(tail?.keys.slice(1) ?? []),
      ],
      args: [
        now,
        shared?.bucket.ratePerSecond ?? 0,
        shared?.bucket.burst ?? 0,
        ...windows.flatMap(([, rate, by, penaltyMs]) => [by, rate.limit, rate.windowMs, penaltyMs]),
        ...(tail?.args.slice(3) ?? []),
      ],
      settle: (reply) => {
        this.settle(caller, country, windows, shared, reply);
      },
    };
  }

  /** Returns when the reply admitted the send; else records the refusal and throws it. */
  private settle(
    caller: Caller,
    country: string | undefined,
    windows: WindowSpec[],
    shared: AdmissionPlan | undefined,
    [refused, retryAfterMs, first]: AdmitReply,
  ): void {
    if (refused === 0) return;
    if (shared && (refused === 1 || refused > windows.length + 1)) {
      // The tenant's bucket or a message spend cap: the policy's own refusal, counted as both.
      const { error } = refusalOf(shared, [
        refused === 1 ? 1 : refused - windows.length,
        retryAfterMs,
        first,
      ])!;
      this.block(caller, country, error.code);
      this.deps.sendPolicy?.countRefusal(error.code, 'otp');
      throw error;
    }
    const [key, rate, , , code, what] = windows[refused - 2]!;
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    this.block(caller, country, code);
    if (code === 'PIGEON_ERR_PUMPING_SUSPECTED' && first === 1) {
      // Once per block, not per refused request: this is the line an operator gets paged on.
      this.deps.logger.warn(
        { tenantId: caller.tenantId, range: key.split(':').at(-1), country, limit: rate.limit },
        VerifyLogEvents.pumpingSuspected,
      );
    }
    throw new PigeonError(
      code,
      code === 'PIGEON_ERR_RATE_LIMITED'
        ? `Too many ${what}: at most ${rate.limit} per ${Math.round(rate.windowMs / 1000)} s; retry in ${retryAfterSeconds} s`
        : `Refused: too many ${what}; retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }
}

/** One admitSend call for a send's limits, not yet made. */
export interface SendLimitsCall {
  keys: string[];
  args: Array<string | number>;
  /** What the send counts once admitted, to give back if it does not happen (giveBackSpend). */
  hold: SendHold;
  /** Returns when the script's reply admitted the send; else records the refusal and throws it. */
  settle(reply: AdmitReply): void;
}

/** What a verification send counted, to give back if the send does not happen. */
export interface SendHold {
  spendKey: string | undefined;
  costMicros: number;
  /** The send policy's tenant windows it counted in. */
  shared: AdmitWindow[];
}

type WindowSpec = [
  key: string,
  rate: RateLimit,
  by: number,
  penaltyMs: number,
  code: BlockCode,
  what: string,
];
type BlockCode = 'PIGEON_ERR_RATE_LIMITED' | 'PIGEON_ERR_PUMPING_SUSPECTED' | 'PIGEON_ERR_SPEND_CAP';

/** Bounded metric labels for the codes a request can be blocked with. */
const BLOCK_REASONS: Record<string, string> = {
  PIGEON_ERR_COUNTRY_NOT_ALLOWED: 'country',
  PIGEON_ERR_NUMBER_TYPE_REFUSED: 'number_type',
  PIGEON_ERR_RATE_LIMITED: 'velocity',
  PIGEON_ERR_SEND_LIMIT: 'send_limit',
  PIGEON_ERR_PUMPING_SUSPECTED: 'pumping',
  PIGEON_ERR_SPEND_CAP: 'spend_cap',
};
