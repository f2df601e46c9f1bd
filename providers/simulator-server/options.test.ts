import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simulatorProcessOptions } from './options.ts';

test('defaults: loopback, sim-a and sim-b, every secret generated and reported as such', () => {
  const options = simulatorProcessOptions([], {});
  assert.equal(options.host, '127.0.0.1');
  assert.deepEqual(options.providers, ['sim-a', 'sim-b']);
  assert.deepEqual(options.generated, ['controlToken', 'sendKey', 'receiptSecret']);
  assert.notEqual(options.controlToken, options.sendKey);
});

test('arguments and secrets from the environment are taken as given', () => {
  const options = simulatorProcessOptions(['--port', '7001', '--providers', 'sim-x'], {
    PIGEON_SIMULATOR_TOKEN: 'control-token-0123456789',
    PIGEON_SIMULATOR_SEND_KEY: 'send-key-0123456789ab',
    PIGEON_SIMULATOR_SECRET: 'receipt-secret-0123456789',
  });
  assert.equal(options.port, 7001);
  assert.deepEqual(options.providers, ['sim-x']);
  assert.deepEqual(options.generated, []);
  assert.equal(options.controlToken, 'control-token-0123456789');
});

test('bad arguments stop the command with a configuration error naming them', () => {
  const refused = (argv: string[], env: Record<string, string> = {}, pattern: RegExp) =>
    assert.throws(
      () => simulatorProcessOptions(argv, env),
      (err: Error & { code?: string }) => err.code === 'PIGEON_ERR_CONFIG' && pattern.test(err.message),
    );
  refused(['--port', 'x'], {}, /--port must be an integer/);
  refused(['--colour', 'red'], {}, /unknown argument "--colour"/);
  refused(['--providers', 'a b'], {}, /not a provider name/);
  refused(['--port'], {}, /--port needs a value/);
  refused([], { PIGEON_SIMULATOR_TOKEN: 'short' }, /PIGEON_SIMULATOR_TOKEN must be at least 16/);
});
