import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from './config.ts';
import { createStore } from './runtime.ts';
import { SqliteStore } from './store/sqlite-store.ts';

const execFileAsync = promisify(execFile);

test('embedded mode seals provider credentials under a key it keeps beside the database', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-runtime-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({ PIGEON_DATA_DIR: dataDir });
  const provider = { name: 'tw', type: 'twilio', options: { authToken: 'secret-token' } };

  const store = createStore(config);
  await store.migrate();
  await store.putProvider(provider);
  await store.close();

  assert.equal(statSync(join(dataDir, 'secrets-key')).mode & 0o777, 0o600);
  const db = new DatabaseSync(join(dataDir, 'pigeon.db'), { readOnly: true });
  const row = db.prepare('SELECT definition FROM providers').get() as { definition: string };
  db.close();
  assert.match(row.definition, /^enc:v1:/);

  // A restart reads them with the same key.
  const again = createStore(config);
  assert.deepEqual((await again.listProviders())[0]?.definition, provider);
  await again.close();
});

test('`pigeon reseal-secrets` seals rows written before the store had a key', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-reseal-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const plain = new SqliteStore(join(dataDir, 'pigeon.db'));
  await plain.migrate();
  await plain.putProvider({ name: 'tw', type: 'twilio', options: { authToken: 'secret-token' } });
  await plain.close();

  const cli = fileURLToPath(new URL('../bin/cli.ts', import.meta.url));
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', cli, 'reseal-secrets'], {
    env: { ...process.env, PIGEON_DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
  });

  assert.equal(stdout.trim(), 'resealed 1 providers and 0 webhook secrets');
  const db = new DatabaseSync(join(dataDir, 'pigeon.db'), { readOnly: true });
  const row = db.prepare('SELECT definition FROM providers').get() as { definition: string };
  db.close();
  assert.match(row.definition, /^enc:v1:/);
});
