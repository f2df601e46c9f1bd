import { Counter, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import { isPigeonError, type ErrorCode } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import type { MessageClass } from '../../../core/message.ts';
import type { ProviderInfo } from '../../../routing/table.ts';
import { type TenantOtpSettingsCache, tenantOtpSettingsPath } from '../verify/tenant-settings.ts';
import { checkDestination, GUARDED_CLASSES } from './destination.ts';
import { effectiveLimits, type SendPolicySettings } from './limits.ts';
import {
  type AdmissionPlan,
  type DedupClaim,
  duplicateOf,
  type MarketingCaps,
  planAdmission,
  refusalOf,
  SendKeys,
  scriptInput,
} from './plan.ts';
import { estimateCostMicros } from './pricing.ts';
import { admitSend } from './scripts.ts';
import type { TenantSendLimitsCache } from './tenant-limits.ts';
import { dedupWindowMs, type TenantMessagingPolicyCache } from '../../../core/messaging-policy.ts';
import { localPeriods } from '../../../core/local-periods.ts';
import { recipientTimeZone } from '../../../core/recipient-zone.ts';
import type { TenantMessagingPolicy } from '../../../core/store/kinds/messaging-policy.ts';
import { dedupFingerprint, DEDUPLICATED_CLASSES } from './dedup.ts';

/** Log event names of the send policy; the pumping alert and its runbook use the same words. */
export const SendPolicyEvents = {
  /** The verifications' word: one pumping alert whichever path the codes took. */
  pumpingSuspected: 'otp.pumping_suspected',
} as const;

/** Bounded metric labels, one per refusal code. */
const REFUSAL_REASONS: Partial<Record<ErrorCode, string>> = {
  PIGEON_ERR_RATE_LIMITED: 'rate',
  PIGEON_ERR_RECIPIENT_CAP: 'recipient_cap',
  PIGEON_ERR_COUNTRY_NOT_ALLOWED: 'country',
  PIGEON_ERR_NUMBER_TYPE_REFUSED: 'number_type',
  PIGEON_ERR_PUMPING_SUSPECTED: 'pumping',
  PIGEON_ERR_SPEND_CAP: 'spend_cap',
  PIGEON_ERR_FREQUENCY_CAPPED: 'frequency_cap',
};

export interface SendPolicyDeps {
  cache: Cache;
  logger: Logger;
  registry: Registry;
  settings: SendPolicySettings;
  /** The tenants' stored send limits. */
  tenantLimits: TenantSendLimitsCache;
  /** The tenants' OTP allowlists, which otp and alert messages are held to as codes are. */
  otpSettings: TenantOtpSettingsCache;
  /** The tenants' messaging policies (marketing caps, dedup window); absent: every tenant on the defaults. */
  messagingPolicy?: TenantMessagingPolicyCache;
  /** The providers of the route table, whose per-country prices the spend estimate uses. */
  providers: () => Iterable<ProviderInfo>;
  now?: () => number;
}

/** One message as the policy judges it. */
export interface SendCandidate {
  /** E.164, as the message request was built with. */
  to: string;
  messageClass: MessageClass;
  segments: number;
  /** The recipient's country, when its number has one. */
  country: string | undefined;
  /** What dedup compares (dedup.ts); without a message id the send is not deduplicated. */
  messageId?: string;
  from?: string | undefined;
  body?: string;
}

/** An admitted message's hold on the counters. */
export interface Admission {
  /**
   * Set when the send duplicates one admitted within the tenant's dedup window: that message's
   * id. Nothing was counted and nothing is to be published.
   */
  duplicateOf?: string;
  /**
   * Gives back what the message counted in its windows (recipient caps, range, spend), for a
   * message the bus did not take: a client retrying through an outage must not use up its caps on
   * messages that were never sent. Best effort; the token stays spent, which paces such retries.
   */
  release(): Promise<void>;
}

/**
 * The send policy: one engine every send path passes before a message reaches the bus. The
 * decisions are pure (destination.ts, limits.ts, pricing.ts, plan.ts); this is the shell that
 * reads the tenant's limits, runs the one atomic cache script and records each refusal.
 */
export class SendPolicy {
  private readonly refused: Counter<'reason' | 'class'>;
  private readonly now: () => number;

  constructor(private readonly deps: SendPolicyDeps) {
    this.now = deps.now ?? Date.now;
    this.refused = new Counter({
      name: 'pigeon_api_send_refused_total',
      help: 'Messages refused by the send policy, by reason (rate, recipient_cap, country, number_type, pumping, spend_cap, frequency_cap) and class',
      labelNames: ['reason', 'class'],
      registers: [deps.registry],
    });
  }

  /**
   * Admits one message or throws the PigeonError it is refused with. An admitted message has taken
   * a token and counted in every window; the caller publishes it, or releases the admission.
   */
  async admit(tenantId: string, send: SendCandidate): Promise<Admission> {
    try {
      const { plan, duplicateOf } = await this.judge(tenantId, send);
      if (duplicateOf !== undefined) return { duplicateOf, release: async () => undefined };
      const { cache } = this.deps;
      return {
        release: async () => {
          await Promise.all([
            ...plan.windows.map((w) => cache.incrBy(w.key, -w.by, w.windowMs)),
            // A message that was never sent must not answer the next identical send with its id.
            ...(plan.dedup ? [cache.del(plan.dedup.key)] : []),
          ]).catch(() => undefined);
        },
      };
    } catch (err) {
      if (isPigeonError(err)) this.countRefusal(err.code, send.messageClass);
      throw err;
    }
  }

  /**
   * The estimated cost of a send in millionths: its parts at the price the route table's enabled
   * providers list for its country, else PIGEON_SEND_PRICE_PER_PART. Verification codes are priced
   * here too, for their own daily cap as for the tenant's.
   */
  costMicros(send: Pick<SendCandidate, 'segments' | 'country'>): number {
    return estimateCostMicros(
      this.deps.providers(),
      send.country,
      send.segments,
      this.deps.settings.defaults.pricePerPart,
    );
  }

  /**
   * The tenant-wide part of the policy for a send that keeps its own per-number counters (a
   * verification code): the tenant's bucket and its spend caps at the send's cost (costMicros),
   * for the caller to run in its own script call.
   */
  async tenantPlan(tenantId: string, send: SendCandidate, cost: number, now: number): Promise<AdmissionPlan> {
    return this.plan(tenantId, send, cost, now, 'tenant');
  }

  /** Counts a refusal the caller's script call made on a tenant plan's key. */
  countRefusal(code: ErrorCode, messageClass: MessageClass): void {
    const reason = REFUSAL_REASONS[code];
    if (reason) this.refused.inc({ reason, class: messageClass });
  }

  private async plan(
    tenantId: string,
    send: SendCandidate,
    cost: number,
    now: number,
    scope: 'message' | 'tenant',
    extra: { marketingCaps?: MarketingCaps; dedup?: DedupClaim } = {},
  ): Promise<AdmissionPlan> {
    const { settings } = this.deps;
    const limits = effectiveLimits(
      settings.defaults,
      await this.deps.tenantLimits.get(tenantId),
      send.messageClass,
    );
    return planAdmission(
      { tenantId, e164: send.to, messageClass: send.messageClass, costMicros: cost, ...extra },
      limits,
      settings,
      now,
      scope,
    );
  }

  /** The tenant messaging policy's part of a send: its marketing caps and its dedup claim. */
  private async messagingExtras(
    tenantId: string,
    send: SendCandidate,
    now: number,
  ): Promise<{ marketingCaps?: MarketingCaps; dedup?: DedupClaim }> {
    const capped = send.messageClass === 'marketing';
    const deduplicated = DEDUPLICATED_CLASSES.has(send.messageClass) && send.messageId !== undefined;
    if (!capped && !deduplicated) return {};
    const policy: TenantMessagingPolicy | undefined = await this.deps.messagingPolicy?.get(tenantId);
    const extra: { marketingCaps?: MarketingCaps; dedup?: DedupClaim } = {};
    const perDay = policy?.marketingPerDay ?? 0;
    const perWeek = policy?.marketingPerWeek ?? 0;
    if (capped && (perDay > 0 || perWeek > 0)) {
      // A number with no zone of its own (non-geographic) counts in UTC days.
      const zone = recipientTimeZone(send.to) ?? 'UTC';
      extra.marketingCaps = { perDay, perWeek, periods: localPeriods(zone, now) };
    }
    const windowMs = dedupWindowMs(policy);
    if (deduplicated && windowMs > 0) {
      const fingerprint = dedupFingerprint(this.deps.settings.dedupKey, {
        to: send.to,
        from: send.from,
        messageClass: send.messageClass,
        body: send.body ?? '',
      });
      extra.dedup = { key: SendKeys.dedup(tenantId, fingerprint), messageId: send.messageId!, windowMs };
    }
    return extra;
  }

  private async judge(
    tenantId: string,
    send: SendCandidate,
  ): Promise<{ plan: AdmissionPlan; duplicateOf?: string }> {
    const { settings } = this.deps;
    let country = send.country;
    if (GUARDED_CLASSES.has(send.messageClass)) {
      const otp = await this.deps.otpSettings.get(tenantId);
      const what = send.messageClass === 'alert' ? 'alert messages' : 'one-time codes';
      const destination = otp?.allowedCountries
        ? checkDestination(
            send.to,
            new Set(otp.allowedCountries),
            `this tenant's OTP country allowlist (${tenantOtpSettingsPath(tenantId)}; default PIGEON_OTP_ALLOWED_COUNTRIES)`,
            what,
          )
        : checkDestination(send.to, settings.allowedCountries, undefined, what);
      country = destination.country;
    }
    const now = this.now();
    const extra = await this.messagingExtras(tenantId, send, now);
    const plan = await this.plan(
      tenantId,
      send,
      this.costMicros({ ...send, country }),
      now,
      'message',
      extra,
    );
    const { keys, args } = scriptInput(plan, now);
    const reply = await this.deps.cache.runScript(admitSend, keys, args);
    const duplicate = duplicateOf(reply);
    if (duplicate !== undefined) return { plan, duplicateOf: duplicate };
    const refusal = refusalOf(plan, reply);
    if (!refusal) return { plan };
    if (refusal.window?.code === 'PIGEON_ERR_PUMPING_SUSPECTED' && refusal.first) {
      // Once per block, not per refused message: this is the line an operator gets paged on.
      this.deps.logger.warn(
        { tenantId, range: refusal.window.key.split(':').at(-1), country, limit: refusal.window.limit },
        SendPolicyEvents.pumpingSuspected,
      );
    }
    throw refusal.error;
  }
}
