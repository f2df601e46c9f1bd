import { createHash } from 'node:crypto';
import { idOf } from '../../../core/ids.ts';

/**
 * The id of the message a campaign run makes for one row: a ULID (the shape the API validates)
 * whose time is the run's start and whose random part is a hash of (campaign, run, row). A runner
 * that dies between publishing a chunk and advancing its checkpoint republishes the very same ids,
 * so the bridge's per-message claim and the persister's upsert make each row one message.
 */
export function campaignMessageId(
  campaignId: string,
  run: number,
  row: number,
  runStartedAt: number,
): string {
  const seed = createHash('sha256').update(`${campaignId}:${run}:${row}`).digest();
  return idOf(runStartedAt, seed);
}

/** The id of a row's `message.requested` event, stable across republishes like the message's. */
export function campaignEventId(messageId: string, runStartedAt: number): string {
  return idOf(runStartedAt, createHash('sha256').update(`requested:${messageId}`).digest());
}
