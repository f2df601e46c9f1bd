/**
 * End-to-end delivery: the four services as separate processes over real Kafka, MariaDB and Redis
 * (as in test/e2e/distributed.test.ts, with a fresh database), N messages posted concurrently,
 * timed until MariaDB shows every one delivered, then checked for exactly-once: one row per
 * message, three events per message (requested, submitted, receipt), no event type twice.
 *
 * The baseline, measured in the same run before the gateway starts: raw kafkajs produce of N
 * records of the same size (a real message.requested event) to a scratch topic, idempotent
 * producer, acks=-1, in batches — so the ratio is the share of raw Kafka produce throughput that
 * the whole pipeline (accept → Kafka → bridge → provider → receipt → persister → MariaDB) delivers.
 *
 *   node --import tsx bench/e2e-delivery.ts
 *   BENCH_MESSAGES=50000 BENCH_CONCURRENCY=200 node --import tsx bench/e2e-delivery.ts
 *   BENCH_CPU_PROF=.cache/prof node --import tsx bench/e2e-delivery.ts   # --cpu-prof for each service
 *
 * Ends with one JSON line: {"bench":"e2e-delivery","ours":{…},"baseline":{…},"ratio":…}.
 */
import { resolve } from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { buildMessageRequested } from '../core/message-request.ts';
import { newId } from '../core/ids.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../test/support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/mysql.ts';
import { type RunningGateway, startGateway } from '../test/support/processes.ts';
import { sleep } from '../test/support/wait.ts';
import { BENCH_SEND_POLICY, envInt } from './support.ts';

const API_KEY = 'pgn_bench_e2e_delivery_fixed_key_0001';
/** Our messages' tenant, so rows from anyone else's records on the shared topics are told apart. */
const TENANT = `bench-${uniqueSuffix()}`;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

const recipient = (i: number) => `+1415555${String(1000 + (i % 9000))}`;
const body = (i: number) => `bench message ${i}`;

