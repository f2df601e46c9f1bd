/** Log event names of the persister; its metrics and the runbooks use the same words. */
export const PersisterEvents = {
  databaseUnavailable: 'persister.database_unavailable',
  databaseRecovered: 'persister.database_recovered',
  writeFailed: 'persister.write_failed',
  deadLetter: 'persister.dead_letter',
  batchFlushed: 'persister.batch_flushed',
  purged: 'persister.purged',
  purgeFailed: 'persister.purge_failed',
} as const;
