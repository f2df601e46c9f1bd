import { Counter, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { buildMessageRequested } from '../../../core/message-request.ts';
import { maskPhone, requireE164 } from '../../../core/phone.ts';
import { sealBody } from '../../../core/sealed-body.ts';
import { type CheckResult, VerificationEvents, type VerificationStatus } from '../../../core/verification.ts';
import { type MessagePublisher, PublishOutcomeUnknown } from '../publisher.ts';
import type { VerificationAudit } from './audit.ts';
import { codeMatches, DEFAULT_CODE_LENGTH, generateCode } from './code.ts';
import type { Factors } from './factors.ts';
import type { Caller, SendHold, VerificationLimits } from './limits.ts';
import { checkDestination } from '../send-policy/destination.ts';
import { MAX_CHECKS } from './policy.ts';
import {
  admitAndBeginCheck,
  approveVerification,
  isRefusal,
  cancelVerification,
  readVerification,
  VerifyKeys,
} from './scripts.ts';
import { claimSend, createWithinLimits, type Send, type SendClaim, undoSend } from './sends.ts';
import { requireKey, type VerificationSettings } from './settings.ts';
import { statusAt } from './state.ts';
import { renderOtpText, resolveLocale } from './templates.ts';

export const DEFAULT_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 600;

export interface VerificationsDeps {
  cache: Cache;
  publisher: MessagePublisher;
  logger: Logger;
  registry: Registry;
  settings: VerificationSettings;
  limits: VerificationLimits;
  factors: Factors;
  audit: VerificationAudit;
  now: () => number;
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

/**
 * Verifications over the cache: the imperative shell around the pure policy (policy.ts), codes
 * (code.ts), texts (templates.ts) and the atomic scripts (scripts.ts). Codes exist in clear only
 * in memory here and in the message text handed to the publisher (sealed when it goes to Kafka).
 * Every cache failure surfaces as PIGEON_ERR_CACHE_UNAVAILABLE (503): nothing is approved or
 * sent without the stored state.
 */
export class Verifications {
  private readonly sent: Counter<'country'>;
  private readonly checks: Counter<'country' | 'result'>;
  private readonly approvals: Counter<'country' | 'method'>;

  constructor(private readonly deps: VerificationsDeps) {
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
  }

  /** Starts a verification, or re-sends the number's pending one with a fresh code. */
  async start(input: StartInput, caller: Caller): Promise<Started> {
    const { settings, limits } = this.deps;
    const otpKey = requireKey(settings.otpKey, 'PIGEON_OTP_KEY');
    const bodyKey = settings.sealBodies ? requireKey(settings.bodyKey, 'PIGEON_BODY_KEY') : undefined;
    const policy = await limits.tenantPolicy(caller.tenantId);
    const destination = limits.refusedAs(caller, undefined, () =>
      checkDestination(input.to, policy.allowedCountries, policy.countriesSetting),
    );
    const now = this.deps.now();
    const ttlMs = (input.ttlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
    const code = generateCode(input.codeLength ?? DEFAULT_CODE_LENGTH);
    const locale = resolveLocale(input.locale, destination.country);
    const message = buildMessageRequested(
      {
        to: destination.e164,
        class: 'otp',
        ttlSeconds: ttlMs / 1000,
        body: renderOtpText({
          locale,
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
    // Needed only if this creates a verification; for a tenant without factors, no read at all.
    const factor = await this.deps.factors.verifiedFor(caller.tenantId, destination.e164);
    const claim: SendClaim = {
      tenantId: caller.tenantId,
      destination,
      locale,
      messageId: message.messageId,
      code,
      otpKey,
      existing: undefined,
      factor,
      now,
      ttlMs,
    };
    const counted = { ...destination, segments: message.segments };
    let created: { send: Send; hold: SendHold } | undefined;
    // A new verification's limits and its creation in one script, which reads the number's index
    // first: a pending verification there answers `exists` with nothing counted, and is re-sent
    // below through its own limits. So a create waits on one round trip to Redis, a re-send on
    // three (this one, the windows, the re-send script), as when the index was read on its own.
    const call = await limits.sendLimits(caller, counted, true, now, policy);
    const outcome = await createWithinLimits(this.deps.cache, claim, call);
    if ('pending' in outcome) claim.existing = outcome.pending;
    else created = { send: outcome, hold: call.hold };
    const hold =
      created?.hold ??
      (await limits.hitSendLimits(caller, counted, claim.existing === undefined, now, policy));

    let send: Send;
    try {
      send = created?.send ?? (await claimSend(this.deps.cache, claim));
    } catch (err) {
      // The verification's own send limit refuses like the velocity windows do: counted as a block.
      if (isPigeonError(err) && err.code === 'PIGEON_ERR_SEND_LIMIT') {
        limits.block(caller, destination.country, err.code);
      }
      await limits.giveBackSpend(hold);
      throw err;
    }

    const event: MessageRequested = bodyKey ? { ...message, body: sealBody(message.body, bodyKey) } : message;
    try {
      await this.deps.publisher.publish([event], { spentMs: this.deps.now() - now });
    } catch (err) {
      // The code may reach the phone: the verification keeps it, so the code works if it arrives
      // and a second create re-sends this verification rather than starting another.
      if (err instanceof PublishOutcomeUnknown) throw err;
      await undoSend(this.deps.cache, caller.tenantId, destination.e164, send, message.messageId).catch(
        (undoErr: unknown) =>
          this.deps.logger.warn({ err: (undoErr as Error).message }, 'verification.undo_failed'),
      );
      await limits.giveBackSpend(hold);
      throw err;
    }
    this.sent.inc({ country: destination.country });
    this.deps.audit.record(VerificationEvents.sent, caller.tenantId, now, {
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
    const otpKey = requireKey(settings.otpKey, 'PIGEON_OTP_KEY');
    const now = this.deps.now();
    let id: string | undefined;
    let expectedTo = '';
    if ('id' in ref) id = ref.id;
    else {
      let number: ReturnType<typeof requireE164>;
      try {
        number = requireE164(ref.to, 'to');
      } catch (err) {
        // An unusable number is still a check: it counts in the windows like any other.
        await this.deps.limits.hitCheckLimits(caller);
        throw err;
      }
      expectedTo = number.e164;
      id = await this.deps.cache.get(VerifyKeys.index(caller.tenantId, number.e164));
    }
    // The check windows and the check script in one round trip (admitAndBeginCheck): a refused
    // check counts no attempt, as when the windows ran in a script of their own first.
    const limits = this.deps.limits.checkLimits(caller);
    const reply = await this.deps.cache.runScript(
      admitAndBeginCheck,
      [
        ...limits.keys,
        id === undefined ? VerifyKeys.noRecord(caller.tenantId) : VerifyKeys.record(caller.tenantId, id),
      ],
      [...limits.args, now, caller.tenantId, MAX_CHECKS, expectedTo],
    );
    if (isRefusal(reply)) {
      limits.settle([reply[1], reply[2], reply[3]]);
      throw new Error(`check limits refused with ${reply[1]} yet settled`);
    }
    const [found, digest, checks, messageId, country, factorId, sealedTotp, to] = reply;
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
      if (await this.deps.factors.accepts(factorId, sealedTotp, code, now)) method = 'totp';
    }

    let result: CheckResult;
    let status: VerificationStatus;
    if (method !== undefined && id !== undefined) {
      const approved = await this.deps.cache.runScript(
        approveVerification,
        [VerifyKeys.record(caller.tenantId, id), VerifyKeys.index(caller.tenantId, to)],
        [id, now, digest, method],
        // A promoted replica without this approval would approve the same code a second time.
        { replicated: true },
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
    this.deps.audit.record(VerificationEvents.checked, caller.tenantId, now, { ...audited, result });
    if (result === 'approved') {
      this.approvals.inc({ country: label, method: method! });
      this.deps.audit.record(VerificationEvents.approved, caller.tenantId, now, {
        ...audited,
        method: method!,
      });
    }
    this.deps.logger.debug({ verificationId: audited.verificationId, result }, VerificationEvents.checked);
    return status;
  }

  /** Cancels a pending verification; a final one is returned as it is. */
  async cancel(tenantId: string, id: string, showPii: boolean): Promise<VerificationView> {
    const now = this.deps.now();
    const outcome = await this.deps.cache.runScript(
      cancelVerification,
      [VerifyKeys.record(tenantId, id), await this.indexOf(tenantId, id)],
      [id, now, tenantId, MAX_CHECKS],
      // A promoted replica without the cancellation would let its code approve.
      { replicated: true },
    );
    if (outcome === 'unknown') throw verificationNotFound();
    if (outcome === 'canceled') {
      this.deps.audit.record(VerificationEvents.canceled, tenantId, now, { verificationId: id });
    }
    const view = await this.get(tenantId, id, showPii);
    if (!view) throw verificationNotFound();
    return view;
  }

  async get(tenantId: string, id: string, showPii: boolean): Promise<VerificationView | undefined> {
    const record = await this.read(tenantId, id);
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
        this.deps.now(),
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

  private async read(tenantId: string, id: string): Promise<Record<string, string> | undefined> {
    const flat = await this.deps.cache.runScript(readVerification, [VerifyKeys.record(tenantId, id)], []);
    if (flat.length === 0) return undefined;
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
    return record;
  }

  private async indexOf(tenantId: string, id: string): Promise<string> {
    const record = await this.read(tenantId, id);
    return VerifyKeys.index(tenantId, record?.to ?? '');
  }
}

/** The one answer for an id that is not this tenant's verification, whether or not it exists. */
export function verificationNotFound(): PigeonError {
  return new PigeonError('PIGEON_ERR_NOT_FOUND', 'No such verification for this API key');
}
