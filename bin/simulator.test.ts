import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';

const TOKEN = 'control-token-of-the-cli-test';

test('pigeon simulator listens on loopback, says where, and keeps its log behind the token', async (t) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bin/cli.ts', 'simulator', '--port', '0', '--providers', 'sim-q'],
    {
      env: { ...process.env, PIGEON_SIMULATOR_TOKEN: TOKEN, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  while (!out.includes('\n')) await once(child.stdout, 'data');
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+) for sim-q/.exec(out)?.[1];
  assert.ok(url, out);
  // The token was given, so only the two secrets left unset are generated and shown.
  assert.doesNotMatch(out, /PIGEON_SIMULATOR_TOKEN=/);
  assert.match(out, /PIGEON_SIMULATOR_SEND_KEY=/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.equal((await fetch(`${url}/log`)).status, 401);
  const log = await fetch(`${url}/log`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.deepEqual(await log.json(), { count: 0, refused: 0, messages: [] });
  child.kill('SIGTERM');
  assert.equal((await once(child, 'exit'))[0], 0);
});

test('pigeon simulator with a bad argument exits as a configuration error', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'simulator', '--port', 'x'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const [code] = await once(child, 'exit');
  assert.equal(code, 78);
  assert.match(err, /^pigeon simulator: --port must be an integer/);
});
