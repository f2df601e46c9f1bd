import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { decodeKey, loadOrCreateKeyFile } from './keys.ts';
import { isSealed, openBody, openSealed, SealedBodyError, SEALED_PREFIX, sealBody } from './sealed-body.ts';

const execFileAsync = promisify(execFile);
const key = randomBytes(32);
const TEXT = 'Acme: your verification code is 482913. It expires in 5 min. Do not share it.';

test('a sealed body opens to the same text and carries neither the text nor the code', () => {
  const sealed = sealBody(TEXT, key);
  assert.ok(sealed.startsWith(SEALED_PREFIX));
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes('482913'));
  assert.equal(openBody(sealed, key), TEXT);
  assert.equal(openSealed(sealed, key), TEXT);
});

test('sealing twice gives different envelopes (random IV per message)', () => {
  const envelopes = new Set(Array.from({ length: 100 }, () => sealBody(TEXT, key)));
  assert.equal(envelopes.size, 100);
  const ivs = new Set(
    [...envelopes].map((e) =>
      Buffer.from(e.slice(SEALED_PREFIX.length), 'base64url').subarray(0, 12).toString('hex'),
    ),
  );
  assert.equal(ivs.size, 100);
});

test('a tampered envelope, a truncated one or another key is refused', () => {
  const sealed = sealBody(TEXT, key);
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
  raw[20]! ^= 1;
  assert.throws(() => openBody(SEALED_PREFIX + raw.toString('base64url'), key), SealedBodyError);
  assert.throws(() => openBody(`${SEALED_PREFIX}AAAA`, key), SealedBodyError);
  assert.throws(() => openBody(sealed, randomBytes(32)), SealedBodyError);
  assert.throws(() => sealBody(TEXT, randomBytes(16)), SealedBodyError);
});

test('a body that was never sealed passes openBody unchanged, but not openSealed', () => {
  assert.equal(openBody('hello', key), 'hello');
  assert.throws(() => openSealed('hello', key), SealedBodyError);
});

test('keys are read from hex or base64 and checked for size', () => {
  const bytes = randomBytes(32);
  assert.deepEqual(decodeKey(bytes.toString('hex'), { exactBytes: 32 }), bytes);
  assert.deepEqual(decodeKey(bytes.toString('base64'), { exactBytes: 32 }), bytes);
  assert.deepEqual(decodeKey(bytes.toString('base64url'), { exactBytes: 32 }), bytes);
  assert.match(String(decodeKey(randomBytes(16).toString('base64'), { exactBytes: 32 })), /exactly 32 bytes/);
  assert.match(String(decodeKey(randomBytes(20).toString('base64'), { minBytes: 32 })), /at least 32 bytes/);
  assert.match(String(decodeKey('not a key!', { minBytes: 32 })), /hex or base64/);
});

test('an embedded key file is created once, private, and read back the same', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-keys-'));
  try {
    const first = loadOrCreateKeyFile(dir, 'otp-key');
    assert.equal(first.length, 32);
    assert.equal(statSync(join(dir, 'otp-key')).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateKeyFile(dir, 'otp-key'), first);
    assert.ok(readFileSync(join(dir, 'otp-key'), 'utf8').trim().length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('processes creating the same key file at once all end up with one key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-keys-'));
  try {
    const script =
      `import { loadOrCreateKeyFile } from ${JSON.stringify(new URL('./keys.ts', import.meta.url).href)};` +
      `process.stdout.write(loadOrCreateKeyFile(${JSON.stringify(dir)}, 'secrets-key').toString('hex'));`;
    const keys = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const { stdout } = await execFileAsync(process.execPath, [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
        ]);
        return stdout;
      }),
    );
    assert.equal(new Set(keys).size, 1, keys.join(' '));
    assert.equal(
      readFileSync(join(dir, 'secrets-key'), 'utf8').trim(),
      Buffer.from(keys[0]!, 'hex').toString('base64'),
    );
    assert.deepEqual(readdirSync(dir), ['secrets-key'], 'no temporary files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
