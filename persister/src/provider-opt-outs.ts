import type { PigeonEvent } from '../../core/message.ts';
import type { SuppressionRecord } from '../../core/store/kinds/suppressions.ts';
import type { Store } from '../../core/store/store.ts';
import type { SuppressionList } from '../../core/suppression-cache.ts';

/** A provider refused a message because its recipient opted out with the provider itself. */
export interface ProviderOptOut {
  tenantId: string;
  messageId: string;
  occurredAt: number;
}

/**
 * The provider opt-out refusals among these events: a call classed `opted_out` (Twilio 21610,
 * AWS DESTINATION_PHONE_NUMBER_OPTED_OUT…), whether it ended the message or it went on elsewhere.
 */
export function providerOptOuts(events: readonly PigeonEvent[]): ProviderOptOut[] {
  return events.flatMap((event) =>
    (event.type === 'message.failed' || event.type === 'attempt.failed') &&
    event.errorClass === 'opted_out' &&
    event.tenantId !== ''
      ? [{ tenantId: event.tenantId, messageId: event.messageId, occurredAt: Date.parse(event.occurredAt) }]
      : [],
  );
}

/**
 * Adds the recipients of provider opt-out refusals to their tenant's list, for the sender the
 * message went from (the provider refused that sender; the person may still want others). The
 * message's row gives both; a refusal whose request is not stored yet is passed over: the provider
 * refuses the next message too, and that one is recorded.
 */
export async function suppressProviderOptOuts(
  refusals: readonly ProviderOptOut[],
  store: Pick<Store, 'getMessage'>,
  suppressions: Pick<SuppressionList, 'add'>,
): Promise<SuppressionRecord[]> {
  const records: SuppressionRecord[] = [];
  for (const refusal of refusals) {
    const message = await store.getMessage(refusal.tenantId, refusal.messageId);
    if (!message?.recipient || !message.sender) continue;
    records.push({
      tenantId: refusal.tenantId,
      phone: message.recipient,
      sender: message.sender,
      reason: 'provider',
      createdAt: refusal.occurredAt,
    });
  }
  await suppressions.add(records);
  return records;
}
