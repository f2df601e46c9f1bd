/** /v1/campaigns through the real app over SQLite and the in-process bus. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { LightMyRequestResponse } from 'fastify';
import type { ProviderInfo } from '../../../routing/table.ts';
import { newId } from '../../../core/ids.ts';
import type { MessagePatch } from '../../../core/store/kinds/messages.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

const providers: ProviderInfo[] = [
  {
    name: 'p',
    weight: 1,
    enabled: true,
    senderId: undefined,
    prices: new Map([
      ['US', 0.01],
      ['*', 0.05],
    ]),
  },
];

interface Campaign {
  id: string;
  state: string;
  recipients: number;
  invalid: number;
  estimatedCost: number | null;
  sendAt: string | null;
  approvedBy: string | null;
  approvalReason?: string;
  progress?: Record<string, unknown>;
}

describe('/v1/campaigns', () => {
  let api: TestApi;
  const writer = generateApiKey();
  const reader = generateApiKey();
  const approver = generateApiKey();
  const other = generateApiKey();
  const admin = generateApiKey();
  let templateId: string;

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: writer, tenant: 'tenant-c', scopes: ['campaigns:write', 'campaigns:read', 'templates:write'] },
        { key: reader, tenant: 'tenant-c', scopes: ['campaigns:read'] },
        { key: approver, tenant: 'tenant-c', scopes: ['campaigns:approve', 'campaigns:read'] },
        { key: other, tenant: 'tenant-o', scopes: ['campaigns:write', 'campaigns:read'] },
        { key: admin, tenant: 'ops', scopes: ['admin'] },
      ],
      deps: { sendPolicy: { providers: () => providers } },
    });
    const created = await api.call('POST', '/v1/templates', writer, {
      name: 'sale',
      class: 'marketing',
      variants: [{ locale: 'en', body: 'Hi {{name}}, {{percent}}% off at {{shop}}. Reply STOP to opt out' }],
    });
    assert.equal(created.statusCode, 201, created.body);
    templateId = created.json<{ id: string }>().id;
  });

  after(() => api.close());

  async function create(body: Record<string, unknown>, key = writer, headers?: Record<string, string>) {
    return api.call(
      'POST',
      '/v1/campaigns',
      key,
      { name: 'spring', template: templateId, variables: { shop: 'Pigeon' }, ...body },
      headers,
    );
  }

  async function draft(body: Record<string, unknown> = {}): Promise<Campaign> {
    const response = await create(body);
    assert.equal(response.statusCode, 201, response.body);
    return response.json<Campaign>();
  }

  function upload(id: string, csv: string | Buffer, key = writer): Promise<LightMyRequestResponse> {
    return api.app.inject({
      method: 'PUT',
      url: `/v1/campaigns/${id}/recipients`,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv; charset=utf-8' },
      payload: csv,
    });
  }

  async function errorsOf(id: string): Promise<string[][]> {
    const response = await api.call('GET', `/v1/campaigns/${id}/errors`, reader);
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/csv/);
    return parse(response.body);
  }

  test('a campaign with inline recipients is created as a draft with counts and a cost estimate', async () => {
    const response = await create({
      recipients: [
        { to: '+14155550101', variables: { name: 'Ana', percent: 20 } },
        { to: '+447911123456', variables: { name: 'Bo', percent: 10 }, clientRef: 'crm-2' },
        { to: '12345', variables: { name: 'X', percent: 1 } },
      ],
    });
    assert.equal(response.statusCode, 201, response.body);
    const c = response.json<Campaign>();
    assert.equal(response.headers.location, `/v1/campaigns/${c.id}`);
    assert.deepEqual([c.state, c.recipients, c.invalid], ['draft', 2, 1]);
    assert.equal(c.estimatedCost, 0.06, 'one part to US at 0.01, one to GB at the * price of 0.05');
    assert.deepEqual(await errorsOf(c.id), [
      ['row', 'code', 'reason'],
      ['3', 'PIGEON_ERR_INVALID_NUMBER', '"to" must be a valid E.164 number such as +14155550123'],
    ]);
    const rows = await api.store.readRecipients(c.id, 0, 10);
    assert.deepEqual(
      rows.map((r) => [r.rowNo, r.to, r.clientRef, r.variables]),
      [
        [0, '+14155550101', null, { name: 'Ana', percent: '20' }],
        [1, '+447911123456', 'crm-2', { name: 'Bo', percent: '10' }],
      ],
    );
  });

  test('a retried create with the same Idempotency-Key is the same campaign; another body is a 409', async () => {
    const key = `camp-${newId()}`;
    const body = { recipients: [{ to: '+14155550101', variables: { name: 'A', percent: 5 } }] };
    const first = await create(body, writer, { 'idempotency-key': key });
    assert.equal(first.statusCode, 201);
    const again = await create(body, writer, { 'idempotency-key': key });
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json<Campaign>().id, first.json<Campaign>().id);
    assert.equal(again.json<Campaign>().recipients, 1);
    const changed = await create({ ...body, name: 'other' }, writer, { 'idempotency-key': key });
    assert.equal(changed.statusCode, 409);
    assert.equal(changed.json<{ code: string }>().code, 'PIGEON_ERR_IDEMPOTENCY_CONFLICT');
    const otherTenant = await create(
      { template: undefined, body: 'Sale! Reply STOP to opt out', variables: undefined },
      other,
      {
        'idempotency-key': key,
      },
    );
    assert.equal(otherTenant.statusCode, 201, 'keys are per tenant');
  });

  test('a local send time in a time zone is stored as its instant; bad zones and bodies are 4xx', async () => {
    const c = await draft({ sendAt: '2026-12-07T09:00', timeZone: 'Asia/Shanghai', recurrence: 'weekly' });
    assert.equal(c.sendAt, '2026-12-07T01:00:00.000Z');
    const badZone = await create({ sendAt: '2026-12-07T09:00', timeZone: 'Mars/Olympus' });
    assert.equal(badZone.statusCode, 400);
    const noZone = await create({ sendAt: '2026-12-07T09:00' });
    assert.equal(noZone.statusCode, 400);
    const noOptOut = await create({ template: undefined, variables: undefined, body: 'Big sale today' });
    assert.equal(noOptOut.json<{ code: string }>().code, 'PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING');
    const extra = await create({ variables: { shop: 'P', nope: 'x' } });
    assert.equal(extra.json<{ code: string }>().code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
  });

  test('a CSV upload with a BOM, CRLF and quoted newlines stores every good row and reports each bad one', async () => {
    const c = await draft();
    const csv = Buffer.concat([
      Buffer.from('\ufeffphone,name,percent,clientRef\r\n'),
      Buffer.from('+14155550101,Ana,20,r1\r\n'),
      Buffer.from('+14155550102,"Bo\r\nSecond line",15,"r,2"\r\n'),
      Buffer.from('not-a-number,Cy,10,r3\r\n'),
      Buffer.from('+14155550104,,10,r4\r\n'),
      Buffer.from('+14155550105,'),
      Buffer.from([0x4a, 0xfc, 0x72, 0x67]), // "Jürg" in Latin-1: not UTF-8
      Buffer.from(',10,r5\r\n'),
      Buffer.from(`+14155550106,"${'x'.repeat(10 * 1024 * 1024)}",10,r6\r\n`),
      Buffer.from('+14155550107,"Di ""the"" one",30,r7\r\n'),
      Buffer.from('+14155550108,Ed\r\n'),
      Buffer.from(`+14155550109,${'長'.repeat(700)},10,r9\r\n`),
    ]);
    const response = await upload(c.id, csv);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { recipients: 3, invalid: 6, estimatedCost: 0.03 });
    assert.deepEqual(
      (await errorsOf(c.id)).slice(1).map(([row, code]) => [row, code]),
      [
        ['3', 'PIGEON_ERR_INVALID_NUMBER'],
        ['4', 'PIGEON_ERR_TEMPLATE_VARIABLES'],
        ['5', 'PIGEON_ERR_CSV_ENCODING'],
        ['6', 'PIGEON_ERR_CSV_ROW_TOO_LARGE'],
        ['8', 'PIGEON_ERR_CSV_MALFORMED'],
        ['9', 'PIGEON_ERR_BODY_TOO_LONG'],
      ],
    );
    const rows = await api.store.readRecipients(c.id, 0, 10);
    assert.deepEqual(
      rows.map((r) => [r.to, r.variables.name, r.clientRef]),
      [
        ['+14155550101', 'Ana', 'r1'],
        ['+14155550102', 'Bo\r\nSecond line', 'r,2'],
        ['+14155550107', 'Di "the" one', 'r7'],
      ],
    );
    const read = await api.call('GET', `/v1/campaigns/${c.id}`, reader);
    assert.deepEqual([read.json<Campaign>().recipients, read.json<Campaign>().invalid], [3, 6]);
  });

  test('a header that cannot work refuses the file; an upload replaces the earlier list', async () => {
    const c = await draft();
    const bad = await upload(c.id, 'name,percent\nAna,1\n');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<{ code: string }>().code, 'PIGEON_ERR_CSV_HEADER');
    const unknown = await upload(c.id, 'to,name,percent,colour\n+14155550101,A,1,red\n');
    assert.equal(unknown.json<{ code: string }>().code, 'PIGEON_ERR_CSV_HEADER');
    assert.equal(
      (await upload(c.id, 'to,name,percent\n+14155550101,A,1\n+14155550102,B,2\n')).json<Campaign>()
        .recipients,
      2,
    );
    assert.equal((await upload(c.id, 'to,name,percent\n+14155550103,C,3\n')).json<Campaign>().recipients, 1);
    assert.deepEqual(
      (await api.store.readRecipients(c.id, 0, 10)).map((r) => r.to),
      ['+14155550103'],
    );
    const json = await api.call('PUT', `/v1/campaigns/${c.id}/recipients`, writer, { to: '+1' });
    assert.equal(json.statusCode, 415);
  });

  test('submit schedules a draft below the threshold; above it, only a campaigns:approve key decides', async () => {
    const put = await api.call('PUT', '/v1/admin/tenants/tenant-c/campaign-approval', admin, {
      maxRecipients: 2,
      maxCost: null,
    });
    assert.equal(put.statusCode, 200);
    try {
      const small = await draft();
      await upload(small.id, 'to,name,percent\n+14155550101,A,1\n');
      const scheduled = await api.call('POST', `/v1/campaigns/${small.id}/submit`, writer);
      assert.equal(scheduled.json<Campaign>().state, 'scheduled');

      const big = await draft();
      await upload(big.id, 'to,name,percent\n+14155550101,A,1\n+14155550102,B,1\n+14155550103,C,1\n');
      const pending = await api.call('POST', `/v1/campaigns/${big.id}/submit`, writer);
      assert.equal(pending.json<Campaign>().state, 'pending_approval');
      assert.match(
        pending.json<Campaign>().approvalReason ?? '',
        /3 recipients > the approval threshold of 2/,
      );
      assert.equal(
        (await upload(big.id, 'to,name,percent\n+14155550101,A,1\n')).statusCode,
        409,
        'no upload once submitted',
      );

      const byWriter = await api.call('POST', `/v1/campaigns/${big.id}/approve`, writer);
      assert.equal(byWriter.statusCode, 403);
      const approved = await api.call('POST', `/v1/campaigns/${big.id}/approve`, approver);
      assert.equal(approved.statusCode, 200);
      assert.equal(approved.json<Campaign>().state, 'scheduled');
      assert.ok(approved.json<Campaign>().approvedBy);
      const twice = await api.call('POST', `/v1/campaigns/${big.id}/reject`, approver);
      assert.equal(twice.statusCode, 409);
      assert.equal(twice.json<{ code: string }>().code, 'PIGEON_ERR_CAMPAIGN_STATE');

      const rejected = await create({
        submit: true,
        recipients: [1, 2, 3].map((i) => ({ to: `+1415555010${i}`, variables: { name: 'N', percent: 1 } })),
      });
      assert.equal(rejected.json<Campaign>().state, 'pending_approval');
      const no = await api.call('POST', `/v1/campaigns/${rejected.json<Campaign>().id}/reject`, approver);
      assert.equal(no.json<Campaign>().state, 'rejected');
    } finally {
      await api.call('PUT', '/v1/admin/tenants/tenant-c/campaign-approval', admin, {
        maxRecipients: null,
        maxCost: null,
      });
    }
  });

  test('pause, resume and cancel are transitions from the states that allow them', async () => {
    const c = await draft({
      submit: true,
      recipients: [{ to: '+14155550101', variables: { name: 'A', percent: 1 } }],
    });
    assert.equal(c.state, 'scheduled');
    const post = (action: string) => api.call('POST', `/v1/campaigns/${c.id}/${action}`, writer);
    assert.equal((await post('resume')).statusCode, 409, 'only a paused campaign resumes');
    assert.equal((await post('pause')).json<Campaign>().state, 'paused');
    assert.equal((await post('pause')).statusCode, 409);
    assert.equal((await post('resume')).json<Campaign>().state, 'scheduled', 'not started: back to waiting');
    // The runner starts it (part of the campaign runner); a started one resumes to running.
    await api.store.transitionCampaign('tenant-c', c.id, ['scheduled'], 'running', Date.now(), {
      startedAt: Date.now(),
    });
    assert.equal((await post('pause')).json<Campaign>().state, 'paused');
    assert.equal((await post('resume')).json<Campaign>().state, 'running');
    const cancelled = (await post('cancel')).json<Campaign>();
    assert.equal(cancelled.state, 'cancelled');
    for (const action of ['pause', 'resume', 'cancel', 'submit']) {
      assert.equal((await post(action)).statusCode, 409, action);
    }
    assert.equal(
      (await api.call('POST', `/v1/campaigns/${c.id}/pause`, other)).statusCode,
      404,
      'another tenant',
    );
    assert.equal((await api.call('POST', `/v1/campaigns/${c.id}/pause`, reader)).statusCode, 403);
  });

  test('progress counts the messages by status and skip reason, with rate and ETA', async () => {
    const c = await draft({
      submit: true,
      recipients: [1, 2, 3, 4, 5, 6].map((i) => ({
        to: `+1415555020${i}`,
        variables: { name: 'A', percent: 1 },
      })),
    });
    const started = Date.now() - 10_000;
    await api.store.transitionCampaign('tenant-c', c.id, ['scheduled'], 'running', started, {
      startedAt: started,
    });
    const statuses: Array<Pick<MessagePatch, 'status' | 'errorCode'>> = [
      { status: 'delivered' },
      { status: 'delivered' },
      { status: 'failed', errorCode: 'INVALID_NUMBER' },
      { status: 'skipped', errorCode: 'OPTED_OUT' },
      { status: 'queued' },
    ];
    await api.store.writeBatch({
      messages: statuses.map((s, i) => ({
        id: newId(),
        tenantId: 'tenant-c',
        campaignId: c.id,
        recipient: `+1415555020${i + 1}`,
        updatedAt: Date.now(),
        ...s,
      })),
      events: [],
    });
    const response = await api.call('GET', `/v1/campaigns/${c.id}`, reader);
    const progress = response.json<Campaign>().progress!;
    assert.deepEqual(
      { ...progress, rate: undefined, eta: undefined },
      {
        pending: 1,
        queued: 1,
        submitted: 0,
        delivered: 2,
        failed: 1,
        skipped: 1,
        skippedReasons: { OPTED_OUT: 1 },
        cancelled: 0,
        invalid: 0,
        rate: undefined,
        eta: undefined,
      },
    );
    assert.ok(typeof progress.rate === 'number' && progress.rate > 0);
    assert.ok(typeof progress.eta === 'string');

    const results = await api.call('GET', `/v1/campaigns/${c.id}/results`, reader);
    assert.equal(results.statusCode, 200);
    const rows = parse(results.body);
    assert.deepEqual(rows[0], [
      'id',
      'to',
      'clientRef',
      'status',
      'errorCode',
      'provider',
      'segments',
      'cost',
      'queuedAt',
      'submittedAt',
      'finalAt',
    ]);
    assert.equal(rows.length, 6);
    assert.equal(rows[1]![1], '+1415*****01', 'numbers masked without pii:read');
    assert.deepEqual(
      rows
        .slice(1)
        .map((r) => r[3])
        .sort(),
      ['delivered', 'delivered', 'failed', 'queued', 'skipped'],
    );
  });

  test('the listing pages newest first with a cursor, per tenant', async () => {
    const mine = [await draft({ name: 'l1' }), await draft({ name: 'l2' }), await draft({ name: 'l3' })];
    const first = await api.call('GET', '/v1/campaigns?limit=2', reader);
    const page = first.json<{ campaigns: Campaign[]; nextCursor: string | null }>();
    assert.deepEqual(
      page.campaigns.map((c) => c.id),
      [mine[2]!.id, mine[1]!.id],
    );
    assert.ok(page.nextCursor);
    const second = await api.call('GET', `/v1/campaigns?limit=2&cursor=${page.nextCursor}`, reader);
    assert.equal(second.json<{ campaigns: Campaign[] }>().campaigns[0]?.id, mine[0]!.id);
    const others = await api.call('GET', '/v1/campaigns?limit=100', other);
    assert.ok(
      others.json<{ campaigns: Campaign[] }>().campaigns.every((c) => !mine.some((m) => m.id === c.id)),
    );
    assert.equal((await api.call('GET', '/v1/campaigns?cursor=zzz', reader)).statusCode, 400);
  });

  test('the OpenAPI document gives the CSV upload its text/csv body', async () => {
    await api.app.ready();
    const doc = api.app.swagger() as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
    };
    const upload = doc.paths['/v1/campaigns/{id}/recipients']?.put;
    assert.deepEqual(Object.keys(upload?.requestBody?.content ?? {}), ['text/csv']);
    assert.ok(
      doc.paths['/v1/campaigns']?.post?.requestBody?.content['application/json'],
      'JSON bodies unchanged',
    );
  });
});
