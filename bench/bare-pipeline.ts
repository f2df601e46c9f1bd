/**
 * The bare pipeline: the hops of Pigeon's delivery path with the same libraries and no gateway
 * logic, as the fair same-run baseline of `bench/e2e-delivery.ts`. Each role runs as a process of
 * its own, as Pigeon's services do:
 *
 * - `accept`: Fastify `POST /v1/messages` (Pigeon's body schema, same Ajv options) → kafkajs
 *   produce (idempotent, acks=all) → 202; and `POST /receipts`, the provider's receipt → kafkajs
 *   produce → 200.
 * - `bridge`: kafkajs consumer of the requests → HTTP call to the fake provider, up to
 *   BENCH_BRIDGE_CONCURRENCY calls per batch, the partitions' batches handled concurrently.
 * - `persister`: kafkajs consumer of the receipts → one mysql2 multi-row insert per batch.
 *
 * Both producers micro-batch (every record queued while a produce is in flight goes in the next
 * one), as Pigeon's bus does: a baseline that sent one produce per request would flatter Pigeon.
 *
 *   node --import tsx bench/bare-pipeline.ts accept|bridge|persister   (env: see `roleEnv` below)
 *
 * Each role prints `ready` (accept: `ready <port>`) once it serves, and stops on SIGTERM.
 */
import { Agent, request as httpRequest } from 'node:http';
import Fastify from 'fastify';
import { type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import mysql from 'mysql2/promise';
import { AcceptedMessage, SendMessageBody } from '../api/src/schemas.ts';
import { fixKafkajsIdleLoop } from '../core/bus/kafkajs-idle-loop.ts';
import { newId } from '../core/ids.ts';

// The same kafkajs as Pigeon's bus runs, without its 1 ms idle timer loop: a fair baseline.
fixKafkajsIdleLoop();

const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, allErrors: false } as const;

interface RoleEnv {
  brokers: string[];
  requestsTopic: string;
  receiptsTopic: string;
  groupSuffix: string;
  port: number;
  publicUrl: string;
  providerUrl: string;
  mysqlUrl: string;
  concurrency: number;
  partitions: number;
}

