import type { CampaignState } from './store/kinds/campaigns.ts';

/**
 * What a client or the runner may do to a campaign, and from which states. Every change is applied
 * with the store's compare-and-set (transitionCampaign) from exactly these states, so of two API
 * instances acting at once one wins and the other is told the state moved.
 */
export const CAMPAIGN_ACTIONS = {
  /** Without approval (below the tenant's thresholds). */
  submit: { from: ['draft'], to: 'scheduled' },
  /** Above a threshold: waits for a `campaigns:approve` key. */
  submitForApproval: { from: ['draft'], to: 'pending_approval' },
  approve: { from: ['pending_approval'], to: 'scheduled' },
  reject: { from: ['pending_approval'], to: 'rejected' },
  /** The runner, at the send time. */
  start: { from: ['scheduled'], to: 'running' },
  /** The runner, once every row of the last run is expanded. */
  complete: { from: ['running'], to: 'completed' },
  /** The runner, when a recurring campaign's run ends and another is due. */
  reschedule: { from: ['running'], to: 'scheduled' },
  pause: { from: ['scheduled', 'running'], to: 'paused' },
  /** Back to running when a run had started, else to waiting for the send time. */
  resumeRunning: { from: ['paused'], to: 'running' },
  resumeScheduled: { from: ['paused'], to: 'scheduled' },
  cancel: { from: ['draft', 'pending_approval', 'scheduled', 'running', 'paused'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly CampaignState[]; to: CampaignState }>;

export type CampaignAction = keyof typeof CAMPAIGN_ACTIONS;

/** States nothing leaves. */
export const FINAL_CAMPAIGN_STATES: ReadonlySet<CampaignState> = new Set([
  'completed',
  'cancelled',
  'rejected',
]);

/** Whether `action` applies to a campaign in `state`. */
export function canApply(action: CampaignAction, state: CampaignState): boolean {
  return (CAMPAIGN_ACTIONS[action].from as readonly CampaignState[]).includes(state);
}
