/**
 * Verification throughput and latency: `POST /v1/verifications` (a new verification per request:
 * policy checks, velocity windows, the create script in Redis, a sealed OTP published to Kafka with
 * acks=all) and `POST /v1/verifications/:id/check` (check windows, the check script, HMAC and a
 * constant-time comparison), on the real API in distributed mode (Kafka, MariaDB, Redis).
 * Baselines, same run, same autocannon settings:
 * - for create, `POST /v1/messages` on the same API process: the plain accept path that a
 *   verification builds on (goal: create ≥ 0.6×);
 * - for check, a bare Fastify route in a process of its own that runs one Redis `EVALSHA` (a
 *   script reading and counting an attempt on a hash, as a check must) and answers (goal ≥ 0.5×).
 *
 *   npm run bench:otp
 *   BENCH_DURATION=30 BENCH_CONNECTIONS=64 npm run bench:otp
 *   BENCH_CPU_PROF=.cache/prof npm run bench:otp           # --cpu-prof for the API child
 *   BENCH_ROUNDS=4 BENCH_DURATION=6 npm run bench:otp     # four interleaved rounds
 *
 * It runs three rounds of 8 s per load by default (one of 4 s with BENCH_QUICK). With BENCH_ROUNDS > 1 the four loads (messages, create, check, evalsha) run one after the other
 * that many times, and each ratio is the median of the rounds' own ratios: on a shared machine
 * whose load moves by the minute, a ratio of two figures taken seconds apart says more than one
 * of two figures taken a minute apart. Figures are the rounds' medians.
 *
 * Ends with one JSON line: {"bench":"otp","ours":{"create":{…},"check":{…},"check_ratio":…},
 * "baseline":{"messages":{…},"evalsha":{…}},"ratio":create/messages rps,"rounds":[…]}.
 * Velocity limits and the spend cap are lifted for the run (one client address, one tenant).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { resolve } from 'node:path';
import { parseE164 } from '../core/phone.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../test/support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/mysql.ts';
import { freePort } from '../test/support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../test/support/processes.ts';
import { BENCH_SEND_POLICY, benchChildNodeOptions, benchSize, envInt } from './support.ts';

// autocannon has no type declarations; this is the part of its API used here.
interface CannonRequest {
  method: string;
  path: string;
  body?: string;
  setupRequest?: (request: CannonRequest) => CannonRequest;
  onResponse?: (status: number, body: string) => void;
}
interface CannonResult {
  start: Date;
  finish: Date;
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number };
}
const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as (options: {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
  headers: Record<string, string>;
  requests: CannonRequest[];
}) => Promise<CannonResult>;

const API_KEY = 'pgn_bench_otp_fixed_key_000000001';
const NO_LIMIT = '100000000/1h';

interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/** US area codes to draw from; a run picks one at random. */
const AREA_CODES = [
  201, 202, 206, 212, 213, 214, 215, 303, 305, 312, 404, 415, 503, 512, 602, 617, 702, 713, 718, 816,
];

/**
 * Distinct valid US numbers, so every create starts a new verification instead of re-sending. The
 * area code is random per run: verifications of an earlier run may still be pending in Redis.
 */
function numbers(count: number): string[] {
  const area = AREA_CODES[Math.floor(Math.random() * AREA_CODES.length)]!;
  const out: string[] = [];
  for (let exchange = 200; out.length < count && exchange < 1000; exchange++) {
    for (let line = 0; out.length < count && line < 10_000; line++) {
      const e164 = `+1${area}${exchange}${String(line).padStart(4, '0')}`;
      if (line === 0 && !parseE164(e164)) break;
      out.push(e164);
    }
  }
  return out;
}

async function load(
  url: string,
  connections: number,
  seconds: number,
  request: CannonRequest,
): Promise<{ figures: Figures; statuses: Record<string, number> }> {
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    requests: [request],
  });
  const elapsed = (result.finish.getTime() - result.start.getTime()) / 1000;
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = count;
  return {
    figures: {
      rps: Math.round(result['2xx'] / elapsed),
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      errors: result.non2xx + result.errors + result.timeouts,
    },
    statuses,
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The rounds' medians of each figure. */
function medianFigures(rounds: Figures[]): Figures {
  return {
    rps: Math.round(median(rounds.map((f) => f.rps))),
    p50_ms: median(rounds.map((f) => f.p50_ms)),
    p99_ms: median(rounds.map((f) => f.p99_ms)),
    errors: rounds.reduce((sum, f) => sum + f.errors, 0),
  };
}

const ratioOf = (a: Figures, b: Figures) => (b.rps > 0 ? Math.round((a.rps / b.rps) * 1000) / 1000 : 0);

function row(cells: Array<string | number>): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(10) : String(c).padStart(9))).join(' ');
}

