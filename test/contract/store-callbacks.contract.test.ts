/**
 * The Store contract for the read side and status callbacks: message listings, usage reports,
 * tenant webhooks and the callback outbox. Run against SQLite and MariaDB like the main suite
 * (store.contract.test.ts), so embedded mode and production cannot drift apart.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { idFloor, newId } from '../../core/ids.ts';
import type { MessageClass, MessageStatus } from '../../core/message.ts';
import type { CallbackDelivery } from '../../core/store/kinds/callbacks.ts';
import type { MessagePatch, MessageRecord } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

/** 2026-01-01T00:00:00Z. */
const T0 = 1_767_225_600_000;
const DAY = 86_400_000;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A message id made at `ms`, as the API would have made it then. */
function idAt(ms: number): string {
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[randomInt(32)];
  return idFloor(ms).slice(0, 10) + random;
}

let tenants = 0;
const freshTenant = () => `tenant-${++tenants}-${newId().slice(-6)}`;

interface Sent {
  at: number;
  to?: string;
  status?: MessageStatus;
  messageClass?: MessageClass;
  provider?: string;
  country?: string;
  segments?: number;
  cost?: number;
  statusCallback?: string;
  clientRef?: string;
  metadata?: Record<string, string>;
}

function patchFor(tenantId: string, id: string, m: Sent): MessagePatch {
  const patch: MessagePatch = {
    id,
    tenantId,
    status: m.status ?? 'delivered',
    updatedAt: m.at + 500,
    recipient: m.to ?? '+447700900123',
    sender: null,
    messageClass: m.messageClass ?? 'transactional',
    lane: 'normal',
    body: 'hello',
    segments: m.segments ?? 1,
    encoding: 'GSM-7',
    country: m.country ?? 'GB',
    batchId: null,
    queuedAt: m.at,
  };
  if (m.provider !== undefined) patch.provider = m.provider;
  if (m.cost !== undefined) patch.cost = m.cost;
  if (m.statusCallback !== undefined) patch.statusCallback = m.statusCallback;
  if (m.clientRef !== undefined) patch.clientRef = m.clientRef;
  if (m.metadata !== undefined) patch.metadata = m.metadata;
  return patch;
}

/** Stores the messages (one batch) and returns their ids in the same order. */
async function send(store: Store, tenantId: string, messages: Sent[]): Promise<string[]> {
  const ids = messages.map((m) => idAt(m.at));
  await store.writeBatch({ messages: messages.map((m, i) => patchFor(tenantId, ids[i]!, m)), events: [] });
  return ids;
}

/** Every page of a listing, following the last id as the cursor. */
async function allPages(
  store: Store,
  tenantId: string,
  filter: Parameters<Store['listMessages']>[1],
  limit: number,
): Promise<MessageRecord[][]> {
  const pages: MessageRecord[][] = [];
  let before: string | undefined;
  for (;;) {
    const page = await store.listMessages(
      tenantId,
      filter,
      before === undefined ? { limit } : { before, limit },
    );
    if (page.length === 0) return pages;
    pages.push(page);
    before = page.at(-1)!.id;
  }
}

function delivery(overrides: Partial<CallbackDelivery> = {}): CallbackDelivery {
  const id = newId();
  return {
    id,
    tenantId: 'tenant-a',
    messageId: newId(),
    url: 'https://hooks.example.com/pigeon',
    payload: JSON.stringify({ id, type: 'message.delivered' }),
    state: 'pending',
    attempts: 0,
    nextAttemptAt: T0,
    createdAt: T0,
    updatedAt: T0,
    lastStatus: null,
    lastError: null,
    ...overrides,
  };
}

