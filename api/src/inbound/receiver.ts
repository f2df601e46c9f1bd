import type { Cache } from '../../../core/cache/cache.ts';
import { newId } from '../../../core/ids.ts';
import { Markers } from '../../../core/markers.ts';
import {
  ALL_SENDERS,
  DEFAULT_OPT_OUT_SETTINGS,
  type KeywordAction,
  keywordAction,
  type OptOutSettings,
} from '../../../core/opt-out.ts';
import type { InboundRecord } from '../../../core/store/kinds/inbound.ts';
import type { Store } from '../../../core/store/store.ts';
import type { SuppressionList } from '../../../core/suppression-cache.ts';
import type { InboundSms } from '../../../providers/provider.ts';
import { inboundDelivery } from './forward.ts';
import { reassemble } from './reassembly.ts';

/** Sends an auto-reply through the normal send path (its limits included). */
export type AutoReply = (tenantId: string, to: string, from: string, body: string) => Promise<void>;

export interface InboundReceiverDeps {
  store: Store;
  cache: Cache;
  suppressions: SuppressionList;
  /** Absent: keywords still act, but nothing is answered. */
  reply?: AutoReply;
  now?: () => number;
}

/**
 * What became of one inbound SMS: `partial` (a part; the rest to come), `unowned` (no tenant
 * registered the number it was sent to), `duplicate` (a provider's retry), or stored, with the
 * keyword it was.
 */
export type InboundOutcome =
  | { result: 'partial' | 'unowned' | 'duplicate' }
  | {
      result: 'stored';
      record: InboundRecord;
      action: KeywordAction | undefined;
      /** Why the auto-reply was not sent (the tenant's send limits, the bus); the SMS stands. */
      replyError?: unknown;
    };

/**
 * Handles an SMS someone sent to a tenant's sender: joins its parts, finds the tenant by the
 * sender it went to, applies an opt-out keyword to the tenant's suppression list, stores it,
 * forwards it to the tenant's webhook as `message.inbound` and sends the keyword's auto-reply.
 */
export class InboundReceiver {
  private readonly now: () => number;

  constructor(private readonly deps: InboundReceiverDeps) {
    this.now = deps.now ?? Date.now;
  }

  async receive(provider: string, incoming: InboundSms): Promise<InboundOutcome> {
    const { store } = this.deps;
    const whole = await reassemble(this.deps.cache, provider, incoming);
    if (!whole) return { result: 'partial' };
    const { sms, parts } = whole;
    const tenantId = await store.tenantOfSender(sms.to);
    if (tenantId === undefined) return { result: 'unowned' };
    const settings = (await store.getOptOutSettings(tenantId)) ?? DEFAULT_OPT_OUT_SETTINGS;
    const action = keywordAction(sms.body, sms.to, settings.keywords);
    const now = this.now();
    // Before the record is stored: applying a keyword twice is harmless, and a provider retrying
    // after a failure here must find the keyword not yet applied rather than a stored duplicate.
    await this.applyKeyword(tenantId, sms, action, now);
    const record: InboundRecord = {
      id: newId(now),
      tenantId,
      provider,
      providerMessageId: sms.providerMessageId,
      from: sms.from,
      to: sms.to,
      body: sms.body,
      parts,
      keyword: action ?? null,
      inReplyTo: (await this.answered(provider, tenantId, sms)) ?? null,
      receivedAt: now,
    };
    if (!(await store.insertInbound(record))) return { result: 'duplicate' };
    const webhook = await store.getWebhook(tenantId);
    if (webhook?.url) await store.enqueueCallbacks([inboundDelivery(record, webhook.url, now)]);
    const text = replyText(settings, action);
    if (text !== undefined && this.deps.reply) {
      try {
        await this.deps.reply(tenantId, sms.from, sms.to, text);
      } catch (replyError) {
        // Answering the provider with an error would only make it post the SMS again.
        return { result: 'stored', record, action, replyError };
      }
    }
    return { result: 'stored', record, action };
  }

  /**
   * The message this SMS answers: the one the provider names (by its own id, which the bridge
   * recorded on acceptance), else the newest the tenant sent that number from that sender.
   */
  private async answered(provider: string, tenantId: string, sms: InboundSms): Promise<string | undefined> {
    if (sms.answersProviderMessageId !== undefined) {
      const owner = await this.deps.cache.get(
        Markers.providerMessage(provider, sms.answersProviderMessageId),
      );
      const named =
        owner === undefined ? undefined : (JSON.parse(owner) as { messageId?: string; tenantId?: string });
      if (named?.messageId && named.tenantId === tenantId) return named.messageId;
    }
    return this.deps.store.lastMessageTo(tenantId, sms.from, sms.to);
  }

  private async applyKeyword(
    tenantId: string,
    sms: InboundSms,
    action: KeywordAction | undefined,
    now: number,
  ): Promise<void> {
    const { suppressions } = this.deps;
    const entry = (sender: string) => ({
      tenantId,
      phone: sms.from,
      sender,
      reason: 'keyword' as const,
      createdAt: now,
    });
    if (action === 'stop') await suppressions.add([entry(sms.to)]);
    else if (action === 'stop_all') await suppressions.add([entry(ALL_SENDERS)]);
    else if (action === 'start') {
      // START to a sender lifts the opt-out from it and a STOPALL; STOPs sent to other senders stand.
      await suppressions.remove(tenantId, sms.from, sms.to);
      await suppressions.remove(tenantId, sms.from, ALL_SENDERS);
    }
  }
}

/** The tenant's reply to a keyword; none configured, none sent. */
export function replyText(settings: OptOutSettings, action: KeywordAction | undefined): string | undefined {
  switch (action) {
    case 'stop':
    case 'stop_all':
      return settings.replies.stop;
    case 'start':
      return settings.replies.start;
    case 'help':
      return settings.replies.help;
    default:
      return undefined;
  }
}