/**
 * One attempt counted on a verification's hash and its stored digest read back: the least a check
 * can do in Redis, in one round trip.
 */
const CHECK_SCRIPT = `
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('PEXPIRE', KEYS[1], 600000)
return {attempts, redis.call('HGET', KEYS[1], 'digest')}`;

/** The check baseline's server, run as a child process: a bare Fastify route and one EVALSHA. */
async function serveEvalshaBaseline(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  const sha = (await redis.script('LOAD', CHECK_SCRIPT)) as string;
  const prefix = `bench:otp:evalsha:${randomBytes(4).toString('hex')}:`;
  const app = Fastify({ logger: false });
  app.post<{ Params: { id: string }; Body: { code: string } }>(
    '/v1/verifications/:id/check',
    {
      schema: {
        body: {
          type: 'object',
          required: ['code'],
          properties: { code: { type: 'string', minLength: 4, maxLength: 10 } },
        },
      },
    },
    async (request) => {
      const [attempts] = (await redis.evalsha(sha, 1, prefix + request.params.id)) as [number, unknown];
      return { id: request.params.id, status: 'pending', valid: false, attempts };
    },
  );
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void app
      .close()
      .then(() => redis.quit())
      .then(() => process.exit(0));
  });
}

function startEvalshaBaseline(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/otp.ts', '--evalsha-server'], {
    env: { ...process.env, PORT: String(port), NODE_OPTIONS: benchChildNodeOptions() },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolveReady, reject) => {
    child.once('exit', (code) => reject(new Error(`evalsha baseline exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolveReady(child);
    });
  });
}

async function main(): Promise<void> {
  const seconds = envInt('BENCH_DURATION', benchSize(8, 4));
  const warmup = envInt('BENCH_WARMUP', benchSize(3, 1));
  const connections = envInt('BENCH_CONNECTIONS', 64);
  const roundCount = envInt('BENCH_ROUNDS', benchSize(3, 1));
  const pool = numbers(envInt('BENCH_NUMBERS', benchSize(400_000, 100_000)));
  let next = 0;
  const ids: string[] = [];

  let db: TestDatabase | undefined;
  let api: ServiceProcess | undefined;
  type Round = Record<'messages' | 'create' | 'check' | 'evalsha', Awaited<ReturnType<typeof load>>>;
  const rounds: Round[] = [];
  let evalshaChild: ChildProcess | undefined;
  try {
    db = await createTestDatabase();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    api = startServiceProcess('api', {
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_PARTITIONS: '6',
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_OTP_KEY: randomBytes(32).toString('base64'),
      PIGEON_FACTOR_KEY: randomBytes(32).toString('base64'),
      PIGEON_BODY_KEY: randomBytes(32).toString('base64'),
      PIGEON_OTP_SENDS_PER_PHONE: NO_LIMIT,
      PIGEON_OTP_SENDS_PER_IP: NO_LIMIT,
      PIGEON_OTP_SENDS_PER_TENANT: NO_LIMIT,
      PIGEON_OTP_CHECKS_PER_IP: NO_LIMIT,
      PIGEON_OTP_CHECKS_PER_TENANT: NO_LIMIT,
      PIGEON_OTP_PREFIX_BURST: NO_LIMIT,
      PIGEON_OTP_DAILY_SPEND_CAP: '0',
      // Codes count in the tenant's message send policy too; its production caps would refuse a
      // run (and the spend counters outlive it in Redis).
      ...BENCH_SEND_POLICY,
      PIGEON_PUBLIC_URL: url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_OPTIONS: benchChildNodeOptions(
        process.env.BENCH_CPU_PROF
          ? `--cpu-prof --cpu-prof-dir=${resolve(process.env.BENCH_CPU_PROF)}`
          : undefined,
      ),
    });
    await waitForReady(`${url}/readyz`, api, 90_000);

    const message: CannonRequest = {
      method: 'POST',
      path: '/v1/messages',
      setupRequest: (r) => ({
        ...r,
        body: JSON.stringify({ to: pool[next++ % pool.length], body: 'hello from bench' }),
      }),
    };
    const startOne: CannonRequest = {
      method: 'POST',
      path: '/v1/verifications',
      setupRequest: (r) => ({
        ...r,
        body: JSON.stringify({ to: pool[next++ % pool.length], channel: 'sms' }),
      }),
      onResponse: (status, body) => {
        if (status === 201) ids.push((JSON.parse(body) as { id: string }).id);
      },
    };
    // Wrong codes: each verification takes four, so every check is a full evaluation
    // (window, check script, HMAC, comparison) and none is cut short as max_attempts.
    let checked = 0;
    const checkOne: CannonRequest = {
      method: 'POST',
      path: '/v1/verifications/ID/check',
      setupRequest: (r) => {
        const id = ids[Math.floor(checked++ / 4) % ids.length]!;
        return { ...r, path: `/v1/verifications/${id}/check`, body: '{"code":"000000"}' };
      },
    };

    const probe = await fetch(`${url}/v1/verifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ to: pool.pop(), channel: 'sms' }),
    });
    if (probe.status !== 201) throw new Error(`expected 201, got ${probe.status}: ${await probe.text()}`);

    const evalshaPort = await freePort();
    evalshaChild = await startEvalshaBaseline(evalshaPort);
    const evalshaUrl = `http://127.0.0.1:${evalshaPort}`;
    for (let round = 1; round <= roundCount; round++) {
      const of = roundCount > 1 ? ` (round ${round} of ${roundCount})` : '';
      process.stderr.write(`baseline: POST /v1/messages, ${connections} connections, ${seconds} s${of}…\n`);
      await load(url, connections, warmup, message);
      const messages = await load(url, connections, seconds, message);
      process.stderr.write(`ours: POST /v1/verifications, ${connections} connections, ${seconds} s${of}…\n`);
      await load(url, connections, warmup, startOne);
      const create = await load(url, connections, seconds, startOne);
      process.stderr.write(
        `ours: POST /v1/verifications/:id/check over ${ids.length} verifications, ${seconds} s${of}…\n`,
      );
      await load(url, connections, warmup, checkOne);
      const check = await load(url, connections, seconds, checkOne);
      process.stderr.write(
        `baseline: bare Fastify route with one EVALSHA, ${connections} connections, ${seconds} s${of}…\n`,
      );
      await load(evalshaUrl, connections, warmup, checkOne);
      const evalsha = await load(evalshaUrl, connections, seconds, checkOne);
      rounds.push({ messages, create, check, evalsha });
    }
  } finally {
    if (evalshaChild && evalshaChild.exitCode === null) {
      const exited = new Promise((resolveExit) => evalshaChild?.once('exit', resolveExit));
      evalshaChild.kill('SIGTERM');
      await exited;
    }
    if (api) {
      const code = await api.stop();
      if (code !== 0) process.stderr.write(`api exited with ${code}\n--- api output ---\n${api.output()}\n`);
    }
    await db
      ?.drop()
      .catch((err: unknown) => process.stderr.write(`could not drop the database: ${String(err)}\n`));
  }

  const figures = (name: keyof Round) => medianFigures(rounds.map((r) => r[name].figures));
  const [baseline, create, check, evalsha] = [
    figures('messages'),
    figures('create'),
    figures('check'),
    figures('evalsha'),
  ];
  const statuses = (name: keyof Round) => JSON.stringify(rounds.map((r) => r[name].statuses));
  const perRound = rounds.map((r) => ({
    ratio: ratioOf(r.create.figures, r.messages.figures),
    check_ratio: ratioOf(r.check.figures, r.evalsha.figures),
  }));
  const ratio = median(perRound.map((r) => r.ratio));
  const checkRatio = median(perRound.map((r) => r.check_ratio));
  process.stdout.write(
    [
      `Verifications — ${connections} connections, pipelining 1, ${seconds} s after a ${warmup} s warm-up, loopback` +
        (roundCount > 1 ? `, median of ${roundCount} interleaved rounds` : ''),
      row(['', 'rps', 'p50 ms', 'p99 ms', 'errors']),
      row(['messages', baseline.rps, baseline.p50_ms, baseline.p99_ms, baseline.errors]),
      row(['create', create.rps, create.p50_ms, create.p99_ms, create.errors]),
      row(['check', check.rps, check.p50_ms, check.p99_ms, check.errors]),
      row(['evalsha', evalsha.rps, evalsha.p50_ms, evalsha.p99_ms, evalsha.errors]),
      `create/messages ${ratio}, check/evalsha ${checkRatio}` +
        (roundCount > 1 ? ` (rounds: ${perRound.map((r) => `${r.ratio}/${r.check_ratio}`).join(', ')})` : ''),
      `statuses: messages ${statuses('messages')}, create ${statuses('create')}, check ${statuses('check')}`,
      '',
    ].join('\n'),
  );
  const ours = { create, check, check_ratio: checkRatio };
  process.stdout.write(
    `${JSON.stringify({ bench: 'otp', ours, baseline: { messages: baseline, evalsha }, ratio, rounds: perRound })}\n`,
  );
}

if (process.argv[2] === '--evalsha-server') await serveEvalshaBaseline();
else await main();
