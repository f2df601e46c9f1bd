import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTime, isValid } from 'ulid';
import { campaignEventId, campaignMessageId } from './message-id.ts';

const STARTED = Date.parse('2026-12-07T01:00:00.000Z');

test('a row of a run always gets the same ULID, carrying the run start', () => {
  const id = campaignMessageId('01KCAMPAIGN0000000000000000', 1, 42, STARTED);
  assert.equal(id, campaignMessageId('01KCAMPAIGN0000000000000000', 1, 42, STARTED));
  assert.ok(isValid(id));
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(decodeTime(id), STARTED);
});

test('rows, runs and campaigns never share an id', () => {
  const ids = new Set<string>();
  for (const campaign of ['C1', 'C2']) {
    for (let run = 1; run <= 3; run++) {
      for (let row = 0; row < 5000; row++) ids.add(campaignMessageId(campaign, run, row, STARTED));
    }
  }
  assert.equal(ids.size, 2 * 3 * 5000);
});

test("a message's event id is stable and differs from the message id", () => {
  const id = campaignMessageId('C1', 1, 0, STARTED);
  assert.equal(campaignEventId(id, STARTED), campaignEventId(id, STARTED));
  assert.notEqual(campaignEventId(id, STARTED), id);
});