/** Raw kafkajs: N records like the API's, batches of `batchSize`, one request in flight. */
async function rawProduce(kafka: Kafka, admin: Admin, count: number, batchSize: number) {
  const topic = `bench.scratch.${uniqueSuffix()}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6 }] });
  const now = Date.now();
  const records = Array.from({ length: count }, (_, i) => {
    const event = buildMessageRequested(
      { to: recipient(i), body: body(i) },
      { tenantId: 'default', messageId: newId(now), now, publishTimeoutMs: 2000 },
    );
    return { key: event.to, value: JSON.stringify(event) };
  });
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  try {
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [records[0]!] }); // metadata and producer id
    const started = performance.now();
    for (let i = 0; i < count; i += batchSize) {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic, messages: records.slice(i, i + batchSize) }],
      });
    }
    const seconds = (performance.now() - started) / 1000;
    return { topic, rps: round(count / seconds), recordBytes: records[0]!.value.length };
  } finally {
    await producer.disconnect();
  }
}

interface Counts {
  rows: number;
  delivered: number;
  events: number;
}

async function main(): Promise<void> {
  const total = envInt('BENCH_MESSAGES', 10_000);
  const concurrency = envInt('BENCH_CONCURRENCY', 200);
  const batchSize = envInt('BENCH_KAFKA_BATCH', 1000);
  const stallSeconds = envInt('BENCH_STALL_S', 60);
  const profileDir = process.env.BENCH_CPU_PROF;

  const kafka = new Kafka({ brokers: TEST_KAFKA_BROKERS, clientId: 'bench-e2e', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();

  let scratchTopic: string | undefined;
  let db: TestDatabase | undefined;
  let conn: mysql.Connection | undefined;
  let gateway: RunningGateway | undefined;
  let failed = false;
  try {
    log(`baseline: raw kafkajs produce of ${total} records, batches of ${batchSize}, acks=-1…`);
    const baseline = await rawProduce(kafka, admin, total, batchSize);
    scratchTopic = baseline.topic;

    db = await createTestDatabase();
    gateway = await startGateway({
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_PARTITIONS: '6',
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_TENANT: TENANT,
      ...BENCH_SEND_POLICY,
      LOG_LEVEL: 'warn',
      ...(profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(profileDir)}` } : {}),
    });
    const { apiBase } = gateway;
    conn = await mysql.createConnection({ uri: db.url });
    const query = conn;
    const counts = async (): Promise<Counts> => {
      const [rows] = await query.query(
        `SELECT (SELECT COUNT(*) FROM messages WHERE tenant_id = ?) AS rows_,
                (SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND status = 'delivered') AS delivered,
                (SELECT COUNT(*) FROM message_events e JOIN messages m ON m.id = e.message_id
                  WHERE m.tenant_id = ?) AS events`,
        [TENANT, TENANT, TENANT],
      );
      const row = (rows as Array<{ rows_: number; delivered: number; events: number }>)[0]!;
      return { rows: Number(row.rows_), delivered: Number(row.delivered), events: Number(row.events) };
    };

    log(`ours: posting ${total} messages, ${concurrency} in flight…`);
    const ids: string[] = [];
    const refusals = new Map<string, number>();
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      for (let i = next++; i < total; i = next++) {
        const response = await fetch(`${apiBase}/v1/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: recipient(i), body: body(i) }),
        });
        const text = await response.text();
        if (response.status === 202) ids.push((JSON.parse(text) as { id: string }).id);
        else {
          const key = `${response.status} ${text.slice(0, 200)}`;
          refusals.set(key, (refusals.get(key) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const acceptSeconds = (performance.now() - started) / 1000;
    const accepted = ids.length;
    const refused = total - accepted;
    log(`accepted ${accepted} in ${round(acceptSeconds, 2)} s (${round(accepted / acceptSeconds)}/s)`);
    for (const [what, n] of refusals) log(`  refused ${n}×: ${what}`);

    // Delivered in MariaDB; a run that makes no progress for BENCH_STALL_S seconds is stuck.
    let current = await counts();
    let lastProgress = performance.now();
    let lastReport = performance.now();
    while (current.delivered < accepted) {
      await sleep(100);
      const seen = await counts();
      if (seen.delivered !== current.delivered || seen.rows !== current.rows)
        lastProgress = performance.now();
      current = seen;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        log(`  ${current.delivered}/${accepted} delivered, ${current.rows} rows, ${current.events} events`);
      }
      if (performance.now() - lastProgress > stallSeconds * 1000) break;
    }
    const deliveredSeconds = (performance.now() - started) / 1000;
    const allDelivered = current.delivered === accepted;
    if (allDelivered) {
      log(`all ${accepted} delivered ${round(deliveredSeconds, 2)} s after the first request`);
    } else {
      failed = true;
      log(`STUCK: ${current.delivered}/${accepted} delivered, no progress for ${stallSeconds} s`);
    }

    // Late duplicates would show up shortly after; give them a moment before checking.
    const settleUntil = performance.now() + 20_000;
    while ((await counts()).events < 3 * accepted && performance.now() < settleUntil) await sleep(200);
    await sleep(2000);
    const check = async (sql: string, params: unknown[] = []): Promise<number> => {
      const [rows] = await query.query(sql, params);
      return Number((rows as Array<{ n: number }>)[0]!.n);
    };
    const grouped = async (sql: string): Promise<Record<string, number>> => {
      const [rows] = await query.query(sql, [ids]);
      return Object.fromEntries((rows as Array<{ k: string; n: number }>).map((r) => [r.k, Number(r.n)]));
    };
    const byStatus = await grouped(
      'SELECT status k, COUNT(*) n FROM messages WHERE id IN (?) GROUP BY status',
    );
    const byType = await grouped(
      'SELECT type k, COUNT(*) n FROM message_events WHERE message_id IN (?) GROUP BY type',
    );
    // Records other producers put on the shared topics meanwhile land here too; they are not ours.
    const otherRows = await check('SELECT COUNT(*) n FROM messages WHERE id NOT IN (?)', [ids]);
    const verification = {
      rows: await check('SELECT COUNT(*) n FROM messages WHERE id IN (?)', [ids]),
      events: await check('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)', [ids]),
      submitted: await check(
        `SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = 'message.submitted'`,
        [ids],
      ),
      requested: await check(
        `SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = 'message.requested'`,
        [ids],
      ),
      receipts: await check(
        `SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = 'receipt.received'`,
        [ids],
      ),
      doubled: await check(
        `SELECT COUNT(*) n FROM (SELECT message_id, type FROM message_events WHERE message_id IN (?)
          GROUP BY message_id, type HAVING COUNT(*) > 1) d`,
        [ids],
      ),
    };
    const exactlyOnce =
      allDelivered &&
      new Set(ids).size === accepted &&
      verification.rows === accepted &&
      byStatus['delivered'] === accepted &&
      verification.events === 3 * accepted &&
      verification.submitted === accepted &&
      verification.requested === accepted &&
      verification.receipts === accepted &&
      verification.doubled === 0;
    if (!exactlyOnce) failed = true;
    log(`our messages by status ${JSON.stringify(byStatus)}, events by type ${JSON.stringify(byType)}`);
    if (otherRows > 0) {
      log(
        `note: ${otherRows} rows of messages someone else published to the shared topics meanwhile (ignored)`,
      );
    }
    log(`checks ${JSON.stringify(verification)} → exactly once: ${exactlyOnce}`);

    const ours = {
      messages: total,
      accepted,
      refused,
      accept_rps: round(accepted / acceptSeconds),
      delivered_per_s: allDelivered ? round(accepted / deliveredSeconds) : 0,
      all_delivered_s: allDelivered ? round(deliveredSeconds, 2) : null,
      drain_after_accept_s: allDelivered ? round(deliveredSeconds - acceptSeconds, 2) : null,
      exactly_once: exactlyOnce,
    };
    const base = { messages: total, raw_kafka_produce_rps: baseline.rps, record_bytes: baseline.recordBytes };
    const ratio = round(ours.delivered_per_s / baseline.rps, 3);

    await conn.end();
    conn = undefined;
    const codes = await gateway.stop();
    for (const service of gateway.services) {
      const code = codes[service.name];
      if (code !== 0) failed = true;
      const output = service.output().trim();
      if (code !== 0 || output)
        log(`--- ${service.name} exited with ${code}${output ? `; output:\n${output}` : ''}`);
    }

    process.stdout.write(
      [
        `e2e delivery — ${total} messages, ${concurrency} in flight, ` +
          '4 services, Kafka + MariaDB + Redis on loopback',
        `  accepted            ${accepted} (${refused} refused) at ${ours.accept_rps}/s`,
        `  all delivered in    ${ours.all_delivered_s ?? 'never'} s (${ours.delivered_per_s}/s), ` +
          `${ours.drain_after_accept_s ?? '-'} s after the last accept`,
        `  exactly once        ${exactlyOnce}`,
        `  raw Kafka produce   ${baseline.rps} records/s ` +
          `(${baseline.recordBytes} B, batches of ${batchSize}, acks=-1)`,
        '',
      ].join('\n'),
    );
    process.stdout.write(`${JSON.stringify({ bench: 'e2e-delivery', ours, baseline: base, ratio })}\n`);
  } catch (err) {
    failed = true;
    for (const service of gateway?.services ?? []) log(`--- ${service.name} output:\n${service.output()}`);
    throw err;
  } finally {
    await conn?.end().catch(() => undefined);
    await gateway?.stop();
    await db?.drop().catch((err: unknown) => log(`could not drop the database: ${String(err)}`));
    if (scratchTopic) {
      await admin
        .deleteTopics({ topics: [scratchTopic] })
        .catch((err: unknown) => log(`delete ${scratchTopic}: ${String(err)}`));
    }
    await admin.disconnect();
    if (failed) process.exitCode = 1;
  }
}

await main();
