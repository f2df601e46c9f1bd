import type { CampaignStatusCount } from '../../../core/store/kinds/campaigns.ts';
import { CAMPAIGN_CANCELLED_CODE } from '../../../core/campaign-cancel.ts';

/** A campaign's messages by what became of them, and how fast they go. */
export interface CampaignProgress {
  /** Valid rows not yet made messages (expansion still to come). */
  pending: number;
  queued: number;
  submitted: number;
  delivered: number;
  /** Failed, undelivered, expired, rejected and unknown: the provider or the network refused them. */
  failed: number;
  /** Deliberately not sent, by reason (OPTED_OUT, QUIET_HOURS_EXPIRED, …). */
  skipped: number;
  skippedReasons: Record<string, number>;
  /** Cancelled before a provider had them. */
  cancelled: number;
  /** Rows refused at intake. */
  invalid: number;
  /** Messages per second that left `queued` since the run started; null before it did. */
  rate: number | null;
  /** When the last one should have left `queued` at that rate; null when unknown or done. */
  eta: number | null;
}

const FAILED = new Set(['failed', 'undelivered', 'expired', 'rejected', 'unknown']);

/**
 * Progress from the store's counts by status: pure, so the rate and ETA are tested without a
 * clock. `recipients` is the valid rows of a run; `startedAt` when the current run started.
 */
export function campaignProgress(
  counts: readonly CampaignStatusCount[],
  campaign: { recipientCount: number; invalidCount: number; startedAt: number | null },
  now: number,
): CampaignProgress {
  const progress: CampaignProgress = {
    pending: 0,
    queued: 0,
    submitted: 0,
    delivered: 0,
    failed: 0,
    skipped: 0,
    skippedReasons: {},
    cancelled: 0,
    invalid: campaign.invalidCount,
    rate: null,
    eta: null,
  };
  let messages = 0;
  for (const { status, errorCode, count } of counts) {
    messages += count;
    if (status === 'queued') progress.queued += count;
    else if (status === 'submitted') progress.submitted += count;
    else if (status === 'delivered') progress.delivered += count;
    else if (FAILED.has(status)) progress.failed += count;
    else if (status === 'skipped' && errorCode === CAMPAIGN_CANCELLED_CODE) progress.cancelled += count;
    else if (status === 'skipped') {
      progress.skipped += count;
      const reason = errorCode ?? 'UNSPECIFIED';
      progress.skippedReasons[reason] = (progress.skippedReasons[reason] ?? 0) + count;
    }
  }
  progress.pending = Math.max(0, campaign.recipientCount - messages);
  const left = progress.pending + progress.queued;
  const gone = messages - progress.queued;
  if (campaign.startedAt !== null && now > campaign.startedAt) {
    progress.rate = Math.round((gone / ((now - campaign.startedAt) / 1000)) * 100) / 100;
    if (left > 0 && progress.rate > 0) progress.eta = now + Math.ceil((left / progress.rate) * 1000);
  }
  return progress;
}
