import { PigeonError } from '../../core/errors.ts';

export interface SmppOptions {
  host: string;
  port: number;
  /** TLS (SMPP over TLS, usually port 3550); an object passes CA / verification settings. */
  tls: false | { ca?: string; rejectUnauthorized?: boolean; servername?: string };
  systemId: string;
  password: string;
  systemType: string;
  serviceType: string;
  enquireLinkMs: number;
  /** Connect plus bind must finish within this, or the attempt is abandoned and retried. */
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How long the bridge pauses this provider after ESME_RTHROTTLED. */
  throttledRetryAfterMs: number;
  /** How long after ESME_RMSGQFUL: the SMSC's queue drains slower than a throttle window. */
  queueFullRetryAfterMs: number;
  /** Sends the message's expiry as an absolute validity_period (some SMSCs refuse it). */
  validityPeriod: boolean;
}

const OPTION_KEYS = new Set([
  'host',
  'port',
  'tls',
  'systemId',
  'password',
  'systemType',
  'serviceType',
  'enquireLinkMs',
  'connectTimeoutMs',
  'reconnectMinMs',
  'reconnectMaxMs',
  'throttledRetryAfterMs',
  'queueFullRetryAfterMs',
  'validityPeriod',
]);

/** Validates a provider definition's options; throws PIGEON_ERR_CONFIG naming the bad one. */
export function smppOptions(name: string, options: Record<string, unknown>): SmppOptions {
  const bad = (key: string, expected: string): never => {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${name}": option "${key}" must be ${expected}`);
  };
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) bad(key, `one of ${[...OPTION_KEYS].join(', ')} (unknown option)`);
  }
  const string = (key: string, required: boolean): string => {
    const value = options[key];
    if (value === undefined && !required) return '';
    if (typeof value !== 'string' || (required && value === '')) bad(key, 'a non-empty string');
    return value as string;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const value = options[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      bad(key, `an integer from ${min} to ${max}`);
    }
    return value as number;
  };
  let tls: SmppOptions['tls'] = false;
  const rawTls = options.tls;
  if (rawTls === true) tls = {};
  else if (rawTls !== undefined && rawTls !== false) {
    if (typeof rawTls !== 'object' || rawTls === null || Array.isArray(rawTls)) {
      bad('tls', 'a boolean or an object');
    }
    const t = rawTls as Record<string, unknown>;
    tls = {};
    for (const [key, value] of Object.entries(t)) {
      if (key === 'ca' || key === 'servername') {
        if (typeof value !== 'string') bad(`tls.${key}`, 'a string');
        tls[key] = value as string;
      } else if (key === 'rejectUnauthorized') {
        if (typeof value !== 'boolean') bad('tls.rejectUnauthorized', 'a boolean');
        tls.rejectUnauthorized = value as boolean;
      } else bad(`tls.${key}`, 'one of ca, servername, rejectUnauthorized (unknown option)');
    }
  }
  const validity = options.validityPeriod ?? true;
  if (typeof validity !== 'boolean') bad('validityPeriod', 'a boolean');
  const parsed: SmppOptions = {
    host: string('host', true),
    port: integer('port', tls ? 3550 : 2775, 1, 65535),
    tls,
    systemId: string('systemId', true),
    password: string('password', false),
    systemType: string('systemType', false),
    serviceType: string('serviceType', false),
    enquireLinkMs: integer('enquireLinkMs', 30_000, 10, 3_600_000),
    connectTimeoutMs: integer('connectTimeoutMs', 10_000, 10, 600_000),
    reconnectMinMs: integer('reconnectMinMs', 1_000, 1, 3_600_000),
    reconnectMaxMs: integer('reconnectMaxMs', 30_000, 1, 3_600_000),
    throttledRetryAfterMs: integer('throttledRetryAfterMs', 1_000, 0, 3_600_000),
    queueFullRetryAfterMs: integer('queueFullRetryAfterMs', 5_000, 0, 3_600_000),
    validityPeriod: validity as boolean,
  };
  // SMPP 3.4 §5.2.1: system_id is at most 15 characters (16 octets with the NUL).
  if (parsed.systemId.length > 15) bad('systemId', 'at most 15 characters');
  if (parsed.reconnectMaxMs < parsed.reconnectMinMs) bad('reconnectMaxMs', 'at least reconnectMinMs');
  return parsed;
}
