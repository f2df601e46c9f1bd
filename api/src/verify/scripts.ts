/**
 * The verification's atomic operations, each written once for Redis (Lua) and once for the memory
 * cache (a function over the same commands), side by side. test/contract/verify-scripts.contract
 * .test.ts runs every one against both backends.
 *
 * A verification is a hash at `otp:v:{<tenant>}:<id>` (fields below, times in ms since the epoch)
 * plus an index `otp:p:{<tenant>}:<number>` → id of the number's pending verification, which
 * expires with it. Times come in as arguments rather than from Redis TIME, so tests can drive
 * expiry with a fake clock. The tenant is the hash tag of every key here (core/cache/slots.ts): a
 * script touches a record with its index, and the rate limits of a request with the tenant's
 * bucket, so on a Redis Cluster each of those sets must lie in one slot.
 *
 *   tenant to country locale  who and where
 *   status                    pending | approved | canceled  (expired, max_attempts: derived)
 *   digest                    HMAC of the current code (code.ts); never the code
 *   sends checks              counters; checks are never reset
 *   createdAt expiresAt sentAt approvedAt canceledAt method
 *   messageId                 the message that carried the current code
 *   factorId totp             the number's verified TOTP factor, its secret sealed, or ''
 */
import type { CacheScript, ScriptRedis } from '../../../core/cache/cache.ts';
import { admitSend } from '../send-policy/scripts.ts';
import { hashTag } from '../../../core/cache/slots.ts';

export const VerifyKeys = {
  record: (tenantId: string, id: string) => `otp:v:${hashTag(tenantId)}:${id}`,
  index: (tenantId: string, e164: string) => `otp:p:${hashTag(tenantId)}:${e164}`,
  /** Stands in for a record when there is none to read, so every check costs the same round trips. */
  noRecord: (tenantId: string) => `otp:v:${hashTag(tenantId)}:none`,
  /** A rate-limit window of the tenant's, named by scope and the rest of its parts. */
  window: (tenantId: string, scope: string, ...parts: string[]) =>
    [`otp:rl:${scope}:${hashTag(tenantId)}`, ...parts].join(':'),
  totpStep: (factorId: string) => `otp:totp:${factorId}`,
} as const;

const num = (value: string | null | undefined): number => Number(value ?? Number.NaN);

// ---------------------------------------------------------------------------------------------

/**
 * Creates a verification and points the number's index at it, unless the index already points at
 * another one (a concurrent create, or a pending verification to re-send instead).
 * KEYS record, index. ARGV id, replaceable id or '', expiresAt, retainUntil, tenant, to, country,
 * locale, digest, now, messageId, factorId, totp.
 * Reply ['created', ''] or ['exists', id of the other].
 */
export const createVerification: CacheScript<[string, string]> = {
  name: 'verify_create',
  lua: `
local current = redis.call('GET', KEYS[2])
if current and current ~= ARGV[2] then return {'exists', current} end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'tenant', ARGV[5], 'to', ARGV[6], 'country', ARGV[7], 'locale', ARGV[8],
  'status', 'pending', 'digest', ARGV[9], 'sends', 1, 'checks', 0, 'createdAt', ARGV[10],
  'expiresAt', ARGV[3], 'sentAt', ARGV[10], 'messageId', ARGV[11], 'factorId', ARGV[12], 'totp', ARGV[13])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {'created', ''}`,
  memory(r: ScriptRedis, [record, index], a): [string, string] {
    const current = r.get(index!);
    if (current !== null && current !== a[1]) return ['exists', current];
    r.set(index!, a[0]!);
    r.pexpireAt(index!, num(a[2]));
    r.hset(record!, {
      tenant: a[4]!,
      to: a[5]!,
      country: a[6]!,
      locale: a[7]!,
      status: 'pending',
      digest: a[8]!,
      sends: 1,
      checks: 0,
      createdAt: a[9]!,
      expiresAt: a[2]!,
      sentAt: a[9]!,
      messageId: a[10]!,
      factorId: a[11]!,
      totp: a[12]!,
    });
    r.pexpireAt(record!, num(a[3]));
    return ['created', ''];
  },
};

