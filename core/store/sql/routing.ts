import type {
  ProviderRecord,
  PutOptions,
  RouteRecord,
  RoutingStore,
  StorableProvider,
  StorableRoute,
} from '../kinds/routing.ts';
import {
  insertInto,
  PROVIDER_COLUMNS,
  type ProviderRow,
  providerValues,
  ROUTE_COLUMNS,
  type RouteRow,
  routeValues,
  routingVersionOf,
  type RoutingVersionRow,
  toProviderRecord,
  toRouteRecord,
} from '../rows.ts';
import type { SecretSealer } from '../secret-sealer.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** `providers` and `routes`: the definitions the supplier bridge routes by. */
export class SqlRoutingStore implements RoutingStore {
  private readonly upsertProvider: string;
  private readonly insertProvider: string;
  private readonly upsertRoute: string;
  private readonly insertRoute: string;
  private readonly routingVersionSql: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
    private readonly secrets: SecretSealer,
  ) {
    const v = (c: string) => dialect.incoming(c);
    // updated_at only moves forward, even within one millisecond or from a machine whose clock is
    // behind: routingVersion() depends on it. ifAbsent is a plain INSERT whose duplicate-key error
    // means "already there": mysql2 asks for found rows, so a no-op ON DUPLICATE KEY UPDATE would
    // report a row affected either way, and INSERT IGNORE would also swallow data errors.
    const forward = `updated_at = ${dialect.greatest}(${v('updated_at')}, updated_at + 1)`;
    this.upsertProvider = `${insertInto('providers', PROVIDER_COLUMNS)}
${dialect.upsert(
  ['name'],
  `  type = ${v('type')},
  definition = ${v('definition')},
  enabled = ${v('enabled')},
  ${forward}`,
)}`;
    this.insertProvider = insertInto('providers', PROVIDER_COLUMNS);
    this.upsertRoute = `${insertInto('routes', ROUTE_COLUMNS)}
${dialect.upsert(
  ['id'],
  `  priority = ${v('priority')},
  definition = ${v('definition')},
  enabled = ${v('enabled')},
  ${forward}`,
)}`;
    this.insertRoute = insertInto('routes', ROUTE_COLUMNS);
    this.routingVersionSql = `SELECT
  (SELECT COUNT(*) FROM providers) AS provider_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS ${dialect.text}) FROM providers) AS provider_sum,
  (SELECT COUNT(*) FROM routes) AS route_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS ${dialect.text}) FROM routes) AS route_sum`;
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const rows = await this.sql.query<ProviderRow>('SELECT * FROM providers ORDER BY name', []);
    return rows.map((row) => toProviderRecord(row, this.secrets));
  }

  async putProvider<T extends StorableProvider>(definition: T, options: PutOptions = {}): Promise<boolean> {
    return this.sql.insert(
      options.ifAbsent ? this.insertProvider : this.upsertProvider,
      providerValues(definition, Date.now(), this.secrets),
    );
  }

  async deleteProvider(name: string): Promise<boolean> {
    return (await this.sql.execute('DELETE FROM providers WHERE name = ?', [name])) > 0;
  }

  async listRoutes(): Promise<RouteRecord[]> {
    const rows = await this.sql.query<RouteRow>('SELECT * FROM routes ORDER BY priority, id', []);
    return rows.map(toRouteRecord);
  }

  async putRoute<T extends StorableRoute>(rule: T, options: PutOptions = {}): Promise<boolean> {
    return this.sql.insert(
      options.ifAbsent ? this.insertRoute : this.upsertRoute,
      routeValues(rule, Date.now()),
    );
  }

  async deleteRoute(id: string): Promise<boolean> {
    return (await this.sql.execute('DELETE FROM routes WHERE id = ?', [id])) > 0;
  }

  async routingVersion(): Promise<string> {
    const [row] = await this.sql.query<RoutingVersionRow>(this.routingVersionSql, []);
    return routingVersionOf(row!);
  }
}
