/**
 * A provider definition as stored. Its shape belongs to the supplier bridge
 * (providers/registry.ts `ProviderDefinition`); the store keeps it as JSON.
 */
export interface ProviderRecord {
  name: string;
  type: string;
  enabled: boolean;
  /** The definition as written, credentials included. */
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** A routing rule as stored (routing/rules.ts `RouteRule`), kept as JSON. */
export interface RouteRecord {
  id: string;
  priority: number;
  enabled: boolean;
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** What the store reads of a provider definition; the rest is stored as it is. */
export interface StorableProvider {
  name: string;
  type: string;
  /** Absent means enabled. */
  enabled?: boolean;
}

/** What the store reads of a routing rule; the rest is stored as it is. */
export interface StorableRoute {
  id: string;
  priority: number;
  enabled: boolean;
}

export interface PutOptions {
  /** Write only when nothing is stored under this name or id yet; for seeding from configuration. */
  ifAbsent?: boolean;
}

export interface RoutingStore {
  /** Every provider definition, by name. */
  listProviders(): Promise<ProviderRecord[]>;
  /** Inserts or replaces the definition; resolves false only when `ifAbsent` found one stored. */
  putProvider<T extends StorableProvider>(definition: T, options?: PutOptions): Promise<boolean>;
  /** Resolves false when there was no such provider. */
  deleteProvider(name: string): Promise<boolean>;
  /** Every routing rule, by priority then id. */
  listRoutes(): Promise<RouteRecord[]>;
  putRoute<T extends StorableRoute>(rule: T, options?: PutOptions): Promise<boolean>;
  deleteRoute(id: string): Promise<boolean>;
  /**
   * A value that changes whenever a provider or a route is written or deleted, cheap enough to poll
   * every second or two from every process. Compare for equality only.
   */
  routingVersion(): Promise<string>;
}
