import { type Config, loadConfig } from '../../../core/config.ts';
import { keyBytes, loadOrCreateKeyFile } from '../../../core/keys.ts';
import type { VerifierSettings } from './verifier.ts';

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

/** Verifier settings from the configuration; bodies are sealed when the bus is Kafka. */
export function verifierSettings(
  config: Config,
  keys: VerificationKeys,
  busKind: 'kafka' | 'memory',
): VerifierSettings {
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
    pricePerPart: otp.pricePerPart,
    publishTimeoutMs: config.publishTimeoutMs,
  };
}

/** Default limits and no keys: every verification call answers PIGEON_ERR_CONFIG until keys are given. */
export function verificationsDisabled(publishTimeoutMs: number): VerifierSettings {
  const none = { otpKey: undefined, factorKey: undefined, bodyKey: undefined };
  return { ...verifierSettings(loadConfig({}), none, 'memory'), publishTimeoutMs };
}
