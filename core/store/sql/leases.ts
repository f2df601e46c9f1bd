import type { LeaseStore } from '../kinds/leases.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

// The row is created once (keeping any holder's), then one conditional UPDATE decides: it matches
// only when the caller holds the lease or the lease has expired, and the database serialises the
// UPDATEs, so two replicas racing for an expired lease cannot both match.
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
    await this.sql.execute(this.createLease, [name]);
    return (await this.sql.execute(TAKE_LEASE, [holder, expiresAt, name, holder, now])) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.sql.execute(RELEASE_LEASE, [name, holder]);
  }
}
