import { readFileSync } from 'node:fs';
import type { RedisClusterTarget } from './cache/redis-cache.ts';
import { PigeonError } from './errors.ts';
import { MESSAGE_CLASSES, type MessageClass } from './message.ts';
import { decodeKey } from './keys.ts';
import { DEFAULT_OPT_OUT_PHRASES } from './template.ts';
import { isSupportedCountry } from 'libphonenumber-js/max';

/**
 * Configuration, read once from environment variables at start, validated, frozen. Nothing else
 * reads `process.env`. Every variable is listed with its default in `.env.example` and
 * `docs/operations.md`; a bad value stops the process with an error naming the variable.
 */
export interface Config {
  /**
   * `embedded` for `pigeon embedded` (the whole gateway in one process, `npm start`), `distributed`
   * for one service. Decides the defaults that are safe only on a developer's machine: the simulator.
   */
  readonly mode: DeploymentMode;
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
        /**
         * Copies of every topic Pigeon creates, and how many must have a record before a publish
         * is acknowledged (acks=all). 3 and 2 by default: one broker may die without losing an
         * accepted message or refusing new ones. A single development broker needs 1 and 1.
         */
        readonly replicationFactor: number;
        readonly minInsyncReplicas: number;
        /** A consumer silent this long is dropped from its group; its partitions go to the others. */
        readonly sessionTimeoutMs: number;
        readonly heartbeatIntervalMs: number;
        /** How long a rebalance waits for the members to rejoin. */
        readonly rebalanceTimeoutMs: number;
      }
    | undefined;
  readonly mysqlUrl: string | undefined;
  readonly mysqlPoolSize: number;
  /**
   * AES-256-GCM key sealing provider credentials and webhook secrets in the store (every service
   * that reads or writes them). Generated into PIGEON_DATA_DIR in embedded mode.
   */
  readonly secretsKey: string | undefined;
  /** The key before the last rotation, still accepted for reading. */
  readonly secretsKeyPrevious: string | undefined;
  readonly redisUrl: string | undefined;
  /**
   * A Redis Cluster instead of one Redis (REDIS_CLUSTER_NODES): the seed nodes the client
   * discovers the cluster from, and the credentials every node shares.
   */
  readonly redisCluster: RedisClusterTarget | undefined;
  /**
   * Replicas an OTP approval, cancellation or TOTP claim must reach before it is answered
   * (PIGEON_REDIS_WAIT_REPLICAS; Redis WAIT): 1 on a cluster, 0 on one Redis.
   */
  readonly redisWaitReplicas: number;
  /** Prepended to every Redis key, so deployments sharing one Redis never see each other's keys. */
  readonly redisKeyPrefix: string;
  readonly publishTimeoutMs: number;
  /**
   * Simulated providers and the `/simulator/*` routes: on by default in embedded mode only. Without
   * a configured secret, embedded mode generates one (`simulatorReceiptSecret`); distributed mode
   * refuses to start, as the api and the supplier bridge must share it.
   */
  readonly simulator: {
    readonly enabled: boolean;
    readonly receiptSecret: string | undefined;
  };
  readonly providersFile: ProvidersFile | undefined;
  readonly bridge: {
    readonly concurrency: number;
    /** Default provider call timeout (a provider's breaker settings may override it). */
    readonly sendTimeoutMs: number;
    /** How long an OTP / alert waits for its delivered receipt before one more copy goes elsewhere (0 = off). */
    readonly receiptTimeoutMs: { readonly otp: number; readonly alert: number };
    /** Retry rounds before a message nobody would take goes to the DLQ. */
    readonly maxRounds: number;
    /**
     * What this bridge consumes: the send lanes and the delay topics (retry rounds, receipt
     * checks, quiet hours). All by default; a pool of bridges for `high` alone keeps codes and
     * alerts off the event loops that carry a campaign.
     */
    readonly lanes: readonly BridgeLane[];
  };
  readonly persister: PersisterConfig;
  /** The campaign runner each api process may run (one at a time holds its lease). */
  readonly campaigns: {
    /** Off: this process runs no campaigns (another deployment of the api does). */
    readonly runner: boolean;
    readonly chunkRows: number;
    readonly maxInFlight: number;
    readonly leaseTtlMs: number;
  };
  readonly trustProxyHops: number;
  /** API processes sharing the port (node:cluster); one per core on a dedicated node. */
  readonly apiWorkers: number;
  readonly otp: OtpConfig;
  readonly send: SendConfig;
  readonly callbacks: CallbackConfig;
  /** Message templates: what counts as a marketing template's opt-out instruction (PIGEON_TEMPLATE_OPT_OUT_PHRASES). */
  readonly templates: { readonly optOutPhrases: readonly string[] };
  readonly monitor: MonitorConfig;
}

