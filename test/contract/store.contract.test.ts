/**
 * The Store contract: every implementation must pass the same behaviour tests, so embedded mode
 * (SQLite) and production (MySQL/TiDB, MariaDB here) cannot drift apart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { isPigeonError } from '../../core/errors.ts';
import { eventBase } from '../../core/events.ts';
import { idFloor, newId } from '../../core/ids.ts';
import type { MessageFailed, MessageSubmitted, PigeonEvent, ReceiptReceived } from '../../core/message.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type {
  ApiKeyRecord,
  AttemptRecord,
  MessageEventRecord,
  MessagePatch,
  MessageRecord,
  Store,
  TotpFactorRecord,
  WriteBatch,
} from '../../core/store/store.ts';
import { foldEvents } from '../../persister/src/fold.ts';
import { createTestDatabase } from '../support/mysql.ts';

interface StoreTarget {
  /** A new store over the target's database, with its own connection(s), as another process would. */
  open(): Store;
  dispose(): Promise<void>;
}

const T0 = 1_767_225_600_000;

interface Step {
  patch: MessagePatch;
  event: MessageEventRecord;
}

interface Lifecycle {
  messageId: string;
  tenantId: string;
  requested: Step;
  submitted: Step;
  pending: Step;
  delivered: Step;
  /** In the order the events happened. */
  steps: Step[];
}

function step(
  patch: MessagePatch & { tenantId: string },
  type: MessageEventRecord['type'],
  detail: Record<string, unknown> | null = null,
): Step {
  return {
    patch,
    event: {
      eventId: newId(),
      messageId: patch.id,
      tenantId: patch.tenantId,
      type,
      status: patch.status,
      provider: patch.provider ?? null,
      providerMessageId: patch.providerMessageId ?? null,
      detail: detail && JSON.stringify(detail),
      occurredAt: patch.updatedAt,
    },
  };
}

/** A one-part OTP that is requested, submitted to `acme`, reported pending, then delivered. */
function lifecycle(tenantId = 'tenant-a', messageId = newId()): Lifecycle {
  const id = messageId;
  const requested = step(
    {
      id,
      tenantId,
      status: 'queued',
      updatedAt: T0,
      recipient: '+447700900123',
      sender: 'Pigeon',
      messageClass: 'otp',
      lane: 'high',
      body: 'Your sign-in code is on its way',
      segments: 1,
      encoding: 'GSM-7',
      country: 'GB',
      batchId: null,
      queuedAt: T0,
    },
    'message.requested',
  );
  const submitted = step(
    {
      id,
      tenantId,
      status: 'submitted',
      updatedAt: T0 + 150,
      provider: 'acme',
      providerMessageId: 'acme-42',
      cost: 0.0125,
      segments: 1,
      submittedAt: T0 + 150,
    },
    'message.submitted',
    { attempt: 1, latencyMs: 140 },
  );
  const pending = step(
    { id, tenantId, status: 'unknown', updatedAt: T0 + 900, provider: 'acme', providerMessageId: 'acme-42' },
    'receipt.received',
    { providerStatus: 'ENROUTE' },
  );
  const delivered = step(
    {
      id,
      tenantId,
      status: 'delivered',
      updatedAt: T0 + 2000,
      provider: 'acme',
      providerMessageId: 'acme-42',
      finalAt: T0 + 2000,
    },
    'receipt.received',
    { providerStatus: 'DELIVRD' },
  );
  const steps = [requested, submitted, pending, delivered];
  return { messageId: id, tenantId, requested, submitted, pending, delivered, steps };
}

function batchOf(...steps: Step[]): WriteBatch {
  return { messages: steps.map((s) => s.patch), events: steps.map((s) => s.event) };
}

function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: newId(),
    tenantId: 'tenant-a',
    prefix: 'pk_live_a1b2',
    hash: newId().toLowerCase().padEnd(64, '0'),
    scopes: ['messages:send', 'messages:read'],
    name: 'checkout service',
    createdAt: T0,
    revokedAt: null,
    ...overrides,
  };
}