function roleEnv(): RoleEnv {
  const env = process.env;
  return {
    brokers: (env.BARE_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    requestsTopic: env.BARE_REQUESTS_TOPIC ?? 'bare.requests',
    receiptsTopic: env.BARE_RECEIPTS_TOPIC ?? 'bare.receipts',
    groupSuffix: env.BARE_GROUP_SUFFIX ?? 'bench',
    port: Number(env.PORT ?? 0),
    publicUrl: env.BARE_PUBLIC_URL ?? '',
    providerUrl: env.BARE_PROVIDER_URL ?? '',
    mysqlUrl: env.BARE_MYSQL_URL ?? '',
    concurrency: Number(env.BENCH_BRIDGE_CONCURRENCY ?? 64),
    partitions: Number(env.KAFKA_PARTITIONS ?? 6),
  };
}

function kafkaOf(env: RoleEnv, clientId: string): Kafka {
  return new Kafka({ brokers: env.brokers, clientId, logLevel: logLevel.NOTHING });
}

/** Publishes through one producer, putting everything queued during a produce in the next one. */
function microBatcher(producer: Producer, topic: string) {
  let queued: Array<{ key: string; value: string; done: (err?: unknown) => void }> = [];
  let sending = false;
  const flush = async (): Promise<void> => {
    sending = true;
    while (queued.length > 0) {
      const batch = queued;
      queued = [];
      try {
        await producer.send({
          topic,
          acks: -1,
          messages: batch.map(({ key, value }) => ({ key, value })),
        });
        for (const item of batch) item.done();
      } catch (err) {
        for (const item of batch) item.done(err);
      }
    }
    sending = false;
  };
  return (key: string, value: string): Promise<void> =>
    new Promise((resolve, reject) => {
      queued.push({
        key,
        value,
        done: (err) =>
          err ? reject(err instanceof Error ? err : new Error('produce failed', { cause: err })) : resolve(),
      });
      if (!sending) void flush();
    });
}

async function accept(env: RoleEnv): Promise<void> {
  const producer = kafkaOf(env, 'bare-accept').producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  const publishRequest = microBatcher(producer, env.requestsTopic);
  const publishReceipt = microBatcher(producer, env.receiptsTopic);
  const app = Fastify({ logger: false, ajv: { customOptions: AJV_OPTIONS }, return503OnClosing: true });
  app.post<{ Body: { to: string; body: string } }>(
    '/v1/messages',
    { bodyLimit: 16 * 1024, schema: { body: SendMessageBody, response: { 202: AcceptedMessage } } },
    async (request, reply) => {
      const id = newId();
      await publishRequest(
        request.body.to,
        JSON.stringify({ id, to: request.body.to, body: request.body.body }),
      );
      return reply
        .code(202)
        .send({ id, status: 'queued', segments: 1, encoding: 'GSM-7', replaced: [], forcedUcs2: [] });
    },
  );
  app.post<{ Body: { id: string; ref: string; status: string } }>('/receipts', async (request, reply) => {
    await publishReceipt(request.body.ref, JSON.stringify(request.body));
    return reply.code(200).send();
  });
  await app.listen({ port: env.port, host: '127.0.0.1' });
  const address = app.server.address();
  process.stdout.write(`ready ${typeof address === 'object' && address ? address.port : env.port}\n`);
  process.once('SIGTERM', () => {
    void app
      .close()
      .then(() => producer.disconnect())
      .then(() => process.exit(0));
  });
}

async function stopConsumerOnSigterm(consumer: Consumer, after?: () => Promise<void>): Promise<void> {
  process.once('SIGTERM', () => {
    void consumer
      .disconnect()
      .then(() => after?.())
      .then(() => process.exit(0));
  });
}

/** Runs `task` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await task(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function bridge(env: RoleEnv): Promise<void> {
  // Every connection kept while idle, as the gateway's provider pool keeps them.
  const sockets = env.concurrency * env.partitions;
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const callbackUrl = `${env.publicUrl}/receipts`;
  const send = (payload: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        `${env.providerUrl}/send`,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            if (res.statusCode === 200) {
              JSON.parse(Buffer.concat(chunks).toString()); // the provider's id, as a bridge reads it
              resolve();
            } else reject(new Error(`provider answered ${res.statusCode}`));
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const consumer = kafkaOf(env, 'bare-bridge').consumer({ groupId: `bare-bridge-${env.groupSuffix}` });
  await consumer.connect();
  await consumer.subscribe({ topic: env.requestsTopic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: env.partitions,
    eachBatch: async (payload) => {
      const { batch } = payload;
      await eachLimited(batch.messages, env.concurrency, async (record) => {
        const message = JSON.parse(record.value!.toString()) as { id: string; to: string; body: string };
        await send(
          JSON.stringify({ to: message.to, text: message.body, ref: message.id, callback: callbackUrl }),
        );
      });
      await payload.heartbeat();
    },
  });
  await stopConsumerOnSigterm(consumer, async () => agent.destroy());
  process.stdout.write('ready\n');
}

async function persister(env: RoleEnv): Promise<void> {
  const pool = mysql.createPool({ uri: env.mysqlUrl, connectionLimit: env.partitions });
  const consumer = kafkaOf(env, 'bare-persister').consumer({ groupId: `bare-persister-${env.groupSuffix}` });
  await consumer.connect();
  await consumer.subscribe({ topic: env.receiptsTopic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: env.partitions,
    eachBatch: async ({ batch }) => {
      if (batch.messages.length === 0) return;
      const rows = batch.messages.map((record) => {
        const receipt = JSON.parse(record.value!.toString()) as { id: string; ref: string; status: string };
        return [receipt.ref, receipt.id, receipt.status.toLowerCase()];
      });
      await pool.query(
        'INSERT INTO bare_messages (id, provider_message_id, status) VALUES ? ' +
          'ON DUPLICATE KEY UPDATE deliveries = deliveries + 1',
        [rows],
      );
    },
  });
  await stopConsumerOnSigterm(consumer, () => pool.end());
  process.stdout.write('ready\n');
}

const roles: Record<string, (env: RoleEnv) => Promise<void>> = { accept, bridge, persister };
const role = roles[process.argv[2] ?? ''];
if (!role) throw new Error(`usage: bare-pipeline.ts ${Object.keys(roles).join('|')}`);
await role(roleEnv());
