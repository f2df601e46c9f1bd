/**
 * `pigeon simulator`: simulated SMS providers in a process of their own. Only ever started by
 * this command; the log and the behaviour switches need the control token.
 */
import closeWithGrace from 'close-with-grace';
import { exitOnConfigError } from '../core/config-exit.ts';
import { createLogger } from '../core/logger.ts';
import { simulatorProcessOptions } from '../providers/simulator-server/options.ts';
import { startSimulatorServer } from '../providers/simulator-server/server.ts';

let options;
try {
  options = simulatorProcessOptions(process.argv.slice(3), process.env);
} catch (err) {
  exitOnConfigError(err, 'pigeon simulator');
  throw err;
}
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'info', name: 'pigeon-simulator' });
const server = await startSimulatorServer({ ...options, logger });
const lines = [`simulator listening on ${server.url} for ${options.providers.join(', ')}`];
// A secret made up here is shown once, as the embedded gateway shows its API key.
if (options.generated.includes('controlToken')) lines.push(`PIGEON_SIMULATOR_TOKEN=${options.controlToken}`);
if (options.generated.includes('sendKey')) lines.push(`PIGEON_SIMULATOR_SEND_KEY=${options.sendKey}`);
if (options.generated.includes('receiptSecret'))
  lines.push(`PIGEON_SIMULATOR_SECRET=${options.receiptSecret}`);
process.stdout.write(`${lines.join('\n')}\n`);
closeWithGrace({ delay: 5_000, logger }, async () => {
  await server.close();
});