/**
 * The persister's view of one OTP's life, as bus events: billed at acme, an ambiguous second try
 * at bravo, a third try refused by delta, a free fourth copy through charlie that is delivered,
 * and acme's late receipts.
 */
function failoverEvents(tenantId = 'tenant-a', messageId = newId()): PigeonEvent[] {
  const at = (ms: number) => eventBase(messageId, tenantId, T0 + ms);
  const submitted = (ms: number, fields: Partial<MessageSubmitted>): MessageSubmitted => ({
    ...at(ms),
    type: 'message.submitted',
    provider: 'acme',
    providerMessageId: 'acme-1',
    attempt: 1,
    segments: 1,
    cost: 0.0125,
    latencyMs: 40,
    country: 'GB',
    requestedAt: new Date(T0 + ms - 40).toISOString(),
    ...fields,
  });
  const receipt = (ms: number, fields: Partial<ReceiptReceived>): ReceiptReceived => ({
    ...at(ms),
    type: 'receipt.received',
    provider: 'acme',
    providerMessageId: 'acme-1',
    status: 'delivered',
    providerStatus: 'DELIVRD',
    ...fields,
  });
  const ambiguous: MessageFailed = {
    ...at(20_000),
    type: 'message.failed',
    status: 'unknown',
    provider: 'bravo',
    attempt: 2,
    errorClass: 'ambiguous',
    errorCode: 'TIMEOUT',
    reason: 'provider timed out',
    requestedAt: new Date(T0 + 10_000).toISOString(),
  };
  return [
    {
      ...at(0),
      type: 'message.requested',
      to: '+447700900123',
      body: 'Your code is on its way',
      class: 'otp',
      lane: 'high',
      segments: 1,
      encoding: 'GSM-7',
      country: 'GB',
      expiresAt: new Date(T0 + 600_000).toISOString(),
      acceptDeadline: new Date(T0 + 2_000).toISOString(),
    },
    submitted(150, {}),
    receipt(900, { status: 'unknown', providerStatus: 'ENROUTE' }),
    ambiguous,
    {
      ...at(20_050),
      type: 'attempt.failed',
      provider: 'delta',
      attempt: 3,
      errorClass: 'retryable',
      errorCode: '503',
      reason: 'service unavailable',
      sent: 'no',
      country: 'GB',
      requestedAt: new Date(T0 + 20_020).toISOString(),
      latencyMs: 30,
    },
    submitted(20_100, {
      provider: 'charlie',
      providerMessageId: 'charlie-3',
      attempt: 4,
      cost: 0,
      failover: 'receipt_timeout',
    }),
    receipt(23_000, { provider: 'charlie', providerMessageId: 'charlie-3' }),
    receipt(60_000, { status: 'undelivered', providerStatus: 'UNDELIV' }),
  ];
}

