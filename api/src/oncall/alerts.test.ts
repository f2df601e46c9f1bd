import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Compile } from 'typebox/compile';
import { countSegments } from '../../../core/segments.ts';
import { AlertBody, derivedFingerprint, pageText, parseAlerts } from './alerts.ts';

/** Real Alertmanager output (sample-v4-payload.json, alertmanager-webhook-types), as in the reference. */
const SAMPLE = {
  receiver: 'sms',
  status: 'firing',
  alerts: [
    {
      status: 'firing',
      labels: {
        alertname: 'ProbeFailure',
        instance: 'https://server.example.org',
        job: 'http_checks',
        monitor: 'master',
        severity: 'critical',
      },
      annotations: {
        description: 'Instance https://server.example.org has been down for over 5m. Job: http_checks',
        summary: 'BlackBox Probe Failure: https://server.example.org',
      },
      startsAt: '2023-02-06T13:08:45.828Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1',
      fingerprint: '1a30ba71cca2921f',
    },
  ],
  groupLabels: { alertname: 'ProbeFailure' },
  commonLabels: {
    alertname: 'ProbeFailure',
    instance: 'https://server.example.org',
    job: 'http_checks',
    monitor: 'master',
    severity: 'critical',
  },
  commonAnnotations: {
    description: 'Instance https://server.example.org has been down for over 5m. Job: http_checks',
    summary: 'BlackBox Probe Failure: https://server.example.org',
  },
  externalURL: 'http://prometheus.example.org:9093',
  version: '4',
  groupKey: '{}/{severity="critical"}:{alertname="ProbeFailure"}',
  truncatedAlerts: 0,
};

const schema = Compile(AlertBody);

test('the reference Alertmanager payload is accepted and read as one critical firing alert', () => {
  assert.equal(schema.Check(SAMPLE), true);
  assert.deepEqual(parseAlerts(SAMPLE as never, {}), {
    source: 'alertmanager',
    alerts: [
      {
        fingerprint: '1a30ba71cca2921f',
        status: 'firing',
        title: 'BlackBox Probe Failure: https://server.example.org',
        summary: 'Instance https://server.example.org has been down for over 5m. Job: http_checks',
        severity: 'critical',
        receiver: 'sms',
        url: 'http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1',
      },
    ],
  });
});

test('fields Alertmanager may add later are let through; a generic alert’s unknown fields are not', () => {
  assert.equal(schema.Check({ ...SAMPLE, somethingNew: { x: 1 } }), true);
  assert.equal(
    schema.Check({ title: 'Disk full', severity: 'warning', status: 'firing', colour: 'red' }),
    false,
  );
  assert.equal(schema.Check({ ...SAMPLE, version: '3' }), false, 'only version 4');
  assert.equal(schema.Check({ ...SAMPLE, alerts: [] }), false);
});

test('the roster comes from the alert’s label, then the query; severities map to three levels', () => {
  const payload = {
    ...SAMPLE,
    alerts: [
      {
        ...SAMPLE.alerts[0]!,
        labels: { alertname: 'A', severity: 'page', roster: 'payments' },
        fingerprint: 'a',
      },
      {
        ...SAMPLE.alerts[0]!,
        labels: { alertname: 'B', severity: 'WARN' },
        annotations: {},
        fingerprint: 'b',
      },
      {
        ...SAMPLE.alerts[0]!,
        labels: { alertname: 'C', severity: 'sev9' },
        annotations: {},
        fingerprint: 'c',
      },
    ],
    commonLabels: {},
    commonAnnotations: {},
  };
  const { alerts } = parseAlerts(payload as never, { roster: 'infra' });
  assert.deepEqual(
    alerts.map((a) => [a.title, a.severity, a.roster]),
    [
      ['BlackBox Probe Failure: https://server.example.org', 'critical', 'payments'],
      ['B', 'warning', 'infra'],
      ['C', 'warning', 'infra'],
    ],
  );
});

test('a generic alert without a fingerprint gets one from its title, so repeats dedupe', () => {
  const body = { title: 'Disk full on db-1', severity: 'critical' as const, status: 'firing' as const };
  assert.equal(schema.Check(body), true);
  const [alert] = parseAlerts(body, {}).alerts;
  assert.equal(alert!.fingerprint, derivedFingerprint('Disk full on db-1'));
  assert.equal(derivedFingerprint(' disk FULL on db-1 '), alert!.fingerprint);
  assert.equal(parseAlerts({ ...body, fingerprint: 'fp-1', roster: 'dba' }, {}).alerts[0]!.roster, 'dba');
});

test('a page fits two GSM-7 parts and always ends with its page id', () => {
  const id = '01JH8ZQ3M0PIGEONPAGE000001';
  const text = pageText('page', { title: 'x'.repeat(400), summary: 'y', severity: 'critical' }, id);
  assert.ok(text.endsWith(`Ack: page ${id}`));
  const info = countSegments(text);
  assert.equal(info.encoding, 'GSM-7');
  assert.ok(info.segments <= 2);
  const unicode = pageText(
    'page',
    { title: '数据库磁盘已满'.repeat(30), summary: '', severity: 'critical' },
    id,
  );
  assert.equal(countSegments(unicode).segments, 2, 'UCS-2 titles are cut shorter');
  assert.ok(unicode.endsWith(id));
  assert.equal(
    pageText('page', { title: 'Disk full', summary: '\n  92 % used\nmore', severity: 'warning' }, id),
    `[FIRING warning] Disk full - 92 % used Ack: page ${id}`,
  );
  assert.equal(
    pageText('resolved', { title: 'Disk full', severity: 'warning' }, id),
    `[RESOLVED] Disk full (page ${id})`,
  );
  assert.equal(
    pageText('escalation', { title: 'Disk full', severity: 'critical' }, id, 'ana did not acknowledge'),
    `[ESCALATED critical] Disk full - ana did not acknowledge Ack: page ${id}`,
  );
});
