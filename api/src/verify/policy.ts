import { isIPv6 } from 'node:net';

/**
 * OTP policy as pure functions: how often codes may go, and the day their spend cap counts in.
 * Verifications (verifications.ts) and their limits (limits.ts) apply it with counters in the cache.
 * Where codes may go (country and number type) and what one costs are the send policy's, shared
 * with every send path: ../send-policy/destination.ts and ../send-policy/pricing.ts.
 */

/** Sends a verification may make: the first and up to four re-sends. */
export const MAX_SENDS = 5;
/** Checks a verification evaluates, whatever the code and however many arrive at once. */
export const MAX_CHECKS = 5;

/**
 * The pause before each send, by send number (index 0: the first send). Growing, so a script that
 * hammers "resend" gets five codes in seven and a half minutes at most.
 */
export const RESEND_INTERVALS_MS = [0, 30_000, 60_000, 120_000, 240_000] as const;

/**
 * The part of a client address velocity limits count by: an IPv4 address, or the /64 of an IPv6
 * one, since a single subscriber gets a whole /64 and could otherwise rotate through it.
 */
export function clientKey(ip: string): string {
  const address = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::', 2);
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * When the next send of a verification may go: undefined when it may go now, `'limit'` when the
 * verification has made all its sends, else the earliest instant (ms).
 */
export function nextSendAt(sendCount: number, lastSentAt: number, now: number): number | 'limit' | undefined {
  if (sendCount >= MAX_SENDS) return 'limit';
  const due = lastSentAt + RESEND_INTERVALS_MS[sendCount]!;
  return now >= due ? undefined : due;
}

/** The UTC day of an instant, `2026-01-31`, and the milliseconds left in it. */
export function utcDay(now: number): { day: string; msLeft: number } {
  const day = new Date(now).toISOString().slice(0, 10);
  const nextMidnight = Date.parse(`${day}T00:00:00.000Z`) + 86_400_000;
  return { day, msLeft: nextMidnight - now };
}
