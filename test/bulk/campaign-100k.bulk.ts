/**
 * The long form of the campaign tests (`npm run test:bulk`, not in `npm test`): a 100,000-row CSV
 * uploaded to /v1/campaigns and run by the api's campaign runner through Pigeon's four services as
 * separate processes to the bench's fake provider, which posts a signed receipt for each message.
 * Every count is read from MariaDB and the fake provider: one message per row, each sent once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import { log, startFakeProvider, startPigeon } from '../../bench/pipelines.ts';
import { sleep } from '../support/wait.ts';

const ROWS = Number(process.env.CAMPAIGN_BULK_ROWS ?? 100_000);

test(`a ${ROWS}-row CSV campaign completes with exact counts in MariaDB`, async (t) => {
  const provider = await startFakeProvider(0);
  const pigeon = await startPigeon({ provider, partitions: 6, concurrency: 64 });
  const conn = await mysql.createConnection({ uri: pigeon.mysqlUrl! });
  try {
    const call = async (method: string, path: string, body?: string, type = 'application/json') => {
      const response = await fetch(`${pigeon.acceptUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${pigeon.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': type }),
        },
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as { id: string; state: string; recipients: number; invalid: number };
    };
    const created = await call(
      'POST',
      '/v1/campaigns',
      JSON.stringify({
        name: 'bulk',
        body: 'Our sale starts today. Reply STOP to opt out',
        class: 'marketing',
      }),
    );
    // CRLF, a BOM and quoted fields, as spreadsheets export them; numbers of their own per row.
    const lines = ['\uFEFFto,clientRef'];
    for (let i = 0; i < ROWS; i++) lines.push(`"+1415${2_000_000 + i}",ref-${i}`);
    const started = performance.now();
    const uploaded = await call(
      'PUT',
      `/v1/campaigns/${created.id}/recipients`,
      lines.join('\r\n'),
      'text/csv',
    );
    t.diagnostic(`upload of ${ROWS} rows: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual([uploaded.recipients, uploaded.invalid], [ROWS, 0]);
    const running = performance.now();
    await call('POST', `/v1/campaigns/${created.id}/submit`);
    const count = async (sql: string) => {
      const [rows] = await conn.query(sql, [created.id]);
      return Number((rows as Array<{ n: number }>)[0]!.n);
    };
    let lastReport = performance.now();
    for (;;) {
      const state = (await call('GET', `/v1/campaigns/${created.id}`)).state;
      if (state === 'completed') break;
      assert.ok(['scheduled', 'running'].includes(state), state);
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        log(
          `  ${await count("SELECT COUNT(*) n FROM messages WHERE campaign_id = ? AND status = 'delivered'")}/${ROWS} delivered`,
        );
      }
      await sleep(500);
    }
    const seconds = (performance.now() - running) / 1000;
    t.diagnostic(`${ROWS} rows delivered in ${seconds.toFixed(1)} s: ${Math.round(ROWS / seconds)} rows/s`);
    assert.equal(await count('SELECT COUNT(*) n FROM messages WHERE campaign_id = ?'), ROWS);
    assert.equal(
      await count("SELECT COUNT(*) n FROM messages WHERE campaign_id = ? AND status = 'delivered'"),
      ROWS,
    );
    assert.equal(await count('SELECT COUNT(DISTINCT recipient) n FROM messages WHERE campaign_id = ?'), ROWS);
    const stats = await provider.stats();
    t.diagnostic(`fake provider: ${JSON.stringify(stats)}`);
    // The monitor's canaries go to the provider too: at least one send per row, the rest theirs.
    assert.ok(stats.sends >= ROWS, `${stats.sends} sends`);
  } finally {
    await conn.end();
    const { failed } = await pigeon.stop();
    await provider.stop();
    assert.equal(failed, false, 'every service stopped cleanly');
  }
});
