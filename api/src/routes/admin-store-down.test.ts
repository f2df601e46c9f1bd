import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generateApiKey } from '../api-keys.ts';
import { startTestApi, type TestApi, type TestMethod } from '../../../test/support/api-harness.ts';

const adminKey = generateApiKey();
const CAMPAIGN = '01JCAMPA1GN0000000000000AB';
let api: TestApi;

before(async () => {
  api = await startTestApi({ keys: [{ key: adminKey, tenant: 'tenant-a', scopes: ['admin'] }] });
  // One call while the database answers, so the key is in the authenticator's cache; then the
  // database goes away, as in an outage.
  assert.equal((await api.call('GET', '/v1/admin/tenants/tenant-a/limits', adminKey)).statusCode, 200);
  await api.store.close();
});

after(() => api.close());

const calls: Array<[TestMethod, string, unknown?]> = [
  ['POST', '/v1/admin/tenants', { id: 'tenant-b', name: 'Tenant B' }],
  ['GET', '/v1/admin/tenants/tenant-b'],
  ['POST', '/v1/admin/tenants/tenant-b/suspend'],
  ['POST', '/v1/admin/tenants/tenant-a/keys', { name: 'app', scopes: ['messages:write'] }],
  ['GET', '/v1/admin/tenants/tenant-a/keys'],
  ['PUT', '/v1/admin/tenants/tenant-b/limits', { ratePerSecond: 10 }],
  ['GET', '/v1/admin/senders?tenantId=tenant-a'],
  ['PUT', '/v1/admin/senders/ACME', { tenantId: 'tenant-a' }],
  ['GET', '/v1/admin/tenants/tenant-b/messaging-policy'],
  ['PUT', '/v1/admin/tenants/tenant-b/messaging-policy', { smartEncoding: true }],
  ['GET', '/v1/admin/opt-out'],
  ['GET', '/v1/suppressions'],
  ['POST', '/v1/suppressions', { phone: '+14155550100' }],
  ['DELETE', '/v1/suppressions/+14155550100'],
  ['POST', '/v1/suppressions/import', ['+14155550101']],
  ['GET', '/v1/inbound'],
  ['POST', '/v1/campaigns', { name: 'spring', body: 'Sale today. Reply STOP to opt out' }],
  ['GET', '/v1/campaigns'],
  ['GET', `/v1/campaigns/${CAMPAIGN}`],
  ['POST', `/v1/campaigns/${CAMPAIGN}/submit`],
  ['POST', `/v1/campaigns/${CAMPAIGN}/pause`],
  ['POST', `/v1/campaigns/${CAMPAIGN}/resume`],
  ['POST', `/v1/campaigns/${CAMPAIGN}/cancel`],
  ['POST', `/v1/campaigns/${CAMPAIGN}/approve`],
  ['GET', `/v1/campaigns/${CAMPAIGN}/errors`],
  ['GET', `/v1/campaigns/${CAMPAIGN}/results`],
  ['GET', '/v1/admin/tenants/tenant-a/campaign-approval'],
  ['PUT', '/v1/admin/tenants/tenant-a/campaign-approval', { maxRecipients: 1000, maxCost: null }],
];

test('with the database down, every tenant, key, limit, sender, messaging-policy, opt-out, suppression, inbound and campaign call answers 503 problem+json', async () => {
  for (const [method, url, payload] of calls) {
    const res = await api.call(method, url, adminKey, payload);
    assert.equal(res.statusCode, 503, `${method} ${url}: ${res.body}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.json<{ code: string }>().code, 'PIGEON_ERR_STORE_UNAVAILABLE', `${method} ${url}`);
  }
});
