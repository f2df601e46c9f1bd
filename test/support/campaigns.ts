import type { CampaignRecipient, CampaignRecord } from '../../core/store/kinds/campaigns.ts';
import type { Store } from '../../core/store/store.ts';
import { newId } from '../../core/ids.ts';

/**
 * A campaign written straight to the store, ready for the runner: `scheduled` (due at `sendAt`,
 * or at once) with `rows` recipients, its text a template of its own (`Hello {{name}}…`) unless
 * a `body` is given. The runner's tests start here,
 * so they depend on the store's contract, not on the shape of the /v1/campaigns requests.
 */
export async function storedCampaign(
  store: Store,
  options: {
    tenantId: string;
    rows: number;
    /** The recipient of row i is `number(i)`. */
    number: (row: number) => string;
    body?: string;
    sendAt?: number;
    rateCap?: number;
    recurrence?: CampaignRecord['recurrence'];
    timeZone?: string;
    /** The tenant's webhook, where campaign events go; none: the tenant hears nothing. */
    webhookUrl?: string;
    now?: number;
  },
): Promise<CampaignRecord> {
  const now = options.now ?? Date.now();
  const id = newId(now);
  const record: CampaignRecord = {
    tenantId: options.tenantId,
    id,
    name: `campaign ${id}`,
    state: 'scheduled',
    templateId: options.body === undefined ? `tpl-${id}` : null,
    body: options.body ?? null,
    messageClass: 'marketing',
    locale: null,
    variables: options.body === undefined ? { name: 'there' } : {},
    from: null,
    sendAt: options.sendAt ?? null,
    firstSendAt: options.sendAt ?? null,
    timeZone: options.timeZone ?? null,
    recurrence: options.recurrence ?? null,
    rateCap: options.rateCap ?? null,
    recipientCount: options.rows,
    invalidCount: 0,
    estimatedCost: null,
    nextRow: 0,
    run: 0,
    idempotencyKey: null,
    requestHash: null,
    createdBy: null,
    approvedBy: null,
    leaseOwner: null,
    leaseUntil: null,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
  };
  if (options.webhookUrl !== undefined) {
    await store.putWebhook({
      tenantId: options.tenantId,
      url: options.webhookUrl,
      secret: 'whsec_campaign-tests-secret',
      createdAt: now,
      updatedAt: now,
    });
  }
  if (options.body === undefined) {
    await store.putTemplate({
      tenantId: options.tenantId,
      id: `tpl-${id}`,
      name: `template of ${id}`,
      messageClass: 'marketing',
      defaultLocale: 'en',
      variants: [{ locale: 'en', body: `Hello {{name}}, campaign ${id}. Reply STOP to opt out` }],
      variables: ['name'],
      createdAt: now,
      updatedAt: now,
    });
  }
  // Rows are written before the campaign exists in a state the runner looks at.
  const rows = Array.from({ length: options.rows }, (_, i): CampaignRecipient => ({
    rowNo: i,
    to: options.number(i),
    // Odd rows take the campaign's own value of the template's variable.
    variables: i % 2 === 0 && options.body === undefined ? { name: `row${i}` } : {},
    clientRef: `ref-${i}`,
  }));
  for (let i = 0; i < rows.length; i += 1_000) await store.appendRecipients(id, rows.slice(i, i + 1_000));
  if (!(await store.createCampaign(record))) throw new Error('campaign not created');
  return record;
}
