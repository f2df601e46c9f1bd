import { randomBytes } from 'node:crypto';
import type { Config, RateLimit, SendConfig } from '../../../core/config.ts';
import type { MessageClass } from '../../../core/message.ts';
import type { TenantSendLimits } from '../../../core/store/kinds/send-limits.ts';

/** The limits in force for one send: the gateway's, overridden by the tenant's, then by its class's. 0: off. */
export interface SendLimits {
  ratePerSecond: number;
  burst: number;
  perRecipientHour: number;
  perRecipientDay: number;
  dailySpendCap: number;
  monthlySpendCap: number;
}

/** What the policy knows besides the limits: gateway-wide settings it shares with verifications. */
export interface SendPolicySettings {
  defaults: SendConfig;
  /** PIGEON_OTP_ALLOWED_COUNTRIES: where otp and alert messages may go unless the tenant says otherwise. */
  allowedCountries: ReadonlySet<string>;
  /** PIGEON_OTP_PREFIX_BURST and PIGEON_OTP_PREFIX_BLOCK_SECONDS: the pumping defence for otp sends. */
  prefixBurst: RateLimit;
  prefixBlockMs: number;
  /**
   * The key of the dedup fingerprints (dedup.ts): PIGEON_OTP_KEY, else PIGEON_SECRETS_KEY, so every
   * api process of a deployment computes the same one. Without either, a random key per process:
   * duplicates are then caught only when they reach the same process (always, in embedded mode).
   */
  dedupKey: string;
}

/** The limits of one tenant and class: each field the class's, else the tenant's, else the gateway's. */
export function effectiveLimits(
  defaults: SendConfig,
  tenant: TenantSendLimits | undefined,
  messageClass: MessageClass,
): SendLimits {
  const byClass = tenant?.classes[messageClass];
  return {
    ratePerSecond: tenant?.ratePerSecond ?? defaults.ratePerSecond,
    burst: tenant?.burst ?? defaults.burst,
    perRecipientHour: byClass?.perRecipientHour ?? tenant?.perRecipientHour ?? defaults.perRecipientHour,
    perRecipientDay: byClass?.perRecipientDay ?? tenant?.perRecipientDay ?? defaults.perRecipientDay,
    dailySpendCap: tenant?.dailySpendCap ?? defaults.dailySpendCap,
    monthlySpendCap: tenant?.monthlySpendCap ?? defaults.monthlySpendCap,
  };
}

/** The policy's settings from the configuration. */
export function sendPolicySettings(config: Config): SendPolicySettings {
  return {
    defaults: config.send,
    allowedCountries: new Set(config.otp.allowedCountries),
    prefixBurst: config.otp.prefixBurst,
    prefixBlockMs: config.otp.prefixBlockMs,
    dedupKey: config.otp.key ?? config.secretsKey ?? randomBytes(32).toString('base64'),
  };
}
