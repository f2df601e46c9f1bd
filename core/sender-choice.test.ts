import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from './errors.ts';
import { chooseSender, requireRegistered } from './sender-choice.ts';
import type { SenderRecord } from './store/kinds/senders.ts';

function sender(value: string, overrides: Partial<SenderRecord> = {}): SenderRecord {
  return {
    tenantId: 'shop',
    sender: value,
    kind: value.startsWith('+') ? 'number' : /^\d+$/.test(value) ? 'short_code' : 'alphanumeric',
    countries: [],
    isDefault: false,
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

const request = (from: string | undefined, country: string | undefined = 'GB', to = '+447400123456') => ({
  tenantId: 'shop',
  to,
  country,
  from,
});

const refused = (err: unknown) =>
  isPigeonError(err) && err.code === 'PIGEON_ERR_SENDER_NOT_REGISTERED' && err.status === 403;

test('a tenant without registered senders sends from what it asks for, or leaves it to the route', () => {
  assert.equal(chooseSender([], request('Anything')), 'Anything');
  assert.equal(chooseSender([], request(undefined)), undefined);
});

test('a tenant with registered senders may send only from them, each within its countries', () => {
  const senders = [sender('SHOP'), sender('SHOPUK', { countries: ['GB', 'IE'] })];
  assert.equal(chooseSender(senders, request('SHOP')), 'SHOP');
  assert.equal(chooseSender(senders, request('SHOPUK')), 'SHOPUK');
  assert.throws(() => chooseSender(senders, request('BANK')), refused);
  assert.throws(() => chooseSender(senders, request('SHOPUK', 'US', '+14155550123')), refused);
  assert.throws(() => chooseSender(senders, { ...request('SHOPUK'), country: undefined }), refused);
});

test('without from: the country’s own default, then a default for any country, then the pool', () => {
  const senders = [
    sender('SHOP', { isDefault: true }),
    sender('SHOPUK', { countries: ['GB'], isDefault: true }),
    sender('+14155550100', { countries: ['US'] }),
  ];
  assert.equal(chooseSender(senders, request(undefined, 'GB')), 'SHOPUK');
  assert.equal(chooseSender(senders, request(undefined, 'FR', '+33612345678')), 'SHOP');
  const noDefaults = senders.map((s) => ({ ...s, isDefault: false }));
  assert.equal(chooseSender(noDefaults, request(undefined, 'US', '+14155550123')), '+14155550100');
  assert.equal(chooseSender(noDefaults, request(undefined, 'FR', '+33612345678')), undefined);
});

test('sticky sender: a recipient keeps the same number of the pool, and recipients spread over it', () => {
  const pool = ['+14155550100', '+14155550101', '+14155550102', '+14155550103'].map((n) =>
    sender(n, { countries: ['US'] }),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const to = `+1415555${String(1000 + i).padStart(4, '0')}`;
    const first = chooseSender(pool, request(undefined, 'US', to));
    assert.ok(first);
    // The order the registry lists it in does not matter.
    assert.equal(chooseSender([...pool].reverse(), request(undefined, 'US', to)), first, to);
    seen.add(first);
  }
  assert.equal(seen.size, 4, 'every number of the pool is used');
  const other = { ...request(undefined, 'US', '+14155551000'), tenantId: 'another' };
  assert.ok(pool.some((s) => s.sender === chooseSender(pool, other)));
});

test('a batch sender must be registered at all; its countries are checked per recipient', () => {
  const senders = [sender('SHOPUK', { countries: ['GB'] })];
  assert.doesNotThrow(() => requireRegistered(senders, 'SHOPUK'));
  assert.doesNotThrow(() => requireRegistered([], 'ANY'));
  assert.throws(() => requireRegistered(senders, 'BANK'), refused);
});
