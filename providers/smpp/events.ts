/** Log event names of the SMPP adapter and its link. */
export const SmppEvents = {
  bound: 'smpp.bound',
  bindFailed: 'smpp.bind_failed',
  linkError: 'smpp.link_error',
  linkDown: 'smpp.link_down',
  enquireLinkTimeout: 'smpp.enquire_link_timeout',
  receiptUnparsed: 'smpp.receipt_unparsed',
  receiptListenerFailed: 'smpp.receipt_listener_failed',
} as const;
