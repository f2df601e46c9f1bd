import type { MessageStatus } from '../../../core/message.ts';
import type { CampaignRecord, CampaignStatusCount } from '../../../core/store/kinds/campaigns.ts';

/**
 * Statuses in which a campaign message still awaits the gateway: in the lane for the bridge, or
 * handed to a provider with its receipt to come. Every other status is final for the run.
 */
const UNSETTLED: ReadonlySet<MessageStatus> = new Set(['queued', 'submitted']);

/** Where a campaign's current run stands, from its checkpoint and its messages' counts. */
export interface CampaignProgress {
  /** Messages its runs so far should have made: rows expanded minus rows set aside unsent. */
  expected: number;
  /** Messages the store holds for it (the persister may still be catching up). */
  stored: number;
  /** Published and not yet taken by the bridge, counting those the persister has not stored yet. */
  inLane: number;
  /** Every row expanded, every message stored and settled: the run is over. */
  done: boolean;
}

/**
 * Pure: the run's progress. Runs before the current one are complete, so the counts over all the
 * campaign's messages (the store keeps no run per message) minus theirs are the current run's.
 */
export function progressOf(
  campaign: Pick<CampaignRecord, 'run' | 'nextRow' | 'recipientCount'>,
  counts: readonly CampaignStatusCount[],
  unsentRows: number,
): CampaignProgress {
  const expected = campaign.run * campaign.recipientCount + campaign.nextRow - unsentRows;
  let stored = 0;
  let queued = 0;
  let unsettled = 0;
  for (const c of counts) {
    stored += c.count;
    if (c.status === 'queued') queued += c.count;
    if (UNSETTLED.has(c.status)) unsettled += c.count;
  }
  const taken = stored - queued;
  return {
    expected,
    stored,
    inLane: Math.max(0, expected - taken),
    // `>=`: a row both set aside once and published by a later retry is one message too many
    // for `expected`, never one too few.
    done: campaign.nextRow >= campaign.recipientCount && stored >= expected && unsettled === 0,
  };
}
