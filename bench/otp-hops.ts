/**
 * One OTP's accept → submitted, hop by hop, from what Pigeon already records: the api's `queued_at`
 * (when it built the message), the append time of its record on the high lane (Kafka
 * LogAppendTime), the provider call (`message_attempts.requested_at` / `responded_at`), the
 * bridge's `message.submitted` (`submitted_at`) and that event's own append time on the outcomes
 * topic. The topics are read after the phase, so reading them costs the measured OTPs nothing.
 */
import { Kafka, logLevel } from 'kafkajs';
import type mysql from 'mysql2/promise';
import { Topics } from '../core/topics.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../test/support/infra.ts';
import { round } from './pipelines.ts';
import { percentile } from './support.ts';

/** The hops, in path order; each is p50 / p99 over the OTPs that have both ends. */
export const HOPS = [
  'accept_to_appended',
  'appended_to_call',
  'provider_call',
  'call_to_submitted',
  'submitted_to_outcome_appended',
] as const;
export type Hop = (typeof HOPS)[number];
export type HopFigures = Record<Hop, { p50_ms: number; p99_ms: number; n: number }>;

/** Append times of the records on `topic` since `since` (epoch ms) whose messageId is in `ids`. */
async function appendTimes(
  topic: string,
  since: number,
  ids: ReadonlySet<string>,
  accept: (value: { messageId?: string; type?: string }) => boolean,
): Promise<Map<string, number>> {
  const kafka = new Kafka({
    brokers: [...TEST_KAFKA_BROKERS],
    clientId: 'bench-otp-hops',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const starts = await admin.fetchTopicOffsetsByTimestamp(topic, since);
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const end = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));
  const left = new Set(
    starts.filter((p) => BigInt(p.offset) < (end.get(p.partition) ?? 0n)).map((p) => p.partition),
  );
  const found = new Map<string, number>();
  if (left.size === 0) return found;
  const consumer = kafka.consumer({ groupId: `bench-otp-hops-${uniqueSuffix()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const value = JSON.parse(message.value?.toString() ?? '{}') as {
            messageId?: string;
            type?: string;
          };
          if (value.messageId && ids.has(value.messageId) && accept(value) && !found.has(value.messageId))
            found.set(value.messageId, Number(message.timestamp));
          if (BigInt(message.offset) + 1n >= (end.get(batch.partition) ?? 0n)) left.delete(batch.partition);
        }
        if (left.size === 0) resolve();
      },
    });
  });
  for (const p of starts) consumer.seek({ topic, partition: p.partition, offset: p.offset });
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  await consumer.disconnect();
  return found;
}

/** Each hop's p50 / p99 for the OTPs `ids`, posted from `since` on. */
export async function otpHops(
  conn: mysql.Connection,
  ids: readonly string[],
  since: number,
): Promise<HopFigures> {
  const wanted = new Set(ids);
  const [rows] = await conn.query(
    `SELECT m.id, m.queued_at, m.submitted_at, a.requested_at, a.responded_at
       FROM messages m JOIN message_attempts a ON a.message_id = m.id AND a.attempt = m.attempt
      WHERE m.id IN (?) AND m.submitted_at IS NOT NULL`,
    [ids],
  );
  // The broker's clock and ours are the same machine's; a second of slack covers the api's wait.
  const appended = await appendTimes(Topics.sendHigh, since - 1_000, wanted, () => true);
  const outcome = await appendTimes(
    Topics.outcomes,
    since - 1_000,
    wanted,
    (v) => v.type === 'message.submitted',
  );
  const spans: Record<Hop, number[]> = {
    accept_to_appended: [],
    appended_to_call: [],
    provider_call: [],
    call_to_submitted: [],
    submitted_to_outcome_appended: [],
  };
  for (const row of rows as Array<Record<string, number | string | null>>) {
    const id = String(row.id);
    const queued = Number(row.queued_at);
    const requested = row.requested_at === null ? undefined : Number(row.requested_at);
    const responded = Number(row.responded_at);
    const submitted = Number(row.submitted_at);
    const lane = appended.get(id);
    const out = outcome.get(id);
    if (lane !== undefined) spans.accept_to_appended.push(lane - queued);
    if (lane !== undefined && requested !== undefined) spans.appended_to_call.push(requested - lane);
    if (requested !== undefined) spans.provider_call.push(responded - requested);
    spans.call_to_submitted.push(submitted - responded);
    if (out !== undefined) spans.submitted_to_outcome_appended.push(out - submitted);
  }
  const figures = {} as HopFigures;
  for (const hop of HOPS) {
    const sorted = spans[hop].sort((a, b) => a - b);
    figures[hop] = {
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      n: sorted.length,
    };
  }
  return figures;
}

/** One line per hop, idle against draining. */
export function formatHops(idle: HopFigures, draining: HopFigures): string {
  return HOPS.map(
    (hop) =>
      `  ${hop.padEnd(30)} idle p50 ${idle[hop].p50_ms} / p99 ${idle[hop].p99_ms} ms` +
      `, draining p50 ${draining[hop].p50_ms} / p99 ${draining[hop].p99_ms} ms (n ${idle[hop].n}/${draining[hop].n})`,
  ).join('\n');
}