export function storeContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract`, () => {
    let target: StoreTarget;
    let store: Store;

    before(async () => {
      target = await makeTarget();
      store = target.open();
      await store.migrate();
    });

    after(async () => {
      await store?.close();
      await target?.dispose();
    });

    test('migrating an up-to-date database again changes nothing', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.requested));
      await store.migrate();
      await store.migrate();
      assert.equal((await store.getMessage(m.tenantId, m.messageId))?.status, 'queued');
      assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, 1);
    });

    test('several processes migrating a fresh database at once all succeed', async () => {
      const fresh = await makeTarget();
      const stores = [fresh.open(), fresh.open(), fresh.open()];
      try {
        await Promise.all(stores.map((s) => s.migrate()));
        const m = lifecycle();
        await stores[1]!.writeBatch(batchOf(...m.steps));
        assert.equal((await stores[2]!.getMessage(m.tenantId, m.messageId))?.status, 'delivered');
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await fresh.dispose();
      }
    });

    test('the larger segment count wins whichever event arrives first', async () => {
      for (const order of ['request first', 'submission first']) {
        const m = lifecycle();
        // The provider billed two parts where the gateway counted one.
        const billed = { ...m.submitted, patch: { ...m.submitted.patch, segments: 2 } };
        const steps = order === 'request first' ? [m.requested, billed] : [billed, m.requested];
        for (const s of steps) await store.writeBatch(batchOf(s));
        assert.equal((await store.getMessage(m.tenantId, m.messageId))?.segments, 2, order);
      }
    });

    test('requested, submitted, pending and delivered in order give the full delivered record', async () => {
      const m = lifecycle();
      for (const s of m.steps) await store.writeBatch(batchOf(s));
      const expected: MessageRecord = {
        id: m.messageId,
        tenantId: m.tenantId,
        recipient: '+447700900123',
        sender: 'Pigeon',
        messageClass: 'otp',
        lane: 'high',
        body: 'Your sign-in code is on its way',
        segments: 1,
        encoding: 'GSM-7',
        country: 'GB',
        batchId: null,
        status: 'delivered',
        provider: 'acme',
        providerMessageId: 'acme-42',
        cost: 0.0125,
        errorCode: null,
        queuedAt: T0,
        submittedAt: T0 + 150,
        finalAt: T0 + 2000,
        updatedAt: T0 + 2000,
      };
      assert.deepEqual(await store.getMessage(m.tenantId, m.messageId), expected);
    });

    test('a failure records its error code and final time', async () => {
      const m = lifecycle();
      const failed = step(
        {
          id: m.messageId,
          tenantId: m.tenantId,
          status: 'failed',
          updatedAt: T0 + 300,
          errorCode: 'ROUTE_BLOCKED',
        },
        'message.failed',
        { errorClass: 'permanent', reason: 'destination blocked' },
      );
      failed.patch.finalAt = T0 + 300;
      await store.writeBatch(batchOf(m.requested, failed));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'failed');
      assert.equal(row?.errorCode, 'ROUTE_BLOCKED');
      assert.equal(row?.finalAt, T0 + 300);
      assert.equal(row?.provider, null);
    });

    test('any order, replays and batching of the events converge to the in-order row', async () => {
      const reference = lifecycle();
      for (const s of reference.steps) await store.writeBatch(batchOf(s));
      const expected = await store.getMessage(reference.tenantId, reference.messageId);
      assert.ok(expected);

      const n = reference.steps.length;
      const deliveries = fc.record({
        order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        replays: fc.array(fc.record({ step: fc.nat(n - 1), at: fc.nat() }), { maxLength: 4 }),
        batchSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2 * n, maxLength: 2 * n }),
      });
      await fc.assert(
        fc.asyncProperty(deliveries, async ({ order, replays, batchSizes }) => {
          const m = lifecycle(reference.tenantId);
          const sequence = order.map((i) => m.steps[i]!);
          for (const r of replays) sequence.splice(r.at % (sequence.length + 1), 0, m.steps[r.step]!);
          let next = 0;
          for (const size of batchSizes) {
            if (next >= sequence.length) break;
            await store.writeBatch(batchOf(...sequence.slice(next, next + size)));
            next += size;
          }
          if (next < sequence.length) await store.writeBatch(batchOf(...sequence.slice(next)));

          const row = await store.getMessage(m.tenantId, m.messageId);
          assert.deepEqual({ ...row, id: reference.messageId }, expected);
          assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, n);
        }),
        { numRuns: 30 },
      );
    });

    test('a late submitted never overwrites delivered', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.requested, m.delivered));
      const late = { ...m.submitted, patch: { ...m.submitted.patch, updatedAt: T0 + 9000 } };
      await store.writeBatch(batchOf(late));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.finalAt, T0 + 2000);
      assert.equal(row?.submittedAt, T0 + 150);
      assert.equal(row?.cost, 0.0125);
      assert.equal(row?.updatedAt, T0 + 9000);
    });

    test('a receipt before its request creates the row, which the request then completes', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.delivered));
      const early = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(early?.status, 'delivered');
      assert.equal(early?.recipient, '');
      assert.equal(early?.messageClass, 'transactional');
      assert.equal(early?.queuedAt, null);
      assert.equal(early?.finalAt, T0 + 2000);

      await store.writeBatch(batchOf(m.requested));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.recipient, '+447700900123');
      assert.equal(row?.messageClass, 'otp');
      assert.equal(row?.lane, 'high');
      assert.equal(row?.body, 'Your sign-in code is on its way');
      assert.equal(row?.queuedAt, T0);
      assert.equal(row?.updatedAt, T0 + 2000);
    });

    test('a receipt that does not name its tenant stays hidden until the request does', async () => {
      const m = lifecycle();
      const { tenantId: _omitted, ...anonymous } = m.delivered.patch;
      await store.writeBatch({ messages: [anonymous], events: [] });
      assert.equal(await store.getMessage(m.tenantId, m.messageId), undefined);
      await store.writeBatch(batchOf(m.requested));
      assert.equal((await store.getMessage(m.tenantId, m.messageId))?.status, 'delivered');
    });

    test('patches for one message twice in the same batch both apply', async () => {
      const m = lifecycle();
      await store.writeBatch({
        messages: [m.delivered.patch, m.requested.patch, m.submitted.patch, m.delivered.patch],
        events: [m.delivered.event, m.delivered.event],
      });
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.recipient, '+447700900123');
      assert.equal(row?.provider, 'acme');
      assert.equal(row?.queuedAt, T0);
      assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, 1);
    });

    test('replayed events add no rows and leave the message as it was', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(...m.steps));
      const first = await store.getMessage(m.tenantId, m.messageId);
      await store.writeBatch(batchOf(...m.steps));
      await store.writeBatch(batchOf(m.submitted, m.requested));
      assert.deepEqual(await store.getMessage(m.tenantId, m.messageId), first);
      assert.deepEqual(
        (await store.listEvents(m.tenantId, m.messageId)).map((e) => e.eventId),
        m.steps.map((s) => s.event.eventId),
      );
    });

    test('another tenant cannot read a message or its history by id', async () => {
      const m = lifecycle('tenant-a');
      await store.writeBatch(batchOf(...m.steps));
      assert.equal(await store.getMessage('tenant-b', m.messageId), undefined);
      assert.equal(await store.getMessage('TENANT-A', m.messageId), undefined);
      assert.deepEqual(await store.listEvents('tenant-b', m.messageId), []);
      assert.ok(await store.getMessage('tenant-a', m.messageId));
    });

    test('an unknown message reads as undefined with no history', async () => {
      assert.equal(await store.getMessage('tenant-a', newId()), undefined);
      assert.deepEqual(await store.listEvents('tenant-a', newId()), []);
    });

    test('history lists oldest first whatever order it was written in', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(...[...m.steps].reverse()));
      const events = await store.listEvents(m.tenantId, m.messageId);
      assert.deepEqual(
        events,
        m.steps.map((s) => s.event),
      );
    });

    test('an empty batch is accepted', async () => {
      await store.writeBatch({ messages: [], events: [] });
    });

    test('a batch that fails leaves none of its rows behind and is not reported as an outage', async () => {
      const m = lifecycle();
      const broken = { ...m.submitted.event, type: null } as unknown as MessageEventRecord;
      await assert.rejects(
        store.writeBatch({ messages: [m.requested.patch], events: [m.requested.event, broken] }),
        (err: unknown) => !(isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_UNAVAILABLE'),
      );
      assert.equal(await store.getMessage(m.tenantId, m.messageId), undefined);
      assert.deepEqual(await store.listEvents(m.tenantId, m.messageId), []);
      assert.equal(await store.ping(), true);
    });

    test('an api key round-trips by its hash', async () => {
      const key = apiKey();
      await store.putApiKey(key);
      assert.deepEqual(await store.findApiKeyByHash(key.hash), key);
      const revoked = apiKey({ revokedAt: T0 + 60_000, scopes: [] });
      await store.putApiKey(revoked);
      assert.deepEqual(await store.findApiKeyByHash(revoked.hash), revoked);
      assert.equal(await store.findApiKeyByHash('f'.repeat(64)), undefined);
    });

    test('putting a key whose hash is already stored changes nothing', async () => {
      const key = apiKey();
      await store.putApiKey(key);
      await store.putApiKey(key);
      await store.putApiKey(apiKey({ hash: key.hash, name: 'impostor', tenantId: 'tenant-b' }));
      assert.deepEqual(await store.findApiKeyByHash(key.hash), key);
    });

    let factors = 0;
    const factor = (overrides: Partial<TotpFactorRecord> = {}): TotpFactorRecord => ({
      id: newId(),
      tenantId: 'tenant-a',
      recipient: `+1415555${String(1000 + ++factors)}`,
      secret: 'enc:v1:c2VhbGVkLXNlY3JldC1ieXRlcw',
      status: 'unverified',
      createdAt: T0,
      verifiedAt: null,
      ...overrides,
    });

    test('a TOTP factor round-trips by id and by number, only for its tenant', async () => {
      const f = factor();
      await store.putTotpFactor(f);
      assert.deepEqual(await store.getTotpFactor(f.tenantId, f.id), f);
      assert.deepEqual(await store.findTotpFactor(f.tenantId, f.recipient), f);
      assert.equal(await store.getTotpFactor('tenant-b', f.id), undefined);
      assert.equal(await store.findTotpFactor('tenant-b', f.recipient), undefined);
      assert.equal(await store.getTotpFactor(f.tenantId, newId()), undefined);
    });

    test('a new factor for the same number replaces the old one; other tenants keep theirs', async () => {
      const first = factor({ status: 'verified', verifiedAt: T0 + 5 });
      const other = factor({ tenantId: 'tenant-b', recipient: first.recipient });
      await store.putTotpFactor(first);
      await store.putTotpFactor(other);
      const second = factor({ recipient: first.recipient, secret: 'enc:v1:b3RoZXI', createdAt: T0 + 10 });
      await store.putTotpFactor(second);
      assert.equal(await store.getTotpFactor(first.tenantId, first.id), undefined);
      assert.deepEqual(await store.findTotpFactor(first.tenantId, first.recipient), second);
      assert.deepEqual(await store.findTotpFactor('tenant-b', first.recipient), other);
    });

    test('verifying a factor keeps the first verification time; deleting removes it once', async () => {
      const f = factor();
      await store.putTotpFactor(f);
      assert.equal(await store.verifyTotpFactor(f.tenantId, f.id, T0 + 100), true);
      assert.equal(await store.verifyTotpFactor(f.tenantId, f.id, T0 + 200), true);
      assert.deepEqual(await store.getTotpFactor(f.tenantId, f.id), {
        ...f,
        status: 'verified',
        verifiedAt: T0 + 100,
      });
      assert.equal(await store.verifyTotpFactor('tenant-b', f.id, T0), false);
      assert.equal(await store.deleteTotpFactor('tenant-b', f.id), false);
      assert.equal(await store.deleteTotpFactor(f.tenantId, f.id), true);
      assert.equal(await store.deleteTotpFactor(f.tenantId, f.id), false);
      assert.equal(await store.getTotpFactor(f.tenantId, f.id), undefined);
    });

    test('a provider definition round-trips with its credentials and nested options intact', async () => {
      const definition = {
        name: `acme-${newId().slice(-6)}`,
        type: 'http-json',
        weight: 3,
        prices: { GB: 0.031, '*': 0.05 },
        senderId: 'ACME',
        options: { baseUrl: 'https://sms.example/v1', apiSecret: 's3cr3t-ü-✓', retry: { max: 2 } },
      };
      assert.equal(await store.putProvider(definition), true);
      const stored = (await store.listProviders()).find((p) => p.name === definition.name);
      assert.ok(stored);
      assert.equal(stored.type, 'http-json');
      assert.equal(stored.enabled, true);
      assert.deepEqual(stored.definition, definition);
      assert.ok(Number.isInteger(stored.updatedAt) && stored.updatedAt > 0);
    });

    test('putting a provider again replaces it; deleting it says whether it was there', async () => {
      const name = `swap-${newId().slice(-6)}`;
      await store.putProvider({ name, type: 'simulator', weight: 1 });
      await store.putProvider({ name, type: 'other', enabled: false, weight: 9 });
      const stored = (await store.listProviders()).filter((p) => p.name === name);
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.type, 'other');
      assert.equal(stored[0]!.enabled, false);
      assert.deepEqual(stored[0]!.definition, { name, type: 'other', enabled: false, weight: 9 });
      assert.equal(await store.deleteProvider(name), true);
      assert.equal(await store.deleteProvider(name), false);
      assert.equal(
        (await store.listProviders()).find((p) => p.name === name),
        undefined,
      );
    });

    test('providers list by name', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        for (const name of ['charlie', 'alpha', 'bravo']) await s.putProvider({ name, type: 'simulator' });
        assert.deepEqual(
          (await s.listProviders()).map((p) => p.name),
          ['alpha', 'bravo', 'charlie'],
        );
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });

    test('ifAbsent writes a provider or route only when none is stored under that key', async () => {
      const name = `seed-${newId().slice(-6)}`;
      assert.equal(await store.putProvider({ name, type: 'simulator', weight: 1 }, { ifAbsent: true }), true);
      assert.equal(
        await store.putProvider({ name, type: 'simulator', weight: 2 }, { ifAbsent: true }),
        false,
      );
      const provider = (await store.listProviders()).find((p) => p.name === name);
      assert.equal(provider?.definition.weight, 1);

      const id = newId();
      const rule = { id, priority: 5, enabled: true, tiers: [[{ provider: name, weight: 1 }]] };
      assert.equal(await store.putRoute(rule, { ifAbsent: true }), true);
      assert.equal(await store.putRoute({ ...rule, priority: 6 }, { ifAbsent: true }), false);
      assert.equal((await store.listRoutes()).find((r) => r.id === id)?.priority, 5);
    });

    test('routes round-trip, list by priority then id, and can be replaced and deleted', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        const route = (id: string, priority: number, enabled = true) => ({
          id,
          name: `route ${id}`,
          priority,
          country: 'GB',
          strategy: 'least_cost',
          tiers: [[{ provider: 'a', weight: 1, senderId: 'ACME' }], [{ provider: 'b', weight: 2 }]],
          enabled,
        });
        await s.putRoute(route('01B', 20));
        await s.putRoute(route('01C', 10, false));
        await s.putRoute(route('01A', 20));
        const listed = await s.listRoutes();
        assert.deepEqual(
          listed.map((r) => [r.id, r.priority, r.enabled]),
          [
            ['01C', 10, false],
            ['01A', 20, true],
            ['01B', 20, true],
          ],
        );
        assert.deepEqual(listed[1]!.definition, route('01A', 20));

        await s.putRoute(route('01B', 5));
        assert.deepEqual(
          (await s.listRoutes()).map((r) => r.id),
          ['01B', '01C', '01A'],
        );
        assert.equal(await s.deleteRoute('01C'), true);
        assert.equal(await s.deleteRoute('01C'), false);
        assert.deepEqual(
          (await s.listRoutes()).map((r) => r.id),
          ['01B', '01A'],
        );
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });

    test('the routing version changes on every write and delete, even within one millisecond', async () => {
      const other = target.open();
      try {
        // Pollers compare with the last version they saw, so each change must differ from the one
        // before (undoing a change may bring back an earlier version, with the earlier content).
        let last = '';
        const expectChange = async (what: string) => {
          const version = await store.routingVersion();
          assert.notEqual(version, last, `${what} changed the version`);
          last = version;
          assert.equal(await other.routingVersion(), version, 'another process sees the same version');
        };
        await expectChange('start');
        assert.equal(await store.routingVersion(), last, 'stable without writes');
        const name = `ver-${newId().slice(-6)}`;
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('a new provider');
        // Back to back: likely the same millisecond, and the definition is identical.
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('rewriting a provider');
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('rewriting it again');
        const id = newId();
        await store.putRoute({ id, priority: 1, enabled: true });
        await expectChange('a new route');
        await store.putRoute({ id, priority: 1, enabled: false });
        await expectChange('changing a route');
        await store.deleteRoute(id);
        await expectChange('deleting a route');
        await store.deleteProvider(name);
        await expectChange('deleting a provider');
      } finally {
        await other.close();
      }
    });

    // ---- Provider attempts, convergence of whole event histories, retention ----

    const attemptOf = (overrides: Partial<AttemptRecord> = {}): AttemptRecord => ({
      messageId: newId(),
      attempt: 1,
      tenantId: 'tenant-a',
      eventId: newId(),
      provider: 'acme',
      providerMessageId: 'acme-1',
      outcome: 'submitted',
      errorClass: null,
      errorCode: null,
      failover: null,
      segments: 2,
      cost: 0.0125,
      country: 'GB',
      requestedAt: T0,
      respondedAt: T0 + 140,
      ...overrides,
    });

    test('attempts round-trip by attempt number, only for their tenant', async () => {
      const first = attemptOf();
      const second = attemptOf({
        messageId: first.messageId,
        attempt: 2,
        provider: 'bravo',
        providerMessageId: null,
        outcome: 'unknown',
        errorClass: 'ambiguous',
        errorCode: 'TIMEOUT',
        segments: null,
        cost: null,
        requestedAt: null,
      });
      await store.writeBatch({ messages: [], events: [], attempts: [second, first] });
      assert.deepEqual(await store.listAttempts('tenant-a', first.messageId), [first, second]);
      assert.deepEqual(await store.listAttempts('tenant-b', first.messageId), []);
    });

    test('a replayed attempt changes nothing; of two reports of one attempt the larger event id wins', async () => {
      const report = attemptOf();
      const later = { ...report, eventId: newId(), provider: 'bravo', cost: 0 };
      for (const order of [
        [report, later, report],
        [later, report, later],
      ]) {
        const messageId = newId();
        for (const a of order) {
          await store.writeBatch({ messages: [], events: [], attempts: [{ ...a, messageId }] });
        }
        assert.deepEqual(await store.listAttempts('tenant-a', messageId), [{ ...later, messageId }]);
      }
    });

    test('a whole failover story in any order, with replays, in any batches, gives the same rows', async () => {
      const reference = failoverEvents();
      const messageId = reference[0]!.messageId;
      await store.writeBatch(foldEvents(reference));
      const expected = await store.getMessage('tenant-a', messageId);
      assert.equal(expected?.status, 'delivered');
      assert.equal(expected?.provider, 'charlie', 'the latest attempt');
      assert.equal(expected?.providerMessageId, 'charlie-3');
      assert.equal(expected?.cost, 0.0125, 'the billed attempt, not the free copy');
      assert.equal(expected?.errorCode, null, 'a delivered message has no error code');
      const expectedAttempts = await store.listAttempts('tenant-a', messageId);
      assert.deepEqual(
        expectedAttempts.map((a) => [a.attempt, a.provider, a.outcome, a.cost]),
        [
          [1, 'acme', 'submitted', 0.0125],
          [2, 'bravo', 'unknown', null],
          [3, 'delta', 'failed', null],
          [4, 'charlie', 'submitted', 0],
        ],
      );

      const n = reference.length;
      const deliveries = fc.record({
        order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        replays: fc.array(fc.record({ event: fc.nat(n - 1), at: fc.nat() }), { maxLength: 5 }),
        batchSizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2 * n, maxLength: 2 * n }),
      });
      await fc.assert(
        fc.asyncProperty(deliveries, async ({ order, replays, batchSizes }) => {
          const events = failoverEvents();
          const id = events[0]!.messageId;
          const sequence = order.map((i) => events[i]!);
          for (const r of replays) sequence.splice(r.at % (sequence.length + 1), 0, events[r.event]!);
          let next = 0;
          for (const size of [...batchSizes, sequence.length]) {
            if (next >= sequence.length) break;
            await store.writeBatch(foldEvents(sequence.slice(next, next + size)));
            next += size;
          }
          const row = await store.getMessage('tenant-a', id);
          assert.deepEqual({ ...row, id: messageId }, expected);
          const attempts = await store.listAttempts('tenant-a', id);
          assert.deepEqual(
            attempts.map(({ messageId: _m, eventId: _e, ...a }) => a),
            expectedAttempts.map(({ messageId: _m, eventId: _e, ...a }) => a),
          );
          assert.equal((await store.listEvents('tenant-a', id)).length, n);
        }),
        { numRuns: 25 },
      );
    });

    test('a value the database refuses is reported as rejected data, not as an outage', async () => {
      const m = lifecycle();
      const broken = { ...m.requested.event, type: null } as unknown as MessageEventRecord;
      await assert.rejects(
        store.writeBatch({ messages: [m.requested.patch], events: [broken] }),
        (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_REJECTED' && !err.retriable,
      );
    });

    test('purging removes old messages with their history and attempts, in rounds, and nothing newer', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        const old = Date.UTC(2001, 0, 1);
        const cutoff = Date.UTC(2001, 0, 2);
        // newId() never goes back in time (it stays monotonic), so old ids are spelled out.
        let made = 0;
        const write = async (createdAt: number) => {
          const id = idFloor(createdAt).slice(0, 10) + String(++made).padStart(16, '0');
          const events = failoverEvents('tenant-a', id);
          await s.writeBatch(foldEvents(events));
          return events[0]!.messageId;
        };
        const gone = [await write(old), await write(old), await write(old + 1000)];
        const kept = [await write(cutoff), await write(Date.now())];

        const rounds: Array<{ messages: number; events: number; attempts: number }> = [];
        for (;;) {
          const counts = await s.purgeMessages(cutoff, 4);
          rounds.push(counts);
          if (counts.messages < 4 && counts.events < 4 && counts.attempts < 4) break;
        }
        const total = (key: 'messages' | 'events' | 'attempts') => rounds.reduce((n, r) => n + r[key], 0);
        assert.deepEqual(
          { messages: total('messages'), events: total('events'), attempts: total('attempts') },
          { messages: 3, events: 24, attempts: 12 },
        );
        assert.ok(rounds.length >= 6, 'at most 4 rows per table per round');
        for (const id of gone) {
          assert.equal(await s.getMessage('tenant-a', id), undefined);
          assert.deepEqual(await s.listEvents('tenant-a', id), []);
          assert.deepEqual(await s.listAttempts('tenant-a', id), []);
        }
        for (const id of kept) {
          assert.equal((await s.getMessage('tenant-a', id))?.status, 'delivered');
          assert.equal((await s.listEvents('tenant-a', id)).length, 8);
          assert.equal((await s.listAttempts('tenant-a', id)).length, 4);
        }
        assert.deepEqual(await s.purgeMessages(cutoff, 4), { messages: 0, events: 0, attempts: 0 });
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });

    test('tenant OTP settings round-trip, nulls included, per tenant, and a put replaces them', async () => {
      assert.equal(await store.getTenantOtpSettings('otp-a'), undefined);
      await store.putTenantOtpSettings('otp-a', {
        allowedCountries: ['GB', 'IE'],
        dailySpendCap: 12.345678,
        updatedAt: T0,
      });
      await store.putTenantOtpSettings('otp-b', { allowedCountries: null, dailySpendCap: 0, updatedAt: T0 });
      assert.deepEqual(await store.getTenantOtpSettings('otp-a'), {
        allowedCountries: ['GB', 'IE'],
        dailySpendCap: 12.345678,
        updatedAt: T0,
      });
      assert.deepEqual(await store.getTenantOtpSettings('otp-b'), {
        allowedCountries: null,
        dailySpendCap: 0,
        updatedAt: T0,
      });
      await store.putTenantOtpSettings('otp-a', {
        allowedCountries: null,
        dailySpendCap: null,
        updatedAt: T0 + 1,
      });
      assert.deepEqual(await store.getTenantOtpSettings('otp-a'), {
        allowedCountries: null,
        dailySpendCap: null,
        updatedAt: T0 + 1,
      });
      assert.equal((await store.getTenantOtpSettings('otp-b'))?.dailySpendCap, 0);
    });

    test('ping reports a reachable store', async () => {
      assert.equal(await store.ping(), true);
    });
  });
}

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-store-'));
  const file = join(dir, 'pigeon.db');
  return {
    open: () => new SqliteStore(file),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

storeContract('mysql', async () => {
  const db = await createTestDatabase();
  return {
    open: () => new MysqlStore(db.url, { connectionLimit: 4 }),
    dispose: () => db.drop(),
  };
});
