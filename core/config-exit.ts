import { isPigeonError } from './errors.ts';

/** EX_CONFIG (sysexits.h): what orchestrators read as "fix the configuration", not "restart me". */
export const EXIT_CONFIG = 78;

/**
 * Stops the process with EX_CONFIG when `err` is a configuration error (PIGEON_ERR_CONFIG),
 * saying why on stderr as `program: message`: a bad configuration cannot heal by retrying, and
 * there may be no logger yet, since the log level is itself configuration. Returns for any other
 * error, which the caller rethrows or retries.
 */
export function exitOnConfigError(err: unknown, program: string): void {
  if (!isPigeonError(err) || err.code !== 'PIGEON_ERR_CONFIG') return;
  process.stderr.write(`${program}: ${err.message}\n`);
  process.exit(EXIT_CONFIG);
}
