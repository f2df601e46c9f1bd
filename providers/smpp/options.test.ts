import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { PigeonError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { createSmpp } from './adapter.ts';
import { smppOptions } from './options.ts';

const logger = createLogger({ level: 'silent' });

describe('SMPP options', () => {
  const deps = { config: loadConfig({}), cache: new MemoryCache(), logger };

  test('names the missing or bad option and never repeats the password', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ systemId: 'a', password: 'hunter2-secret' }, /"host"/],
      [{ host: 'h', password: 'hunter2-secret' }, /"systemId"/],
      [{ host: 'h', systemId: 'a', password: 'hunter2-secret', port: 70000 }, /"port"/],
      [{ host: 'h', systemId: 'a', password: 'hunter2-secret', tls: { ca: 3 } }, /"tls\.ca"/],
      [{ host: 'h', systemId: 'a', password: 'hunter2-secret', sytemType: 'x' }, /"sytemType"/],
    ];
    for (const [options, pattern] of cases) {
      assert.throws(
        () => createSmpp('smsc', options, deps),
        (err: unknown) =>
          err instanceof PigeonError &&
          err.code === 'PIGEON_ERR_CONFIG' &&
          pattern.test(err.message) &&
          !err.message.includes('hunter2'),
      );
    }
  });

  test('defaults the port by transport', () => {
    assert.equal(smppOptions('s', { host: 'h', systemId: 'a' }).port, 2775);
    assert.equal(smppOptions('s', { host: 'h', systemId: 'a', tls: true }).port, 3550);
  });
});
