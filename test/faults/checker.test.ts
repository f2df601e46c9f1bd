import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkRun,
  extraCopies,
  type OtpRecord,
  type PhaseWindow,
  type ProviderCopy,
  renderTable,
  type SendRecord,
  type StoredRow,
  tokenText,
} from './checker.ts';

const phase: PhaseWindow = {
  name: 'bridge kill -9',
  start: 0,
  faultAt: 1_000,
  restoredAt: 2_000,
  end: 10_000,
};

function send(n: number, over: Partial<SendRecord> = {}): SendRecord {
  return {
    token: `t-${n}`,
    class: 'transactional',
    phase: phase.name,
    at: n,
    status: 202,
    id: `id-${n}`,
    ...over,
  };
}
const copy = (n: number, at: number, provider = 'sim-a', over: Partial<ProviderCopy> = {}): ProviderCopy => ({
  provider,
  reference: `id-${n}`,
  body: `hello ${tokenText(`t-${n}`)}`,
  at,
  ...over,
});
const row = (n: number, status = 'delivered'): StoredRow => ({ id: `id-${n}`, status, rows: 1 });

function run(input: {
  sends: SendRecord[];
  stored?: StoredRow[];
  copies?: ProviderCopy[];
  otp?: OtpRecord[];
}) {
  return checkRun({
    phases: [phase],
    stored: input.stored ?? input.sends.filter((s) => s.id).map((s) => row(Number(s.token.slice(2)))),
    copies: input.copies ?? [],
    otp: input.otp ?? [],
    sends: input.sends,
  });
}

test('a clean history: every acknowledged id stored, final and sent once; nothing to report', () => {
  const verdict = run({
    sends: [
      send(1),
      send(2, { class: 'otp' }),
      send(3, { class: 'marketing' }),
      send(4, { status: 503, id: undefined }),
    ],
    copies: [copy(1, 500), copy(2, 2_500, 'sim-b'), copy(3, 3_000)],
  });
  assert.deepEqual(verdict.violations, []);
  const [r] = verdict.rows;
  assert.equal(r!.acknowledged, 3);
  assert.equal(r!.refused, 1);
  assert.equal(r!.stored, 3);
  assert.equal(r!.sent, 3);
  assert.equal(r!.duplicates + r!.lost + r!.stuck, 0);
});

test('an acknowledged id missing from the store is lost; one not final is stuck', () => {
  const verdict = run({ sends: [send(1), send(2)], stored: [row(2, 'submitted')], copies: [copy(2, 100)] });
  assert.equal(verdict.rows[0]!.lost, 1);
  assert.equal(verdict.rows[0]!.stuck, 1);
  assert.equal(verdict.violations.length, 2);
  assert.match(verdict.violations.join('\n'), /id-1 was acknowledged and never stored/);
  assert.match(verdict.violations.join('\n'), /id-2 is still submitted/);
});

test('unknown is final: the receipt deadline ended it', () => {
  assert.deepEqual(run({ sends: [send(1)], stored: [row(1, 'unknown')] }).violations, []);
});

test('a second copy of a transactional or marketing message is a duplicate, whichever provider', () => {
  const verdict = run({
    sends: [send(1), send(2, { class: 'marketing' })],
    copies: [copy(1, 100), copy(1, 200, 'sim-b'), copy(2, 300), copy(2, 400)],
  });
  assert.equal(verdict.rows[0]!.duplicates, 2);
  assert.equal(verdict.violations.length, 2);
});

test('an OTP may reach a second provider (failover), never the same one twice', () => {
  assert.deepEqual(extraCopies('otp', [copy(1, 1, 'sim-a'), copy(1, 2, 'sim-b')]), {
    duplicates: 0,
    resent: 1,
  });
  assert.deepEqual(extraCopies('otp', [copy(1, 1, 'sim-a'), copy(1, 2, 'sim-a')]), {
    duplicates: 1,
    resent: 0,
  });
  const verdict = run({ sends: [send(1, { class: 'otp' })], copies: [copy(1, 100), copy(1, 200, 'sim-b')] });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.rows[0]!.resent, 1);
});

test('a message the API refused (503) that a provider received anyway breaks the promise', () => {
  const verdict = run({
    sends: [send(1, { status: 503, id: undefined })],
    copies: [copy(1, 100, 'sim-a', { reference: 'x' })],
  });
  assert.match(verdict.violations.join('\n'), /which the API refused \(503\)/);
});

test('a request that got no answer may have been accepted: a copy of it breaks nothing', () => {
  const verdict = run({
    sends: [send(1, { status: 0, id: undefined })],
    copies: [copy(1, 100, 'sim-a', { reference: 'x' })],
  });
  assert.deepEqual(verdict.violations, []);
});

test('acknowledged messages no provider received are counted by their final status', () => {
  const verdict = run({
    sends: [send(1), send(2)],
    stored: [row(1, 'expired'), row(2, 'delivered')],
    copies: [copy(2, 100)],
  });
  assert.deepEqual(verdict.rows[0]!.unsent, { expired: 1 });
});

test('a provider copy no request made, or under another id, is reported', () => {
  const verdict = run({
    sends: [send(1)],
    copies: [copy(1, 100, 'sim-a', { reference: 'id-other' }), copy(9, 100)],
  });
  assert.equal(verdict.violations.length, 2);
  assert.match(verdict.violations.join('\n'), /no request of this run made/);
  assert.match(verdict.violations.join('\n'), /under id id-other/);
});

test('OTP: a wrong code approved, or a code approved twice, is a violation; a refused check is not', () => {
  const verdict = run({
    sends: [],
    otp: [
      { phase: phase.name, wrong: 'pending', right: 'approved', again: 'not_found' },
      { phase: phase.name, wrong: 'approved', right: 'approved' },
      { phase: phase.name, wrong: 'pending', right: 'approved', again: 'approved' },
      { phase: phase.name, wrong: 'error 503' },
    ],
  });
  assert.equal(verdict.rows[0]!.otpChecked, 4);
  assert.deepEqual(verdict.violations.sort(), [
    `${phase.name}: a code was approved twice`,
    `${phase.name}: a wrong code was approved`,
  ]);
});

test('per lane: the longest silence in the phase, and the time from the fault’s end to every lane sending again', () => {
  const verdict = run({
    sends: [send(1, { class: 'otp' }), send(2, { class: 'otp' }), send(3), send(4, { class: 'marketing' })],
    copies: [copy(1, 500), copy(2, 6_500), copy(3, 2_400), copy(4, 9_000)],
  });
  const r = verdict.rows[0]!;
  // high: 0 → 500 → 6,500 → 10,000; normal: 0 → 2,400 → 10,000; bulk: 0 → 9,000 → 10,000.
  assert.deepEqual(r.gapMs, { high: 6_000, normal: 7_600, bulk: 9_000 });
  // After 2,000: high at 6,500, normal at 2,400, bulk at 9,000.
  assert.equal(r.recoverMs, 7_000);
});

test('the table has one line per fault with every count', () => {
  const table = renderTable(run({ sends: [send(1)], copies: [copy(1, 100)] }).rows);
  const lines = table.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /fault \| acknowledged \| refused \(503\) \| stored \| sent \| duplicates/);
  assert.match(lines[2]!, /^\| bridge kill -9 \| 1 \| 0 \| 1 \| 1 \| 0 \| 0 \| 0 \| 0 \|/);
});