// ---------------------------------------------------------------------------------------------

/** The create script's ARGV count; admitAndCreate finds where its two parts meet by it. */
const CREATE_ARGS = 13;

export type AdmitAndCreateReply = ['created', ''] | ['exists', string] | ['refused', number, number, number];

/**
 * A new verification's send limits and its creation in one step, so a create waits on one round
 * trip instead of two: the number's index is read first (another pending verification: ['exists',
 * its id], nothing counted, and the caller re-sends that one through its own limits); then the
 * send policy's admitSend runs over its part of the keys and arguments (a refusal: ['refused', and
 * admitSend's reply], nothing created); then createVerification, which answers ['created', ''].
 * KEYS admitSend's keys (no dedup claim), then record, index. ARGV admitSend's, then the create
 * script's thirteen.
 */
export const admitAndCreate: CacheScript<AdmitAndCreateReply> = {
  name: 'verify_admit_create',
  lua: `
local function admit(KEYS, ARGV)
${admitSend.lua}
end
local function create(KEYS, ARGV)
${createVerification.lua}
end
local admitKeys, admitArgs, createArgs = {}, {}, {}
for i = 1, #KEYS - 2 do admitKeys[i] = KEYS[i] end
for i = 1, #ARGV - ${CREATE_ARGS} do admitArgs[i] = ARGV[i] end
for i = #ARGV - ${CREATE_ARGS - 1}, #ARGV do createArgs[#createArgs + 1] = ARGV[i] end
local current = redis.call('GET', KEYS[#KEYS])
if current and current ~= createArgs[2] then return {'exists', current} end
local admitted = admit(admitKeys, admitArgs)
if admitted[1] ~= 0 then return {'refused', admitted[1], admitted[2], admitted[3]} end
return create({KEYS[#KEYS - 1], KEYS[#KEYS]}, createArgs)`,
  memory(r: ScriptRedis, keys, a): AdmitAndCreateReply {
    const createKeys = keys.slice(-2);
    const createArgs = a.slice(-CREATE_ARGS);
    const current = r.get(createKeys[1]!);
    if (current !== null && current !== createArgs[1]) return ['exists', current];
    const admitted = admitSend.memory(r, keys.slice(0, -2), a.slice(0, -CREATE_ARGS));
    if (admitted[0] !== 0) return ['refused', admitted[0], admitted[1], admitted[2]];
    return createVerification.memory(r, createKeys, createArgs) as ['created', ''];
  },
};

// ---------------------------------------------------------------------------------------------

export type ResendReply =
  ['gone'] | ['limit', number] | ['too_soon', number] | ['resent', number, string, number, number, string];

/**
 * Gives the number's pending verification a new code and expiry, if the re-send schedule allows.
 * KEYS record, index. ARGV id, now, tenant, digest, expiresAt, retainUntil, messageId, maxSends,
 * maxChecks, then the interval before each send (ms), first send first.
 * Reply ['gone'] (not pending any more: start a new one), ['limit', ms until it expires],
 * ['too_soon', ms to wait], or ['resent', sends, and what it replaced: digest, sentAt, expiresAt,
 * messageId — so a send that then fails to publish can be undone].
 */
