import { type Logger, pino } from 'pino';
import { maskPhone } from './phone.ts';

export type { Logger };

const PHONE_IN_TEXT = /\+[1-9]\d{6,14}/g;
const PHONE_VALUE = /^\+?[1-9]\d{6,14}$/;

// pino's wildcards match one level only, so list the depths at which these fields occur.
const SENSITIVE_PATHS = [
  'to',
  'from',
  'recipient',
  'body',
  'code',
  'text',
  'req.headers.authorization',
  'req.body',
  '*.to',
  '*.from',
  '*.recipient',
  '*.body',
  '*.code',
  '*.text',
  '*.*.to',
  '*.*.recipient',
  '*.*.body',
  '*.*.code',
];

/** Phone numbers keep their country prefix and last two digits; everything else sensitive is removed. */
function censor(value: unknown): unknown {
  if (typeof value === 'string' && PHONE_VALUE.test(value)) return maskPhone(value);
  return '[redacted]';
}

export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_IN_TEXT, (m) => maskPhone(m));
}

/**
 * The project's logger: pino with redaction compiled at start. Message bodies, codes and
 * authorization headers never reach a log line; phone numbers are masked wherever they appear,
 * including inside the message text.
 */
export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
) {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name,
      redact: { paths: SENSITIVE_PATHS, censor },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const arg = args[i];
            if (typeof arg === 'string') args[i] = maskPhonesInText(arg);
          }
          method.apply(this, args);
        },
      },
    },
    options.destination,
  );
}