/**
 * The send policy's gateway-wide defaults (api/src/send-policy/), for every send path; a tenant's
 * stored limits override them. 0 turns a limit off.
 */
export interface SendConfig {
  /** Sends per second a tenant's token bucket refills at. */
  readonly ratePerSecond: number;
  /** How many sends the bucket holds: a tenant may go this far above the rate for a moment. */
  readonly burst: number;
  /** Messages to one recipient per tenant in an hour, and in a day. */
  readonly perRecipientHour: number;
  readonly perRecipientDay: number;
  /** Estimated spend per tenant per UTC day and per UTC month. */
  readonly dailySpendCap: number;
  readonly monthlySpendCap: number;
  /** Price of a part when no provider lists one for the destination country (nor `*`). */
  readonly pricePerPart: number;
}

/** The monitor's health model, alerting and peak protection (monitor/src/). */
export interface MonitorConfig {
  /** How often health is judged, rules evaluated and notifications sent. */
  readonly tickMs: number;
  /** How long a submission waits for its receipt before it counts in the delivered rate. */
  readonly receiptGraceMs: number;
  /** Receipt backlog from which bulk receipts are sampled (OTP and alert ones never). */
  readonly receiptBacklog: number;
  /** Share of bulk receipts still read in full while sampling (0..1). */
  readonly bulkReceiptSample: number;
  /** A provider is degraded below this share of its own baseline delivered rate or conversion. */
  readonly degradedRatio: number;
  /** Messages a window needs before it says anything about a provider. */
  readonly minSamples: number;
  /** How much health may recover per minute (0..1). */
  readonly recoveryPerMinute: number;
  /** Dashboard or runbook link put in every notification. */
  readonly alertsUrl: string | undefined;
  /** Absolute floors judged before any baseline exists (monitor/src/floors.ts). */
  readonly floors: MonitorFloors;
  /** How often the acting monitor writes its baselines to the store (at least 30 s). */
  readonly baselineSnapshotMs: number;
  /** Whether a monitor seeds baselines from the delivered rates of the last day's messages. */
  readonly priorsFromMessages: boolean;
}

/** A floor: with at least `minSamples` trials (0: off), a rate at or below `maxRate` is broken. */
export interface MonitorFloor {
  readonly minSamples: number;
  readonly maxRate: number;
}

/** Delivered-rate floors per message class (`default` for any other), and the OTP conversion one. */
export interface MonitorFloors {
  readonly delivered: Readonly<Record<string, MonitorFloor>> & { readonly default: MonitorFloor };
  readonly conversion: MonitorFloor;
}

/** Status callbacks to customers: delivered by the persister (persister/src/callbacks/). */
export interface CallbackConfig {
  /** Whether the persister runs the callback dispatcher and delivery worker. */
  readonly enabled: boolean;
  /** Callback URLs may reach loopback and private addresses (development, private deployments). */
  readonly allowPrivateNetworks: boolean;
  /** One delivery attempt, connection to last byte. */
  readonly timeoutMs: number;
  /** Deliveries in flight per persister process. */
  readonly concurrency: number;
  /** Most deliveries in flight per destination host (a host starts at 2 and earns more by answering). */
  readonly perHost: number;
  /** Retry a delivery for this long after its status change, then give it up. */
  readonly maxAgeMs: number;
  /** Keep finished deliveries this long (for inspection), then delete them. */
  readonly keepMs: number;
}

/** The persister's batching and retention. */
export interface PersisterConfig {
  /** Most events in one database write; partitions handled at once share it. */
  readonly batchRows: number;
  /** Longest an event waits for others before its write starts. */
  readonly batchWaitMs: number;
  /** Database writes (transactions) in flight at once. */
  readonly writers: number;
  /** Kafka partitions handled at once; 0 = every partition of the persister's topics. */
  readonly concurrentPartitions: number;
  /** Messages older than this are deleted with their history and attempts; 0 keeps them forever. */
  readonly retentionDays: number;
  readonly purgeIntervalMs: number;
  /** Rows per table per delete statement of a purge. */
  readonly purgeBatchRows: number;
  /**
   * How long a `submitted` message waits for its receipt, per class, before it ends `unknown`
   * (reason `receipt_deadline`); 0 waits forever. A late receipt still upgrades it.
   */
  readonly receiptDeadlineMs: Readonly<Record<MessageClass, number>>;
  readonly receiptSweepIntervalMs: number;
  /** Messages per class turned `unknown` per sweep round. */
  readonly receiptSweepBatch: number;
}

/** At most `limit` in any fixed window of `windowMs`, the window starting at its first hit. */
export interface RateLimit {
  readonly limit: number;
  readonly windowMs: number;
}