export const resendVerification: CacheScript<ResendReply> = {
  name: 'verify_resend',
  lua: `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'gone'} end
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[3] then return {'gone'} end
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return {'gone'} end
local now = tonumber(ARGV[2])
local expiresAt = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
local checks = tonumber(redis.call('HGET', KEYS[1], 'checks'))
if now >= expiresAt or checks >= tonumber(ARGV[9]) then return {'gone'} end
local sends = tonumber(redis.call('HGET', KEYS[1], 'sends'))
if sends >= tonumber(ARGV[8]) then return {'limit', expiresAt - now} end
local sentAt = tonumber(redis.call('HGET', KEYS[1], 'sentAt'))
local due = sentAt + tonumber(ARGV[10 + sends])
if now < due then return {'too_soon', due - now} end
local digest = redis.call('HGET', KEYS[1], 'digest')
local messageId = redis.call('HGET', KEYS[1], 'messageId')
redis.call('HSET', KEYS[1], 'digest', ARGV[4], 'sends', sends + 1, 'sentAt', ARGV[2],
  'expiresAt', ARGV[5], 'messageId', ARGV[7])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return {'resent', sends + 1, digest, sentAt, expiresAt, messageId}`,
  memory(r: ScriptRedis, [record, index], a): ResendReply {
    if (r.get(index!) !== a[0]) return ['gone'];
    if (r.hget(record!, 'tenant') !== a[2]) return ['gone'];
    if (r.hget(record!, 'status') !== 'pending') return ['gone'];
    const now = num(a[1]);
    const expiresAt = num(r.hget(record!, 'expiresAt'));
    const checks = num(r.hget(record!, 'checks'));
    if (now >= expiresAt || checks >= num(a[8])) return ['gone'];
    const sends = num(r.hget(record!, 'sends'));
    if (sends >= num(a[7])) return ['limit', expiresAt - now];
    const sentAt = num(r.hget(record!, 'sentAt'));
    const due = sentAt + num(a[9 + sends]);
    if (now < due) return ['too_soon', due - now];
    const digest = r.hget(record!, 'digest')!;
    const messageId = r.hget(record!, 'messageId')!;
    r.hset(record!, { digest: a[3]!, sends: sends + 1, sentAt: a[1]!, expiresAt: a[4]!, messageId: a[6]! });
    r.pexpireAt(index!, num(a[4]));
    r.pexpireAt(record!, num(a[5]));
    return ['resent', sends + 1, digest, sentAt, expiresAt, messageId];
  },
};

// ---------------------------------------------------------------------------------------------

/**
 * Undoes a send whose message the bus did not take (the API answered 503 and marked the message
 * aborted, so it is never delivered): a new verification disappears, a re-send gets its previous
 * code, times and message back — the user can still use the code that did arrive.
 * KEYS record, index. ARGV id, messageId of the failed send, 'created' | 'resent', then for
 * 'resent': digest, sentAt, expiresAt, messageId, retainUntil as they were.
 * Reply 1 when undone, 0 when the verification moved on meanwhile.
 */
export const revertSend: CacheScript<number> = {
  name: 'verify_revert_send',
  lua: `
if redis.call('HGET', KEYS[1], 'messageId') ~= ARGV[2] then return 0 end
if ARGV[3] == 'created' then
  redis.call('DEL', KEYS[1])
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return 1
end
redis.call('HINCRBY', KEYS[1], 'sends', -1)
redis.call('HSET', KEYS[1], 'digest', ARGV[4], 'sentAt', ARGV[5], 'expiresAt', ARGV[6], 'messageId', ARGV[7])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIREAT', KEYS[2], ARGV[6]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
return 1`,
  memory(r: ScriptRedis, [record, index], a): number {
    if (r.hget(record!, 'messageId') !== a[1]) return 0;
    if (a[2] === 'created') {
      r.del(record!);
      if (r.get(index!) === a[0]) r.del(index!);
      return 1;
    }
    r.hincrBy(record!, 'sends', -1);
    r.hset(record!, { digest: a[3]!, sentAt: a[4]!, expiresAt: a[5]!, messageId: a[6]! });
    if (r.get(index!) === a[0]) r.pexpireAt(index!, num(a[5]));
    r.pexpireAt(record!, num(a[7]));
    return 1;
  },
};

// ---------------------------------------------------------------------------------------------

/** [result, digest, checks, messageId, country, factorId, totp, to]; only `evaluate` carries a digest. */
export type CheckReply = [string, string, number, string, string, string, string, string];

/**
 * The first half of a check: counts the attempt, if one is left, and hands back what the code must
 * be compared with. Counting and deciding happen in one step, so fifty concurrent checks of one
 * verification get exactly five evaluations between them. The comparison itself is done by the
 * caller in constant time (code.ts), never here.
 * KEYS record. ARGV now, tenant, maxChecks, the number the caller named or '' (check by id).
 * Result: 'unknown' (none, another tenant's, another number's), 'approved', 'canceled',
 * 'max_attempts', 'expired', or 'evaluate'.
 */
