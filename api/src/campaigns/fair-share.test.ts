import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type CampaignDemand, FairShare } from './fair-share.ts';

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test("a tenant's million-row campaign and another's small one split the window evenly", () => {
  const share = new FairShare(100);
  const given = share.allocate(
    [
      { tenantId: 'big', campaignId: 'B', ready: 1_000_000 },
      { tenantId: 'small', campaignId: 'S', ready: 1_000 },
    ],
    1_000,
  );
  assert.equal(given.get('B'), 500);
  assert.equal(given.get('S'), 500);
});

test('a tenant needing less than its share leaves the rest to the others (work-conserving)', () => {
  const given = new FairShare(100).allocate(
    [
      { tenantId: 'big', campaignId: 'B', ready: 1_000_000 },
      { tenantId: 'small', campaignId: 'S', ready: 120 },
    ],
    1_000,
  );
  assert.equal(given.get('S'), 120);
  assert.equal(given.get('B'), 880);
});

test('shares are per tenant, not per campaign: three campaigns of one tenant share its half', () => {
  const given = new FairShare(50).allocate(
    [
      { tenantId: 'a', campaignId: 'A1', ready: 10_000 },
      { tenantId: 'a', campaignId: 'A2', ready: 10_000 },
      { tenantId: 'a', campaignId: 'A3', ready: 10_000 },
      { tenantId: 'b', campaignId: 'B1', ready: 10_000 },
    ],
    600,
  );
  assert.equal(given.get('B1'), 300);
  assert.equal((given.get('A1') ?? 0) + (given.get('A2') ?? 0) + (given.get('A3') ?? 0), 300);
  assert.deepEqual([given.get('A1'), given.get('A2'), given.get('A3')], [100, 100, 100]);
});

test('over many small ticks two backlogged tenants stay within one quantum of each other', () => {
  const share = new FairShare(30);
  const totals = { a: 0, b: 0 };
  for (let tick = 0; tick < 500; tick++) {
    // Capacity smaller than and not a multiple of the quantum: credit has to carry over.
    const given = share.allocate(
      [
        { tenantId: 'a', campaignId: 'A', ready: 1e9 },
        { tenantId: 'b', campaignId: 'B', ready: 1e9 },
      ],
      7,
    );
    totals.a += given.get('A') ?? 0;
    totals.b += given.get('B') ?? 0;
  }
  assert.equal(totals.a + totals.b, 3_500);
  assert.ok(Math.abs(totals.a - totals.b) <= 30, `${totals.a} vs ${totals.b}`);
});

test('with the room varying tick to tick, backlogged tenants stay within a quantum of each other by rows, not just by turns', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 300 }),
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 2, max: 4 }),
      (rooms, quantum, tenants) => {
        const share = new FairShare(quantum);
        const totals = new Map<string, number>();
        for (const room of rooms) {
          const demands = Array.from({ length: tenants }, (_, i) => ({
            tenantId: `t${i}`,
            campaignId: `C${i}`,
            ready: 1e9,
          }));
          for (const [id, rows] of share.allocate(demands, room))
            totals.set(id, (totals.get(id) ?? 0) + rows);
        }
        const given = Array.from({ length: tenants }, (_, i) => totals.get(`C${i}`) ?? 0);
        assert.ok(
          Math.max(...given) - Math.min(...given) <= quantum,
          `${given.join(' vs ')} (quantum ${quantum})`,
        );
      },
    ),
  );
});

test('nothing is released without room in the window', () => {
  assert.equal(new FairShare().allocate([{ tenantId: 't', campaignId: 'C', ready: 10 }], 0).size, 0);
});

test('every allocation stays within each demand and the capacity, and fills one or the other', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          tenantId: fc.constantFrom('t1', 't2', 't3'),
          campaignId: fc.uuid(),
          ready: fc.nat(5_000),
        }),
        { maxLength: 8 },
      ),
      fc.nat(10_000),
      fc.integer({ min: 1, max: 500 }),
      (demands: CampaignDemand[], capacity, quantum) => {
        const given = new FairShare(quantum).allocate(demands, capacity);
        for (const d of demands) assert.ok((given.get(d.campaignId) ?? 0) <= d.ready);
        const ready = demands.reduce((a, d) => a + d.ready, 0);
        assert.equal(sum(given), Math.min(capacity, ready));
      },
    ),
  );
});
