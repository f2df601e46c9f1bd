/** A cancelled campaign's messages still in the lane end `skipped` before any provider call. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markCampaignCancelled } from '../../../core/campaign-cancel.ts';
import {
  asFailed,
  asSubmitted,
  dispatch,
  dispatchPass,
  FakeProvider,
  requested,
  setup,
} from '../../../test/support/dispatch-harness.ts';

const CAMPAIGN = '01KCAMPAIGNCANCEL000000000';

test('a message of a cancelled campaign ends skipped: CAMPAIGN_CANCELLED, no provider called', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await markCampaignCancelled(h.cache, CAMPAIGN);

  const failed = asFailed(await dispatch(h, { ...requested({ class: 'marketing' }), campaignId: CAMPAIGN }));

  assert.equal(failed.status, 'skipped');
  assert.equal(failed.errorCode, 'CAMPAIGN_CANCELLED');
  assert.equal(failed.errorClass, 'campaign_cancelled');
  assert.equal(a.calls, 0);
  const counted = (await h.registry.getSingleMetric('pigeon_bridge_skipped_total')!.get()).values;
  assert.deepEqual(
    counted.map((v) => [v.labels.reason, v.labels.class, v.value]),
    [['campaign_cancelled', 'marketing', 1]],
  );
});

test('messages of other campaigns, and messages of no campaign, still go out', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await markCampaignCancelled(h.cache, CAMPAIGN);

  asSubmitted(
    await dispatch(h, { ...requested({ class: 'marketing' }), campaignId: '01KOTHERCAMPAIGN0000000000' }),
  );
  asSubmitted(await dispatch(h, requested({ class: 'marketing' })));
  assert.equal(a.calls, 2);
});

test('a retry round of a message whose campaign was cancelled meanwhile is skipped too', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = { ...requested({ class: 'transactional' }), campaignId: CAMPAIGN };
  await markCampaignCancelled(h.cache, CAMPAIGN);

  const result = await dispatchPass(h, message, { kind: 'retry', round: 1, attemptsSoFar: 1 });

  assert.equal(asFailed(result.outcome).errorCode, 'CAMPAIGN_CANCELLED');
  assert.equal(a.calls, 0);
});
