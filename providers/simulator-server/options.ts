import { randomBytes } from 'node:crypto';
import { PigeonError } from '../../core/errors.ts';

/** `pigeon simulator`'s settings, read once from its arguments and environment. */
export interface SimulatorProcessOptions {
  port: number;
  host: string;
  providers: string[];
  latencyMs: number;
  receiptDelayMs: number;
  controlToken: string;
  sendKey: string;
  receiptSecret: string;
  /** The secrets this process made up because none was given; printed once at start. */
  generated: ('controlToken' | 'sendKey' | 'receiptSecret')[];
}

export const SIMULATOR_USAGE = `usage: pigeon simulator [--port N] [--host H] [--providers sim-a,sim-b]
                        [--latency-ms N] [--receipt-delay-ms N]
  environment: PIGEON_SIMULATOR_TOKEN (log and behaviour switches), PIGEON_SIMULATOR_SEND_KEY
  (what the gateway sends with), PIGEON_SIMULATOR_SECRET (signs receipts); each generated and
  printed when unset`;

const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MIN_SECRET_LENGTH = 16;

function bad(what: string): never {
  throw new PigeonError('PIGEON_ERR_CONFIG', what);
}

function integer(flag: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min || n > max) {
    bad(`${flag} must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** Parses `argv` (after the command name) and the environment; throws PIGEON_ERR_CONFIG naming the problem. */
export function simulatorProcessOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SimulatorProcessOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (!['--port', '--host', '--providers', '--latency-ms', '--receipt-delay-ms'].includes(flag)) {
      bad(`unknown argument "${flag}"`);
    }
    if (argv[i + 1] === undefined) bad(`${flag} needs a value`);
    flags.set(flag, argv[i + 1]!);
  }
  const providers = (flags.get('--providers') ?? 'sim-a,sim-b').split(',').filter((p) => p !== '');
  if (providers.length === 0) bad('--providers names no provider');
  for (const p of providers) if (!PROVIDER_NAME.test(p)) bad(`--providers: "${p}" is not a provider name`);
  const generated: SimulatorProcessOptions['generated'] = [];
  const secret = (name: string, key: SimulatorProcessOptions['generated'][number]): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      generated.push(key);
      return randomBytes(24).toString('base64url');
    }
    if (value.length < MIN_SECRET_LENGTH) bad(`${name} must be at least ${MIN_SECRET_LENGTH} characters`);
    return value;
  };
  return {
    port: integer('--port', flags.get('--port') ?? '7070', 0, 65_535),
    // Loopback unless asked: the log holds message text, codes included.
    host: flags.get('--host') ?? '127.0.0.1',
    providers,
    latencyMs: integer('--latency-ms', flags.get('--latency-ms') ?? '20', 0, 60_000),
    receiptDelayMs: integer('--receipt-delay-ms', flags.get('--receipt-delay-ms') ?? '300', 0, 3_600_000),
    controlToken: secret('PIGEON_SIMULATOR_TOKEN', 'controlToken'),
    sendKey: secret('PIGEON_SIMULATOR_SEND_KEY', 'sendKey'),
    receiptSecret: secret('PIGEON_SIMULATOR_SECRET', 'receiptSecret'),
    generated,
  };
}
