/**
 * One-time codes through the whole embedded gateway: the code travels API → bus → bridge →
 * simulated provider → the simulator's outbox (the "phone"), is checked, and is then searched for
 * everywhere else it must never be: every table of the database, the persisted message events and
 * every log line the gateway wrote at debug level.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { type EmbeddedGateway, startEmbedded } from '../../bin/embedded.ts';
import { createLogger } from '../../core/logger.ts';
import { Topics } from '../../core/topics.ts';
import { freePort } from '../support/ports.ts';
import { waitFor } from '../support/wait.ts';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as new (
  path: string,
  options?: { readonly?: boolean },
) => {
  prepare(sql: string): { all(): unknown[] };
  close(): void;
};

const TO = '+14155550142';

describe('one-time codes through the embedded gateway', () => {
  let gateway: EmbeddedGateway;
  let base: string;
  let key: string;
  let dataDir: string;
  const logLines: string[] = [];
  const otpEvents: string[] = [];

  const call = (method: string, path: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  before(async () => {
    const port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'pigeon-otp-e2e-'));
    const config = loadConfig(
      { PORT: String(port), PIGEON_DATA_DIR: dataDir, LOG_LEVEL: 'debug' },
      { mode: 'embedded' },
    );
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void logLines.push(line) },
    });
    gateway = await startEmbedded(config, logger);
    base = `http://127.0.0.1:${port}`;
    key = gateway.api.apiKey!;
    await gateway.context.bus().subscribe({
      groupId: 'otp-observer',
      topics: [Topics.otpEvents],
      handler: async (batch) => {
        for (const r of batch.records) otpEvents.push(r.value);
      },
    });
  });

  after(async () => {
    await gateway.close();
  });

  test('the code reaches the phone, approves, and is found nowhere else', async () => {
    const started = await call('POST', '/v1/verifications', {
      to: TO,
      channel: 'sms',
      // Ten digits: a six-digit code could turn up inside some timestamp by chance.
      codeLength: 10,
      appName: 'Acme',
    });
    assert.equal(started.status, 201);
    const verification = (await started.json()) as { id: string; status: string; sendCount: number };
    assert.equal(verification.status, 'pending');

    let outbox: Array<{ messageId: string; body: string }> = [];
    await waitFor(
      async () => {
        const response = await fetch(`${base}/simulator/messages?to=${encodeURIComponent(TO)}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        outbox = ((await response.json()) as { messages: typeof outbox }).messages;
        return outbox.some((m) => m.body.startsWith('Acme: your verification code is'));
      },
      10_000,
      'the code in the simulator outbox',
    );
    const sms = outbox.find((m) => m.body.startsWith('Acme:'))!;
    const code = /(\d{10})/.exec(sms.body)![1]!;

    const check = await call('POST', `/v1/verifications/${verification.id}/check`, { code });
    assert.deepEqual(await check.json(), { status: 'approved' });
    const replay = await call('POST', '/v1/verification-checks', { to: TO, code });
    assert.deepEqual(await replay.json(), { status: 'pending' });

    // Let the persister record the message through to its delivery receipt.
    await waitFor(
      async () => {
        const response = await call('GET', `/v1/messages/${sms.messageId}`);
        return (
          response.status === 200 && ((await response.json()) as { status: string }).status === 'delivered'
        );
      },
      10_000,
      'the OTP message delivered and persisted',
    );
    const message = (await (await call('GET', `/v1/messages/${sms.messageId}`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(message.class, 'otp');
    assert.equal(message.lane, 'high');

    const db = new Database(join(dataDir, 'pigeon.db'), { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
        name: string;
      }>;
      assert.ok(tables.some((t) => t.name === 'message_events'));
      let rows = 0;
      for (const { name } of tables) {
        const content = db.prepare(`SELECT * FROM "${name}"`).all();
        rows += content.length;
        assert.ok(!JSON.stringify(content).includes(code), `the code is stored in table ${name}`);
      }
      assert.ok(rows > 0);
      const events = db.prepare('SELECT * FROM message_events').all() as Array<{ message_id: string }>;
      assert.ok(
        events.filter((e) => e.message_id === sms.messageId).length >= 3,
        'persisted events were scanned',
      );
    } finally {
      db.close();
    }

    assert.ok(logLines.length > 0, 'log lines were captured');
    const leaked = logLines.filter((line) => line.includes(code));
    assert.deepEqual(leaked, [], 'the code appears in log lines');
    assert.ok(
      logLines.some((l) => l.includes('otp.allowed_countries') && l.includes('US')),
      'the allowlist is printed',
    );

    await waitFor(() => otpEvents.length >= 3, 2000, 'audit events');
    assert.ok(!otpEvents.join('\n').includes(code), 'the code appears in audit events');
    assert.deepEqual(
      otpEvents.map((e) => (JSON.parse(e) as { type: string }).type),
      ['verification.sent', 'verification.checked', 'verification.approved', 'verification.checked'],
    );

    // Embedded mode made its own keys, kept for the next start like the API key.
    assert.ok(existsSync(join(dataDir, 'otp-key')) && existsSync(join(dataDir, 'factor-key')));
  });

  test('conversion per provider and country reaches /metrics through the monitor', async () => {
    await waitFor(
      async () =>
        /pigeon_monitor_otp_approvals_total\{[^}]*provider="sim-[ab]"[^}]*country="US"/.test(
          await (await fetch(`${base}/metrics`)).text(),
        ),
      5000,
      'monitor OTP metrics',
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /pigeon_otp_sent_total\{[^}]*country="US"[^}]*\} 1/);
    assert.match(
      metrics,
      /pigeon_monitor_otp_conversion_ratio\{[^}]*provider="sim-[ab]"[^}]*country="US"[^}]*\} 1/,
    );
    assert.doesNotMatch(metrics, /14155550142/);
  });
});
