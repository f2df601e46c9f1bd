/**
 * Log event names of the provider adapters. The adapters share the receipt words, so a search or
 * an alert on one finds every provider that logged it.
 */
export const ProviderEvents = {
  /** A receipt's status word is not one the adapter maps; the receipt is kept as `unknown`. */
  receiptUnrecognisedStatus: 'receipt.unrecognised_status',
  receiptUnrecognisedReport: 'receipt.unrecognised_report',
  receiptsRefusedWithoutToken: 'provider.receipts_refused_without_token',
  receiptsRefusedWithoutSignatureSecret: 'provider.receipts_refused_without_signature_secret',
  snsSubscriptionConfirmed: 'sns.subscription_confirmed',
  snsUnsubscribed: 'sns.unsubscribed',
} as const;

/** Log event names of the SMPP adapter and its link. */
export const SmppEvents = {
  bound: 'smpp.bound',
  bindFailed: 'smpp.bind_failed',
  linkError: 'smpp.link_error',
  linkDown: 'smpp.link_down',
  enquireLinkTimeout: 'smpp.enquire_link_timeout',
  receiptUnparsed: 'smpp.receipt_unparsed',
  receiptListenerFailed: 'smpp.receipt_listener_failed',
  inboundUnparsed: 'smpp.inbound_unparsed',
  inboundListenerFailed: 'smpp.inbound_listener_failed',
} as const;
