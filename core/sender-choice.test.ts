import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../test/support/seeded-random.ts';
import { isPigeonError, PigeonError } from './errors.ts';
import { fnv1a } from './hash.ts';
import { chooseSender, requireRegistered, type SenderRequest } from './sender-choice.ts';
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

// The algorithm as it was before chooseSender indexed each sender list, copied verbatim: the
// indexed one must choose exactly as it did (only its helpers are renamed, to sit beside the real ones).
const allows = (sender: SenderRecord, country: string | undefined) =>
  sender.countries.length === 0 || (country !== undefined && sender.countries.includes(country));

function referenceChooseSender(senders: readonly SenderRecord[], request: SenderRequest): string | undefined {
  if (senders.length === 0) return request.from;
  const { from, country } = request;
  if (from !== undefined) {
    referenceRequireRegistered(senders, from);
    if (senders.some((s) => s.sender === from && allows(s, country))) return from;
    throw notRegistered(`sender "${from}" is not registered for ${country ?? 'numbers without a country'}`);
  }
  const tiers = [
    senders.filter((s) => s.isDefault && country !== undefined && s.countries.includes(country)),
    senders.filter((s) => s.isDefault && s.countries.length === 0),
    senders.filter((s) => s.kind !== 'alphanumeric' && allows(s, country)),
  ];
  const pool = tiers.find((tier) => tier.length > 0);
  if (!pool) return undefined;
  const sorted = pool.map((s) => s.sender).sort();
  return sorted[fnv1a(`${request.tenantId}\n${request.to}`) % sorted.length];
}

function referenceRequireRegistered(senders: readonly SenderRecord[], from: string): void {
  if (senders.length === 0 || senders.some((s) => s.sender === from)) return;
  throw notRegistered(`sender "${from}" is not registered for this tenant`);
}

function notRegistered(detail: string): PigeonError {
  return new PigeonError('PIGEON_ERR_SENDER_NOT_REGISTERED', detail, {
    errors: [{ field: '/from', message: 'not one of the tenant’s registered senders' }],
  });
}

/** The answer or the refusal, as one comparable value. */
function outcome(choose: () => string | undefined): { sender: string | undefined } | { refused: string } {
  try {
    return { sender: choose() };
  } catch (err) {
    if (!isPigeonError(err)) throw err;
    return { refused: `${err.code}: ${err.message}` };
  }
}

// Few countries and names, so lists share countries, repeat names and mix every tier.
const COUNTRIES = ['GB', 'US', 'FR', 'DE', 'IE'];
const ASKED_COUNTRIES = [...COUNTRIES, 'JP', undefined];

function randomSenders(random: () => number, size: number): SenderRecord[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const names = Math.max(1, Math.floor(size * (0.5 + random())));
  // Per list, so some lists have no defaults or no any-country senders and reach every tier.
  const defaults = pick([0, 0, 0.01, 0.1, 0.5]);
  const anyCountry = pick([0, 0.05, 0.3]);
  return Array.from({ length: size }, () => {
    const n = Math.floor(random() * names);
    const kind = pick(['alphanumeric', 'number', 'number', 'short_code'] as const);
    const value =
      kind === 'alphanumeric' ? `SHOP${n}` : kind === 'number' ? `+1415${1_000_000 + n}` : `${10_000 + n}`;
    const countries =
      random() < anyCountry
        ? []
        : Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(COUNTRIES));
    return sender(value, { kind, countries: countries.sort(), isDefault: random() < defaults });
  });
}

test('the indexed choice is the original algorithm’s, for every list, recipient and asked-for sender', () => {
  const random = seededRandom(20_240_601);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  for (let list = 0; list < 400; list++) {
    const size = list < 20 ? list : Math.floor(random() * 301);
    const senders = randomSenders(random, size);
    for (let i = 0; i < 60; i++) {
      const from =
        random() < 0.4 ? undefined : random() < 0.8 && size > 0 ? pick(senders).sender : `OTHER${i}`;
      const request: SenderRequest = {
        tenantId: pick(['shop', 'bank']),
        to: `+4474${String(Math.floor(random() * 1e8)).padStart(8, '0')}`,
        country: pick(ASKED_COUNTRIES),
        from,
      };
      const context = `list ${list} (${size} senders), ${JSON.stringify(request)}`;
      assert.deepEqual(
        outcome(() => chooseSender(senders, request)),
        outcome(() => referenceChooseSender(senders, request)),
        context,
      );
      if (from !== undefined) {
        assert.deepEqual(
          outcome(() => (requireRegistered(senders, from), undefined)),
          outcome(() => (referenceRequireRegistered(senders, from), undefined)),
          context,
        );
      }
    }
  }
});

test('a list is indexed once and answers alike on reuse; a new list gets its own answers', () => {
  const random = seededRandom(7);
  // Counts reads of the list's entries: after its first message, a list is not walked again.
  let entriesRead = 0;
  const first = new Proxy(randomSenders(random, 200), {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) entriesRead++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  const requests: SenderRequest[] = Array.from({ length: 300 }, (_, i) => ({
    tenantId: 'shop',
    to: `+1415555${String(i).padStart(4, '0')}`,
    country: ASKED_COUNTRIES[i % ASKED_COUNTRIES.length],
    from: undefined,
  }));
  const answers = requests.map((r) => outcome(() => chooseSender(first, r)));
  assert.ok(entriesRead > 0 && entriesRead <= 200, `the list was read once: ${entriesRead} entries`);
  entriesRead = 0;
  // Asked again, in another order, the same list answers as before.
  for (const i of requests.keys()) {
    const j = requests.length - 1 - i;
    assert.deepEqual(
      outcome(() => chooseSender(first, requests[j]!)),
      answers[j],
    );
  }
  assert.equal(entriesRead, 0);
  // The registry reread as a new array: a changed registry is answered from the new list only.
  const second = first.map((s) => ({ ...s, isDefault: false, countries: [] }));
  for (const request of requests) {
    assert.deepEqual(
      outcome(() => chooseSender(second, request)),
      outcome(() => referenceChooseSender(second, request)),
    );
  }
  const renamed = [sender('+14155550999', { countries: ['US'] })];
  assert.equal(chooseSender(renamed, request(undefined, 'US', '+14155550123')), '+14155550999');
  assert.throws(() => chooseSender(renamed, request(first[0]!.sender, 'US')), refused);
  // And the first list still answers as it did, from its own index (the reads above were ours).
  entriesRead = 0;
  assert.deepEqual(
    requests.map((r) => outcome(() => chooseSender(first, r))),
    answers,
  );
  assert.equal(entriesRead, 0);
});