/** One-time-code verifications (api/src/verify/). Keys are kept as given; decode with core/keys.ts. */
export interface OtpConfig {
  /** HMAC-SHA-256 key for stored codes; api only. Generated into PIGEON_DATA_DIR in embedded mode. */
  readonly key: string | undefined;
  /** AES-256-GCM key for TOTP secrets at rest; api only. Generated in embedded mode. */
  readonly factorKey: string | undefined;
  /** AES-256-GCM key for OTP message bodies on Kafka; api and supplier bridge only. */
  readonly bodyKey: string | undefined;
  /** ISO 3166 alpha-2 countries codes may be sent to (until per-tenant lists exist). */
  readonly allowedCountries: readonly string[];
  readonly sendsPerPhone: RateLimit;
  readonly sendsPerIp: RateLimit;
  readonly sendsPerTenant: RateLimit;
  readonly checksPerIp: RateLimit;
  readonly checksPerTenant: RateLimit;
  /** New verifications to one number range (the number less its last 3 digits) per tenant. */
  readonly prefixBurst: RateLimit;
  /** How long a range that burst stays blocked. */
  readonly prefixBlockMs: number;
  /**
   * Estimated OTP spend per tenant per UTC day (parts × the send policy's price for the destination
   * country: the route table's, else `send.pricePerPart`); 0 = no cap.
   */
  readonly dailySpendCap: number;
}

/** Default PIGEON_OTP_ALLOWED_COUNTRIES: low-fraud destinations plus the template locales' markets. */
export const DEFAULT_OTP_COUNTRIES =
  'US,CA,GB,IE,FR,DE,AT,CH,BE,NL,LU,ES,PT,IT,SE,NO,DK,FI,PL,CN,HK,TW,JP,KR,SG,AU,NZ,BR,MX';

/** The optional `PIGEON_CONFIG` JSON file: providers and routes. */
export interface ProvidersFile {
  providers?: Array<{
    name: string;
    type: string;
    weight?: number;
    options?: Record<string, unknown>;
    /**
     * The monitor's prior for this provider's delivered rate (0..1), overall or per ISO country
     * (`*` for the rest): its baselines start there instead of warming up (docs/operations.md).
     */
    expectedDeliveredRate?: number | Record<string, number>;
  }>;
  /**
   * Routing rules (routing/rules.ts `RouteRule`), each with a stable `id`.
   * Providers and routes are copied into the store when absent there; the admin API owns them after.
   */
  routes?: Array<{ id: string } & Record<string, unknown>>;
  /** Alerting: where notifications go, and how on-call pages leave the API (docs/operations.md). */
  alerts?: AlertsFile;
}

/** `alerts` of PIGEON_CONFIG. */
export interface AlertsFile {
  /**
   * Alert channels (monitor/src/channels/): `{name, type, timeoutMs?, …type's options}`, type one of
   * slack, dingtalk, wecom, feishu, pagerduty, webhook, email, sms. Built and checked at start.
   */
  channels?: Array<{ name: string; type: string } & Record<string, unknown>>;
  /** On-call pages from the API (POST /v1/alerts/alertmanager). */
  oncall?: {
    /**
     * Providers a page goes to directly, in order, when Kafka does not take it (default: every
     * enabled provider that needs no connection of its own, by weight).
     */
    directProviders?: string[];
  };
  /**
   * Alert rules (alerting/rules.ts `AlertRule`); each replaces the shipped default of the same
   * id, and the admin API's stored rules replace these in turn.
   */
  rules?: Array<{ id: string } & Record<string, unknown>>;
  /**
   * Escalation policies: `{id, steps: [{after: "10m", channels: [...]}]}`. A rule names one by
   * `escalation`; `default`, when defined, applies to rules that name none.
   */
  escalation?: Array<{ id: string; steps: Array<{ after: string; channels: string[] }> }>;
  /** Channels of rules that name none (default: every configured channel, as one fallback chain). */
  defaultChannels?: string[];
  /** Synthetic canaries (monitor/src/canary.ts); none when absent. */
  canary?: {
    targets: Array<{ provider: string; country: string; to: string }>;
    intervalSeconds?: number;
    timeoutSeconds?: number;
    class?: 'transactional' | 'otp';
  };
}

export type DeploymentMode = 'embedded' | 'distributed';

