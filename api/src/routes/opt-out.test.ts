/**
 * Inbound SMS, keywords and the suppression list through the api: the simulator's signed inbound
 * webhook, /v1/suppressions, GET /v1/inbound and /v1/admin/opt-out, over SQLite and the in-process
 * bus and cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConsumedBatch } from '../../../core/bus/bus.ts';
import { newId } from '../../../core/ids.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { createLogger } from '../../../core/logger.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { ALL_SENDERS } from '../../../core/opt-out.ts';
import { isSuppressed } from '../../../core/suppression-cache.ts';
import { LANE_TOPICS } from '../../../core/topics.ts';
import type { ProviderAdapter } from '../../../providers/provider.ts';
import { signSimulatorReceipt, SimulatorProvider } from '../../../providers/simulator.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { MAX_IMPORT_ENTRIES } from '../inbound/suppression-import.ts';

const SECRET = 'simulator-secret';
const SENDER = '+15005550006';
const CN_SENDER = '+8610690000123';
const PHONE = '+447400123456';
const WRITER = 'pgn_optout_writer_key_0000000000000000';
const READER = 'pgn_optout_reader_key_0000000000000000';
const PII = 'pgn_optout_pii_key_000000000000000000000';
const ADMIN = 'pgn_optout_admin_key_0000000000000000';

describe('inbound SMS, opt-out keywords and the suppression list', () => {
  let api: TestApi;
  const published: MessageRequested[] = [];

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: WRITER, tenant: 'tenant-a', scopes: ['messages:write'] },
        { key: READER, tenant: 'tenant-a', scopes: ['messages:read'] },
        { key: PII, tenant: 'tenant-a', scopes: ['messages:read', 'pii:read'] },
        { key: ADMIN, tenant: 'tenant-a', scopes: ['admin'] },
      ],
      deps: {
        providers: new Map<string, ProviderAdapter>([
          [
            'sim',
            new SimulatorProvider('sim', {
              secret: SECRET,
              outbox: new MemoryCache(),
              logger: createLogger({ level: 'silent' }),
            }),
          ],
        ]),
        publicUrl: 'http://127.0.0.1',
      },
    });
    for (const sender of [SENDER, CN_SENDER]) {
      await api.store.putSender({
        tenantId: 'tenant-a',
        sender,
        kind: 'number',
        countries: [],
        isDefault: false,
        createdAt: 1,
        updatedAt: 1,
      });
    }
    await api.bus.subscribe({
      groupId: 'test-replies',
      topics: [LANE_TOPICS.normal],
      handler: async (batch: ConsumedBatch) => {
        for (const r of batch.records) published.push(JSON.parse(r.value.toString()) as MessageRequested);
      },
    });
  });
  after(() => api.close());

  /** Posts an SMS through the simulator's signed inbound webhook, as its /simulator/replies does. */
  const inbound = async (
    text: string,
    options: { from?: string; to?: string; part?: { reference: string; index: number; total: number } } = {},
  ) => {
    const body = JSON.stringify({
      id: `SIMIN${newId()}`,
      from: options.from ?? PHONE,
      to: options.to ?? SENDER,
      text,
      ...(options.part ? { part: options.part } : {}),
    });
    const timestamp = String(Date.now());
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/inbound/sim',
      headers: {
        'content-type': 'application/json',
        'x-simulator-timestamp': timestamp,
        'x-simulator-signature': signSimulatorReceipt(SECRET, timestamp, body),
      },
      payload: body,
    });
    assert.equal(response.statusCode, 200, response.body);
  };
  const scopesOf = async (phone: string) => api.store.suppressionScopes('tenant-a', phone);
  const marketing = (phone: string, from = SENDER) => ({
    tenantId: 'tenant-a',
    to: phone,
    from,
    class: 'marketing' as const,
  });

  test('STOP suppresses the number for that sender, STOPALL for all, START lifts both', async () => {
    await inbound('  stop ');
    assert.deepEqual(await scopesOf(PHONE), [SENDER]);
    assert.equal(await isSuppressed(api.cache, marketing(PHONE)), true);
    await inbound('STOPALL');
    assert.deepEqual(await scopesOf(PHONE), [ALL_SENDERS, SENDER].sort());
    await inbound('Start');
    assert.deepEqual(await scopesOf(PHONE), []);
    assert.equal(await isSuppressed(api.cache, marketing(PHONE)), false);
  });

  test('退订 and TD to a Chinese sender suppress; TD to another sender is only stored', async () => {
    await inbound('退订', { from: '+8613800138000', to: CN_SENDER });
    await inbound('TD', { from: '+8613800138001', to: CN_SENDER });
    await inbound('TD', { from: '+8613800138002', to: SENDER });
    assert.deepEqual(await scopesOf('+8613800138000'), [CN_SENDER]);
    assert.deepEqual(await scopesOf('+8613800138001'), [CN_SENDER]);
    assert.deepEqual(await scopesOf('+8613800138002'), []);
  });

  test('a STOP in three parts, arriving out of order, is joined before it is read', async () => {
    const phone = '+447400300300';
    const reference = newId();
    await inbound('P', { from: phone, part: { reference, index: 3, total: 3 } });
    await inbound('S', { from: phone, part: { reference, index: 1, total: 3 } });
    assert.deepEqual(await scopesOf(phone), []);
    await inbound('TO', { from: phone, part: { reference, index: 2, total: 3 } });
    assert.deepEqual(await scopesOf(phone), [SENDER]);
    const listed = (await api.call('GET', '/v1/inbound?limit=1', PII)).json().inbound;
    assert.deepEqual(
      listed.map((i: Record<string, unknown>) => [i.from, i.body, i.parts, i.keyword]),
      [[phone, 'STOP', 3, 'stop']],
    );
  });

  test("the tenant's own keywords and replies apply; HELP is answered through the send path", async () => {
    const settings = {
      keywords: { stop: ['ARRET'], stopAll: ['STOPALL'], start: ['START'], help: ['AIDE'] },
      replies: { help: 'Acme: reply ARRET to opt out', stop: 'You will hear no more from Acme' },
    };
    const put = await api.call('PUT', '/v1/admin/opt-out', ADMIN, settings);
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual((await api.call('GET', '/v1/admin/opt-out', ADMIN)).json(), settings);
    assert.equal((await api.call('GET', '/v1/admin/opt-out', WRITER)).statusCode, 403);

    const phone = '+447400400400';
    await inbound('stop', { from: phone });
    assert.deepEqual(await scopesOf(phone), [], 'STOP is no keyword of this tenant any more');
    await inbound('aide', { from: phone });
    await inbound('Arret', { from: phone });
    assert.deepEqual(await scopesOf(phone), [SENDER]);
    await waitFor(
      () => published.filter((m) => m.to === phone).length >= 2,
      5_000,
      'two auto-replies published',
    );
    const replies = published.filter((m) => m.to === phone);
    assert.deepEqual(
      replies.map((m) => [m.from, m.class, m.body]),
      [
        [SENDER, 'transactional', 'Acme: reply ARRET to opt out'],
        [SENDER, 'transactional', 'You will hear no more from Acme'],
      ],
    );
    await api.store.putOptOutSettings(
      'tenant-a',
      { keywords: { stop: ['STOP'], stopAll: ['STOPALL'], start: ['START'], help: ['HELP'] }, replies: {} },
      2,
    );
  });

  test('GET /v1/inbound masks the number and hides the text without pii:read, and pages by cursor', async () => {
    const phone = '+447400500500';
    for (const text of ['one', 'two', 'three']) await inbound(text, { from: phone });
    const first = (await api.call('GET', '/v1/inbound?limit=2', READER)).json();
    assert.equal(first.inbound.length, 2);
    assert.equal(first.inbound[0].body, null);
    assert.doesNotMatch(first.inbound[0].from, /500500$/);
    const full = (await api.call('GET', '/v1/inbound?limit=2', PII)).json();
    assert.deepEqual(
      full.inbound.map((i: { body: string }) => i.body),
      ['three', 'two'],
    );
    const next = (await api.call('GET', `/v1/inbound?limit=2&cursor=${full.nextCursor}`, PII)).json();
    assert.equal(next.inbound[0].body, 'one');
    const bad = await api.call('GET', '/v1/inbound?cursor=nope', READER);
    assert.equal(bad.statusCode, 400);
    assert.match(String(bad.headers['content-type']), /application\/problem\+json/);
  });

  test('/v1/suppressions adds, lists by cursor with masked numbers, and removes', async () => {
    const added = await api.call('POST', '/v1/suppressions', WRITER, { phone: '+447400600600' });
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(added.json().sender, ALL_SENDERS);
    assert.equal(
      (await api.call('POST', '/v1/suppressions', WRITER, { phone: '+447400600600', sender: SENDER }))
        .statusCode,
      201,
    );
    assert.equal(
      (await api.call('POST', '/v1/suppressions', READER, { phone: '+447400600601' })).statusCode,
      403,
    );
    const bad = await api.call('POST', '/v1/suppressions', WRITER, { phone: '12345' });
    assert.equal(bad.statusCode, 400);
    assert.match(String(bad.headers['content-type']), /application\/problem\+json/);

    const all: Array<{ phone: string; sender: string }> = [];
    let cursor: string | null = null;
    do {
      const response = await api.call(
        'GET',
        `/v1/suppressions?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        PII,
      );
      const page = response.json<{
        suppressions: Array<{ phone: string; sender: string }>;
        nextCursor: string | null;
      }>();
      all.push(...page.suppressions);
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(
      all.filter((s) => s.phone === '+447400600600').map((s) => s.sender),
      [ALL_SENDERS, SENDER].sort(),
    );
    const masked = (await api.call('GET', '/v1/suppressions', READER)).json().suppressions;
    assert.ok(masked.every((s: { phone: string }) => s.phone.includes('*')));

    const one = await api.call(
      'DELETE',
      `/v1/suppressions/${encodeURIComponent('+447400600600')}?sender=${encodeURIComponent(SENDER)}`,
      WRITER,
    );
    assert.deepEqual(one.json(), { removed: 1 });
    assert.equal(
      await isSuppressed(api.cache, { ...marketing('+447400600600'), class: 'transactional' }),
      true,
    );
    const rest = await api.call('DELETE', `/v1/suppressions/${encodeURIComponent('+447400600600')}`, WRITER);
    assert.deepEqual(rest.json(), { removed: 1 });
    assert.equal(await isSuppressed(api.cache, marketing('+447400600600')), false);
  });

  test('an import takes a JSON array or CSV, and a single bad entry refuses it whole', async () => {
    const json = await api.call('POST', '/v1/suppressions/import', WRITER, [
      '+447400700701',
      { phone: '+447400700702', sender: SENDER },
    ]);
    assert.deepEqual(json.json(), { imported: 2 });
    assert.deepEqual(await scopesOf('+447400700702'), [SENDER]);
    const csv = await api.app.inject({
      method: 'POST',
      url: '/v1/suppressions/import',
      headers: { authorization: `Bearer ${WRITER}`, 'content-type': 'text/csv' },
      payload: `phone,sender\n+447400700703,${SENDER}\r\n+447400700704\n`,
    });
    assert.deepEqual(csv.json(), { imported: 2 });
    assert.deepEqual(await scopesOf('+447400700704'), [ALL_SENDERS]);

    const refused = await api.call('POST', '/v1/suppressions/import', WRITER, [
      '+447400700705',
      'not-a-number',
    ]);
    assert.equal(refused.statusCode, 400);
    assert.deepEqual(refused.json().errors, [{ field: '/1/phone', message: 'not an E.164 number' }]);
    assert.deepEqual(await scopesOf('+447400700705'), [], 'nothing of a refused import is kept');
    const tooMany = await api.call(
      'POST',
      '/v1/suppressions/import',
      WRITER,
      Array.from({ length: MAX_IMPORT_ENTRIES + 1 }, (_, i) => `+4474008${String(i).padStart(5, '0')}`),
    );
    assert.equal(tooMany.statusCode, 413);
  });
});
