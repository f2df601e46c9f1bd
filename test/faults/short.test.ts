/**
 * The fault suite's short form, in every `npm test`: the whole deployment as separate processes
 * on its own 3-broker cluster, under steady mixed load, through three faults — a supplier bridge
 * SIGKILLed, the high lane's leader broker SIGKILLed, Redis cut off. Nothing acknowledged may be
 * lost, left unfinished, sent twice where its class forbids it, or sent after a 503, and no OTP
 * may be approved that should not be. The full form (every fault) is `npm run test:faults`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SHORT_FAULTS } from './faults.ts';
import { runFaultSuite } from './suite.ts';

test('under a bridge crash, a leader broker crash and a Redis outage, every promise holds', async () => {
  const result = await runFaultSuite({
    faults: SHORT_FAULTS,
    ratePerSecond: 40,
    steadyMs: 3_000,
    recoverMs: 8_000,
    settleMs: 60_000,
    log: (line) => process.stdout.write(`# faults: ${line}\n`),
  });
  process.stdout.write(`${result.table}\n`);
  for (const note of result.notes.slice(0, 20)) process.stdout.write(`# note: ${note}\n`);
  assert.deepEqual(result.violations.slice(0, 20), [], result.output);
  for (const row of result.rows) {
    assert.ok(row.acknowledged > 0, `${row.fault}: the API acknowledged nothing`);
    assert.ok(row.sent > 0, `${row.fault}: no provider received anything`);
  }
});
