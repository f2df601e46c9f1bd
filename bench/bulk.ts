/**
 * Bulk campaigns against fair same-run baselines, over the bench's Kafka, MariaDB and Redis:
 *
 * - CSV ingestion: the campaign upload's parser (rows validated and numbered as /v1/campaigns
 *   stores them) over a generated file, against raw `csv-parse` reading the same file;
 * - expansion and delivery: a campaign of BENCH_BULK_ROWS rows (1,000,000; 50,000 with
 *   BENCH_QUICK=1) run by the api's campaign runner through Pigeon's four services to the fake
 *   provider (answering at once, receipts after BENCH_RECEIPT_DELAY_MS), against the bare pipeline
 *   (bench/bare-pipeline.ts) delivering BENCH_BARE_MESSAGES (100,000, or the campaign's rows if
 *   fewer) posted one by one, before and after the campaign; exactly once counted in the store and
 *   at the provider;
 * - OTP accept → submitted p99: OTPs posted at a steady rate with the bulk lane idle, then while
 *   the campaign drains.
 *
 *   node --import tsx bench/bulk.ts            # npm run bench:bulk
 *   BENCH_QUICK=1 node --import tsx bench/bulk.ts
 *   BENCH_URGENT_BRIDGE=0 …   # one bridge for every lane (default: a second one for the high lane alone)
 *
 * Ends with one JSON line: {"bench":"bulk","ours":{…},"baseline":{…},"ratio":…}, the ratio being
 * the campaign's delivered/s over the bare pipeline's.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import mysql from 'mysql2/promise';
import { newId } from '../core/ids.ts';
import { MysqlStore } from '../core/store/mysql-store.ts';
import { createTestDatabase } from '../test/support/mysql.ts';
import { storedCampaign } from '../test/support/campaigns.ts';
import { sleep } from '../test/support/wait.ts';
import { ingestCsvFile } from './bulk-ingest.ts';
import {
  log,
  measureDelivery,
  type Pipeline,
  recipient,
  round,
  startBarePipeline,
  startFakeProvider,
  startPigeon,
} from './pipelines.ts';
import { formatHops, type HopFigures, otpHops } from './otp-hops.ts';
import { benchSize, envCount, envInt, percentile } from './support.ts';

/** Writes a campaign CSV of `rows` rows: number, a name variable, a client reference. */
function writeCsv(dir: string, rows: number): string {
  const file = join(dir, 'recipients.csv');
  const lines = ['phone,name,clientRef'];
  // Quoted fields, as spreadsheets export them, and CRLF line ends.
  for (let i = 0; i < rows; i++) lines.push(`${recipient(i)},"Customer ${i}",ref-${i}`);
  writeFileSync(file, `${lines.join('\r\n')}\r\n`);
  return file;
}

/** Raw csv-parse over the file: the rows it yields per second. */
async function rawCsvParse(file: string): Promise<{ rows: number; rows_per_s: number }> {
  const started = performance.now();
  let rows = 0;
  for await (const _record of createReadStream(file).pipe(parse({ columns: true, bom: true }))) rows++;
  return { rows, rows_per_s: round(rows / ((performance.now() - started) / 1000)) };
}

/**
 * A number in a range of its own for each OTP (ranges of 7 digits after the +): codes to one
 * range are capped as suspected pumping (PIGEON_OTP_PREFIX_BURST).
 */
const otpNumber = (i: number) =>
  `+1${212 + Math.floor(i / 700)}${200 + (i % 700)}${String(1000 + (i % 9000)).slice(-4)}`;

