import { createHash } from 'node:crypto';
import type { Cache } from '../../../core/cache/cache.ts';
import { markCampaignCancelled } from '../../../core/campaign-cancel.ts';
import { idOf } from '../../../core/ids.ts';
import type { CampaignRecord } from '../../../core/store/kinds/campaigns.ts';
import type { Store } from '../../../core/store/store.ts';
import { pendingDelivery } from '../../../core/store/kinds/callbacks.ts';

/** What a campaign tells its tenant's webhook; the same words in logs and metrics. */
export const CampaignEvents = {
  started: 'campaign.started',
  paused: 'campaign.paused',
  resumed: 'campaign.resumed',
  cancelled: 'campaign.cancelled',
  completed: 'campaign.completed',
} as const;
export type CampaignEventType = (typeof CampaignEvents)[keyof typeof CampaignEvents];

/** The JSON body of a campaign event, signed and delivered like a status callback. */
export interface CampaignCallback {
  id: string;
  type: CampaignEventType;
  campaignId: string;
  /** 0 for the first run, one more for each recurrence. */
  run: number;
  state: CampaignRecord['state'];
  occurredAt: string;
  /** Rows expanded in this run so far, of `recipients`. */
  expanded: number;
  recipients: number;
}

/**
 * The id of one event: the same for the same campaign, type, run and state change (the record's
 * `updatedAt`), so a runner that restarts, or a route and a runner that both report a change,
 * enqueue it once (the outbox keeps the first row of an id) and receivers dedupe by it.
 */
export function campaignCallbackId(campaign: CampaignRecord, type: CampaignEventType): string {
  const seed = createHash('sha256')
    .update(`${campaign.id}:${type}:${campaign.run}:${campaign.updatedAt}`)
    .digest();
  return idOf(campaign.updatedAt, seed);
}

/**
 * Puts campaign events in the status-callback outbox (callback_deliveries), whose worker in the
 * persister signs them with the tenant's webhook secret and retries them: one signing scheme and
 * one delivery path for every callback. A tenant without a webhook URL hears nothing.
 */
export class CampaignNotifier {
  constructor(private readonly store: Pick<Store, 'getWebhook' | 'enqueueCallbacks'>) {}

  async notify(campaign: CampaignRecord, type: CampaignEventType, now: number): Promise<void> {
    const webhook = await this.store.getWebhook(campaign.tenantId);
    if (!webhook?.url) return;
    const callback: CampaignCallback = {
      id: campaignCallbackId(campaign, type),
      type,
      campaignId: campaign.id,
      run: campaign.run,
      state: campaign.state,
      occurredAt: new Date(campaign.updatedAt).toISOString(),
      expanded: campaign.nextRow,
      recipients: campaign.recipientCount,
    };
    await this.store.enqueueCallbacks([
      pendingDelivery(
        {
          id: callback.id,
          tenantId: campaign.tenantId,
          // The outbox row's message is the campaign: its id is a ULID too.
          messageId: campaign.id,
          url: webhook.url,
          payload: JSON.stringify(callback),
        },
        now,
      ),
    ]);
  }
}

/**
 * What a client's pause, resume or cancel does beyond the state change: a cancel marks the
 * campaign for the bridge at once (its messages still in the lane are skipped, not sent), and
 * each change is reported to the tenant's webhook. The runner reports the same changes when it
 * sees them, under the same event ids, so each is delivered once whoever reports it first.
 */
export function campaignControlled(
  store: Pick<Store, 'getWebhook' | 'enqueueCallbacks'>,
  cache: Pick<Cache, 'set'>,
  now: () => number = Date.now,
): (campaign: CampaignRecord, action: 'pause' | 'resume' | 'cancel') => Promise<void> {
  const notifier = new CampaignNotifier(store);
  const types = {
    pause: CampaignEvents.paused,
    resume: CampaignEvents.resumed,
    cancel: CampaignEvents.cancelled,
  } as const;
  return async (campaign, action) => {
    if (action === 'cancel') await markCampaignCancelled(cache, campaign.id);
    await notifier.notify(campaign, types[action], now());
  };
}
