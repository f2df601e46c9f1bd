/**
 * No simulator surface in production. Started through the CLI as an operator would: a service
 * command (distributed mode) has no `/simulator/*` routes unless asked, and refuses to be asked
 * without a secret of its own; the embedded gateway has them, for keys of the `simulator` or
 * `admin` scope only, and signs receipts with a secret of its own, not the once-documented one.
 * No Kafka, database or Redis: unset, each process uses its in-process stand-ins.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { EXIT_CONFIG } from '../../core/config-exit.ts';
import { signSimulatorReceipt, simulatorReceiptSecret } from '../../providers/simulator.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { waitFor } from '../support/wait.ts';

/** Whatever the machine running the tests has set, these processes run on their own. */
const STANDALONE = { KAFKA_BROKERS: '', MYSQL_URL: '', REDIS_URL: '', PIGEON_CONFIG: '' };

const SIMULATOR_CALLS = [
  ['GET', '/simulator/messages?to=%2B14155550123', undefined],
  ['PUT', '/simulator/providers/sim-a/fault', { fault: 'down', forMs: 1000 }],
  ['DELETE', '/simulator/providers/sim-a/fault', undefined],
  [
    'POST',
    '/simulator/replies',
    { provider: 'sim-a', from: '+14155550100', to: '+14155550123', body: 'ACK 1' },
  ],
] as const;

const running: ServiceProcess[] = [];
after(async () => {
  for (const service of running) await service.stop(5_000);
});

async function start(command: 'api' | 'embedded', env: Record<string, string> = {}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-surface-'));
  const service = startServiceProcess(command, {
    ...STANDALONE,
    PORT: String(port),
    PIGEON_DATA_DIR: dataDir,
    ...env,
  });
  running.push(service);
  await waitForReady(`http://127.0.0.1:${port}/readyz`, service);
  return { service, base: `http://127.0.0.1:${port}`, dataDir };
}

function call(base: string, method: string, path: string, key?: string, body?: unknown) {
  return fetch(base + path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The banner `pigeon embedded` prints once it is up. */
async function banner(service: ServiceProcess): Promise<string> {
  await waitFor(() => service.output().includes('/v1/messages/<id>'), 30_000, 'the start banner');
  return service.output();
}

describe('a service in distributed mode', () => {
  test('has no /simulator routes with default settings, not even for an admin key', async () => {
    const adminKey = `pgn_surface_${randomBytes(12).toString('hex')}`;
    const { base } = await start('api', { PIGEON_API_KEY: adminKey });
    for (const [method, path, body] of SIMULATOR_CALLS) {
      const response = await call(base, method, path, adminKey, body);
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    assert.equal((await call(base, 'GET', '/v1/admin/providers', adminKey)).status, 200, 'the key works');
  });

  test('refuses to start with the simulator turned on and no secret of its own', async () => {
    const service = startServiceProcess('api', {
      ...STANDALONE,
      PORT: String(await freePort()),
      PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-surface-')),
      PIGEON_SIMULATOR: 'true',
    });
    running.push(service);
    const code =
      service.child.exitCode ??
      (await new Promise<number | null>((resolve) => service.child.once('exit', resolve)));
    assert.equal(code, EXIT_CONFIG, service.output());
    assert.match(service.output(), /PIGEON_SIMULATOR_SECRET: required/);
  });
});

describe('the embedded gateway', () => {
  test('serves /simulator only to keys of the simulator or admin scope; its banner lines carry the key', async () => {
    const { service, base, dataDir } = await start('embedded');
    const printed = await banner(service);
    const key = /API key +(pgn_\S+)/.exec(printed)?.[1];
    assert.ok(key, `a generated key is printed:\n${printed}`);
    const outboxLine = printed.split('\n').find((line) => line.includes('/simulator/messages'));
    assert.ok(outboxLine?.includes(`-H "Authorization: Bearer ${key}"`), outboxLine);

    // A key of the ordinary scopes, as `pigeon create-api-key` makes one.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bin/cli.ts', 'create-api-key', 'default'],
      { env: { ...process.env, ...STANDALONE, PIGEON_DATA_DIR: dataDir, LOG_LEVEL: 'warn' } },
    );
    const ordinaryKey = stdout.trim();
    assert.match(ordinaryKey, /^pgn_/);

    for (const [method, path, body] of SIMULATOR_CALLS) {
      const anonymous = await call(base, method, path, undefined, body);
      assert.equal(anonymous.status, 401, `${method} ${path} without a key`);
      assert.match(String(anonymous.headers.get('content-type')), /application\/problem\+json/);
      const ordinary = await call(base, method, path, ordinaryKey, body);
      assert.equal(ordinary.status, 403, `${method} ${path} without the scope`);
    }
    assert.equal((await call(base, 'GET', '/simulator/messages?to=%2B14155550123', key)).status, 200);
    assert.equal((await call(base, 'DELETE', '/simulator/providers/sim-a/fault', key)).status, 204);
  });

  test('refuses a receipt signed with the once-documented secret; its own secret is generated', async () => {
    const { base, dataDir } = await start('embedded');
    const receipt = (secret: string) => {
      const body = JSON.stringify({
        id: 'SIMforged',
        reference: '01J0000000000000000000000A',
        status: 'delivered',
      });
      const timestamp = String(Date.now());
      return fetch(`${base}/v1/receipts/sim-a`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-simulator-timestamp': timestamp,
          'x-simulator-signature': signSimulatorReceipt(secret, timestamp, body),
        },
        body,
      });
    };
    const forged = await receipt('pigeon-simulator-secret');
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { code: string }).code, 'PIGEON_ERR_RECEIPT_SIGNATURE');
    // The gateway's own secret, from its data directory, is the one it checks against.
    const own = simulatorReceiptSecret(loadConfig({ PIGEON_DATA_DIR: dataDir }, { mode: 'embedded' }));
    assert.ok((await receipt(own)).ok);
  });

  test('does not print a key it was given', async () => {
    const supplied = `pgn_supplied_${randomBytes(12).toString('hex')}`;
    const { service, base } = await start('embedded', { PIGEON_API_KEY: supplied });
    const printed = await banner(service);
    assert.ok(!printed.includes(supplied), printed);
    assert.match(printed, /Authorization: Bearer \$PIGEON_API_KEY/);
    assert.equal((await call(base, 'GET', '/simulator/messages?to=%2B14155550123')).status, 401);
    assert.equal((await call(base, 'GET', '/simulator/messages?to=%2B14155550123', supplied)).status, 200);
  });
});
