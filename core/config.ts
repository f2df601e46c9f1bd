import { readFileSync } from 'node:fs';
import { PigeonError } from './errors.ts';

/**
 * Configuration, read once from environment variables at start, validated, frozen. Nothing else
 * reads `process.env`. Every variable is listed with its default in `.env.example` and
 * `docs/operations.md`; a bad value stops the process with an error naming the variable.
 */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly dataDir: string;
  /** Base URL providers use to reach this gateway's receipt webhooks. */
  readonly publicUrl: string;
  readonly bootstrapApiKey: string | undefined;
  readonly bootstrapTenant: string;
  readonly kafka:
    | {
        readonly brokers: readonly string[];
        readonly clientId: string;
        readonly partitions: number;
        /** Consumer groups are `<prefix>-bridge`, `<prefix>-persister`, `<prefix>-monitor`. */
        readonly groupPrefix: string;
      }
    | undefined;
  readonly mysqlUrl: string | undefined;
  readonly mysqlPoolSize: number;
  readonly redisUrl: string | undefined;
  readonly publishTimeoutMs: number;
  readonly simulator: {
    readonly enabled: boolean;
    readonly receiptSecret: string;
  };
  readonly providersFile: ProvidersFile | undefined;
  readonly bridge: { readonly concurrency: number };
  readonly trustProxyHops: number;
  /** API processes sharing the port (node:cluster); one per core on a dedicated node. */
  readonly apiWorkers: number;
}

/** The optional `PIGEON_CONFIG` JSON file: providers and routes. */
export interface ProvidersFile {
  providers?: Array<{ name: string; type: string; weight?: number; options?: Record<string, unknown> }>;
}

type Env = Record<string, string | undefined>;

class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}: expected an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    this.problems.push(`${name}: expected true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name}: expected one of ${allowed.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return raw as T;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      this.problems.push(`${name}: expected a ${protocols.join(' or ')}// URL, got "${raw}"`);
      return undefined;
    }
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates the configuration; throws PIGEON_ERR_CONFIG naming every bad variable. */
export function loadConfig(env: Env = process.env, defaults: { port?: number } = {}): Config {
  const r = new EnvReader(env);
  const port = r.int('PORT', defaults.port ?? 3000, 0, 65535);
  const host = r.string('HOST', '127.0.0.1');

  const brokersRaw = r.string('KAFKA_BROKERS');
  const brokers = brokersRaw
    ?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers?.some((b) => !/^[\w.-]+:\d{1,5}$/.test(b))) {
    r.problems.push(`KAFKA_BROKERS: expected comma-separated host:port pairs, got "${brokersRaw}"`);
  }

  const configPath = r.string('PIGEON_CONFIG');
  let providersFile: ProvidersFile | undefined;
  if (configPath) {
    try {
      providersFile = JSON.parse(readFileSync(configPath, 'utf8')) as ProvidersFile;
    } catch (err) {
      r.problems.push(`PIGEON_CONFIG: cannot read JSON from "${configPath}": ${(err as Error).message}`);
    }
  }

  const apiKey = r.string('PIGEON_API_KEY');
  if (apiKey !== undefined && apiKey.length < 24) {
    r.problems.push('PIGEON_API_KEY: must be at least 24 characters (128 bits of entropy or more)');
  }

  const config: Config = {
    port,
    host,
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    dataDir: r.string('PIGEON_DATA_DIR', './data'),
    publicUrl: r.url('PIGEON_PUBLIC_URL', ['http:', 'https:']) ?? `http://127.0.0.1:${port}`,
    bootstrapApiKey: apiKey,
    bootstrapTenant: r.string('PIGEON_TENANT', 'default'),
    kafka: brokers?.length
      ? {
          brokers,
          clientId: r.string('KAFKA_CLIENT_ID', 'pigeon'),
          partitions: r.int('KAFKA_PARTITIONS', 6, 1, 1024),
          groupPrefix: r.string('KAFKA_GROUP_PREFIX', 'pigeon'),
        }
      : undefined,
    mysqlUrl: r.url('MYSQL_URL', ['mysql:']),
    mysqlPoolSize: r.int('MYSQL_POOL_SIZE', 10, 1, 1000),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    publishTimeoutMs: r.int('PIGEON_PUBLISH_TIMEOUT_MS', 2000, 100, 60_000),
    simulator: {
      enabled: r.bool('PIGEON_SIMULATOR', true),
      receiptSecret: r.string('PIGEON_SIMULATOR_SECRET', 'pigeon-simulator-secret'),
    },
    providersFile,
    bridge: { concurrency: r.int('PIGEON_BRIDGE_CONCURRENCY', 64, 1, 10_000) },
    trustProxyHops: r.int('PIGEON_TRUST_PROXY_HOPS', 0, 0, 10),
    apiWorkers: r.int('PIGEON_API_WORKERS', 1, 1, 64),
  };

  if (r.problems.length > 0) {
    throw new PigeonError('PIGEON_ERR_CONFIG', `Invalid configuration:\n  - ${r.problems.join('\n  - ')}`);
  }
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
