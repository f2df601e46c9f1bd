import type { MessageStatus } from '../../../core/message.ts';
import type {
  CampaignRecord,
  CampaignStatusCount,
  CampaignUnsettledCounts,
} from '../../../core/store/kinds/campaigns.ts';

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

/**
 * How many of its own durations apart the full count (`progressOf` over every message the campaign
 * ever made) runs: at a million rows one takes most of a second of the database's time, and this
 * far apart it costs at most a tenth of that whatever the campaign's size.
 */
export const FULL_COUNT_SPACING = 10;

/** What the runner keeps of a run between full counts. */
export interface LaneTracking {
  /** Ids of the messages this runner published that the store did not hold at its last look. */
  unstored: ReadonlySet<string>;
  /** Messages the last full count found published and not stored that an earlier holder published: their ids are unknown here. */
  unknownUnstored: number;
  /** The run's stored messages still queued, at the last count of them. */
  queued: number;
  /** When the last full count ran, by the runner's clock, and how long it took. */
  lastFullCount: { at: number; tookMs: number } | undefined;
}

/**
 * Pure: whether the full count is due. Between full counts the run's messages in the lane are the
 * stored ones still queued plus the published ones not stored yet, all known without it; the full
 * count is needed only for what no id tells: the unstored messages of an earlier holder, and
 * whether a run that expanded every row and has nothing left unsettled is over.
 */
export function fullCountDue(
  campaign: Pick<CampaignRecord, 'nextRow' | 'recipientCount'>,
  tracking: LaneTracking,
  unsettled: CampaignUnsettledCounts,
  now: number,
  countsEveryMs: number,
): boolean {
  const last = tracking.lastFullCount;
  if (last === undefined) return true;
  if (now - last.at < Math.max(countsEveryMs, FULL_COUNT_SPACING * last.tookMs)) return false;
  if (tracking.unknownUnstored > 0) return true;
  return (
    campaign.nextRow >= campaign.recipientCount &&
    tracking.unstored.size === 0 &&
    unsettled.queued + unsettled.submitted === 0
  );
}

/** Pure: the messages a full count found published and not stored, less those this runner knows by id. */
export function unknownUnstoredOf(progress: CampaignProgress, tracking: LaneTracking): number {
  return Math.max(0, progress.expected - progress.stored - tracking.unstored.size);
}

/** Pure: published and not yet taken by the bridge, as `CampaignProgress.inLane` counts them. */
export function inLaneOf(tracking: LaneTracking): number {
  return tracking.queued + tracking.unstored.size + tracking.unknownUnstored;
}