/** Posts `count` OTPs at `perSecond`, then reads each one's accept → submitted from the store. */
async function otpLatencies(
  pipeline: Pipeline,
  conn: mysql.Connection,
  count: number,
  perSecond: number,
  first: number,
): Promise<{
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  submitted: number;
  sent: number;
  answer_p99_ms: number;
  hops: HopFigures;
}> {
  const ids: string[] = [];
  const answers: number[] = [];
  const since = Date.now();
  for (let i = 0; i < count; i++) {
    const posted = performance.now();
    const response = await fetch(`${pipeline.acceptUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${pipeline.apiKey}` },
      body: JSON.stringify({ to: otpNumber(first + i), body: `Your code is ${100_000 + i}`, class: 'otp' }),
    });
    if (response.status === 202) ids.push(((await response.json()) as { id: string }).id);
    const answered = performance.now() - posted;
    answers.push(answered);
    await sleep(Math.max(0, 1000 / perSecond - answered));
  }
  const deadline = Date.now() + 120_000;
  let rows: Array<{ queued_at: number; submitted_at: number | null }> = [];
  while (Date.now() < deadline) {
    const [found] = await conn.query('SELECT queued_at, submitted_at FROM messages WHERE id IN (?)', [ids]);
    rows = found as typeof rows;
    if (rows.length === ids.length && rows.every((r) => r.submitted_at !== null)) break;
    await sleep(200);
  }
  const latencies = rows
    .filter((r) => r.submitted_at !== null)
    .map((r) => Number(r.submitted_at) - Number(r.queued_at))
    .sort((a, b) => a - b);
  return {
    p50_ms: percentile(latencies, 50),
    p90_ms: percentile(latencies, 90),
    p99_ms: percentile(latencies, 99),
    submitted: latencies.length,
    sent: ids.length,
    // The api's 202 as the client saw it: the accept alone, no Kafka consumer in it.
    answer_p99_ms: round(
      percentile(
        answers.sort((a, b) => a - b),
        99,
      ),
      1,
    ),
    hops: await otpHops(conn, ids, since),
  };
}