export const beginCheck: CacheScript<CheckReply> = {
  name: 'verify_begin_check',
  lua: `
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[2] then return {'unknown', '', 0, '', '', '', '', ''} end
local to = redis.call('HGET', KEYS[1], 'to')
if ARGV[4] ~= '' and to ~= ARGV[4] then return {'unknown', '', 0, '', '', '', '', ''} end
local messageId = redis.call('HGET', KEYS[1], 'messageId')
local country = redis.call('HGET', KEYS[1], 'country')
local status = redis.call('HGET', KEYS[1], 'status')
local checks = tonumber(redis.call('HGET', KEYS[1], 'checks'))
if status ~= 'pending' then return {status, '', checks, messageId, country, '', '', to} end
if checks >= tonumber(ARGV[3]) then return {'max_attempts', '', checks, messageId, country, '', '', to} end
if tonumber(ARGV[1]) >= tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then
  return {'expired', '', checks, messageId, country, '', '', to}
end
checks = redis.call('HINCRBY', KEYS[1], 'checks', 1)
return {'evaluate', redis.call('HGET', KEYS[1], 'digest'), checks, messageId, country,
  redis.call('HGET', KEYS[1], 'factorId'), redis.call('HGET', KEYS[1], 'totp'), to}`,
  memory(r: ScriptRedis, [record], a): CheckReply {
    if (r.hget(record!, 'tenant') !== a[1]) return ['unknown', '', 0, '', '', '', '', ''];
    const to = r.hget(record!, 'to')!;
    if (a[3] !== '' && to !== a[3]) return ['unknown', '', 0, '', '', '', '', ''];
    const messageId = r.hget(record!, 'messageId')!;
    const country = r.hget(record!, 'country')!;
    const status = r.hget(record!, 'status')!;
    let checks = num(r.hget(record!, 'checks'));
    if (status !== 'pending') return [status, '', checks, messageId, country, '', '', to];
    if (checks >= num(a[2])) return ['max_attempts', '', checks, messageId, country, '', '', to];
    if (num(a[0]) >= num(r.hget(record!, 'expiresAt'))) {
      return ['expired', '', checks, messageId, country, '', '', to];
    }
    checks = r.hincrBy(record!, 'checks', 1);
    return [
      'evaluate',
      r.hget(record!, 'digest')!,
      checks,
      messageId,
      country,
      r.hget(record!, 'factorId')!,
      r.hget(record!, 'totp')!,
      to,
    ];
  },
};

/** The check script's ARGV count; admitAndBeginCheck finds where its two parts meet by it. */
const CHECK_ARGS = 4;

export type AdmitAndCheckReply = CheckReply | CheckRefused;
type CheckRefused = ['refused', number, number, number];

/** Whether admitAndBeginCheck's reply is the windows' refusal rather than the check's. */
export function isRefusal(reply: AdmitAndCheckReply): reply is CheckRefused {
  return reply[0] === 'refused';
}

/**
 * A check's rate limits and its first half in one step, so a check waits on one round trip instead
 * of two: the send policy's admitSend runs over its part of the keys and arguments (the check
 * windows; a refusal: ['refused', and admitSend's reply], and the attempt is not counted), then
 * beginCheck, whose reply it answers. The windows count every check that reaches Redis, as they did
 * when they ran first in a script of their own, whatever the verification turns out to be.
 * KEYS admitSend's keys (no dedup claim), then record. ARGV admitSend's, then beginCheck's four.
 */
