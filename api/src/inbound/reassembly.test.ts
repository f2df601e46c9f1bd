import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Cache } from '../../../core/cache/cache.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { RedisCache } from '../../../core/cache/redis-cache.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../../../test/support/infra.ts';
import type { InboundSms } from '../../../providers/provider.ts';
import { reassemble } from './reassembly.ts';

const part = (index: number, body: string, reference = uniqueSuffix()): InboundSms => ({
  from: '+447400123456',
  to: '+15005550006',
  body,
  providerMessageId: `pm-${index}`,
  part: { reference, index, total: 3 },
});

function reassemblyAgainst(name: string, open: () => Cache) {
  describe(`inbound reassembly (${name})`, () => {
    const cache = open();
    after(() => cache.close());

    test('parts arriving out of order, one twice, are joined once, in order, when the last comes', async () => {
      const reference = uniqueSuffix();
      const [one, two, three] = [
        part(1, 'Hello ', reference),
        part(2, 'there, ', reference),
        part(3, 'STOP', reference),
      ];
      assert.equal(await reassemble(cache, 'vonage', three), undefined);
      assert.equal(await reassemble(cache, 'vonage', one), undefined);
      assert.equal(await reassemble(cache, 'vonage', three), undefined, 'a retried part is no new part');
      const whole = await reassemble(cache, 'vonage', two);
      assert.deepEqual(whole, {
        parts: 3,
        sms: {
          from: '+447400123456',
          to: '+15005550006',
          body: 'Hello there, STOP',
          providerMessageId: 'pm-1',
        },
      });
    });

    test('parts of different messages never mix, and a whole SMS passes straight through', async () => {
      assert.equal(await reassemble(cache, 'vonage', part(1, 'a')), undefined);
      assert.equal(await reassemble(cache, 'vonage', part(2, 'b')), undefined);
      const single: InboundSms = { from: '+1', to: '+2', body: 'hi', providerMessageId: 'x' };
      assert.deepEqual(await reassemble(cache, 'vonage', single), { sms: single, parts: 1 });
    });
  });
}

reassemblyAgainst('memory', () => new MemoryCache());
reassemblyAgainst('redis', () => new RedisCache(TEST_REDIS_URL));
