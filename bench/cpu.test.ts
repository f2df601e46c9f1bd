import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { CpuMeter, processTree, rssMiB } from './cpu.ts';

test('counts the CPU a child process burns between start and stop, per message', async () => {
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);'], {
    stdio: 'ignore',
  });
  const meter = new CpuMeter({ busy: child.pid, missing: undefined });
  meter.start();
  // Sampled just before it exits: a process gone by stop() counts as 0, so stop while it spins.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [busy, missing] = meter.stop(1000);
  await once(child, 'exit');
  assert.equal(busy?.process, 'busy');
  assert.ok(busy.cpu_s > 0.05, `expected CPU time, got ${busy.cpu_s} s`);
  assert.equal(busy.us_per_msg, Math.round((busy.cpu_s * 1e6) / 1000));
  assert.deepEqual(missing, { process: 'missing', cpu_s: -1, us_per_msg: -1, core_pct: -1 });
});

test('finds a process tree and its resident memory', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 2000)'], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const tree = processTree(process.pid);
  child.kill();
  assert.equal(tree[0], process.pid);
  assert.ok(tree.includes(child.pid!), 'the child is in the tree');
  assert.ok(rssMiB(tree) > 10);
});
