/**
 * OTP conversion per provider and country: codes approved ÷ codes sent, over a sliding window.
 * A provider that accepts messages but silently stops delivering shows no errors at all — only
 * fewer users typing their code. Pure: fed with events, clock injected.
 *
 * The api does not know the provider when it sends (the bridge picks it later), so sends are
 * joined here: `verification.sent` names the message carrying the code, the bridge's
 * `message.submitted` names the message's provider, in either order. Approvals through an
 * authenticator app are left out of the ratio: they say nothing about SMS delivery, and a rise in
 * them is itself a symptom of SMS not arriving.
 */
import { AgeSweep } from './age-sweep.ts';

export interface ConversionOptions {
  /** Width of the window the ratio covers. Default 15 min. */
  windowMs?: number;
  /** Resolution of the window. Default 1 min. */
  bucketMs?: number;
  /** Most messages remembered for the join; the oldest go first. Default 100,000. */
  maxTracked?: number;
  now?: () => number;
}

export interface Attribution {
  provider: string;
  country: string;
}

export interface ConversionSample extends Attribution {
  sent: number;
  approved: number;
  ratio: number;
}

interface Tracked {
  country: string | undefined;
  provider: string | undefined;
  /** When the send was counted, so a later approval lands in the same window's books. */
  counted: boolean;
  at: number;
}

const UNKNOWN = 'unknown';
const EARLY_MAX = 20_000;
const EARLY_MS = 60_000;

export class OtpConversion {
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;
  /** OTP messageId → what is known of it; insertion order is age order. */
  private readonly messages = new Map<string, Tracked>();
  /**
   * Submissions of messages not (yet) known as OTPs — nearly all traffic, so kept briefly and few:
   * only long enough for a verification.sent that lost the race to find its provider.
   */
  private readonly early = new Map<string, { provider: string; at: number }>();
  private readonly earlySweep = new AgeSweep();
  private readonly messagesSweep = new AgeSweep();
  /** `provider|country` → bucket start → counts. */
  private readonly windows = new Map<string, Map<number, { sent: number; approved: number }>>();

  constructor(options: ConversionOptions = {}) {
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.bucketMs = options.bucketMs ?? 60_000;
    this.maxTracked = options.maxTracked ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** A code went out in `messageId` (verification.sent). Returns the attribution once the send counts. */
  sent(messageId: string, country: string | undefined): Attribution | undefined {
    const tracked = this.track(messageId);
    tracked.country = country ?? tracked.country;
    const early = this.early.get(messageId);
    if (early !== undefined) {
      tracked.provider ??= early.provider;
      this.early.delete(messageId);
    }
    return this.countSend(tracked);
  }

  /**
   * The bridge handed `messageId` to `provider` (message.submitted, for every class: only messages
   * also announced by verification.sent count).
   */
  submitted(messageId: string, provider: string, country: string | undefined): Attribution | undefined {
    const tracked = this.messages.get(messageId);
    if (tracked === undefined) {
      // Probably not an OTP; remembered briefly in case its verification.sent is still on the way.
      const now = this.now();
      this.early.set(messageId, { provider, at: now });
      this.earlySweep.run(this.early, now, EARLY_MAX, (e) => e.at < now - EARLY_MS);
      return undefined;
    }
    if (tracked.counted && tracked.provider === provider) return undefined;
    // A failover copy through another provider is a send of that provider too, and the approval
    // most likely came from the later copy: the first provider keeps a send without one.
    tracked.counted = false;
    tracked.provider = provider;
    tracked.country ??= country;
    return this.countSend(tracked);
  }

  /** Where a check or approval of the code in `messageId` belongs. */
  attribute(messageId: string | undefined, country: string | undefined): Attribution {
    const tracked = messageId === undefined ? undefined : this.messages.get(messageId);
    return { provider: tracked?.provider ?? UNKNOWN, country: tracked?.country ?? country ?? UNKNOWN };
  }

  /** A verification was approved with the code from `messageId`. */
  approved(messageId: string | undefined, country: string | undefined, method: 'sms' | 'totp'): Attribution {
    const where = this.attribute(messageId, country);
    if (method === 'sms') this.bucket(where, this.now()).approved++;
    return where;
  }

  /** The ratio per provider and country over the window, for pairs with at least one send in it. */
  snapshot(): ConversionSample[] {
    const from = this.now() - this.windowMs;
    const samples: ConversionSample[] = [];
    for (const [key, buckets] of this.windows) {
      let sent = 0;
      let approved = 0;
      for (const [start, counts] of buckets) {
        if (start + this.bucketMs <= from) buckets.delete(start);
        else {
          sent += counts.sent;
          approved += counts.approved;
        }
      }
      if (buckets.size === 0) {
        this.windows.delete(key);
        continue;
      }
      if (sent === 0) continue;
      const [provider = UNKNOWN, country = UNKNOWN] = key.split('|');
      // Approvals of codes sent just before the window opened can push it over 1.
      samples.push({ provider, country, sent, approved, ratio: Math.min(1, approved / sent) });
    }
    return samples;
  }

  private countSend(tracked: Tracked): Attribution | undefined {
    if (tracked.counted || tracked.provider === undefined || tracked.country === undefined) return undefined;
    tracked.counted = true;
    const where = { provider: tracked.provider, country: tracked.country };
    this.bucket(where, this.now()).sent++;
    return where;
  }

  private track(messageId: string): Tracked {
    let tracked = this.messages.get(messageId);
    if (tracked === undefined) {
      tracked = { country: undefined, provider: undefined, counted: false, at: this.now() };
      this.messages.set(messageId, tracked);
      // Age out what no approval can refer to any more, and cap the rest.
      const oldest = this.now() - 2 * this.windowMs;
      this.messagesSweep.run(this.messages, this.now(), this.maxTracked, (t) => t.at < oldest);
    }
    return tracked;
  }

  private bucket(where: Attribution, at: number): { sent: number; approved: number } {
    const key = `${where.provider}|${where.country}`;
    let buckets = this.windows.get(key);
    if (buckets === undefined) {
      buckets = new Map();
      this.windows.set(key, buckets);
    }
    const start = at - (at % this.bucketMs);
    let counts = buckets.get(start);
    if (counts === undefined) {
      counts = { sent: 0, approved: 0 };
      buckets.set(start, counts);
    }
    return counts;
  }
}