export const admitAndBeginCheck: CacheScript<AdmitAndCheckReply> = {
  name: 'verify_admit_begin_check',
  lua: `
local function admit(KEYS, ARGV)
${admitSend.lua}
end
local function check(KEYS, ARGV)
${beginCheck.lua}
end
local admitKeys, admitArgs, checkArgs = {}, {}, {}
for i = 1, #KEYS - 1 do admitKeys[i] = KEYS[i] end
for i = 1, #ARGV - ${CHECK_ARGS} do admitArgs[i] = ARGV[i] end
for i = #ARGV - ${CHECK_ARGS - 1}, #ARGV do checkArgs[#checkArgs + 1] = ARGV[i] end
local admitted = admit(admitKeys, admitArgs)
if admitted[1] ~= 0 then return {'refused', admitted[1], admitted[2], admitted[3]} end
return check({KEYS[#KEYS]}, checkArgs)`,
  memory(r: ScriptRedis, keys, a): AdmitAndCheckReply {
    const admitted = admitSend.memory(r, keys.slice(0, -1), a.slice(0, -CHECK_ARGS));
    if (admitted[0] !== 0) return ['refused', admitted[0], admitted[1], admitted[2]];
    return beginCheck.memory(r, keys.slice(-1), a.slice(-CHECK_ARGS));
  },
};

// ---------------------------------------------------------------------------------------------

/**
 * The second half of a right check: approves, unless the verification stopped being pending,
 * expired, or got a new code since the first half read it. Approval is final and clears the index,
 * so the same code can never approve twice and the number can start a new verification.
 * KEYS record, index. ARGV id, now, digest read by beginCheck, method ('sms' | 'totp').
 * Reply 1 when this call approved it, else 0.
 */
export const approveVerification: CacheScript<number> = {
  name: 'verify_approve',
  lua: `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then return 0 end
if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'approved', 'approvedAt', ARGV[2], 'method', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`,
  memory(r: ScriptRedis, [record, index], a): number {
    if (r.hget(record!, 'status') !== 'pending') return 0;
    if (num(a[1]) >= num(r.hget(record!, 'expiresAt'))) return 0;
    if (r.hget(record!, 'digest') !== a[2]) return 0;
    r.hset(record!, { status: 'approved', approvedAt: a[1]!, method: a[3]! });
    if (r.get(index!) === a[0]) r.del(index!);
    return 1;
  },
};

// ---------------------------------------------------------------------------------------------

/**
 * Cancels a pending verification. KEYS record, index. ARGV id, now, tenant, maxChecks.
 * Reply 'unknown', 'canceled', or 'unchanged' (it was already final).
 */
export const cancelVerification: CacheScript<string> = {
  name: 'verify_cancel',
  lua: `
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[3] then return 'unknown' end
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 'unchanged' end
if tonumber(redis.call('HGET', KEYS[1], 'checks')) >= tonumber(ARGV[4]) then return 'unchanged' end
if tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then return 'unchanged' end
redis.call('HSET', KEYS[1], 'status', 'canceled', 'canceledAt', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 'canceled'`,
  memory(r: ScriptRedis, [record, index], a): string {
    if (r.hget(record!, 'tenant') !== a[2]) return 'unknown';
    if (r.hget(record!, 'status') !== 'pending') return 'unchanged';
    if (num(r.hget(record!, 'checks')) >= num(a[3])) return 'unchanged';
    if (num(a[1]) >= num(r.hget(record!, 'expiresAt'))) return 'unchanged';
    r.hset(record!, { status: 'canceled', canceledAt: a[1]! });
    if (r.get(index!) === a[0]) r.del(index!);
    return 'canceled';
  },
};

// ---------------------------------------------------------------------------------------------

/** Every field of a verification as [field, value, …]. KEYS record. */
export const readVerification: CacheScript<string[]> = {
  name: 'verify_read',
  lua: `return redis.call('HGETALL', KEYS[1])`,
  memory: (r: ScriptRedis, [record]) => r.hgetall(record!),
};

// ---------------------------------------------------------------------------------------------

/**
 * Claims a TOTP time step for a factor: a code is accepted once, and never one older than the last
 * accepted. KEYS the factor's step key. ARGV step, ttl ms. Reply 1 when claimed, 0 for a replay.
 */
export const claimTotpStep: CacheScript<number> = {
  name: 'totp_claim_step',
  lua: `
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,
  memory(r: ScriptRedis, [key], a): number {
    const last = num(r.get(key!) ?? '-1');
    if (num(a[0]) <= last) return 0;
    r.set(key!, a[0]!, { px: num(a[1]) });
    return 1;
  },
};