/** What a supplier bridge can consume: a send lane's topic, or the delay topics. */
export const BRIDGE_LANES = ['high', 'normal', 'bulk', 'delay'] as const;
export type BridgeLane = (typeof BRIDGE_LANES)[number];

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

  /** A comma-separated list of distinct allowed values; unset or empty: `fallback`. */
  someOf<T extends string>(name: string, fallback: readonly T[], allowed: readonly T[]): readonly T[] {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const values = raw.split(',').map((v) => v.trim());
    const unknown = values.filter((v) => !(allowed as readonly string[]).includes(v));
    if (unknown.length > 0 || new Set(values).size !== values.length) {
      this.problems.push(`${name}: expected distinct values among ${allowed.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return values as T[];
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

/**
 * Reads and validates the configuration; throws PIGEON_ERR_CONFIG naming every bad variable.
 * `defaults.mode` is the command's: a caller that names none gets the distributed defaults, the
 * safe ones.
 */
export function loadConfig(
  env: Env = process.env,
  defaults: { port?: number; mode?: DeploymentMode } = {},
): Config {
  const r = new EnvReader(env);
  const mode = defaults.mode ?? 'distributed';
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
  // The broker refuses sessions outside group.min/max.session.timeout.ms (6 s – 30 min by
  // default); kafkajs wants heartbeats well inside the session. The defaults are the broker's
  // floor and a heartbeat a second: a killed bridge's OTP partitions reach a survivor within the
  // 10 s an OTP may wait (docs/reliability.md), and a survivor hears of the rebalance within 1 s.
  const sessionTimeoutMs = r.int('KAFKA_SESSION_TIMEOUT_MS', 6_000, 6_000, 1_800_000);
  const heartbeatIntervalMs = r.int('KAFKA_HEARTBEAT_INTERVAL_MS', 1_000, 100, 600_000);
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    r.problems.push(
      `KAFKA_HEARTBEAT_INTERVAL_MS: must be at most a third of KAFKA_SESSION_TIMEOUT_MS (${sessionTimeoutMs}), got ${heartbeatIntervalMs}`,
    );
  }
  const rebalanceTimeoutMs = r.int('KAFKA_REBALANCE_TIMEOUT_MS', 30_000, 1_000, 1_800_000);

  const configPath = r.string('PIGEON_CONFIG');
  let providersFile: ProvidersFile | undefined;
  if (configPath) {
    try {
      providersFile = resolveEnvReferences(
        JSON.parse(readFileSync(configPath, 'utf8')) as unknown,
        env,
        r.problems,
        'PIGEON_CONFIG',
      ) as ProvidersFile;
    } catch (err) {
      r.problems.push(`PIGEON_CONFIG: cannot read JSON from "${configPath}": ${(err as Error).message}`);
    }
    (providersFile?.providers ?? []).forEach((p, i) => {
      if (p.expectedDeliveredRate !== undefined && !isExpectedRate(p.expectedDeliveredRate)) {
        r.problems.push(
          `PIGEON_CONFIG providers[${i}].expectedDeliveredRate: a rate from 0 to 1, or rates by ISO country and "*"`,
        );
      }
    });
  }

  const apiKey = r.string('PIGEON_API_KEY');
  if (apiKey !== undefined && apiKey.length < 24) {
    r.problems.push('PIGEON_API_KEY: must be at least 24 characters (128 bits of entropy or more)');
  }

  const config: Config = {
    mode,
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
          ...replication(r),
          sessionTimeoutMs,
          heartbeatIntervalMs,
          rebalanceTimeoutMs,
        }
      : undefined,
    mysqlUrl: r.url('MYSQL_URL', ['mysql:']),
    mysqlPoolSize: r.int('MYSQL_POOL_SIZE', 10, 1, 1000),
    secretsKey: secret(r, 'PIGEON_SECRETS_KEY', r.string('PIGEON_SECRETS_KEY'), { exactBytes: 32 }),
    secretsKeyPrevious: secret(r, 'PIGEON_SECRETS_KEY_PREVIOUS', r.string('PIGEON_SECRETS_KEY_PREVIOUS'), {
      exactBytes: 32,
    }),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisCluster: redisCluster(r),
    redisWaitReplicas: r.int('PIGEON_REDIS_WAIT_REPLICAS', r.string('REDIS_CLUSTER_NODES') ? 1 : 0, 0, 5),
    redisKeyPrefix: redisKeyPrefix(r),
    publishTimeoutMs: r.int('PIGEON_PUBLISH_TIMEOUT_MS', 2000, 100, 60_000),
    simulator: simulator(r, mode),
    providersFile,
    bridge: {
      concurrency: r.int('PIGEON_BRIDGE_CONCURRENCY', 64, 1, 10_000),
      sendTimeoutMs: r.int('PIGEON_SEND_TIMEOUT_MS', 10_000, 100, 120_000),
      receiptTimeoutMs: {
        otp: r.int('PIGEON_RECEIPT_TIMEOUT_OTP_MS', 20_000, 0, 3_600_000),
        alert: r.int('PIGEON_RECEIPT_TIMEOUT_ALERT_MS', 20_000, 0, 3_600_000),
      },
      maxRounds: r.int('PIGEON_BRIDGE_MAX_ROUNDS', 30, 1, 1000),
      lanes: r.someOf('PIGEON_BRIDGE_LANES', BRIDGE_LANES, BRIDGE_LANES),
    },
    campaigns: {
      runner: r.bool('PIGEON_CAMPAIGN_RUNNER', true),
      chunkRows: r.int('PIGEON_CAMPAIGN_CHUNK_ROWS', 500, 1, 10_000),
      maxInFlight: r.int('PIGEON_CAMPAIGN_MAX_IN_FLIGHT', 5_000, 1, 1_000_000),
      leaseTtlMs: r.int('PIGEON_CAMPAIGN_LEASE_SECONDS', 10, 2, 3_600) * 1000,
    },
    persister: {
      batchRows: r.int('PIGEON_PERSISTER_BATCH_ROWS', 1000, 1, 50_000),
      batchWaitMs: r.int('PIGEON_PERSISTER_BATCH_WAIT_MS', 50, 0, 60_000),
      writers: r.int('PIGEON_PERSISTER_WRITERS', 2, 1, 64),
      concurrentPartitions: r.int('PIGEON_PERSISTER_PARTITIONS', 0, 0, 10_000),
      retentionDays: r.int('PIGEON_RETENTION_DAYS', 90, 0, 36_500),
      purgeIntervalMs: r.int('PIGEON_PURGE_INTERVAL_SECONDS', 600, 1, 86_400) * 1000,
      purgeBatchRows: r.int('PIGEON_PURGE_BATCH_ROWS', 1000, 1, 100_000),
      receiptDeadlineMs: receiptDeadlines(r),
      receiptSweepIntervalMs: r.int('PIGEON_RECEIPT_SWEEP_INTERVAL_SECONDS', 300, 1, 86_400) * 1000,
      receiptSweepBatch: r.int('PIGEON_RECEIPT_SWEEP_BATCH', 500, 1, 100_000),
    },
    trustProxyHops: r.int('PIGEON_TRUST_PROXY_HOPS', 0, 0, 10),
    apiWorkers: r.int('PIGEON_API_WORKERS', 1, 1, 64),
    otp: {
      key: secret(r, 'PIGEON_OTP_KEY', r.string('PIGEON_OTP_KEY'), { minBytes: 32 }),
      factorKey: secret(r, 'PIGEON_FACTOR_KEY', r.string('PIGEON_FACTOR_KEY'), { exactBytes: 32 }),
      bodyKey: secret(r, 'PIGEON_BODY_KEY', r.string('PIGEON_BODY_KEY'), { exactBytes: 32 }),
      allowedCountries: countries(
        r,
        'PIGEON_OTP_ALLOWED_COUNTRIES',
        r.string('PIGEON_OTP_ALLOWED_COUNTRIES', DEFAULT_OTP_COUNTRIES),
      ),
      sendsPerPhone: rate(r, 'PIGEON_OTP_SENDS_PER_PHONE', r.string('PIGEON_OTP_SENDS_PER_PHONE', '10/1h')),
      sendsPerIp: rate(r, 'PIGEON_OTP_SENDS_PER_IP', r.string('PIGEON_OTP_SENDS_PER_IP', '300/10m')),
      sendsPerTenant: rate(
        r,
        'PIGEON_OTP_SENDS_PER_TENANT',
        r.string('PIGEON_OTP_SENDS_PER_TENANT', '6000/1m'),
      ),
      checksPerIp: rate(r, 'PIGEON_OTP_CHECKS_PER_IP', r.string('PIGEON_OTP_CHECKS_PER_IP', '1000/10m')),
      checksPerTenant: rate(
        r,
        'PIGEON_OTP_CHECKS_PER_TENANT',
        r.string('PIGEON_OTP_CHECKS_PER_TENANT', '30000/1m'),
      ),
      prefixBurst: rate(r, 'PIGEON_OTP_PREFIX_BURST', r.string('PIGEON_OTP_PREFIX_BURST', '10/10m')),
      prefixBlockMs: r.int('PIGEON_OTP_PREFIX_BLOCK_SECONDS', 3600, 1, 7 * 86_400) * 1000,
      dailySpendCap: amount(r, 'PIGEON_OTP_DAILY_SPEND_CAP', r.string('PIGEON_OTP_DAILY_SPEND_CAP', '100')),
    },
    send: {
      ratePerSecond: r.int('PIGEON_SEND_RATE_PER_SECOND', 500, 0, 1_000_000),
      burst: r.int('PIGEON_SEND_BURST', 5000, 1, 10_000_000),
      perRecipientHour: r.int('PIGEON_SEND_PER_RECIPIENT_HOUR', 10, 0, 1_000_000),
      perRecipientDay: r.int('PIGEON_SEND_PER_RECIPIENT_DAY', 50, 0, 1_000_000),
      dailySpendCap: amount(
        r,
        'PIGEON_SEND_DAILY_SPEND_CAP',
        r.string('PIGEON_SEND_DAILY_SPEND_CAP', '1000'),
      ),
      monthlySpendCap: amount(
        r,
        'PIGEON_SEND_MONTHLY_SPEND_CAP',
        r.string('PIGEON_SEND_MONTHLY_SPEND_CAP', '20000'),
      ),
      pricePerPart: amount(r, 'PIGEON_SEND_PRICE_PER_PART', r.string('PIGEON_SEND_PRICE_PER_PART', '0.05')),
    },
    templates: {
      optOutPhrases: optOutPhrases(r.string('PIGEON_TEMPLATE_OPT_OUT_PHRASES')),
    },
    callbacks: {
      enabled: r.bool('PIGEON_CALLBACKS', true),
      allowPrivateNetworks: r.bool('PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS', false),
      timeoutMs: r.int('PIGEON_CALLBACK_TIMEOUT_MS', 5_000, 100, 60_000),
      concurrency: r.int('PIGEON_CALLBACK_CONCURRENCY', 256, 1, 10_000),
      perHost: r.int('PIGEON_CALLBACK_PER_HOST', 16, 1, 1_000),
      maxAgeMs: r.int('PIGEON_CALLBACK_MAX_AGE_HOURS', 24, 1, 24 * 7) * 3_600_000,
      keepMs: r.int('PIGEON_CALLBACK_KEEP_HOURS', 72, 1, 24 * 90) * 3_600_000,
    },
    monitor: {
      tickMs: r.int('PIGEON_MONITOR_TICK_SECONDS', 10, 1, 300) * 1000,
      receiptGraceMs: r.int('PIGEON_MONITOR_RECEIPT_GRACE_SECONDS', 30, 1, 600) * 1000,
      receiptBacklog: r.int('PIGEON_MONITOR_RECEIPT_BACKLOG', 50_000, 1, 1_000_000_000),
      bulkReceiptSample: r.int('PIGEON_MONITOR_BULK_RECEIPT_SAMPLE_PERCENT', 10, 0, 100) / 100,
      degradedRatio: r.int('PIGEON_MONITOR_DEGRADED_PERCENT', 60, 1, 99) / 100,
      minSamples: r.int('PIGEON_MONITOR_MIN_SAMPLES', 20, 1, 1_000_000),
      recoveryPerMinute: r.int('PIGEON_MONITOR_RECOVERY_PERCENT_PER_MINUTE', 10, 1, 100) / 100,
      alertsUrl: r.url('PIGEON_ALERTS_URL', ['http:', 'https:']),
      floors: monitorFloors(r),
      baselineSnapshotMs: r.int('PIGEON_MONITOR_BASELINE_SNAPSHOT_SECONDS', 30, 30, 3600) * 1000,
      priorsFromMessages: r.bool('PIGEON_MONITOR_PRIORS_FROM_MESSAGES', true),
    },
  };

  if (r.problems.length > 0) {
    throw new PigeonError('PIGEON_ERR_CONFIG', `Invalid configuration:\n  - ${r.problems.join('\n  - ')}`);
  }
  return deepFreeze(config);
}

/** A monitor prior: a rate from 0 to 1, or such rates by ISO country and `*`. */
function isExpectedRate(value: unknown): boolean {
  const rate = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  if (rate(value)) return true;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(([country, v]) => /^([A-Z]{2}|\*)$/.test(country) && rate(v));
}

/**
 * The floors' defaults catch "accepts but delivers nothing" within two minutes at a few messages a
 * second: 20 due messages at ≤ 5 % delivered is far outside what chance does to any working route
 * (a 50 % route shows ≤ 1 of 20 with probability 2e-5). OTP needs fewer (10): it is small and
 * urgent; marketing more (50): carriers filter and delay it.
 */
function monitorFloors(r: EnvReader): MonitorFloors {
  const maxRate = r.int('PIGEON_MONITOR_FLOOR_PERCENT', 5, 0, 50) / 100;
  const floor = (name: string, fallback: number) => ({
    minSamples: r.int(name, fallback, 0, 1_000_000),
    maxRate,
  });
  const transactional = floor('PIGEON_MONITOR_FLOOR_MIN_TRANSACTIONAL', 20);
  return {
    delivered: {
      default: transactional,
      transactional,
      alert: floor('PIGEON_MONITOR_FLOOR_MIN_ALERT', 10),
      otp: floor('PIGEON_MONITOR_FLOOR_MIN_OTP', 10),
      marketing: floor('PIGEON_MONITOR_FLOOR_MIN_MARKETING', 50),
    },
    conversion: {
      minSamples: r.int('PIGEON_MONITOR_CONVERSION_FLOOR_MIN', 20, 0, 1_000_000),
      maxRate: r.int('PIGEON_MONITOR_CONVERSION_FLOOR_PERCENT', 2, 0, 50) / 100,
    },
  };
}

/**
 * The secret simulator receipts were once signed with by default: it is public, so anyone could
 * forge a receipt with it. Refused, so a deployment still setting it does not start.
 */
const PUBLISHED_SIMULATOR_SECRET = 'pigeon-simulator-secret';
const MIN_SIMULATOR_SECRET_LENGTH = 16;

/** PIGEON_KAFKA_REPLICATION_FACTOR / PIGEON_KAFKA_MIN_INSYNC_REPLICAS: production's 3 and 2. */
/** A year: longer than any provider keeps a receipt pending. */
const MAX_RECEIPT_DEADLINE_HOURS = 8_760;

/**
 * PIGEON_RECEIPT_DEADLINE_HOURS for every class (72 h by default, a common DLR validity), with
 * PIGEON_RECEIPT_DEADLINE_<CLASS>_HOURS overriding it for one class; PIGEON_RECEIPT_DEADLINE_SECONDS,
 * when set above 0, overrides them all.
 */
function receiptDeadlines(r: EnvReader): Record<MessageClass, number> {
  // Seconds, for every class at once: a test deployment (the fault suite) must see its
  // receiptless messages end within its run, and an hour is longer than the run.
  const seconds = r.int('PIGEON_RECEIPT_DEADLINE_SECONDS', 0, 0, MAX_RECEIPT_DEADLINE_HOURS * 3600);
  if (seconds > 0) {
    return Object.fromEntries(MESSAGE_CLASSES.map((c) => [c, seconds * 1000])) as Record<
      MessageClass,
      number
    >;
  }
  const all = r.int('PIGEON_RECEIPT_DEADLINE_HOURS', 72, 0, MAX_RECEIPT_DEADLINE_HOURS);
  const hours = (messageClass: MessageClass) =>
    r.int(`PIGEON_RECEIPT_DEADLINE_${messageClass.toUpperCase()}_HOURS`, all, 0, MAX_RECEIPT_DEADLINE_HOURS) *
    3_600_000;
  return Object.fromEntries(MESSAGE_CLASSES.map((c) => [c, hours(c)])) as Record<MessageClass, number>;
}

/**
 * REDIS_CLUSTER_NODES: comma-separated seed nodes, each `host:port` or a `redis://` /
 * `rediss://` URL (`rediss://user:password@host:port`): credentials and TLS come from the URL
 * entries, which must agree, since every node of one cluster takes the same. A few seeds suffice;
 * the client learns the rest from CLUSTER SLOTS. Excludes REDIS_URL: one deployment, one cache.
 */
function redisCluster(r: EnvReader): RedisClusterTarget | undefined {
  const raw = r.string('REDIS_CLUSTER_NODES');
  if (raw === undefined) return undefined;
  const parsed = parseClusterNodes(raw);
  if (typeof parsed === 'string') {
    r.problems.push(`REDIS_CLUSTER_NODES: ${parsed}`);
    return undefined;
  }
  if (r.string('REDIS_URL') !== undefined) {
    r.problems.push('REDIS_CLUSTER_NODES: set either it or REDIS_URL, not both');
    return undefined;
  }
  return parsed;
}

/** The seed list of REDIS_CLUSTER_NODES, or a sentence saying what is wrong with it. */
export function parseClusterNodes(raw: string): RedisClusterTarget | string {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) return 'expected host:port,host:port,…';
  const nodes: Array<{ host: string; port: number }> = [];
  let auth: { username?: string; password?: string; tls: boolean } | undefined;
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(/^[a-z]+:\/\//i.test(entry) ? entry : `redis://${entry}`);
    } catch {
      return `"${entry}" is neither host:port nor a redis:// URL`;
    }
    const port = Number(url.port || 6379);
    if (!['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '' || url.pathname.length > 1) {
      return `"${url.protocol}//${url.host}${url.pathname}" is neither host:port nor a redis:// URL`;
    }
    nodes.push({ host: url.hostname.replace(/^\[|\]$/g, ''), port });
    if (!/^[a-z]+:\/\//i.test(entry)) continue;
    const these = {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      tls: url.protocol === 'rediss:',
    };
    if (auth !== undefined && JSON.stringify(auth) !== JSON.stringify(these)) {
      return 'the URL entries disagree on credentials or TLS; every node of a cluster takes the same';
    }
    auth = these;
  }
  return Object.freeze({ nodes: Object.freeze(nodes), ...(auth ?? { tls: false }) });
}

/**
 * Empty by default, so an existing deployment keeps its keys. No braces: a prefix with a hash tag
 * would put every key of the deployment in one Redis Cluster slot, and one with a lone brace
 * would break the tags the scripts' keys share.
 */
function redisKeyPrefix(r: EnvReader): string {
  const prefix = r.string('PIGEON_REDIS_KEY_PREFIX', '');
  if (!/^[A-Za-z0-9:._-]{0,64}$/.test(prefix)) {
    r.problems.push(
      `PIGEON_REDIS_KEY_PREFIX: expected at most 64 letters, digits or ":._-", got "${prefix}"`,
    );
    return '';
  }
  return prefix;
}

function replication(r: EnvReader): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = r.int('PIGEON_KAFKA_REPLICATION_FACTOR', 3, 1, 16);
  const minInsyncReplicas = r.int('PIGEON_KAFKA_MIN_INSYNC_REPLICAS', Math.min(2, replicationFactor), 1, 16);
  if (minInsyncReplicas > replicationFactor) {
    r.problems.push(
      `PIGEON_KAFKA_MIN_INSYNC_REPLICAS: ${minInsyncReplicas} is more than the replication factor ${replicationFactor}; no publish could ever be acknowledged`,
    );
  }
  return { replicationFactor, minInsyncReplicas };
}

function simulator(r: EnvReader, mode: DeploymentMode): Config['simulator'] {
  const enabled = r.bool('PIGEON_SIMULATOR', mode === 'embedded');
  const receiptSecret = r.string('PIGEON_SIMULATOR_SECRET');
  if (receiptSecret === PUBLISHED_SIMULATOR_SECRET) {
    r.problems.push('PIGEON_SIMULATOR_SECRET: this value was published as the default; set a random one');
  } else if (receiptSecret !== undefined && receiptSecret.length < MIN_SIMULATOR_SECRET_LENGTH) {
    r.problems.push(`PIGEON_SIMULATOR_SECRET: must be at least ${MIN_SIMULATOR_SECRET_LENGTH} characters`);
  } else if (enabled && receiptSecret === undefined && mode === 'distributed') {
    // Embedded mode generates one; separate processes would each generate a different one.
    r.problems.push(
      'PIGEON_SIMULATOR_SECRET: required with PIGEON_SIMULATOR=true outside embedded mode (the api and the supplier bridge must share it, e.g. `openssl rand -base64 32`)',
    );
  }
  return { enabled, receiptSecret };
}

function secret(
  r: EnvReader,
  name: string,
  raw: string | undefined,
  size: { exactBytes?: number; minBytes?: number },
): string | undefined {
  if (raw === undefined) return undefined;
  const decoded = decodeKey(raw, size);
  if (typeof decoded === 'string') {
    r.problems.push(`${name}: ${decoded}`);
    return undefined;
  }
  return raw;
}

function countries(r: EnvReader, name: string, raw: string): string[] {
  const list = [...new Set(raw.split(',').map((c) => c.trim().toUpperCase()))].filter(Boolean);
  const unknown = list.filter((c) => !/^[A-Z]{2}$/.test(c) || !isSupportedCountry(c));
  if (unknown.length > 0) {
    r.problems.push(`${name}: not ISO 3166 alpha-2 countries with phone numbers: ${unknown.join(', ')}`);
  }
  return list.sort();
}

const DURATION_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `count/duration`, e.g. `10/1h`, `300/10m`, `100/1s`. */
function rate(r: EnvReader, name: string, raw: string): RateLimit {
  const match = /^(\d+)\/(\d+)([smhd])$/.exec(raw.trim());
  const limit = Number(match?.[1]);
  const windowMs = Number(match?.[2]) * (DURATION_MS[match?.[3] ?? ''] ?? Number.NaN);
  if (!match || !Number.isSafeInteger(limit) || limit < 1 || !(windowMs > 0) || windowMs > 7 * 86_400_000) {
    r.problems.push(
      `${name}: expected count/duration such as 10/1h or 300/10m (s, m, h, d; at most 7d), got "${raw}"`,
    );
    return { limit: 1, windowMs: 1000 };
  }
  return { limit, windowMs };
}

function amount(r: EnvReader, name: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1e9) {
    r.problems.push(`${name}: expected a non-negative amount such as 25 or 0.05, got "${raw}"`);
    return 0;
  }
  return value;
}

/**
 * Replaces every `{"$env": "NAME"}` in the config file by that variable's value, so credentials
 * stay in the environment (a Secret) and out of the file.
 */
function resolveEnvReferences(value: unknown, env: Env, problems: string[], path: string): unknown {
  if (Array.isArray(value))
    return value.map((v, i) => resolveEnvReferences(v, env, problems, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0]![0] === '$env') {
      const name = entries[0]![1];
      const resolved = typeof name === 'string' ? env[name] : undefined;
      if (resolved === undefined || resolved === '') {
        problems.push(`${path}: refers to environment variable ${String(name)}, which is not set`);
      }
      return resolved ?? '';
    }
    return Object.fromEntries(
      entries.map(([k, v]) => [k, resolveEnvReferences(v, env, problems, `${path}.${k}`)]),
    );
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** A comma list of phrases, trimmed, empties dropped; unset or empty: the default list. */
function optOutPhrases(raw: string | undefined): readonly string[] {
  const phrases = (raw ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return phrases.length > 0 ? phrases : DEFAULT_OPT_OUT_PHRASES;
}
