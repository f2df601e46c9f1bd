import { type Config, loadConfig, type RateLimit } from '../../../core/config.ts';
import { PigeonError } from '../../../core/errors.ts';
import { keyBytes, loadOrCreateKeyFile } from '../../../core/keys.ts';

export interface VerificationSettings {
  /** PIGEON_OTP_KEY; without it every call answers PIGEON_ERR_CONFIG. */
  otpKey: Buffer | undefined;
  /** PIGEON_FACTOR_KEY; without it factor calls answer PIGEON_ERR_CONFIG. */
  factorKey: Buffer | undefined;
  /** PIGEON_BODY_KEY; needed when bodies are sealed. */
  bodyKey: Buffer | undefined;
  /** Seal OTP bodies on the bus: true when the bus is Kafka, whose log outlives the request. */
  sealBodies: boolean;
  allowedCountries: ReadonlySet<string>;
  sendsPerPhone: RateLimit;
  sendsPerIp: RateLimit;
  sendsPerTenant: RateLimit;
  checksPerIp: RateLimit;
  checksPerTenant: RateLimit;
  prefixBurst: RateLimit;
  prefixBlockMs: number;
  /** PIGEON_OTP_DAILY_SPEND_CAP, counted at the send policy's per-country price (limits.ts). */
  dailySpendCap: number;
  publishTimeoutMs: number;
}

export interface VerificationKeys {
  otpKey: Buffer | undefined;
  factorKey: Buffer | undefined;
  bodyKey: Buffer | undefined;
}

/**
 * The verification keys from the configuration. Embedded mode generates the api-only keys
 * (PIGEON_OTP_KEY, PIGEON_FACTOR_KEY) into PIGEON_DATA_DIR, as it does the API key; distributed
 * api replicas must share them, so there they come from the environment or verifications are off.
 * PIGEON_BODY_KEY is never generated: the supplier bridge must hold the same one.
 */
export function resolveVerificationKeys(config: Config, embedded: boolean): VerificationKeys {
  const { otp } = config;
  return {
    otpKey: otp.key
      ? keyBytes(otp.key, { minBytes: 32 })
      : embedded
        ? loadOrCreateKeyFile(config.dataDir, 'otp-key')
        : undefined,
    factorKey: otp.factorKey
      ? keyBytes(otp.factorKey, { exactBytes: 32 })
      : embedded
        ? loadOrCreateKeyFile(config.dataDir, 'factor-key')
        : undefined,
    bodyKey: otp.bodyKey ? keyBytes(otp.bodyKey, { exactBytes: 32 }) : undefined,
  };
}

/** Verification settings from the configuration; bodies are sealed when the bus is Kafka. */
export function verificationSettings(
  config: Config,
  keys: VerificationKeys,
  busKind: 'kafka' | 'memory',
): VerificationSettings {
  const { otp } = config;
  return {
    ...keys,
    sealBodies: busKind === 'kafka',
    allowedCountries: new Set(otp.allowedCountries),
    sendsPerPhone: otp.sendsPerPhone,
    sendsPerIp: otp.sendsPerIp,
    sendsPerTenant: otp.sendsPerTenant,
    checksPerIp: otp.checksPerIp,
    checksPerTenant: otp.checksPerTenant,
    prefixBurst: otp.prefixBurst,
    prefixBlockMs: otp.prefixBlockMs,
    dailySpendCap: otp.dailySpendCap,
    publishTimeoutMs: config.publishTimeoutMs,
  };
}

/** Default limits and no keys: every verification call answers PIGEON_ERR_CONFIG until keys are given. */
export function verificationsDisabled(publishTimeoutMs: number): VerificationSettings {
  const none = { otpKey: undefined, factorKey: undefined, bodyKey: undefined };
  return { ...verificationSettings(loadConfig({}), none, 'memory'), publishTimeoutMs };
}

/** The key a call needs, or PIGEON_ERR_CONFIG naming the setting that is missing. */
export function requireKey(key: Buffer | undefined, name: string): Buffer {
  if (key) return key;
  throw new PigeonError(
    'PIGEON_ERR_CONFIG',
    `Verifications are disabled: this api has no ${name} (see docs/operations.md)`,
  );
}
