import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CAMPAIGN_ACTIONS, type CampaignAction, canApply, FINAL_CAMPAIGN_STATES } from './campaign-states.ts';
import { CAMPAIGN_STATES } from './store/kinds/campaigns.ts';

const actions = Object.keys(CAMPAIGN_ACTIONS) as CampaignAction[];

test('no action leaves a final state', () => {
  for (const state of FINAL_CAMPAIGN_STATES) {
    for (const action of actions) assert.equal(canApply(action, state), false, `${action} from ${state}`);
  }
});

test('every state but the final ones can be cancelled, and only a draft takes a submission', () => {
  for (const state of CAMPAIGN_STATES) {
    assert.equal(canApply('cancel', state), !FINAL_CAMPAIGN_STATES.has(state), state);
    assert.equal(canApply('submit', state), state === 'draft', state);
    assert.equal(canApply('submitForApproval', state), state === 'draft', state);
  }
});

test('approval decides only a pending campaign; pause and resume pair up', () => {
  const allowed = (action: CampaignAction) => CAMPAIGN_STATES.filter((s) => canApply(action, s));
  assert.deepEqual(allowed('approve'), ['pending_approval']);
  assert.deepEqual(allowed('reject'), ['pending_approval']);
  assert.deepEqual(allowed('pause'), ['scheduled', 'running']);
  assert.deepEqual(allowed('resumeRunning'), ['paused']);
  assert.deepEqual(allowed('resumeScheduled'), ['paused']);
  assert.deepEqual(allowed('start'), ['scheduled']);
});

test('every state is reachable from a draft', () => {
  const reached = new Set<string>(['draft']);
  for (let changed = true; changed;) {
    changed = false;
    for (const { from, to } of Object.values(CAMPAIGN_ACTIONS)) {
      if ((from as readonly string[]).some((s) => reached.has(s)) && !reached.has(to)) {
        reached.add(to);
        changed = true;
      }
    }
  }
  assert.deepEqual([...reached].sort(), [...CAMPAIGN_STATES].sort());
});
