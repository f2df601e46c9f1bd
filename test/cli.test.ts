/** The `pigeon` CLI as an operator runs it: a child process of bin/cli.ts. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { hashApiKey } from '../api/src/api-keys.ts';
import { SqliteStore } from '../core/store/sqlite-store.ts';
import { ALL_SCOPES } from '../api/src/api-keys.ts';

const run = promisify(execFile);

describe('pigeon create-api-key', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-cli-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'bin/cli.ts', ...args], {
      env: { ...process.env, PIGEON_DATA_DIR: dataDir, MYSQL_URL: '', LOG_LEVEL: 'warn' },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        stdout: err.stdout,
        stderr: err.stderr,
      }),
    );

  test('refuses an unknown scope with exit code 64, naming it and the known ones, and stores nothing', async () => {
    const result = await cli('create-api-key', 't', 'bogus');
    assert.equal(result.code, 64, result.stderr);
    assert.match(result.stderr, /unknown scope "bogus"/);
    assert.ok(result.stderr.includes(`scopes are ${ALL_SCOPES.join(', ')}`), result.stderr);
    assert.equal(result.stdout, '');
    assert.deepEqual(readdirSync(dataDir), [], 'no database was even opened');

    const mixed = await cli('create-api-key', 't', 'messages:read,Admin');
    assert.equal(mixed.code, 64);
    assert.match(mixed.stderr, /unknown scope "Admin"/);
  });

  test('prints a key with known scopes, stored by its hash', async () => {
    const result = await cli('create-api-key', 't', 'messages:read,pii:read');
    assert.equal(result.code, 0, result.stderr);
    const key = result.stdout.trim();
    assert.match(key, /^pgn_/);
    assert.ok(existsSync(join(dataDir, 'pigeon.db')));
    const store = new SqliteStore(join(dataDir, 'pigeon.db'));
    try {
      const record = await store.findApiKeyByHash(hashApiKey(key));
      assert.equal(record?.tenantId, 't');
      assert.deepEqual(record?.scopes, ['messages:read', 'pii:read']);
    } finally {
      await store.close();
    }
  });
});
