import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { benchChildNodeOptions } from './support.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a process a bench started ends once the bench is SIGKILLed, and not before', async () => {
  // A stand-in bench: starts a long-lived child as the benches do, prints its pid, and waits.
  const bench = spawn(
    process.execPath,
    [
      '-e',
      `const { spawn } = require('node:child_process');
       const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
         env: { ...process.env, NODE_OPTIONS: ${JSON.stringify(benchChildNodeOptions(''))} },
         stdio: 'ignore',
       });
       console.log(child.pid);
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const childPid = await new Promise<number>((resolve) =>
    bench.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.ok(alive(childPid), 'alive while the bench is');
  bench.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  while (alive(childPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(alive(childPid), false, 'gone within a few seconds of the bench');
});
