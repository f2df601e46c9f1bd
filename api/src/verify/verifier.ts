import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../../../core/bus/bus.ts';
import type { Cache } from '../../../core/cache/cache.ts';
import type { RateLimit } from '../../../core/config.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { maskPhone, requireE164 } from '../../../core/phone.ts';
import { openSealed, SealedBodyError, sealBody } from '../../../core/sealed-body.ts';
import type { Store, TotpFactorRecord } from '../../../core/store/store.ts';
import { Topics } from '../../../core/topics.ts';
import {
  type CheckResult,
  VerificationEvents,
  type VerificationEvent,
  type VerificationStatus,
  verificationEvent,
} from '../../../core/verification.ts';
import { buildMessageRequested } from '../../../core/message-request.ts';
import type { MessagePublisher } from '../publisher.ts';
import { codeDigest, codeMatches, DEFAULT_CODE_LENGTH, generateCode } from './code.ts';
import {
  checkDestination,
  clientKey,
  estimatedCostMicros,
  MAX_CHECKS,
  MAX_SENDS,
  MICROS,
  numberRange,
  RESEND_INTERVALS_MS,
  utcDay,
} from './policy.ts';
import {
  approveVerification,
  beginCheck,
  cancelVerification,
  claimTotpStep,
  createVerification,
  hitWindows,
  readVerification,
  resendVerification,
  revertSend,
  VerifyKeys,
} from './scripts.ts';
import { statusAt } from './state.ts';
import { TenantOtpSettingsCache, tenantOtpSettingsPath } from './tenant-settings.ts';
import { renderOtpText, resolveLocale } from './templates.ts';
import { newTotpSecret, TOTP_STEP_TTL_MS, totpStep, totpUri } from './totp.ts';

export const DEFAULT_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 600;
/** A verification stays readable (GET) this long after its last possible use. */
const RETENTION_MS = 3_600_000;
/** Wrong tries at confirming a new factor, per factor and window. */
const FACTOR_CONFIRM_LIMIT: RateLimit = { limit: 5, windowMs: 300_000 };
/** A create that keeps racing other creates for the same number gives up after this many rounds. */
const MAX_START_ROUNDS = 3;

export interface VerifierSettings {
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
  dailySpendCap: number;
  pricePerPart: number;
  publishTimeoutMs: number;
}

export interface VerifierDeps {
  cache: Cache;
  store: Store;
  bus: Bus;
  publisher: MessagePublisher;
  logger: Logger;
  registry: Registry;
  settings: VerifierSettings;
  /** Per-tenant overrides of the allowlist and spend cap; default: the store's shared cache. */
  tenantSettings?: TenantOtpSettingsCache;
  now?: () => number;
}

/** The allowlist and spend cap in force for one tenant, and where each comes from (for errors). */
interface TenantPolicy {
  allowedCountries: ReadonlySet<string>;
  countriesSetting: string;
  dailySpendCap: number;
  spendCapSetting: string;
}

export interface StartInput {
  to: string;
  channel: 'sms';
  locale?: string;
  codeLength?: number;
  ttlSeconds?: number;
  appName?: string;
  appHash?: string;
  webOtpDomain?: string;
}

export interface Caller {
  tenantId: string;
  /** The client address as the trusted proxy hops report it. */
  ip: string;
}

export interface Started {
  id: string;
  status: 'pending';
  expiresAt: string;
  sendCount: number;
  /** False when this re-sent a pending verification. */
  created: boolean;
}

export interface VerificationView {
  id: string;
  to: string;
  channel: 'sms';
  status: VerificationStatus;
  country: string;
  locale: string;
  sendCount: number;
  checkCount: number;
  createdAt: string;
  expiresAt: string;
  approvedAt: string | null;
}

type Undo =
  | { mode: 'created' }
  | { mode: 'resent'; digest: string; sentAt: number; expiresAt: number; messageId: string };

interface Send {
  verificationId: string;
  expiresAt: number;
  sendCount: number;
  created: boolean;
  undo: Undo;
}