export function callbackStoreContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: listings, usage, webhooks, callback outbox`, () => {
    let target: StoreTarget;
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store, target } = opened));

    describe('listMessages', () => {
      test('lists newest first, and pages by the last id cover every message exactly once', async () => {
        const tenant = freshTenant();
        const ids = await send(
          store,
          tenant,
          Array.from({ length: 23 }, (_, i) => ({ at: T0 + i * 1000 })),
        );
        const pages = await allPages(store, tenant, {}, 5);
        assert.deepEqual(
          pages.map((p) => p.length),
          [5, 5, 5, 5, 3],
        );
        assert.deepEqual(
          pages.flat().map((m) => m.id),
          [...ids].reverse(),
        );
        const first = pages[0]![0]!;
        assert.equal(first.tenantId, tenant);
        assert.equal(first.recipient, '+447700900123');
        assert.equal(first.status, 'delivered');
      });

      test('a tenant never sees another tenant’s messages, whatever the filters', async () => {
        const mine = freshTenant();
        const theirs = freshTenant();
        await send(store, theirs, [{ at: T0, to: '+447700900999', provider: 'acme' }]);
        const [own] = await send(store, mine, [{ at: T0 + 1, to: '+447700900999', provider: 'acme' }]);
        const listed = await store.listMessages(
          mine,
          { recipient: '+447700900999', provider: 'acme', since: T0 - DAY, until: T0 + DAY },
          { limit: 1000 },
        );
        assert.deepEqual(
          listed.map((m) => m.id),
          [own],
        );
        assert.deepEqual(await store.listMessages(freshTenant(), {}, { limit: 1000 }), []);
        assert.deepEqual(await store.listMessages(mine.toUpperCase(), {}, { limit: 1000 }), []);
      });

      test('filters by number, status, class, provider and creation time, all together', async () => {
        const tenant = freshTenant();
        const [match, , , , , early, late] = await send(store, tenant, [
          { at: T0 + 5000, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'acme' },
          { at: T0 + 5001, to: '+14155550199', status: 'failed', messageClass: 'otp', provider: 'acme' },
          { at: T0 + 5002, to: '+14155550100', status: 'delivered', messageClass: 'otp', provider: 'acme' },
          {
            at: T0 + 5003,
            to: '+14155550100',
            status: 'failed',
            messageClass: 'marketing',
            provider: 'acme',
          },
          { at: T0 + 5004, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'other' },
          { at: T0 + 999, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'acme' },
          { at: T0 + 9000, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'acme' },
        ]);
        const filter = {
          recipient: '+14155550100',
          status: 'failed',
          messageClass: 'otp',
          provider: 'acme',
          since: T0 + 1000,
          until: T0 + 9000,
        } as const;
        assert.deepEqual(
          (await store.listMessages(tenant, filter, { limit: 10 })).map((m) => m.id),
          [match],
        );
        // since is inclusive, until exclusive, to the millisecond.
        const { since: _s, until: _u, ...noRange } = filter;
        assert.deepEqual(
          (
            await store.listMessages(tenant, { ...noRange, since: T0 + 999, until: T0 + 9001 }, { limit: 10 })
          ).map((m) => m.id),
          [late, match, early],
        );
        assert.deepEqual(
          (
            await store.listMessages(
              tenant,
              { ...noRange, since: T0 + 1000, until: T0 + 9000 },
              { limit: 10 },
            )
          ).map((m) => m.id),
          [match],
        );
      });

      test("filters by the client's reference, exactly, and returns it with the labels", async () => {
        const tenant = freshTenant();
        const [older, newer] = await send(store, tenant, [
          { at: T0, clientRef: 'order-4711', metadata: { userId: 'u-42', flow: 'checkout' } },
          { at: T0 + 1, clientRef: 'order-4711' },
          { at: T0 + 2, clientRef: 'order-4711b' },
          { at: T0 + 3, clientRef: 'ORDER-4711' },
          { at: T0 + 4 },
        ]);
        await send(store, freshTenant(), [{ at: T0 + 5, clientRef: 'order-4711' }]);
        const listed = await store.listMessages(tenant, { clientRef: 'order-4711' }, { limit: 10 });
        assert.deepEqual(
          listed.map((m) => m.id),
          [newer, older],
        );
        assert.deepEqual(
          listed.map((m) => [m.clientRef, m.metadata]),
          [
            ['order-4711', null],
            ['order-4711', { userId: 'u-42', flow: 'checkout' }],
          ],
        );
        const one = await store.getMessage(tenant, older!);
        assert.equal(one?.clientRef, 'order-4711');
        assert.deepEqual(one?.metadata, { userId: 'u-42', flow: 'checkout' });
        const all = await store.listMessages(tenant, {}, { limit: 10 });
        assert.deepEqual(
          all.map((m) => m.clientRef),
          [null, 'ORDER-4711', 'order-4711b', 'order-4711', 'order-4711'],
        );
      });

      test('a message whose request is not stored yet lists as transactional', async () => {
        const tenant = freshTenant();
        const id = idAt(T0 + 42);
        await store.writeBatch({
          messages: [{ id, tenantId: tenant, status: 'delivered', updatedAt: T0 + 50, provider: 'acme' }],
          events: [],
        });
        const listed = await store.listMessages(tenant, { messageClass: 'transactional' }, { limit: 10 });
        assert.deepEqual(
          listed.map((m) => [m.id, m.messageClass]),
          [[id, 'transactional']],
        );
      });

      test('pages stay stable while new messages are stored between them', async () => {
        const tenant = freshTenant();
        const now = Date.now();
        const existing = await send(
          store,
          tenant,
          Array.from({ length: 40 }, (_, i) => ({ at: now - 60_000 + i * 100 })),
        );
        const seen: string[] = [];
        let before: string | undefined;
        let inserted = 0;
        for (;;) {
          const page = await store.listMessages(
            tenant,
            {},
            before === undefined ? { limit: 7 } : { before, limit: 7 },
          );
          if (page.length === 0) break;
          seen.push(...page.map((m) => m.id));
          before = page.at(-1)!.id;
          // Traffic keeps arriving while a client pages: newer messages, and the persister
          // completing older rows (a status change) in the range still to be read.
          await send(store, tenant, [{ at: Date.now() + inserted++ }]);
          await store.writeBatch({
            messages: [{ id: existing[0]!, tenantId: tenant, status: 'failed', updatedAt: now }],
            events: [],
          });
        }
        assert.equal(new Set(seen).size, seen.length, 'no message is listed twice');
        assert.deepEqual(
          seen.filter((id) => existing.includes(id)),
          [...existing].reverse(),
          'every message present at the start is listed, in order',
        );
      });
    });

    describe('usage', () => {
      test('sums messages, segments and cost per UTC day, provider and country over [since, until)', async () => {
        const tenant = freshTenant();
        await send(store, tenant, [
          { at: T0 - 1, provider: 'acme', country: 'GB', segments: 9, cost: 9 }, // before since
          { at: T0, provider: 'acme', country: 'GB', segments: 2, cost: 0.0125 },
          { at: T0 + DAY - 1, provider: 'acme', country: 'US', segments: 1, cost: 0.0075 },
          { at: T0 + DAY, provider: 'beta', country: 'US', segments: 3, cost: 0.03 },
          { at: T0 + DAY + 5, country: 'US', status: 'rejected' }, // never sent: no provider, no cost
          { at: T0 + 2 * DAY, provider: 'acme', country: 'GB', segments: 9, cost: 9 }, // at until
        ]);
        await send(store, freshTenant(), [{ at: T0 + 10, provider: 'acme', country: 'GB', cost: 5 }]);
        const range = { since: T0, until: T0 + 2 * DAY };
        const sorted = async (groupBy: 'day' | 'provider' | 'country') =>
          (await store.usage(tenant, range, groupBy)).sort((a, b) =>
            String(a.key).localeCompare(String(b.key)),
          );
        assert.deepEqual(await sorted('day'), [
          { key: '2026-01-01', messages: 2, segments: 3, cost: 0.02 },
          { key: '2026-01-02', messages: 2, segments: 4, cost: 0.03 },
        ]);
        assert.deepEqual(await sorted('provider'), [
          { key: 'acme', messages: 2, segments: 3, cost: 0.02 },
          { key: 'beta', messages: 1, segments: 3, cost: 0.03 },
          { key: null, messages: 1, segments: 1, cost: 0 },
        ]);
        assert.deepEqual(await sorted('country'), [
          { key: 'GB', messages: 1, segments: 2, cost: 0.0125 },
          { key: 'US', messages: 3, segments: 5, cost: 0.0375 },
        ]);
        assert.deepEqual(await store.usage(freshTenant(), range, 'day'), []);
      });

      test('a message is billed once however many events it had', async () => {
        const tenant = freshTenant();
        const [id] = await send(store, tenant, [{ at: T0, provider: 'acme', cost: 0.04, segments: 2 }]);
        await store.writeBatch({
          messages: [
            {
              id: id!,
              tenantId: tenant,
              status: 'submitted',
              updatedAt: T0 + 1,
              provider: 'acme',
              cost: 0.04,
            },
            { id: id!, tenantId: tenant, status: 'delivered', updatedAt: T0 + 2, provider: 'acme' },
          ],
          events: [],
        });
        assert.deepEqual(await store.usage(tenant, { since: T0, until: T0 + DAY }, 'provider'), [
          { key: 'acme', messages: 1, segments: 2, cost: 0.04 },
        ]);
      });
    });

    describe('webhooks', () => {
      test('a tenant’s webhook round-trips, is replaced keeping its creation time, and is deleted once', async () => {
        const tenantId = freshTenant();
        const hook = {
          tenantId,
          url: 'https://hooks.example.com/a?x=1',
          secret: 'whsec_first',
          createdAt: T0,
          updatedAt: T0,
        };
        await store.putWebhook(hook);
        assert.deepEqual(await store.getWebhook(tenantId), hook);
        assert.equal(await store.getWebhook(freshTenant()), undefined);
        await store.putWebhook({
          ...hook,
          url: null,
          secret: 'whsec_second',
          createdAt: T0 + 9,
          updatedAt: T0 + 9,
        });
        assert.deepEqual(await store.getWebhook(tenantId), {
          ...hook,
          url: null,
          secret: 'whsec_second',
          updatedAt: T0 + 9,
        });
        assert.equal(await store.deleteWebhook(tenantId), true);
        assert.equal(await store.deleteWebhook(tenantId), false);
        assert.equal(await store.getWebhook(tenantId), undefined);
      });
    });

    describe('callback outbox', () => {
      test('callbackTargets tell the message’s own URL, and whether its request is stored yet', async () => {
        const tenant = freshTenant();
        const [own, plain] = await send(store, tenant, [
          {
            at: T0,
            statusCallback: 'https://cb.example.com/m?id=1',
            clientRef: 'order-4711',
            metadata: { userId: 'u-42' },
          },
          { at: T0 + 1 },
        ]);
        const early = idAt(T0 + 2);
        await store.writeBatch({
          messages: [{ id: early, status: 'delivered', updatedAt: T0 + 3, provider: 'acme' }],
          events: [],
        });
        const targets = await store.callbackTargets([own!, plain!, early, idAt(T0 + 4)]);
        assert.deepEqual(
          targets.sort((a, b) => a.messageId.localeCompare(b.messageId)),
          [
            {
              messageId: own!,
              tenantId: tenant,
              statusCallback: 'https://cb.example.com/m?id=1',
              requested: true,
              clientRef: 'order-4711',
              metadata: { userId: 'u-42' },
            },
            {
              messageId: plain!,
              tenantId: tenant,
              statusCallback: null,
              requested: true,
              clientRef: null,
              metadata: null,
            },
            {
              messageId: early,
              tenantId: '',
              statusCallback: null,
              requested: false,
              clientRef: null,
              metadata: null,
            },
          ],
        );
        // A later event without the URL leaves it in place.
        await store.writeBatch({
          messages: [
            { id: own!, tenantId: tenant, status: 'delivered', updatedAt: T0 + 9, provider: 'acme' },
          ],
          events: [],
        });
        assert.equal(
          (await store.callbackTargets([own!]))[0]?.statusCallback,
          'https://cb.example.com/m?id=1',
        );
      });

      test('enqueueing an event already in the outbox changes nothing', async () => {
        const d = delivery({ nextAttemptAt: T0 - 10_000 });
        await store.enqueueCallbacks([d]);
        await store.enqueueCallbacks([{ ...d, url: 'https://evil.example.com/', payload: '{}' }, delivery()]);
        const [claimed] = await store.claimCallbacks([d.id], {
          now: T0,
          leaseUntil: T0 + 30_000,
          token: newId(),
        });
        assert.deepEqual(
          claimed,
          { ...d, nextAttemptAt: T0 + 30_000 },
          'as first written, leased until 30 s on',
        );
      });

      test('due deliveries come earliest first, leave out hosts named, and only when due', async () => {
        const fresh = await makeTarget();
        const s = fresh.open();
        try {
          await s.migrate();
          const a = delivery({ nextAttemptAt: T0 + 20, url: 'https://a.example.com/x' });
          const b = delivery({ nextAttemptAt: T0 + 10, url: 'https://b.example.com:8443/y' });
          const c = delivery({ nextAttemptAt: T0 + 30, url: 'https://a.example.com/z' });
          const later = delivery({ nextAttemptAt: T0 + 1000 });
          const done = delivery({ nextAttemptAt: T0, state: 'delivered' });
          await s.enqueueCallbacks([a, b, c, later, done]);
          assert.deepEqual(await s.dueCallbacks({ now: T0 + 30, limit: 10, excludeHosts: [] }), [
            { id: b.id, host: 'b.example.com:8443' },
            { id: a.id, host: 'a.example.com' },
            { id: c.id, host: 'a.example.com' },
          ]);
          assert.deepEqual(
            await s.dueCallbacks({ now: T0 + 30, limit: 2, excludeHosts: ['b.example.com:8443'] }),
            [
              { id: a.id, host: 'a.example.com' },
              { id: c.id, host: 'a.example.com' },
            ],
          );
          assert.deepEqual(await s.dueCallbacks({ now: T0 + 9, limit: 10, excludeHosts: [] }), []);
        } finally {
          await s.close();
          await fresh.dispose();
        }
      });

      test('of workers racing for the same deliveries, each delivery goes to exactly one', async () => {
        const others = [target.open(), target.open(), target.open()];
        try {
          const deliveries = Array.from({ length: 30 }, () => delivery({ nextAttemptAt: T0 - DAY }));
          await store.enqueueCallbacks(deliveries);
          const ids = deliveries.map((d) => d.id);
          const claims = await Promise.all(
            [store, ...others].map((s) =>
              s.claimCallbacks(ids, { now: T0, leaseUntil: T0 + 30_000, token: newId() }),
            ),
          );
          const claimed = claims.flat().map((d) => d.id);
          assert.equal(claimed.length, ids.length);
          assert.deepEqual(new Set(claimed), new Set(ids));
          // Leased: not due again before the lease ends.
          const due = await store.dueCallbacks({ now: T0 + 29_999, limit: 1000, excludeHosts: [] });
          assert.ok(!due.some((d) => ids.includes(d.id)));
        } finally {
          await Promise.all(others.map((s) => s.close()));
        }
      });

      test('an update applies only while the lease is held, and drops it', async () => {
        const d = delivery({ nextAttemptAt: T0 - DAY, tenantId: '', url: null });
        await store.enqueueCallbacks([d]);
        const token = newId();
        const [claimed] = await store.claimCallbacks([d.id], { now: T0, leaseUntil: T0 + 30_000, token });
        assert.equal(claimed?.url, null);
        assert.equal(
          await store.updateCallback(d.id, newId(), {
            state: 'failed',
            attempts: 1,
            nextAttemptAt: T0,
            updatedAt: T0,
          }),
          false,
          'another token',
        );
        assert.equal(
          await store.updateCallback(d.id, token, {
            state: 'pending',
            attempts: 1,
            nextAttemptAt: T0 + 5000,
            updatedAt: T0 + 1,
            tenantId: 'tenant-z',
            url: 'https://resolved.example.com/hook',
            payload: '{"id":"resolved","clientRef":"order-4711"}',
            lastStatus: 503,
            lastError: 'x'.repeat(400),
          }),
          true,
        );
        assert.equal(
          await store.updateCallback(d.id, token, {
            state: 'delivered',
            attempts: 2,
            nextAttemptAt: T0,
            updatedAt: T0,
          }),
          false,
          'the lease was dropped by the first update',
        );
        const due = await store.dueCallbacks({ now: T0 + 5000, limit: 1000, excludeHosts: [] });
        assert.ok(due.some((x) => x.id === d.id && x.host === 'resolved.example.com'));
        const token2 = newId();
        const [again] = await store.claimCallbacks([d.id], {
          now: T0 + 5000,
          leaseUntil: T0 + 9000,
          token: token2,
        });
        assert.equal(again?.tenantId, 'tenant-z');
        assert.equal(again?.url, 'https://resolved.example.com/hook');
        assert.equal(again?.payload, '{"id":"resolved","clientRef":"order-4711"}');
        assert.equal(again?.attempts, 1);
        assert.equal(again?.lastStatus, 503);
        assert.equal(again?.lastError?.length, 255);
        assert.equal(
          await store.updateCallback(d.id, token2, {
            state: 'delivered',
            attempts: 2,
            nextAttemptAt: T0 + 5000,
            updatedAt: T0 + 5001,
            lastStatus: 204,
            lastError: null,
          }),
          true,
        );
        assert.deepEqual(
          await store.claimCallbacks([d.id], { now: T0 + DAY, leaseUntil: T0 + DAY, token: newId() }),
          [],
        );
      });

      test('a paused host’s pending deliveries move to the end of the pause; others stay', async () => {
        const fresh = await makeTarget();
        const s = fresh.open();
        try {
          await s.migrate();
          const dead = 'dead.example.com';
          const a = delivery({ url: `https://${dead}/1`, nextAttemptAt: T0 });
          const b = delivery({ url: `https://${dead}/2`, nextAttemptAt: T0 + 100_000 });
          const leased = delivery({ url: `https://${dead}/3`, nextAttemptAt: T0 });
          const other = delivery({ url: 'https://alive.example.com/', nextAttemptAt: T0 });
          await s.enqueueCallbacks([a, b, leased, other]);
          await s.claimCallbacks([leased.id], { now: T0, leaseUntil: T0 + 1000, token: newId() });
          assert.equal(await s.deferCallbacks(dead, T0 + 60_000), 1);
          // The leased one is due again when its lease ends (a worker that died), not moved.
          assert.deepEqual(await s.dueCallbacks({ now: T0 + 59_999, limit: 10, excludeHosts: [] }), [
            { id: other.id, host: 'alive.example.com' },
            { id: leased.id, host: dead },
          ]);
          assert.deepEqual(
            (await s.dueCallbacks({ now: T0 + 60_000, limit: 10, excludeHosts: ['alive.example.com'] })).map(
              (d) => d.id,
            ),
            [leased.id, a.id],
          );
        } finally {
          await s.close();
          await fresh.dispose();
        }
      });

      test('the backlog counts pending deliveries and their oldest; purging removes only old finished ones', async () => {
        const fresh = await makeTarget();
        const s = fresh.open();
        try {
          await s.migrate();
          assert.deepEqual(await s.callbackBacklog(), { pending: 0, oldestCreatedAt: null });
          const rows = [
            delivery({ createdAt: T0 - 5000 }),
            delivery({ createdAt: T0 - 7000 }),
            delivery({ createdAt: T0 - 9000, state: 'delivered' }),
            delivery({ createdAt: T0 - 9000, state: 'failed' }),
            delivery({ createdAt: T0 - 9000, state: 'skipped' }),
            delivery({ createdAt: T0, state: 'delivered' }),
          ];
          await s.enqueueCallbacks(rows);
          assert.deepEqual(await s.callbackBacklog(), { pending: 2, oldestCreatedAt: T0 - 7000 });
          assert.equal(await s.purgeCallbacks(T0, 2), 2);
          assert.equal(await s.purgeCallbacks(T0, 100), 1);
          assert.equal(await s.purgeCallbacks(T0, 100), 0);
          assert.deepEqual(await s.callbackBacklog(), { pending: 2, oldestCreatedAt: T0 - 7000 });
          const left = await s.claimCallbacks(
            rows.map((r) => r.id),
            { now: T0 + DAY, leaseUntil: T0 + DAY, token: newId() },
          );
          assert.equal(left.length, 2, 'the pending two are still there');
        } finally {
          await s.close();
          await fresh.dispose();
        }
      });
    });
  });
}

againstEveryStore(callbackStoreContract);
