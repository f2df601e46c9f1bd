import type { Cache } from './cache/cache.ts';
import { MARKER_TTL_MS } from './markers.ts';

/**
 * A cancelled campaign, as the bridge sees it: one cache key per campaign, set when the campaign
 * is cancelled (by the API's cancel, and again by the runner when it sees the state) and read by
 * the bridge for each campaign message before any provider call, beside the opt-out check. Its
 * messages still in the lane then end `skipped` with CAMPAIGN_CANCELLED instead of being sent.
 * It outlives any message: a campaign message expires within a day.
 */
export const campaignCancelledKey = (campaignId: string): string => `campaign:cancelled:${campaignId}`;

export const CAMPAIGN_CANCELLED_CODE = 'CAMPAIGN_CANCELLED';

export async function markCampaignCancelled(cache: Pick<Cache, 'set'>, campaignId: string): Promise<void> {
  await cache.set(campaignCancelledKey(campaignId), '1', { ttlMs: MARKER_TTL_MS });
}

/** Whether the message belongs to a cancelled campaign: no cache read for other messages. */
export async function isCampaignCancelled(
  cache: Pick<Cache, 'get'>,
  message: { campaignId?: string | undefined },
): Promise<boolean> {
  if (message.campaignId === undefined) return false;
  return (await cache.get(campaignCancelledKey(message.campaignId))) !== undefined;
}
