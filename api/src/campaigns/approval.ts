import type { CampaignApprovalSettings } from '../../../core/store/kinds/campaigns.ts';

/** What a submission is judged on. */
export interface CampaignSize {
  recipients: number;
  estimatedCost: number;
}

/** Whether a submitted campaign must wait for approval, and which threshold it crossed. */
export type ApprovalDecision = { required: false } | { required: true; reason: string };

/**
 * Above the tenant's recipient or cost threshold a campaign waits for a `campaigns:approve` key.
 * No settings, or a null threshold: no limit of that kind (approval is opt-in per tenant).
 */
export function approvalDecision(
  settings: Pick<CampaignApprovalSettings, 'maxRecipients' | 'maxCost'> | undefined,
  size: CampaignSize,
): ApprovalDecision {
  const maxRecipients = settings?.maxRecipients ?? null;
  const maxCost = settings?.maxCost ?? null;
  if (maxRecipients !== null && size.recipients > maxRecipients) {
    return {
      required: true,
      reason: `${size.recipients} recipients > the approval threshold of ${maxRecipients}`,
    };
  }
  if (maxCost !== null && size.estimatedCost > maxCost) {
    return {
      required: true,
      reason: `estimated cost ${size.estimatedCost} > the approval threshold of ${maxCost}`,
    };
  }
  return { required: false };
}
