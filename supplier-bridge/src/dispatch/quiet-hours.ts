import { Counter, type Registry } from 'prom-client';
import type { MessageRequested } from '../../../core/message.ts';
import { quietUntil } from '../../../core/quiet-hours.ts';
import { recipientTimeZone } from '../../../core/recipient-zone.ts';
import type { TenantMessagingPolicy } from '../../../core/store/kinds/messaging-policy.ts';

/** Where the bridge reads a tenant's messaging policy: TenantMessagingPolicyCache in production. */
export interface MessagingPolicySource {
  get(tenantId: string): Promise<TenantMessagingPolicy | undefined>;
}

/** A marketing message's hold: until when, judged in which zone. */
export interface QuietHold {
  until: number;
  timeZone: string;
}

/**
 * Quiet hours at the bridge, just before routing: every pass that would send a marketing message
 * asks here first, so a message queued before the window began (a backlog, a retry round) is held
 * too. Only marketing is held; transactional, otp and alert traffic always goes.
 */
export class QuietHoursGate {
  private readonly holds: Counter<'result'>;

  constructor(
    private readonly policies: MessagingPolicySource,
    registry: Registry,
  ) {
    this.holds = new Counter({
      name: 'pigeon_bridge_quiet_hours_total',
      help: "Marketing messages held for their recipient's quiet hours (held) and let go at the window's end (released)",
      labelNames: ['result'],
      registers: [registry],
    });
  }

  /**
   * When the message may go, if the recipient's local clock is in the tenant's quiet window now.
   * A number with no zone of its own (non-geographic) has no local night and is not held.
   */
  async holdFor(message: MessageRequested, now: number): Promise<QuietHold | undefined> {
    if (message.class !== 'marketing') return undefined;
    const quiet = (await this.policies.get(message.tenantId))?.quietHours;
    if (!quiet) return undefined;
    const timeZone = recipientTimeZone(message.to);
    if (!timeZone) return undefined;
    const until = quietUntil(quiet, timeZone, now);
    return until === undefined ? undefined : { until, timeZone };
  }

  /** Counts a message's first hold; the hops that carry it through the window do not count again. */
  held(): void {
    this.holds.inc({ result: 'held' });
  }

  released(): void {
    this.holds.inc({ result: 'released' });
  }
}
