import { RECEIPT_SIGNATURE_HEADER, RECEIPT_TIMESTAMP_HEADER, RECEIPT_WORDS } from './server.ts';

/**
 * The `PIGEON_CONFIG` provider definition that sends to a standalone simulator (`pigeon
 * simulator`) through the generic HTTP adapter, receipts included: the gateway treats it as any
 * small aggregator. The send key and receipt secret are the ones the simulator was started with.
 */
export function simulatorProviderDefinition(input: {
  name: string;
  /** The simulator's base URL, e.g. http://127.0.0.1:7001. */
  baseUrl: string;
  sendKey: string;
  receiptSecret: string;
  weight?: number;
  breaker?: Record<string, unknown>;
}) {
  return {
    name: input.name,
    type: 'http',
    weight: input.weight ?? 50,
    ...(input.breaker ? { breaker: input.breaker } : {}),
    options: {
      url: `${input.baseUrl}/providers/${encodeURIComponent(input.name)}/messages`,
      method: 'POST',
      headers: { authorization: `Bearer ${input.sendKey}` },
      body: '{"to":"{{to}}","from":"{{from}}","body":"{{body}}","reference":"{{messageId}}","callbackUrl":"{{callbackUrl}}"}',
      messageIdPath: 'id',
      throttled: { status: [429] },
      receipt: {
        signatureHeader: RECEIPT_SIGNATURE_HEADER,
        signatureSecret: input.receiptSecret,
        timestampHeader: RECEIPT_TIMESTAMP_HEADER,
        idPath: 'id',
        referencePath: 'reference',
        statusPath: 'status',
        doneAtPath: 'doneAt',
        statusMap: { [RECEIPT_WORDS.delivered]: 'delivered', UNDELIV: 'undelivered' },
      },
    },
  };
}
