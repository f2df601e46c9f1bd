import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requested, T0 } from '../../../test/support/dispatch-harness.ts';
import { followUpRecord, PASS_HEADERS, passFromHeaders } from './pass-headers.ts';

test('a follow-up record reads back as the pass it asks for', () => {
  const message = requested();
  const { record } = followUpRecord(
    message,
    { kind: 'retry', round: 3, refusedRounds: 2, dueAt: T0 + 15_000, exclude: ['a', 'b'], attempts: 4 },
    T0,
  );
  assert.equal(record.key, message.messageId);
  assert.deepEqual(JSON.parse(record.value), message);
  assert.deepEqual(passFromHeaders(record.headers, T0 + 20), {
    kind: 'retry',
    round: 3,
    refusedRounds: 2,
    dueAt: T0 + 15_000,
    appendedAt: T0 + 20,
    exclude: ['a', 'b'],
    attemptsSoFar: 4,
  });
});

test('a record written before refused rounds were counted takes its round as their number', () => {
  const pass = passFromHeaders({ [PASS_HEADERS.kind]: 'retry', [PASS_HEADERS.round]: '5' }, T0);
  assert.equal(pass?.refusedRounds, 5);
  assert.deepEqual(pass?.exclude, []);
});

test('a record that asks for no pass (a first send from a lane) reads as none', () => {
  assert.equal(passFromHeaders(undefined, T0), undefined);
  assert.equal(passFromHeaders({ [PASS_HEADERS.kind]: 'send' }, T0), undefined);
});

test('a deferred first send reads back as the first send, with its lane record’s append time', () => {
  const message = requested();
  const { topic, record } = followUpRecord(
    message,
    { kind: 'send', round: 0, dueAt: T0 + 25_000, exclude: [], attempts: 0, appendedAt: T0 - 300 },
    T0,
  );
  assert.equal(topic, 'sms.delay.10s');
  // The accept-deadline check then judges the lane record, not the delay record appended later.
  assert.deepEqual(passFromHeaders(record.headers, T0 + 50), {
    kind: 'send',
    round: 0,
    refusedRounds: 0,
    dueAt: T0 + 25_000,
    appendedAt: T0 - 300,
    exclude: [],
    attemptsSoFar: 0,
  });
});
