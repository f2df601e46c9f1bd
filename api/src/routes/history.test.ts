/**
 * GET /v1/messages and GET /v1/usage through the real app: buildApi over SQLite, the in-process
 * bus and the memory cache. Messages are stored as the persister stores them.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { idFloor } from '../../../core/ids.ts';
import type { MessageClass, MessageStatus } from '../../../core/message.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { MessagePatch } from '../../../core/store/kinds/messages.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';

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

interface Sent {
  at: number;
  to?: string;
  status?: MessageStatus;
  messageClass?: MessageClass;
  provider?: string;
  country?: string;
  segments?: number;
  cost?: number;
}

interface MessageSummary {
  id: string;
  to: string;
  status: string;
  class: string;
  provider: string | null;
  createdAt: string;
}
interface Listing {
  messages: MessageSummary[];
  nextCursor: string | null;
}

describe('GET /v1/messages and GET /v1/usage', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let api: TestApi;
  const reader = generateApiKey();
  const piiReader = generateApiKey();
  const writerOnly = generateApiKey();
  const otherTenant = generateApiKey();
  let tenants = 0;

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: reader, tenant: 'tenant-a', scopes: ['messages:read'], label: 'dashboard' },
        { key: piiReader, tenant: 'tenant-a', scopes: ['messages:read', 'pii:read'], label: 'support' },
        { key: writerOnly, tenant: 'tenant-a', scopes: ['messages:write'], label: 'sender' },
        { key: otherTenant, tenant: 'tenant-b', scopes: ['messages:read', 'pii:read'], label: 'them' },
      ],
      deps: { publishTimeoutMs: 1000, now: () => T0 + 10 * DAY },
    });
    ({ app, store } = api);
  });

  after(() => api.close());

  /** Each test gets a tenant of its own behind a fresh key with the scopes given. */
  async function tenantKey(scopes = ['messages:read', 'pii:read']): Promise<{ tenant: string; key: string }> {
    const tenant = `t-${++tenants}`;
    const key = generateApiKey();
    await store.putApiKey(apiKeyRecord(key, tenant, scopes, 'test'));
    return { tenant, key };
  }

  async function send(tenantId: string, messages: Sent[]): Promise<string[]> {
    const ids = messages.map((m) => idAt(m.at));
    const patches: MessagePatch[] = messages.map((m, i) => ({
      id: ids[i]!,
      tenantId,
      status: m.status ?? 'delivered',
      updatedAt: m.at + 500,
      recipient: m.to ?? '+14155550123',
      sender: null,
      messageClass: m.messageClass ?? 'transactional',
      lane: 'normal',
      body: 'hello',
      segments: m.segments ?? 1,
      encoding: 'GSM-7',
      country: m.country ?? 'US',
      batchId: null,
      queuedAt: m.at,
      ...(m.provider === undefined ? {} : { provider: m.provider }),
      ...(m.cost === undefined ? {} : { cost: m.cost }),
    }));
    await store.writeBatch({ messages: patches, events: [] });
    return ids;
  }

  const get = (url: string, key: string, headers: Record<string, string> = {}) =>
    api.call('GET', url, key, undefined, headers);

  const problemCode = (r: LightMyRequestResponse) => r.json<{ code: string }>().code;

  async function pages(url: string, key: string): Promise<Listing[]> {
    const all: Listing[] = [];
    let cursor: string | null = null;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const response = await get(cursor ? `${url}${sep}cursor=${cursor}` : url, key);
      assert.equal(response.statusCode, 200, response.body);
      const page = response.json<Listing>();
      all.push(page);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  }

  describe('listing', () => {
    test("a key sees only its tenant's messages, newest first, numbers masked without pii:read", async () => {
      const [older, newer] = await send('tenant-a', [
        { at: T0, to: '+14155550123' },
        { at: T0 + 1000, to: '+447700900123' },
      ]);
      await send('tenant-b', [{ at: T0 + 500, to: '+14155550199' }]);

      const masked = (await get('/v1/messages', reader)).json<Listing>();
      assert.deepEqual(
        masked.messages.map((m) => [m.id, m.to]),
        [
          [newer, '+4477******23'],
          [older, '+1415*****23'],
        ],
      );
      assert.equal(masked.nextCursor, null);
      assert.equal(masked.messages[1]!.createdAt, new Date(T0).toISOString());
      const full = (await get('/v1/messages', piiReader)).json<Listing>();
      assert.deepEqual(
        full.messages.map((m) => m.to),
        ['+447700900123', '+14155550123'],
      );
      const theirs = (await get('/v1/messages', otherTenant)).json<Listing>();
      assert.ok(!theirs.messages.some((m) => m.id === older || m.id === newer));
      assert.ok(!JSON.stringify(masked).includes('14155550199'));
    });

    test('pages with nextCursor through every message once; the last page says null', async () => {
      const { tenant, key } = await tenantKey();
      const ids = await send(
        tenant,
        Array.from({ length: 250 }, (_, i) => ({ at: T0 + i })),
      );
      const all = await pages('/v1/messages?limit=100', key);
      assert.deepEqual(
        all.map((p) => p.messages.length),
        [100, 100, 50],
      );
      assert.equal(all.at(-1)!.nextCursor, null);
      assert.deepEqual(
        all.flatMap((p) => p.messages.map((m) => m.id)),
        [...ids].reverse(),
      );
      const defaultPage = (await get('/v1/messages', key)).json<Listing>();
      assert.equal(defaultPage.messages.length, 100, 'a page holds 100 by default');
    });

    test('pages stay stable while new messages keep arriving', async () => {
      const { tenant, key } = await tenantKey();
      const now = Date.now();
      const existing = await send(
        tenant,
        Array.from({ length: 30 }, (_, i) => ({ at: now - 60_000 + i })),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      let arrivals = 0;
      do {
        const response = await get(`/v1/messages?limit=4${cursor ? `&cursor=${cursor}` : ''}`, key);
        const page = response.json<Listing>();
        seen.push(...page.messages.map((m) => m.id));
        cursor = page.nextCursor;
        // Messages keep arriving between page requests, as they do on a busy tenant.
        await send(tenant, [{ at: Date.now() + arrivals++ }, { at: Date.now() + arrivals++ }]);
      } while (cursor);
      assert.equal(new Set(seen).size, seen.length, 'no message listed twice');
      assert.deepEqual(
        seen.filter((id) => existing.includes(id)),
        [...existing].reverse(),
        'every message there at the start, in order',
      );
    });

    test('filters combine: number (a raw + works too), status, class, provider and a creation range', async () => {
      const { tenant, key } = await tenantKey();
      const [match] = await send(tenant, [
        { at: T0 + DAY, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'acme' },
        { at: T0 + DAY, to: '+14155550100', status: 'delivered', messageClass: 'otp', provider: 'acme' },
        { at: T0 + DAY, to: '+14155550100', status: 'failed', messageClass: 'marketing', provider: 'acme' },
        { at: T0 + DAY, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'beta' },
        { at: T0 + DAY, to: '+14155550111', status: 'failed', messageClass: 'otp', provider: 'acme' },
        { at: T0 + 3 * DAY, to: '+14155550100', status: 'failed', messageClass: 'otp', provider: 'acme' },
      ]);
      const query = 'status=failed&class=otp&provider=acme&since=2026-01-02&until=2026-01-03T00:00:00Z';
      for (const to of ['%2B14155550100', '+14155550100']) {
        const listed = (await get(`/v1/messages?to=${to}&${query}`, key)).json<Listing>();
        assert.deepEqual(
          listed.messages.map((m) => m.id),
          [match],
          to,
        );
      }
    });

    test('a cursor is refused with other filters, or when tampered with', async () => {
      const { tenant, key } = await tenantKey();
      await send(
        tenant,
        Array.from({ length: 5 }, (_, i) => ({ at: T0 + i, status: 'failed' as const })),
      );
      const first = (await get('/v1/messages?status=failed&limit=2', key)).json<Listing>();
      assert.ok(first.nextCursor);
      const same = await get(`/v1/messages?status=failed&limit=3&cursor=${first.nextCursor}`, key);
      assert.equal(same.statusCode, 200, 'the same filters may change the page size');
      for (const url of [
        `/v1/messages?status=delivered&cursor=${first.nextCursor}`,
        `/v1/messages?cursor=${first.nextCursor}`,
        `/v1/messages?status=failed&cursor=${first.nextCursor.slice(0, -2)}`,
        '/v1/messages?status=failed&cursor=hello',
      ]) {
        const response = await get(url, key);
        assert.equal(response.statusCode, 400, url);
        assert.equal(problemCode(response), 'PIGEON_ERR_INVALID_CURSOR', url);
      }
    });

    test("a cursor from another tenant's listing pages only the caller's own messages", async () => {
      const a = await tenantKey();
      const b = await tenantKey();
      await send(
        a.tenant,
        Array.from({ length: 3 }, (_, i) => ({ at: T0 + 10 + i })),
      );
      const bIds = await send(
        b.tenant,
        Array.from({ length: 3 }, (_, i) => ({ at: T0 + i })),
      );
      const cursor = (await get('/v1/messages?limit=1', a.key)).json<Listing>().nextCursor!;
      const listed = (await get(`/v1/messages?cursor=${cursor}`, b.key)).json<Listing>();
      assert.deepEqual(
        listed.messages.map((m) => m.id),
        [...bIds].reverse(),
      );
    });

    test('bad query parameters are 400 with the field named', async () => {
      const cases: Array<[string, string, string]> = [
        ['limit=0', 'PIGEON_ERR_VALIDATION', '/limit'],
        ['limit=1001', 'PIGEON_ERR_VALIDATION', '/limit'],
        ['limit=ten', 'PIGEON_ERR_VALIDATION', '/limit'],
        ['since=yesterday', 'PIGEON_ERR_VALIDATION', '/since'],
        ['until=2026-01-01T10:00:00', 'PIGEON_ERR_VALIDATION', '/until'],
        ['since=2026-01-02&until=2026-01-01', 'PIGEON_ERR_VALIDATION', '/since'],
        ['status=lost', 'PIGEON_ERR_VALIDATION', '/status'],
        ['to=12345', 'PIGEON_ERR_INVALID_NUMBER', '/to'],
        ['colour=blue', 'PIGEON_ERR_VALIDATION', '/colour'],
      ];
      for (const [query, code, field] of cases) {
        const response = await get(`/v1/messages?${query}`, piiReader);
        assert.equal(response.statusCode, 400, query);
        const problem = response.json<{ code: string; errors?: Array<{ field: string }> }>();
        assert.equal(problem.code, code, query);
        assert.ok(
          problem.errors?.some((e) => e.field.startsWith(field)),
          `${query}: ${JSON.stringify(problem.errors)}`,
        );
      }
    });

    test('without pii:read the number filter is refused, so a masked number cannot be confirmed', async () => {
      const { tenant, key: maskedKey } = await tenantKey(['messages:read']);
      await send(tenant, [{ at: T0, to: '+14155550177' }]);
      for (const to of ['%2B14155550177', '%2B14155550999', '12345']) {
        const response = await get(`/v1/messages?to=${to}`, maskedKey);
        assert.equal(response.statusCode, 403, to);
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
        const problem = response.json<{ code: string; detail: string }>();
        assert.equal(problem.code, 'PIGEON_ERR_FORBIDDEN', to);
        assert.match(problem.detail, /pii:read/);
      }
      const listed = (await get('/v1/messages', maskedKey)).json<Listing>();
      assert.equal(listed.messages.length, 1, 'the listing itself still answers');
      assert.notEqual(listed.messages[0]!.to, '+14155550177', 'masked');
    });

    test('listing needs messages:read and a key', async () => {
      const forbidden = await get('/v1/messages', writerOnly);
      assert.equal(forbidden.statusCode, 403);
      assert.equal(problemCode(forbidden), 'PIGEON_ERR_FORBIDDEN');
      assert.equal((await app.inject({ method: 'GET', url: '/v1/messages' })).statusCode, 401);
      assert.equal((await get('/v1/usage', writerOnly)).statusCode, 403);
    });
  });

  describe('usage', () => {
    async function billed(): Promise<{ tenant: string; key: string }> {
      const t = await tenantKey();
      await send(t.tenant, [
        { at: T0 - 1, provider: 'acme', country: 'GB', cost: 1 },
        { at: T0, provider: 'acme', country: 'GB', segments: 2, cost: 0.0125 },
        { at: T0 + DAY - 1, provider: 'acme', country: 'US', cost: 0.0075 },
        { at: T0 + DAY, provider: 'beta, inc', country: 'US', segments: 3, cost: 0.03 },
        { at: T0 + DAY + 1, country: 'US', status: 'rejected' },
      ]);
      return t;
    }

    test('sums messages, segments and cost per UTC day by default, with totals', async () => {
      const { key } = await billed();
      const response = await get('/v1/usage?since=2026-01-01&until=2026-01-03', key);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json(), {
        since: '2026-01-01T00:00:00.000Z',
        until: '2026-01-03T00:00:00.000Z',
        groupBy: 'day',
        groups: [
          { key: '2026-01-01', messages: 2, segments: 3, cost: 0.02 },
          { key: '2026-01-02', messages: 2, segments: 4, cost: 0.03 },
        ],
        total: { messages: 4, segments: 7, cost: 0.05 },
      });
    });

    test('groups by provider (never sent: null, last) or country', async () => {
      const { key } = await billed();
      const byProvider = (
        await get('/v1/usage?since=2026-01-01&until=2026-01-03&groupBy=provider', key)
      ).json<{
        groups: unknown[];
      }>();
      assert.deepEqual(byProvider.groups, [
        { key: 'acme', messages: 2, segments: 3, cost: 0.02 },
        { key: 'beta, inc', messages: 1, segments: 3, cost: 0.03 },
        { key: null, messages: 1, segments: 1, cost: 0 },
      ]);
      const byCountry = (await get('/v1/usage?since=2026-01-01&until=2026-01-03&groupBy=country', key)).json<{
        groups: unknown[];
      }>();
      assert.deepEqual(byCountry.groups, [
        { key: 'GB', messages: 1, segments: 2, cost: 0.0125 },
        { key: 'US', messages: 3, segments: 5, cost: 0.0375 },
      ]);
    });

    test('Accept: text/csv gives an RFC 4180 download with a header row', async () => {
      const { key } = await billed();
      const response = await get('/v1/usage?since=2026-01-01&until=2026-01-03&groupBy=provider', key, {
        accept: 'text/csv',
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.match(String(response.headers['content-type']), /^text\/csv; charset=utf-8/);
      assert.equal(
        response.headers['content-disposition'],
        'attachment; filename="pigeon-usage-provider-2026-01-01-2026-01-03.csv"',
      );
      assert.equal(
        response.body,
        'provider,messages,segments,cost\r\nacme,2,3,0.02\r\n"beta, inc",1,3,0.03\r\n,1,1,0\r\n',
      );
    });

    test('the range defaults to the 30 days before now and spans at most 400 days', async () => {
      const { tenant, key } = await tenantKey();
      const now = T0 + 10 * DAY; // the app's clock in this suite
      await send(tenant, [
        { at: now - 31 * DAY, cost: 1 },
        { at: now - 29 * DAY, cost: 2 },
        { at: now - 1, cost: 4 },
      ]);
      const report = (await get('/v1/usage?groupBy=provider', key)).json<{
        since: string;
        until: string;
        total: { messages: number; cost: number };
      }>();
      assert.equal(report.until, new Date(now).toISOString());
      assert.equal(report.since, new Date(now - 30 * DAY).toISOString());
      assert.deepEqual(report.total, { messages: 2, segments: 2, cost: 6 });
      const tooLong = await get('/v1/usage?since=2024-01-01&until=2026-01-01', key);
      assert.equal(tooLong.statusCode, 400);
      assert.equal(problemCode(tooLong), 'PIGEON_ERR_VALIDATION');
      assert.equal((await get('/v1/usage?groupBy=week', key)).statusCode, 400);
    });
  });
});
