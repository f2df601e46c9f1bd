/** Log event names of the persister; its metrics and the runbooks use the same words. */
export const PersisterEvents = {
  databaseUnavailable: 'persister.database_unavailable',
  databaseRecovered: 'persister.database_recovered',
  writeFailed: 'persister.write_failed',
  deadLetter: 'persister.dead_letter',
  orphanReceiptDropped: 'persister.orphan_receipt_dropped',
  batchFlushed: 'persister.batch_flushed',
  purged: 'persister.purged',
  purgeFailed: 'persister.purge_failed',
  receiptDeadlinePassed: 'persister.receipt_deadline_passed',
  receiptSweepFailed: 'persister.receipt_sweep_failed',
  afterWriteFailed: 'persister.after_write_failed',
} as const;

/** Log event names of status-callback delivery. */
export const CallbackEvents = {
  databaseUnavailable: 'callbacks.database_unavailable',
  databaseRecovered: 'callbacks.database_recovered',
  pollFailed: 'callbacks.poll_failed',
  deliveryFailed: 'callbacks.delivery_failed',
  givenUp: 'callbacks.given_up',
  hostPaused: 'callbacks.host_paused',
  housekeepingFailed: 'callbacks.housekeeping_failed',
} as const;
