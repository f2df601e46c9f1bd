#!/usr/bin/env node
import closeWithGrace from 'close-with-grace';
import { ALL_SCOPES, apiKeyRecord, generateApiKey, unknownScopes } from '../api/src/api-keys.ts';
import { type Config, type DeploymentMode, loadConfig } from '../core/config.ts';
import { exitOnConfigError } from '../core/config-exit.ts';
import { PigeonError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { createBus, createStore, topicSpecs } from '../core/runtime.ts';
import { startBanner } from './banner.ts';
import { startEmbedded } from './embedded.ts';

const USAGE = `usage: pigeon <command>
  embedded          the whole gateway in one process (default)
  api | supplier-bridge | persister | monitor
                    one service (distributed mode: KAFKA_BROKERS, MYSQL_URL, REDIS_URL)
  simulator [--port N] [--providers sim-a,sim-b]
                    simulated SMS providers as a process of their own, for fault tests
                    (reached through generic HTTP provider definitions)
  migrate           apply database migrations
  topics            create the Kafka topics
  create-api-key [tenant] [scope,scope…]
                    print a new API key (only its hash is stored); scopes are
                    ${ALL_SCOPES.join(', ')}
  reseal-secrets    write provider credentials and webhook secrets again under
                    PIGEON_SECRETS_KEY (after a rotation, or once a key is first set)`;

/**
 * The validated configuration, and any `check` a command adds; a bad one stops the process. Every
 * command but `embedded` runs against a distributed deployment's configuration.
 */
function config(check?: (cfg: Config) => void, mode: DeploymentMode = 'distributed'): Config {
  try {
    const cfg = loadConfig(process.env, { mode });
    check?.(cfg);
    return cfg;
  } catch (err) {
    exitOnConfigError(err, 'pigeon');
    throw err;
  }
}

const command = process.argv[2] ?? 'embedded';
switch (command) {
  case 'embedded': {
    const cfg = config(undefined, 'embedded');
    const logger = createLogger({ level: cfg.logLevel, name: 'pigeon' });
    // A provider or alert definition that does not hold is only found while starting.
    const gateway = await startEmbedded(cfg, logger).catch((err: unknown) => {
      exitOnConfigError(err, 'pigeon');
      throw err;
    });
    const { context } = gateway;
    process.stdout.write(
      startBanner({
        base: `http://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${cfg.port}`,
        infrastructure: `${context.bus().kind} bus, ${context.store().kind} store, ${context.cache().kind} cache`,
        simulator: cfg.simulator.enabled,
        apiKey: gateway.api.apiKey,
        apiKeySupplied: cfg.bootstrapApiKey !== undefined,
      }),
    );
    closeWithGrace({ delay: 20_000, logger }, async () => {
      await gateway.close();
    });
    break;
  }
  case 'api':
    await import('../api/src/index.ts');
    break;
  case 'supplier-bridge':
  case 'bridge':
    await import('../supplier-bridge/src/index.ts');
    break;
  case 'persister':
    await import('../persister/src/index.ts');
    break;
  case 'monitor':
    await import('../monitor/src/index.ts');
    break;
  case 'simulator': {
    await import('./simulator.ts');
    break;
  }
  case 'migrate': {
    const store = createStore(config());
    await store.migrate();
    await store.close();
    process.stdout.write(`migrations applied (${store.kind})\n`);
    break;
  }
  case 'topics': {
    const cfg = config();
    const bus = createBus(cfg, createLogger({ level: cfg.logLevel }));
    await bus.ensureTopics(topicSpecs(cfg.kafka?.partitions ?? 1));
    await bus.close();
    process.stdout.write('topics ready\n');
    break;
  }
  case 'create-api-key': {
    const tenant = process.argv[3] ?? 'default';
    const scopes =
      process.argv[4]?.split(',') ?? ALL_SCOPES.filter((s) => s !== 'admin' && s !== 'simulator');
    // Refused before anything is stored: a key with a misspelt scope would fail every call it is for.
    const unknown = unknownScopes(scopes);
    if (unknown.length > 0) {
      process.stderr.write(
        `pigeon: unknown scope ${unknown.map((s) => JSON.stringify(s)).join(', ')}; scopes are ${ALL_SCOPES.join(', ')}\n`,
      );
      process.exit(64);
    }
    const store = createStore(config());
    await store.migrate();
    const key = generateApiKey();
    await store.putApiKey(apiKeyRecord(key, tenant, scopes, 'cli'));
    await store.close();
    process.stdout.write(`${key}\n`);
    break;
  }
  case 'reseal-secrets': {
    const cfg = config((c) => {
      if (!c.secretsKey && c.mysqlUrl) {
        throw new PigeonError(
          'PIGEON_ERR_CONFIG',
          'set PIGEON_SECRETS_KEY (and PIGEON_SECRETS_KEY_PREVIOUS) first',
        );
      }
    });
    const store = createStore(cfg);
    const counts = await store.resealSecrets();
    await store.close();
    process.stdout.write(`resealed ${counts.providers} providers and ${counts.webhooks} webhook secrets\n`);
    break;
  }
  default:
    process.stderr.write(`${USAGE}\n`);
    process.exit(command === 'help' || command === '--help' ? 0 : 64);
}
