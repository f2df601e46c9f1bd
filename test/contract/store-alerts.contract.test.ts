/**
 * The Store contract for alerting — rules, silences, incidents and their acknowledgement — run
 * against both implementations (kept apart from store.contract.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type { IncidentRecord } from '../../core/store/kinds/alerts.ts';
import type { Store } from '../../core/store/store.ts';
import { createTestDatabase } from '../support/mysql.ts';

const T0 = 1_767_225_600_000;

function incident(overrides: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    id: newId(),
    ruleId: 'delivered-rate-drop',
    fingerprint: `delivered-rate-drop{country=GB,provider=${newId()}}`,
    state: 'firing',
    severity: 'critical',
    labels: { provider: 'twilio', country: 'GB' },
    startedAt: T0,
    firedAt: T0 + 30_000,
    resolvedAt: null,
    ackCode: String(1000 + Math.floor(Math.random() * 9000)),
    ackedAt: null,
    ackedBy: null,
    detail: {
      steps: { 0: { notifiedAt: T0 + 30_000, channels: ['ops-slack'] } },
      title: 'Délivré 41 % — 送达率',
    },
    updatedAt: T0 + 30_000,
    ...overrides,
  };
}

function alertStoreContract(
  name: string,
  makeStore: () => Promise<{ store: Store; dispose: () => Promise<void> }>,
) {
  describe(`${name} store contract: alerting`, () => {
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

    test('an alert rule round-trips as JSON, is replaced by a put and deleted once', async () => {
      const rule = { id: 'slow-gb', metric: 'receipt_lag_p95_seconds', above: 30, severity: 'warning' };
      await store.putAlertRule(rule);
      await store.putAlertRule({ ...rule, above: 60 });
      const listed = (await store.listAlertRules()).filter((r) => r.id === 'slow-gb');
      assert.deepEqual(
        listed.map((r) => r.definition),
        [{ ...rule, above: 60 }],
      );
      assert.ok(listed[0]!.updatedAt > 0);
      assert.equal(await store.deleteAlertRule('slow-gb'), true);
      assert.equal(await store.deleteAlertRule('slow-gb'), false);
    });

    test('silences are listed while active, newest first, and end early by a put', async () => {
      const older = {
        id: newId(T0),
        matchers: { provider: 'twilio', country: '*' },
        startsAt: T0,
        endsAt: T0 + 3_600_000,
        createdBy: 'ops@example.com',
        comment: 'carrier maintenance — 维护',
        createdAt: T0,
      };
      const newer = { ...older, id: newId(T0 + 1), matchers: { rule: 'breaker-open' }, endsAt: T0 + 60_000 };
      await store.putSilence(older);
      await store.putSilence(newer);
      const active = (await store.listSilences(T0 + 120_000)).map((s) => s.id);
      assert.ok(active.includes(older.id) && !active.includes(newer.id));
      assert.deepEqual(await store.getSilence(older.id), older);
      await store.putSilence({ ...older, endsAt: T0 + 100_000 });
      assert.ok(!(await store.listSilences(T0 + 120_000)).some((s) => s.id === older.id));
      const all = (await store.listSilences()).map((s) => s.id);
      assert.ok(all.indexOf(newer.id) < all.indexOf(older.id));
      assert.equal(await store.getSilence('nope'), undefined);
    });

    test('incidents round-trip and are listed newest first, open or resolved', async () => {
      const first = incident({ id: newId(T0) });
      const second = incident({ id: newId(T0 + 5), state: 'resolved', resolvedAt: T0 + 90_000 });
      await store.putIncidents([first, second]);
      assert.deepEqual(await store.getIncident(first.id), first);
      const open = (await store.listIncidents({ open: true, limit: 100 })).map((i) => i.id);
      assert.ok(open.includes(first.id) && !open.includes(second.id));
      const resolved = (await store.listIncidents({ open: false, limit: 100 })).map((i) => i.id);
      assert.ok(resolved.includes(second.id) && !resolved.includes(first.id));
      const all = await store.listIncidents({ limit: 100 });
      assert.ok(all.findIndex((i) => i.id === second.id) < all.findIndex((i) => i.id === first.id));
      const page = await store.listIncidents({ limit: 1, before: second.id });
      assert.ok(page.length === 1 && page[0]!.id < second.id);
    });

    test('an acknowledgement by id or SMS code stands, whatever the monitor writes after', async () => {
      const byCode = incident({ ackCode: '4821' });
      await store.putIncidents([byCode]);
      const acked = await store.acknowledgeIncident('4821', 'sms:+447400123456', T0 + 60_000);
      assert.equal(acked?.id, byCode.id);
      assert.equal(acked?.ackedAt, T0 + 60_000);
      assert.equal(acked?.ackedBy, 'sms:+447400123456');
      const again = await store.acknowledgeIncident(byCode.id, 'someone-else', T0 + 70_000);
      assert.equal(again?.ackedBy, 'sms:+447400123456', 'the first acknowledgement stands');
      // The monitor, not yet aware of it, writes its view back.
      await store.putIncidents([{ ...byCode, detail: { later: true }, updatedAt: T0 + 80_000 }]);
      const stored = await store.getIncident(byCode.id);
      assert.equal(stored?.ackedAt, T0 + 60_000);
      assert.equal(stored?.ackedBy, 'sms:+447400123456');
      assert.deepEqual(stored?.detail, { later: true });
    });

    test('a resolved incident stays resolved and cannot be acknowledged; its code is free again', async () => {
      const done = incident({ ackCode: '7777', state: 'resolved', resolvedAt: T0 + 1 });
      await store.putIncidents([done]);
      await store.putIncidents([{ ...done, state: 'firing', resolvedAt: null }]);
      const stored = await store.getIncident(done.id);
      assert.equal(stored?.state, 'resolved');
      assert.equal(stored?.resolvedAt, T0 + 1);
      assert.equal(
        await store.acknowledgeIncident('7777', 'x', T0 + 5),
        undefined,
        'by code: only open ones',
      );
      const byId = await store.acknowledgeIncident(done.id, 'x', T0 + 5);
      assert.equal(byId?.state, 'resolved');
      assert.equal(byId?.ackedAt, null);
      assert.equal(await store.acknowledgeIncident(newId(), 'x', T0), undefined);
    });
  });
}

alertStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-alerts-'));
  return {
    store: new SqliteStore(join(dir, 'pigeon.db')),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

alertStoreContract('mysql', async () => {
  const db = await createTestDatabase();
  return { store: new MysqlStore(db.url, { connectionLimit: 2 }), dispose: () => db.drop() };
});
