import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Config, loadConfig } from '../core/config.ts';
import type { PigeonError } from '../core/errors.ts';
import { alertingSetup } from './config.ts';

function withAlerts(alerts: unknown): Config {
  return { ...loadConfig({}), providersFile: { alerts } } as Config;
}

const channels = [
  { name: 'ops-slack', type: 'slack', url: 'https://hooks.slack.com/services/x' },
  { name: 'oncall-sms', type: 'sms', provider: 'sim-a', to: ['+447400123456'] },
];

test('rules, escalation, default channels and canaries are read from PIGEON_CONFIG', () => {
  const setup = alertingSetup(
    withAlerts({
      channels,
      defaultChannels: ['ops-slack'],
      escalation: [{ id: 'default', steps: [{ after: '10m', channels: ['oncall-sms'] }] }],
      rules: [{ id: 'breaker-open', metric: 'breaker_state', above: 1.5, severity: 'critical' }],
      canary: { targets: [{ provider: 'sim-a', country: 'GB', to: '+447400123456' }], intervalSeconds: 60 },
    }),
  );
  assert.deepEqual(setup.channels, ['ops-slack', 'oncall-sms']);
  assert.deepEqual(setup.policies, [
    { id: 'default', steps: [{ afterMs: 600_000, channels: ['oncall-sms'] }] },
  ]);
  assert.equal(setup.layers.config[0]!.severity, 'critical');
  assert.ok(
    setup.layers.defaults.some((r) => r.id === 'breaker-open'),
    'the defaults stay underneath',
  );
  assert.deepEqual(setup.canary, {
    targets: [{ provider: 'sim-a', country: 'GB', to: '+447400123456' }],
    intervalMs: 60_000,
    timeoutMs: 120_000,
    messageClass: 'transactional',
  });
});

test('nothing configured: the shipped rules, no channels, no canary', () => {
  const setup = alertingSetup(loadConfig({}));
  assert.deepEqual(
    [setup.channels, setup.policies, setup.layers.config, setup.canary],
    [[], [], [], undefined],
  );
  assert.ok(setup.layers.defaults.length > 10);
});

test('every problem is named in one PIGEON_ERR_CONFIG', () => {
  assert.throws(
    () =>
      alertingSetup(
        withAlerts({
          channels,
          defaultChannels: ['nowhere'],
          escalation: [{ id: 'default', steps: [{ after: 'soon', channels: ['oncall-sms'] }] }],
          rules: [{ id: 'x', metric: 'delivered_rate', severity: 'critical', channels: ['pager'] }],
          canary: { targets: [{ provider: 'sim-a', country: 'GB', to: 'not a number' }] },
        }),
      ),
    (err: PigeonError) =>
      err.code === 'PIGEON_ERR_CONFIG' &&
      /defaultChannels: no channel named "nowhere"/.test(err.message) &&
      /alerts\.escalation\[0\]\.steps\[0\]/.test(err.message) &&
      /alerts\.rules\[0\].*exactly one of below/.test(err.message) &&
      /no channel named "pager"/.test(err.message) &&
      /alerts\.canary\.targets\[0\]/.test(err.message),
  );
});
