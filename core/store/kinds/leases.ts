/**
 * Named leases (`leases`): one holder at a time across processes, for work exactly one of several
 * replicas must do (the campaign runner). Compare-and-set on the row; time is the caller's clock.
 */
export interface LeaseStore {
  /**
   * Takes the lease, or renews it when `holder` has it already, until `expiresAt`; false while
   * another holder's lease has not expired at `now`.
   */
  acquireLease(name: string, holder: string, now: number, expiresAt: number): Promise<boolean>;
  /** Gives the lease up, if `holder` has it, so another replica may take it at once. */
  releaseLease(name: string, holder: string): Promise<void>;
}
