import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

test('embedded mode keeps pigeon.db and its -wal and -shm files readable by their owner alone', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-db-mode-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const store = createStore(loadConfig({ PIGEON_DATA_DIR: dataDir }));
  t.after(() => store.close());
  await store.migrate();
  await store.putProvider({ name: 'tw', type: 'twilio', options: { authToken: 'secret-token' } });

  for (const name of ['pigeon.db', 'pigeon.db-wal', 'pigeon.db-shm']) {
    const file = join(dataDir, name);
    assert.ok(existsSync(file), `${name} exists while the store is open`);
    assert.equal(statSync(file).mode & 0o777, 0o600, name);
  }
});

test('a database file an earlier version left world-readable is made owner-only on open', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-db-mode-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const path = join(dataDir, 'pigeon.db');
  const old = new SqliteStore(path);
  await old.migrate();
  await old.close();
  chmodSync(path, 0o644);
  writeFileSync(`${path}-wal`, '', { mode: 0o644 });
  chmodSync(`${path}-wal`, 0o644);

  const store = new SqliteStore(path);
  t.after(() => store.close());
  await store.migrate();
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
});
