import type { LeaseStore } from '../kinds/leases.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

// One conditional UPDATE decides: it matches only when the caller holds the lease or the lease has
// expired, and the database serialises the UPDATEs, so two replicas racing for an expired lease
// cannot both match. The row is created (keeping any holder's) only when the UPDATE found none:
// creating it on every call was a second write per renewal.
const TAKE_LEASE = `UPDATE leases SET holder = ?, expires_at = ?
WHERE name = ? AND (holder = ? OR expires_at <= ?)`;
const RELEASE_LEASE = 'UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?';

/** `leases`: named leases with compare-and-set acquire and renew. */
export class SqlLeaseStore implements LeaseStore {
  private readonly createLease: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    this.createLease = `INSERT INTO leases (name, holder, expires_at) VALUES (?, '', 0) ${dialect.keepExisting('name', ['name'])}`;
  }

  async acquireLease(name: string, holder: string, now: number, expiresAt: number): Promise<boolean> {
    const take = [holder, expiresAt, name, holder, now];
    if ((await this.sql.execute(TAKE_LEASE, take)) > 0) return true;
    // No row yet, or another holder's that has not expired: in the second case this adds nothing.
    await this.sql.execute(this.createLease, [name]);
    return (await this.sql.execute(TAKE_LEASE, take)) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.sql.execute(RELEASE_LEASE, [name, holder]);
  }
}
