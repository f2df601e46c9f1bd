import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBanner } from './banner.ts';

const facts = {
  base: 'http://127.0.0.1:3000',
  infrastructure: 'memory bus, sqlite store, memory cache',
  simulator: true,
};

test('a key from PIGEON_API_KEY is never printed; the curl lines refer to the variable', () => {
  const supplied = 'pgn_supplied-by-the-operator-0123456789';
  const banner = startBanner({ ...facts, apiKey: supplied, apiKeySupplied: true });
  assert.doesNotMatch(banner, /supplied-by-the-operator/);
  assert.match(banner, /API key +from PIGEON_API_KEY/);
  const curls = banner.split('\n').filter((line) => line.includes('curl '));
  assert.equal(curls.length, 3);
  for (const line of curls) assert.match(line, /-H "Authorization: Bearer \$PIGEON_API_KEY"/);
});

test('a generated key is printed, and every curl line carries it, the simulator outbox included', () => {
  const generated = 'pgn_generated-at-first-start-0123456789';
  const banner = startBanner({ ...facts, apiKey: generated, apiKeySupplied: false });
  assert.match(banner, new RegExp(`API key +${generated}`));
  const curls = banner.split('\n').filter((line) => line.includes('curl '));
  assert.equal(curls.length, 3);
  for (const line of curls) assert.ok(line.includes(`-H "Authorization: Bearer ${generated}"`), line);
  assert.ok(
    curls.some((line) => line.includes("'http://127.0.0.1:3000/simulator/messages?to=%2B14155550123'")),
  );
  assert.match(banner, /simulated providers/);
});

test('without the simulator there is no outbox line and no claim of simulated providers', () => {
  const banner = startBanner({ ...facts, simulator: false, apiKey: 'pgn_x', apiKeySupplied: false });
  assert.doesNotMatch(banner, /simulat/);
});