/**
 * Verifications over the cache: the imperative shell around the pure policy (policy.ts), codes
 * (code.ts), texts (templates.ts) and the atomic scripts (scripts.ts). Codes exist in clear only
 * in memory here and in the message text handed to the publisher (sealed when it goes to Kafka).
 * Every cache failure surfaces as PIGEON_ERR_CACHE_UNAVAILABLE (503): nothing is approved or
 * sent without the stored state.
 */
export class Verifier {
  private readonly now: () => number;
  private readonly sent: Counter<'country'>;
  private readonly checks: Counter<'country' | 'result'>;
  private readonly approvals: Counter<'country' | 'method'>;
  private readonly blocked: Counter<'reason'>;
  private readonly auditFailures: Counter;
  private readonly tenantSettings: TenantOtpSettingsCache;

  constructor(private readonly deps: VerifierDeps) {
    this.now = deps.now ?? Date.now;
    this.tenantSettings = deps.tenantSettings ?? TenantOtpSettingsCache.for(deps.store);
    this.tenantSettings.logger ??= deps.logger;
    const registers = [deps.registry];
    this.sent = new Counter({
      name: 'pigeon_otp_sent_total',
      help: 'Verification codes handed to the bus (first sends and re-sends), by destination country',
      labelNames: ['country'],
      registers,
    });
    this.checks = new Counter({
      name: 'pigeon_otp_checks_total',
      help: 'Verification checks by country and what they found',
      labelNames: ['country', 'result'],
      registers,
    });
    this.approvals = new Counter({
      name: 'pigeon_otp_approvals_total',
      help: 'Verifications approved, by country and factor (sms code or authenticator app)',
      labelNames: ['country', 'method'],
      registers,
    });
    this.blocked = new Counter({
      name: 'pigeon_otp_blocked_total',
      help: 'Verification requests refused by policy (country, number type, velocity, pumping, spend)',
      labelNames: ['reason'],
      registers,
    });
    this.auditFailures = new Counter({
      name: 'pigeon_otp_audit_publish_failures_total',
      help: 'Verification audit events the bus did not take',
      registers,
    });
  }

