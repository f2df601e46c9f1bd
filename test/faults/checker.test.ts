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
      { phase: phase.name, wrong: 'pending', right: 'approved', again: 'pending' },
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
  assert.deepEqual(verdict.notes, []);
});

test('OTP: approved on the second right check after the first got no answer or an error is one approval, noted', () => {
  const verdict = run({
    sends: [],
    otp: [
      { phase: phase.name, wrong: 'pending', right: 'no answer', again: 'approved' },
      { phase: phase.name, wrong: 'pending', right: 'error 503', again: 'approved' },
    ],
  });
  assert.deepEqual(verdict.violations, []);
  assert.deepEqual(verdict.notes, [
    `${phase.name}: a code approved on the second right check, the first having answered no answer: approved once`,
    `${phase.name}: a code approved on the second right check, the first having answered error 503: approved once`,
  ]);
});

test('a 504 (outcome unknown) whose message a provider received breaks nothing; one that never landed is owed nothing', () => {
  const verdict = run({
    sends: [send(1, { status: 504 }), send(2, { status: 504 }), send(3, { status: 503, id: undefined })],
    stored: [row(1, 'delivered')],
    copies: [copy(1, 100)],
  });
  assert.deepEqual(verdict.violations, []);
  const r = verdict.rows[0]!;
  assert.equal(r.unknown, 2);
  assert.equal(r.unknownLanded, 1);
  assert.equal(r.refused, 1);
  assert.equal(r.acknowledged, 0);
});

test('a 504 whose message landed must be stored once, end final and reach a provider no more than its class allows', () => {
  const verdict = run({
    sends: [
      send(1, { status: 504 }),
      send(2, { status: 504 }),
      send(3, { status: 504 }),
      send(4, { status: 504, id: undefined }),
    ],
    stored: [{ id: 'id-2', status: 'delivered', rows: 2 }, row(3, 'submitted')],
    copies: [copy(1, 100), copy(3, 200), copy(3, 300)],
  });
  assert.deepEqual(verdict.violations.sort(), [
    `${phase.name}: a 504 for t-4 named no message`,
    `${phase.name}: id-2 is stored 2 times`,
    `${phase.name}: transactional id-1 (answered 504) reached a provider and was never stored`,
    `${phase.name}: transactional id-3 (answered 504) is still submitted`,
    `${phase.name}: transactional id-3 (answered 504) reached providers 2 times (sim-a, sim-a)`,
  ]);
  assert.equal(verdict.rows[0]!.unknownLanded, 3);
  assert.equal(verdict.rows[0]!.duplicates, 1);
});

test('a copy of a 504 message under another id than the one the 504 named is reported', () => {
  const verdict = run({
    sends: [send(1, { status: 504 })],
    stored: [],
    copies: [copy(1, 100, 'sim-a', { reference: 'id-other' })],
  });
  assert.match(verdict.violations.join('\n'), /under id id-other, acknowledged as id-1/);
});

test('per lane: the longest stall with a message waiting, the worst wait, and the time from the fault’s end to every lane sending again', () => {
  const verdict = run({
    sends: [
      send(1, { class: 'otp', answeredAt: 100 }),
      send(2, { class: 'otp', answeredAt: 3_000 }),
      send(3, { answeredAt: 200 }),
      send(4, { class: 'marketing', answeredAt: 8_000 }),
    ],
    copies: [copy(1, 500), copy(2, 6_500), copy(3, 2_400), copy(4, 9_000)],
  });
  const r = verdict.rows[0]!;
  // high: 1 waits 100 → 500; nothing waits 500 → 3,000; 2 waits 3,000 → 6,500; nothing after.
  // normal: 3 waits 200 → 2,400. bulk: 4 waits 8,000 → 9,000.
  assert.deepEqual(r.gapMs, { high: 3_500, normal: 2_200, bulk: 1_000 });
  assert.deepEqual(r.worstWaitMs, { high: 3_500, normal: 2_200, bulk: 1_000 });
  // After 2,000: high at 6,500, normal at 2,400, bulk at 9,000.
  assert.equal(r.recoverMs, 7_000);
});

test('a lane that sends nothing because nothing was asked of it has no gap', () => {
  const verdict = run({
    sends: [send(1, { class: 'otp', answeredAt: 100 }), send(2, { class: 'otp', answeredAt: 9_000 })],
    copies: [copy(1, 300), copy(2, 9_200)],
  });
  // 8.9 s without an OTP at any provider, but none was waiting until 9,000.
  assert.equal(verdict.rows[0]!.gapMs.high, 200);
});

test('a stall starts at the lane’s last copy when a message was already waiting then; the worst wait is to its first copy', () => {
  const verdict = run({
    // 1 is accepted at 100 and stuck until 8,000; 2 and 3 pass it at 1,000 and 2,000.
    sends: [
      send(1, { class: 'otp', answeredAt: 100 }),
      send(2, { class: 'otp', answeredAt: 900 }),
      send(3, { class: 'otp', answeredAt: 1_900 }),
    ],
    copies: [copy(2, 1_000), copy(3, 2_000), copy(1, 8_000), copy(1, 8_500, 'sim-b')],
  });
  const r = verdict.rows[0]!;
  // The lane kept sending until 2,000, then sent nothing while 1 waited until 8,000.
  assert.equal(r.gapMs.high, 6_000);
  // 1 waited 7.9 s for its first copy; its second (allowed) copy does not lengthen the wait.
  assert.equal(r.worstWaitMs.high, 7_900);
});

test('the table has one line per fault with every count', () => {
  const table = renderTable(run({ sends: [send(1)], copies: [copy(1, 100)] }).rows);
  const lines = table.split('\n');
  assert.equal(lines.length, 3);
  assert.match(
    lines[0]!,
    /fault \| acknowledged \| refused \(503\) \| outcome unknown \(504\), landed \| stored \| sent \| duplicates/,
  );
  assert.match(lines[2]!, /^\| bridge kill -9 \| 1 \| 0 \| 0, 0 \| 1 \| 1 \| 0 \| 0 \| 0 \| 0 \|/);
});
