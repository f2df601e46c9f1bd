/**
 * The Store contract for on-call rosters and pages, run against both implementations (kept apart
 * from store.contract.test.ts, which covers messages, keys and routing).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { PageRecord, RosterRecord } from '../../core/oncall.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type { Store } from '../../core/store/store.ts';
import { createTestDatabase } from '../support/mysql.ts';

const T0 = 1_767_225_600_000;

function rosterRecord(tenantId: string, name: string, phone = '+14155550101'): RosterRecord {
  return {
    tenantId,
    name,
    updatedAt: T0,
    roster: {
      name,
      timezone: 'Europe/London',
      members: [
        { name: 'ana', phone },
        { name: 'bo', phone: '+14155550102' },
      ],
      rotation: { period: 'weekly', handoffTime: '09:00', handoffDay: 'monday', start: '2026-01-05' },
      overrides: [
        { id: 'o1', member: 'bo', from: '2026-01-06T00:00:00.000Z', to: '2026-01-07T00:00:00.000Z' },
      ],
      escalation: { afterMinutes: 5 },
    },
  };
}

function page(overrides: Partial<PageRecord> = {}): PageRecord {
  return {
    id: newId(),
    tenantId: 'tenant-a',
    roster: 'default',
    fingerprint: '1a30ba71cca2921f',
    status: 'open',
    severity: 'critical',
    title: 'BlackBox Probe Failure: https://server.example.org — 探测失败',
    level: 0,
    chain: [
      { name: 'ana', phone: '+14155550101' },
      { name: 'bo', phone: '+14155550102' },
    ],
    deliveries: [{ member: 'ana', level: 0, kind: 'page', messageId: newId(), via: 'bus', at: T0 }],
    createdAt: T0,
    escalateAt: T0 + 300_000,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    updatedAt: T0,
    ...overrides,
  };
}

function oncallStoreContract(
  name: string,
  makeStore: () => Promise<{ store: Store; dispose: () => Promise<void> }>,
) {
  describe(`${name} store contract: on-call`, () => {
    let store: Store;
    let dispose: () => Promise<void>;

    before(async () => {
      ({ store, dispose } = await makeStore());
      await store.migrate();
    });

    after(async () => {
      await store?.close();
      await dispose?.();
    });

    test('a roster round-trips, is listed by name for its tenant only, and is replaced by a put', async () => {
      await store.putRoster(rosterRecord('tenant-a', 'payments'));
      await store.putRoster(rosterRecord('tenant-a', 'default'));
      await store.putRoster(rosterRecord('tenant-b', 'default', '+14155550199'));
      assert.deepEqual(await store.getRoster('tenant-a', 'payments'), rosterRecord('tenant-a', 'payments'));
      assert.deepEqual(
        (await store.listRosters('tenant-a')).map((r) => r.name),
        ['default', 'payments'],
      );
      assert.equal((await store.getRoster('tenant-b', 'default'))?.roster.members[0]?.phone, '+14155550199');
      assert.equal(await store.getRoster('tenant-c', 'default'), undefined);

      const changed = rosterRecord('tenant-a', 'payments', '+14155550177');
      changed.updatedAt = T0 + 1;
      await store.putRoster(changed);
      assert.deepEqual(await store.getRoster('tenant-a', 'payments'), changed);
    });

    test('deleting a roster says whether it was there, and touches no other tenant', async () => {
      await store.putRoster(rosterRecord('tenant-d', 'ops'));
      await store.putRoster(rosterRecord('tenant-e', 'ops'));
      assert.equal(await store.deleteRoster('tenant-d', 'ops'), true);
      assert.equal(await store.deleteRoster('tenant-d', 'ops'), false);
      assert.ok(await store.getRoster('tenant-e', 'ops'));
    });

    test('a page round-trips with its chain, deliveries and unicode title, only for its tenant', async () => {
      const p = page();
      await store.insertPage(p);
      assert.deepEqual(await store.getPage('tenant-a', p.id), p);
      assert.equal(await store.getPage('tenant-b', p.id), undefined);
    });

    test('an alert’s pages are found by fingerprint and status, oldest first', async () => {
      const fingerprint = `fp-${newId()}`;
      const first = page({ fingerprint, createdAt: T0 });
      const second = page({ fingerprint, createdAt: T0 + 10, status: 'acknowledged' });
      const done = page({ fingerprint, createdAt: T0 + 20, status: 'resolved' });
      const otherTenant = page({ fingerprint, tenantId: 'tenant-b' });
      for (const p of [done, second, first, otherTenant]) await store.insertPage(p);
      const ids = async (statuses: PageRecord['status'][]) =>
        (await store.findPages('tenant-a', fingerprint, statuses)).map((p) => p.id);
      assert.deepEqual(await ids(['open', 'acknowledged']), [first.id, second.id]);
      assert.deepEqual(await ids(['resolved']), [done.id]);
      assert.deepEqual(await ids([]), []);
    });

    test('an update applies only while status and level are what the caller saw', async () => {
      const p = page();
      await store.insertPage(p);
      const escalated: PageRecord = {
        ...p,
        level: 1,
        escalateAt: null,
        deliveries: [
          ...p.deliveries,
          {
            member: 'bo',
            level: 1,
            kind: 'escalation',
            messageId: newId(),
            via: 'direct',
            provider: 'sim-a',
            at: T0 + 300_000,
          },
        ],
        updatedAt: T0 + 300_000,
      };
      assert.equal(await store.updatePage(escalated, { status: 'open', level: 0 }), true);
      assert.equal(
        await store.updatePage({ ...escalated, level: 2 }, { status: 'open', level: 0 }),
        false,
        'a second sweeper that saw level 0 loses',
      );
      assert.deepEqual(await store.getPage('tenant-a', p.id), escalated);

      const acknowledged: PageRecord = {
        ...escalated,
        status: 'acknowledged',
        acknowledgedAt: T0 + 400_000,
        acknowledgedBy: 'bo',
        updatedAt: T0 + 400_000,
      };
      assert.equal(await store.updatePage(acknowledged, { status: 'open', level: 1 }), true);
      assert.equal(
        await store.updatePage({ ...acknowledged, status: 'resolved' }, { status: 'open', level: 1 }),
        false,
      );
      assert.equal(await store.updatePage(page(), { status: 'open', level: 0 }), false, 'no such page');
      assert.equal(
        await store.updatePage(
          { ...acknowledged, updatedAt: T0 + 500_000 },
          { status: 'acknowledged', level: 1 },
        ),
        true,
        'a write that only refreshes matches too',
      );
    });

    test('due pages are the open ones whose escalation time has come, soonest first', async () => {
      const now = T0 + 10_000_000;
      const late = page({ escalateAt: now - 1000 });
      const later = page({ escalateAt: now - 5000 });
      const exactlyNow = page({ escalateAt: now });
      const future = page({ escalateAt: now + 1 });
      const none = page({ escalateAt: null });
      const acknowledged = page({ escalateAt: now - 9000, status: 'acknowledged' });
      for (const p of [late, later, exactlyNow, future, none, acknowledged]) await store.insertPage(p);
      const due = (await store.duePages(now, 100)).map((p) => p.id);
      for (const id of [late.id, later.id, exactlyNow.id]) assert.ok(due.includes(id));
      for (const id of [future.id, none.id, acknowledged.id]) assert.ok(!due.includes(id));
      assert.ok(due.indexOf(later.id) < due.indexOf(late.id));
      assert.equal((await store.duePages(now, 1)).length, 1);
    });
  });
}

oncallStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-oncall-'));
  return {
    store: new SqliteStore(join(dir, 'pigeon.db')),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

oncallStoreContract('mysql', async () => {
  const db = await createTestDatabase();
  return { store: new MysqlStore(db.url, { connectionLimit: 2 }), dispose: () => db.drop() };
});