async function main(): Promise<void> {
  const rows = envInt('BENCH_BULK_ROWS', benchSize(1_000_000, 50_000));
  const csvRows = envInt('BENCH_CSV_ROWS', benchSize(1_000_000, 100_000));
  const otps = envInt('BENCH_OTPS', benchSize(200, 60));
  const otpRate = envInt('BENCH_OTP_RATE', 20);
  // The OTP figures alone: no CSV intake, no bare pipeline (a quicker loop when tuning the lanes).
  const otpOnly = process.env.BENCH_OTP_ONLY === '1';
  // Codes get a bridge process of their own, as the shipped production layout runs them
  // (k8s/base/supplier-bridge-high.yaml); BENCH_URGENT_BRIDGE=0: one bridge for every lane.
  const urgentBridge = process.env.BENCH_URGENT_BRIDGE !== '0';
  const partitions = envInt('BENCH_PARTITIONS', 6);
  const concurrency = envInt('BENCH_BRIDGE_CONCURRENCY', 64);
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-bulk-'));
  const provider = await startFakeProvider(envCount('BENCH_RECEIPT_DELAY_MS', 0));
  let failed = false;
  try {
    // 1. CSV ingestion against raw csv-parse of the same file, alternated to share the noise.
    const file = writeCsv(dir, otpOnly ? 1 : csvRows);
    const raw = await rawCsvParse(file);
    const ours = await ingestCsvFile(file);
    const rawAgain = await rawCsvParse(file);
    const csvBaseline = Math.max(raw.rows_per_s, rawAgain.rows_per_s);
    const csvDb = await createTestDatabase();
    const csvStore = new MysqlStore(csvDb.url, { connectionLimit: 4 });
    let stored: Awaited<ReturnType<typeof ingestCsvFile>>;
    try {
      await csvStore.migrate();
      const campaignId = newId();
      stored = await ingestCsvFile(file, {
        recipients: (batch) => csvStore.appendRecipients(campaignId, batch),
        errors: (batch) => csvStore.appendRowErrors(campaignId, batch),
      });
    } finally {
      await csvStore.close();
      await csvDb.drop();
    }
    if (ours.invalid > 0) throw new Error(`${ours.invalid} generated rows refused`);
    log(
      `csv: raw csv-parse ${csvBaseline} rows/s; upload intake ${ours.rows_per_s} rows/s checked, ` +
        `${stored.rows_per_s} rows/s into MariaDB`,
    );

    // 2. The bare pipeline's steady delivered/s, measured before and after the campaign (the
    //    better run counts) so both meet the same noise; a rate needs no million messages.
    const bareMessages = envInt('BENCH_BARE_MESSAGES', Math.min(rows, 100_000));
    const measureBare = async () => {
      if (otpOnly) return { delivered_per_s: 0 };
      const bare = await startBarePipeline({ provider, partitions, concurrency });
      try {
        return await measureDelivery(bare, provider, {
          warmup: benchSize(1_000, 300),
          total: bareMessages,
          concurrency: 200,
          stallSeconds: 60,
        });
      } finally {
        await bare.stop();
      }
    };
    const bareBefore = await measureBare();

    // 3. The campaign through Pigeon, with OTPs measured before and during it.
    const pigeon = await startPigeon({ provider, partitions, concurrency, urgentBridge });
    const conn = await mysql.createConnection({ uri: pigeon.mysqlUrl! });
    const store = new MysqlStore(pigeon.mysqlUrl!, { connectionLimit: 4 });
    let campaignFigures: Record<string, unknown> = {};
    let idle: Awaited<ReturnType<typeof otpLatencies>>;
    let draining: Awaited<ReturnType<typeof otpLatencies>>;
    try {
      idle = await otpLatencies(pigeon, conn, otps, otpRate, 0);
      log(`otp with the bulk lane idle: p50 ${idle.p50_ms} ms, p99 ${idle.p99_ms} ms`);
      log(`writing a campaign of ${rows} rows…`);
      // The bench's numbers repeat every 9,000 rows: dedup off, or the repeats are set aside.
      await store.putTenantMessagingPolicy(pigeon.tenant!, {
        quietHours: null,
        marketingPerDay: null,
        marketingPerWeek: null,
        dedupWindowSeconds: 0,
        smartEncoding: false,
        updatedAt: Date.now(),
      });
      const { sends: sendsBefore, receipts: receiptsBefore } = await provider.stats();
      const campaign = await storedCampaign(store, { tenantId: pigeon.tenant!, rows, number: recipient });
      const started = performance.now();
      const state = async () => (await store.getCampaign(campaign.tenantId, campaign.id))!;
      const delivered = async () => {
        const [found] = await conn.query(
          "SELECT COUNT(*) n FROM messages WHERE campaign_id = ? AND status = 'delivered'",
          [campaign.id],
        );
        return Number((found as Array<{ n: number }>)[0]!.n);
      };
      await (async () => {
        while ((await state()).nextRow < rows / 10) await sleep(100);
      })();
      draining = await otpLatencies(pigeon, conn, otps, otpRate, 700);
      log(`otp while the campaign drains: p50 ${draining.p50_ms} ms, p99 ${draining.p99_ms} ms`);
      let expandedAt: number | undefined;
      let lastProgress = performance.now();
      let last = -1;
      for (;;) {
        const now = await state();
        if (expandedAt === undefined && now.nextRow >= rows) expandedAt = performance.now();
        // The provider's receipts until there are as many as rows: counting the campaign's
        // delivered messages in the store reads up to a million index entries, four times a second,
        // on the database the campaign is using (see ReceiptsGate in pipelines.ts).
        const receipts = (await provider.stats()).receipts - receiptsBefore;
        const done = receipts < rows ? Math.min(receipts, rows - 1) : await delivered();
        if (done !== last) lastProgress = performance.now();
        last = done;
        if (done >= rows) break;
        if (performance.now() - lastProgress > 60_000) throw new Error(`campaign stuck at ${done}/${rows}`);
        await sleep(250);
      }
      const seconds = (performance.now() - started) / 1000;
      const [dups] = await conn.query(
        'SELECT COUNT(*) n FROM (SELECT recipient FROM messages WHERE campaign_id = ? GROUP BY recipient HAVING COUNT(*) > 1) d',
        [campaign.id],
      );
      // Recipients repeat every 9,000 rows (bench numbers), so the check is per message id.
      const [stored] = await conn.query('SELECT COUNT(*) n FROM messages WHERE campaign_id = ?', [
        campaign.id,
      ]);
      const total = Number((stored as Array<{ n: number }>)[0]!.n);
      // Exactly once at the provider too: its sends during the campaign are the campaign's rows and
      // the OTPs sent meanwhile, and no campaign message has a second submitted event.
      const providerSends = (await provider.stats()).sends - sendsBefore;
      const [twice] = await conn.query(
        `SELECT COUNT(*) n FROM (SELECT e.message_id FROM message_events e JOIN messages m ON m.id = e.message_id
          WHERE m.campaign_id = ? AND e.type = 'message.submitted' GROUP BY e.message_id HAVING COUNT(*) > 1) d`,
        [campaign.id],
      );
      const submittedTwice = Number((twice as Array<{ n: number }>)[0]!.n);
      const exactlyOnce = total === rows && providerSends === rows + draining.sent && submittedTwice === 0;
      campaignFigures = {
        rows,
        expansion_rows_per_s: round(rows / (((expandedAt ?? performance.now()) - started) / 1000)),
        delivered_per_s: round(rows / seconds),
        all_delivered_s: round(seconds, 2),
        exactly_once: exactlyOnce,
        provider_sends: providerSends,
        repeated_recipients: Number((dups as Array<{ n: number }>)[0]!.n),
      };
      failed = !exactlyOnce;
      if (failed) {
        // Where the difference is, before the database goes.
        const [statuses] = await conn.query(
          'SELECT status, COUNT(*) n FROM messages WHERE campaign_id = ? GROUP BY status',
          [campaign.id],
        );
        const [attempts] = await conn.query(
          `SELECT a.attempt, a.outcome, COUNT(*) n FROM message_attempts a JOIN messages m ON m.id = a.message_id
            WHERE m.campaign_id = ? GROUP BY a.attempt, a.outcome`,
          [campaign.id],
        );
        log(
          `not exactly once: stored ${total}, submitted twice ${submittedTwice}, provider sends ${providerSends}` +
            ` for ${rows} rows + ${draining.sent} OTPs; statuses ${JSON.stringify(statuses)}; attempts ${JSON.stringify(attempts)}`,
        );
      }
    } finally {
      await conn.end();
      await store.close();
      await pigeon.stop();
    }
    const bareAfter = await measureBare();
    const bareFigures = bareBefore.delivered_per_s >= bareAfter.delivered_per_s ? bareBefore : bareAfter;
    log(
      `bare pipeline: ${bareBefore.delivered_per_s} delivered/s before, ${bareAfter.delivered_per_s} after`,
    );
    const ratio =
      bareFigures.delivered_per_s > 0
        ? round((campaignFigures.delivered_per_s as number) / bareFigures.delivered_per_s, 3)
        : 0;
    process.stdout.write(
      [
        `bulk — ${rows} campaign rows, ${csvRows} CSV rows, ${otps} OTPs at ${otpRate}/s, ${partitions} partitions`,
        `  csv ingestion   ${ours.rows_per_s} rows/s checked, ${stored.rows_per_s} rows/s into MariaDB (raw csv-parse ${csvBaseline} rows/s)`,
        `  campaign        ${JSON.stringify(campaignFigures)}`,
        `  bare pipeline   ${bareFigures.delivered_per_s} delivered/s`,
        `  otp p99         idle ${idle.p99_ms} ms, draining ${draining.p99_ms} ms`,
        `  otp p50 / p90   idle ${idle.p50_ms} / ${idle.p90_ms} ms, draining ${draining.p50_ms} / ${draining.p90_ms} ms`,
        `  otp 202 p99     idle ${idle.answer_p99_ms} ms, draining ${draining.answer_p99_ms} ms`,
        '  otp hops:',
        formatHops(idle.hops, draining.hops),
        '',
      ].join('\n'),
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'bulk',
        ours: {
          csv_rows_per_s: ours.rows_per_s,
          csv_stored_rows_per_s: stored.rows_per_s,
          ...campaignFigures,
          otp_p99_ms_draining: draining.p99_ms,
          otp_p50_ms_draining: draining.p50_ms,
          csv_ratio: csvBaseline > 0 ? round(ours.rows_per_s / csvBaseline, 3) : 0,
          otp_p99_ratio: idle.p99_ms > 0 ? round(draining.p99_ms / idle.p99_ms, 3) : 0,
          urgent_bridge: urgentBridge,
        },
        baseline: {
          csv_parse_rows_per_s: csvBaseline,
          bare_delivered_per_s: bareFigures.delivered_per_s,
          bare_delivered_per_s_before: bareBefore.delivered_per_s,
          bare_delivered_per_s_after: bareAfter.delivered_per_s,
          otp_p99_ms_idle: idle.p99_ms,
          otp_p50_ms_idle: idle.p50_ms,
        },
        ratio,
      })}\n`,
    );
  } finally {
    await provider.stop();
    rmSync(dir, { recursive: true, force: true });
    if (failed) process.exitCode = 1;
  }
}

await main();