  /** Starts a verification, or re-sends the number's pending one with a fresh code. */
  async start(input: StartInput, caller: Caller): Promise<Started> {
    const settings = this.deps.settings;
    const otpKey = this.requireKey(settings.otpKey, 'PIGEON_OTP_KEY');
    const bodyKey = settings.sealBodies ? this.requireKey(settings.bodyKey, 'PIGEON_BODY_KEY') : undefined;
    const policy = await this.tenantPolicy(caller.tenantId);
    const destination = this.refusedAs(caller, undefined, () =>
      checkDestination(input.to, policy.allowedCountries, policy.countriesSetting),
    );
    const now = this.now();
    const ttlMs = (input.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
    const code = generateCode(input.codeLength ?? DEFAULT_CODE_LENGTH);
    const message = buildMessageRequested(
      {
        to: destination.e164,
        class: 'otp',
        ttlSeconds: ttlMs / 1000,
        body: renderOtpText({
          locale: resolveLocale(input.locale, destination.country),
          code,
          ttlSeconds: ttlMs / 1000,
          appName: input.appName,
          appHash: input.appHash,
          webOtpDomain: input.webOtpDomain,
        }),
      },
      {
        tenantId: caller.tenantId,
        messageId: newId(now),
        now,
        publishTimeoutMs: settings.publishTimeoutMs,
      },
    );
    const index = VerifyKeys.index(caller.tenantId, destination.e164);
    // The factor is only needed if this creates a verification, but looking it up alongside the
    // index read takes a database round trip off the way of every create.
    const [existing, factor] = await Promise.all([
      this.deps.cache.get(index),
      this.verifiedFactor(caller.tenantId, destination.e164),
    ]);
    const costMicros = estimatedCostMicros(message.segments, settings.pricePerPart);
    const spendKey = await this.hitSendWindows(
      caller,
      destination,
      existing === undefined,
      costMicros,
      now,
      policy,
    );

    let send: Send;
    try {
      send = await this.claimSend(
        caller,
        destination,
        input,
        message,
        code,
        otpKey,
        existing,
        factor,
        now,
        ttlMs,
      );
    } catch (err) {
      if (spendKey) await this.deps.cache.incrBy(spendKey, -costMicros).catch(() => undefined);
      throw err;
    }

    const event: MessageRequested = bodyKey ? { ...message, body: sealBody(message.body, bodyKey) } : message;
    try {
      await this.deps.publisher.publish([event]);
    } catch (err) {
      await this.undoSend(caller.tenantId, destination.e164, send, message.messageId).catch(
        (undoErr: unknown) =>
          this.deps.logger.warn({ err: (undoErr as Error).message }, 'verification.undo_failed'),
      );
      if (spendKey) await this.deps.cache.incrBy(spendKey, -costMicros).catch(() => undefined);
      throw err;
    }
    this.sent.inc({ country: destination.country });
    this.audit(VerificationEvents.sent, caller.tenantId, now, {
      verificationId: send.verificationId,
      messageId: message.messageId,
      to: maskPhone(destination.e164),
      country: destination.country,
      sendCount: send.sendCount,
    });
    this.deps.logger.debug(
      { verificationId: send.verificationId, messageId: message.messageId, sendCount: send.sendCount },
      VerificationEvents.sent,
    );
    return {
      id: send.verificationId,
      status: 'pending',
      expiresAt: new Date(send.expiresAt).toISOString(),
      sendCount: send.sendCount,
      created: send.created,
    };
  }

  /**
   * Checks a code against a verification named by id, or by the number it was sent to. The
   * caller learns only `approved`, `max_attempts`, or `pending`: a wrong code, no such
   * verification, an expired, canceled or already approved one all answer `pending`, with the same
   * work done (one check script, one HMAC and one constant-time comparison), so answers and
   * timing say nothing about which verifications exist.
   */
  async check(
    ref: { id: string } | { to: string },
    code: string,
    caller: Caller,
  ): Promise<VerificationStatus> {
    const settings = this.deps.settings;
    const otpKey = this.requireKey(settings.otpKey, 'PIGEON_OTP_KEY');
    const now = this.now();
    await this.hitWindowsOrThrow(caller, undefined, [
      [
        VerifyKeys.window('check-ip', clientKey(caller.ip)),
        settings.checksPerIp,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'checks from this client address',
      ],
      [
        VerifyKeys.window('check-tenant', caller.tenantId),
        settings.checksPerTenant,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'checks of this tenant',
      ],
    ]);
    let id: string | undefined;
    let expectedTo = '';
    if ('id' in ref) id = ref.id;
    else {
      const number = requireE164(ref.to, 'to');
      expectedTo = number.e164;
      id = await this.deps.cache.get(VerifyKeys.index(caller.tenantId, number.e164));
    }
    const [found, digest, checks, messageId, country, factorId, sealedTotp, to] =
      await this.deps.cache.runScript(
        beginCheck,
        [id === undefined ? VerifyKeys.noRecord : VerifyKeys.record(id)],
        [now, caller.tenantId, MAX_CHECKS, expectedTo],
      );
    const evaluate = found === 'evaluate';
    let method: 'sms' | 'totp' | undefined = codeMatches(
      otpKey,
      id ?? '',
      code,
      evaluate ? digest : undefined,
    )
      ? 'sms'
      : undefined;
    if (evaluate && method === undefined && factorId !== '' && settings.factorKey) {
      if (await this.totpAccepted(factorId, sealedTotp, code, now)) method = 'totp';
    }

    let result: CheckResult;
    let status: VerificationStatus;
    if (method !== undefined && id !== undefined) {
      const approved = await this.deps.cache.runScript(
        approveVerification,
        [VerifyKeys.record(id), VerifyKeys.index(caller.tenantId, to)],
        [id, now, digest, method],
      );
      result = approved === 1 ? 'approved' : 'already_approved';
      status = approved === 1 ? 'approved' : 'pending';
    } else if (evaluate) {
      result = 'wrong';
      status = checks >= MAX_CHECKS ? 'max_attempts' : 'pending';
    } else {
      result = found === 'approved' ? 'already_approved' : (found as CheckResult);
      status = found === 'max_attempts' ? 'max_attempts' : 'pending';
    }

    const label = country || 'none';
    this.checks.inc({ country: label, result });
    const audited = {
      ...(id !== undefined && found !== 'unknown' ? { verificationId: id } : {}),
      ...(messageId ? { messageId } : {}),
      ...(to || expectedTo ? { to: maskPhone(to || expectedTo) } : {}),
      ...(country ? { country } : {}),
    };
    this.audit(VerificationEvents.checked, caller.tenantId, now, { ...audited, result });
    if (result === 'approved') {
      this.approvals.inc({ country: label, method: method! });
      this.audit(VerificationEvents.approved, caller.tenantId, now, { ...audited, method: method! });
    }
    this.deps.logger.debug({ verificationId: audited.verificationId, result }, VerificationEvents.checked);
    return status;
  }

  /** Cancels a pending verification; a final one is returned as it is. */
  async cancel(tenantId: string, id: string, showPii: boolean): Promise<VerificationView> {
    const now = this.now();
    const outcome = await this.deps.cache.runScript(
      cancelVerification,
      [VerifyKeys.record(id), await this.indexOf(tenantId, id)],
      [id, now, tenantId, MAX_CHECKS],
    );
    if (outcome === 'unknown') throw notFound();
    if (outcome === 'canceled') {
      this.audit(VerificationEvents.canceled, tenantId, now, { verificationId: id });
    }
    const view = await this.get(tenantId, id, showPii);
    if (!view) throw notFound();
    return view;
  }

  async get(tenantId: string, id: string, showPii: boolean): Promise<VerificationView | undefined> {
    const record = await this.read(id);
    if (!record || record.tenant !== tenantId) return undefined;
    const expiresAt = Number(record.expiresAt);
    return {
      id,
      to: showPii ? record.to! : maskPhone(record.to!),
      channel: 'sms',
      status: statusAt(
        {
          stored: record.status as 'pending' | 'approved' | 'canceled',
          expiresAt,
          checks: Number(record.checks),
        },
        this.now(),
      ),
      country: record.country!,
      locale: record.locale!,
      sendCount: Number(record.sends),
      checkCount: Number(record.checks),
      createdAt: new Date(Number(record.createdAt)).toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
      approvedAt: record.approvedAt ? new Date(Number(record.approvedAt)).toISOString() : null,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Authenticator factors

  /** Creates (or replaces) the number's TOTP factor; the URI carrying the secret is shown only here. */
  async createFactor(
    tenantId: string,
    input: { to: string; issuer?: string; label?: string },
  ): Promise<{ factor: TotpFactorRecord; uri: string }> {
    const factorKey = this.requireKey(this.deps.settings.factorKey, 'PIGEON_FACTOR_KEY');
    const number = requireE164(input.to, 'to');
    const secret = newTotpSecret();
    const now = this.now();
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
  async confirmFactor(tenantId: string, id: string, code: string, caller: Caller): Promise<TotpFactorRecord> {
    this.requireKey(this.deps.settings.factorKey, 'PIGEON_FACTOR_KEY');
    const now = this.now();
    const factor = await this.deps.store.getTotpFactor(tenantId, id);
    if (!factor) throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such factor for this API key');
    await this.hitWindowsOrThrow(caller, undefined, [
      [
        VerifyKeys.window('factor', id),
        FACTOR_CONFIRM_LIMIT,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'tries to confirm this factor',
      ],
    ]);
    if (!(await this.totpAccepted(id, factor.secret, code, now))) return factor;
    if (factor.status !== 'verified') await this.deps.store.verifyTotpFactor(tenantId, id, now);
    return { ...factor, status: 'verified', verifiedAt: factor.verifiedAt ?? now };
  }

  async deleteFactor(tenantId: string, id: string): Promise<void> {
    if (!(await this.deps.store.deleteTotpFactor(tenantId, id))) {
      throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such factor for this API key');
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Reserves the send in the cache: re-sends the pending verification, or creates one. */
  private async claimSend(
    caller: Caller,
    destination: { e164: string; country: string },
    input: StartInput,
    message: MessageRequested,
    code: string,
    otpKey: Buffer,
    existing: string | undefined,
    factor: TotpFactorRecord | undefined,
    now: number,
    ttlMs: number,
  ): Promise<Send> {
    const { cache } = this.deps;
    const index = VerifyKeys.index(caller.tenantId, destination.e164);
    const expiresAt = now + ttlMs;
    let pending = existing;
    let replaceable = '';
    for (let round = 0; round < MAX_START_ROUNDS; round++) {
      if (pending !== undefined) {
        const reply = await cache.runScript(
          resendVerification,
          [VerifyKeys.record(pending), index],
          [
            pending,
            now,
            caller.tenantId,
            codeDigest(otpKey, pending, code),
            expiresAt,
            expiresAt + RETENTION_MS,
            message.messageId,
            MAX_SENDS,
            MAX_CHECKS,
            ...RESEND_INTERVALS_MS,
          ],
        );
        if (reply[0] === 'resent') {
          const [, sendCount, digest, sentAt, previousExpiry, messageId] = reply;
          return {
            verificationId: pending,
            expiresAt,
            sendCount,
            created: false,
            undo: { mode: 'resent', digest, sentAt, expiresAt: previousExpiry, messageId },
          };
        }
        if (reply[0] === 'limit' || reply[0] === 'too_soon') {
          const retryAfterSeconds = Math.max(1, Math.ceil(reply[1] / 1000));
          this.block(caller, destination.country, 'PIGEON_ERR_SEND_LIMIT');
          throw new PigeonError(
            'PIGEON_ERR_SEND_LIMIT',
            reply[0] === 'limit'
              ? `This number's verification was sent ${MAX_SENDS} times; a new one can start when it expires in ${retryAfterSeconds} s`
              : `Re-sending this number's code is allowed again in ${retryAfterSeconds} s`,
            { retryAfterSeconds },
          );
        }
        replaceable = pending;
      }
      const id = newId(now);
      const [outcome, other] = await cache.runScript(
        createVerification,
        [VerifyKeys.record(id), index],
        [
          id,
          replaceable,
          expiresAt,
          expiresAt + RETENTION_MS,
          caller.tenantId,
          destination.e164,
          destination.country,
          resolveLocale(input.locale, destination.country),
          codeDigest(otpKey, id, code),
          now,
          message.messageId,
          factor?.id ?? '',
          factor?.secret ?? '',
        ],
      );
      if (outcome === 'created') {
        return { verificationId: id, expiresAt, sendCount: 1, created: true, undo: { mode: 'created' } };
      }
      // Another request created one for this number in between: re-send that one instead.
      pending = other;
    }
    throw new PigeonError('PIGEON_ERR_RATE_LIMITED', 'Too many concurrent requests for this number', {
      retryAfterSeconds: 1,
    });
  }

  private async undoSend(tenantId: string, e164: string, send: Send, messageId: string): Promise<void> {
    const undo = send.undo;
    await this.deps.cache.runScript(
      revertSend,
      [VerifyKeys.record(send.verificationId), VerifyKeys.index(tenantId, e164)],
      undo.mode === 'created'
        ? [send.verificationId, messageId, 'created']
        : [
            send.verificationId,
            messageId,
            'resent',
            undo.digest,
            undo.sentAt,
            undo.expiresAt,
            undo.messageId,
            undo.expiresAt + RETENTION_MS,
          ],
    );
  }

  /**
   * Velocity limits and the spend cap for one send, all or nothing. Returns the spend key when
   * spend was counted, so a send that does not happen can give it back.
   */
  private async hitSendWindows(
    caller: Caller,
    { e164, country }: { e164: string; country: string },
    isNew: boolean,
    costMicros: number,
    now: number,
    { dailySpendCap, spendCapSetting }: TenantPolicy,
  ): Promise<string | undefined> {
    const s = this.deps.settings;
    const windows: WindowSpec[] = [
      [
        VerifyKeys.window('send-phone', caller.tenantId, e164),
        s.sendsPerPhone,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'codes to this number',
      ],
      [
        VerifyKeys.window('send-ip', clientKey(caller.ip)),
        s.sendsPerIp,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'code requests from this client address',
      ],
      [
        VerifyKeys.window('send-tenant', caller.tenantId),
        s.sendsPerTenant,
        1,
        0,
        'PIGEON_ERR_RATE_LIMITED',
        'code requests of this tenant',
      ],
    ];
    if (isNew) {
      windows.push([
        VerifyKeys.window('burst', caller.tenantId, numberRange(e164)),
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
      spendKey = VerifyKeys.window('spend', caller.tenantId, day);
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
    await this.hitWindowsOrThrow(caller, country, windows);
    return spendKey;
  }

  private async hitWindowsOrThrow(
    caller: Caller,
    country: string | undefined,
    windows: WindowSpec[],
  ): Promise<void> {
    const [refused, retryAfterMs, first] = await this.deps.cache.runScript(
      hitWindows,
      windows.map((w) => w[0]),
      windows.flatMap(([, rate, by, penaltyMs]) => [by, rate.limit, rate.windowMs, penaltyMs]),
    );
    if (refused === 0) return;
    const [key, rate, , , code, what] = windows[refused - 1]!;
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    this.block(caller, country, code);
    if (code === 'PIGEON_ERR_PUMPING_SUSPECTED' && first === 1) {
      // Once per block, not per refused request: this is the line an operator gets paged on.
      this.deps.logger.warn(
        { tenantId: caller.tenantId, range: key.split(':').at(-1), country, limit: rate.limit },
        'otp.pumping_suspected',
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

  /**
   * The gateway's allowlist and spend cap with the tenant's overrides applied. The overrides come
   * from an in-process cache, so a change made through another api replica takes up to
   * TENANT_OTP_SETTINGS_TTL_MS (seconds) to apply here; see tenant-settings.ts.
   */
  private async tenantPolicy(tenantId: string): Promise<TenantPolicy> {
    const s = this.deps.settings;
    const tenant = await this.tenantSettings.get(tenantId);
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

  /** Runs a policy check, recording a refusal as a block before passing it on. */
  private refusedAs<T>(caller: Caller, country: string | undefined, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isPigeonError(err) && err.code !== 'PIGEON_ERR_INVALID_NUMBER')
        this.block(caller, country, err.code);
      throw err;
    }
  }

  private block(caller: Caller, country: string | undefined, reason: string): void {
    this.blocked.inc({ reason: BLOCK_REASONS[reason] ?? 'other' });
    this.audit(VerificationEvents.blocked, caller.tenantId, this.now(), {
      reason,
      ...(country ? { country } : {}),
    });
  }

  private async totpAccepted(
    factorId: string,
    sealedSecret: string,
    code: string,
    now: number,
  ): Promise<boolean> {
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
    );
    return claimed === 1;
  }

  /**
   * The number's verified factor, looked up when a verification starts so that checks need no
   * database. A database outage must not stop SMS codes: the verification then goes without it.
   */
  private async verifiedFactor(tenantId: string, e164: string): Promise<TotpFactorRecord | undefined> {
    try {
      const factor = await this.deps.store.findTotpFactor(tenantId, e164);
      return factor?.status === 'verified' ? factor : undefined;
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'verification.factor_lookup_failed');
      return undefined;
    }
  }

  private async read(id: string): Promise<Record<string, string> | undefined> {
    const flat = await this.deps.cache.runScript(readVerification, [VerifyKeys.record(id)], []);
    if (flat.length === 0) return undefined;
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
    return record;
  }

  private async indexOf(tenantId: string, id: string): Promise<string> {
    const record = await this.read(id);
    return VerifyKeys.index(tenantId, record?.to ?? '');
  }

  private audit(
    type: VerificationEvent['type'],
    tenantId: string,
    now: number,
    fields: Parameters<typeof verificationEvent>[3],
  ): void {
    const event = verificationEvent(type, tenantId, now, fields);
    // Not awaited: a check must not wait for Kafka. The producer retries; what it finally gives up
    // on is counted and logged.
    this.deps.bus
      .publish(Topics.otpEvents, [{ key: tenantId, value: JSON.stringify(event) }])
      .catch((err: unknown) => {
        this.auditFailures.inc();
        this.deps.logger.warn({ err: (err as Error).message, type }, 'verification.audit_failed');
      });
  }

  private requireKey(key: Buffer | undefined, name: string): Buffer {
    if (key) return key;
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `Verifications are disabled: this api has no ${name} (see docs/operations.md)`,
    );
  }
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

function notFound(): PigeonError {
  return new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such verification for this API key');
}
