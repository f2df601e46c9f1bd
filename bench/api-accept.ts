/**
 * `POST /v1/messages` throughput and latency: the real API in distributed mode (real Kafka with
 * acks=all and an idempotent producer, MariaDB, Redis) against a bare Fastify 5 route with the same
 * body schema and ajv options that answers 202 at once (the baseline, `ratio`), and against
 * the bare pipeline's accept route (`bench/bare-pipeline.ts accept`: the same route that first
 * produces the request to Kafka, idempotent, acks=all, micro-batched; `ratio_vs_produce`), which
 * also makes the broker work for the same two cores. All run as child processes with their own
 * event loop; autocannon drives them from this process over loopback with the same settings.
 * Each server's CPU per request (`cpu_us_per_req`, from /proc) is printed beside its throughput:
 * on a machine shared with other work it is the steadier figure.
 * Then a fixed-rate run on the API and on the produce baseline: BENCH_FIXED_RATE (5,000) requests
 * per second offered over the same connections (autocannon `overallRate`), where latency, not
 * throughput, is the figure; the baseline's shows what the broker's acks=all alone costs at it.
 *
 *   npm run bench:api-accept
 *   BENCH_DURATION=30 BENCH_CONNECTIONS=256 npm run bench:api-accept
 *   BENCH_API_WORKERS=2 npm run bench:api-accept            # both servers as 2 cluster workers
 *   BENCH_CPU_PROF=.cache/prof npm run bench:api-accept     # --cpu-prof for the API child
 *   BENCH_FIXED_RATE=5000 …   # the fixed-rate run's offered load (autocannon overallRate), after the max run
 *
 * Ends with one JSON line: {"bench":"api-accept","ours":{…},"baseline":{…},"baseline_produce":{…},
 * "ratio":ours/baseline rps,"ratio_vs_produce":…,"cpu_ratio":baseline/ours µs per request,…}.
 *
 * `bench/with-kafka.sh` runs it against a fresh broker of its own, so no other consumer sees the flood.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { Kafka, logLevel } from 'kafkajs';
import { resolve } from 'node:path';
import Fastify from 'fastify';
import { AcceptedMessage, SendMessageBody } from '../api/src/schemas.ts';
import { newId } from '../core/ids.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../test/support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/mysql.ts';
import { freePort } from '../test/support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../test/support/processes.ts';
import { BENCH_SEND_POLICY, benchChildNodeOptions, benchSize, envInt } from './support.ts';
import { cpuSeconds, machineTicks, pidByCommand, pidListeningOn, processTree } from './cpu.ts';

// ---------------------------------------------------------------------------------------------
// autocannon has no type declarations; this is the part of its API used here.

interface CannonRequest {
  method: string;
  path: string;
  body?: string;
  setupRequest?: (request: CannonRequest) => CannonRequest;
}

interface CannonOptions {
  url: string;
  connections: number;
  /** Requests per second offered over all connections (a fixed-rate run), when set. */
  overallRate?: number;
  pipelining: number;
  duration: number;
  timeout: number;
  headers: Record<string, string>;
  requests: CannonRequest[];
}

interface CannonResult {
  start: Date;
  finish: Date;
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number; average: number; max: number };
}

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as (options: CannonOptions) => Promise<CannonResult>;

// ---------------------------------------------------------------------------------------------

const API_KEY = 'pgn_bench_api_accept_fixed_key_0001';
/** Partitions of the API's topics and of the produce baseline's one. */
const PARTITIONS = 6;
const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, allErrors: false } as const;

/** The baseline server, run in a child process: one route, same body schema and ajv options. */
async function serveBaseline(): Promise<void> {
  const workers = envInt('BENCH_API_WORKERS', 1);
  if (workers > 1 && cluster.isPrimary) {
    let ready = 0;
    for (let i = 0; i < workers; i++) {
      cluster.fork().on('message', () => {
        if (++ready === workers) process.stdout.write('ready\n');
      });
    }
    process.once('SIGTERM', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      });
    });
    return;
  }
  const app = Fastify({ logger: false, ajv: { customOptions: AJV_OPTIONS }, return503OnClosing: true });
  app.post(
    '/v1/messages',
    { bodyLimit: 16 * 1024, schema: { body: SendMessageBody, response: { 202: AcceptedMessage } } },
    async (_request, reply) =>
      reply.code(202).send({
        id: newId(),
        status: 'queued',
        segments: 1,
        encoding: 'GSM-7',
        replaced: [],
        forcedUcs2: [],
      }),
  );
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
  if (cluster.isWorker) process.send?.('ready');
  else process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void app.close().then(() => process.exit(0));
  });
}

function startBaseline(port: number): Promise<ChildProcess> {
  return startChild(['bench/api-accept.ts', '--baseline-server'], { PORT: String(port) });
}

/**
 * The bare pipeline's accept role on a fresh topic of the API's partition count: Fastify, the same
 * schema, then a kafkajs produce (idempotent, acks=all, micro-batched) before the 202.
 */
async function startProduceBaseline(port: number, partitions: number): Promise<ChildProcess> {
  const topic = `bench.accept.bare.${Date.now().toString(36)}`;
  const admin = new Kafka({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'bench-accept',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  } finally {
    await admin.disconnect();
  }
  return startChild(['bench/bare-pipeline.ts', 'accept'], {
    PORT: String(port),
    BARE_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    BARE_REQUESTS_TOPIC: topic,
    BARE_RECEIPTS_TOPIC: `${topic}.receipts`,
  });
}

/** A bench server in a child process, resolved once it prints `ready`. */
function startChild(args: string[], env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, ...env, NODE_OPTIONS: benchChildNodeOptions(env.NODE_OPTIONS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolveReady, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolveReady(child);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux), to tell a CPU-bound server from one waiting on the bus.

/** CPU seconds of a process and its children (cluster workers); 0 without a pid. */
const processSeconds = (pid: number | undefined): number => (pid ? cpuSeconds(processTree(pid)) : 0);

/**
 * The pid of the Kafka broker the API talks to, found by its port (a development broker on the same
 * machine is not ours), else the first broker by name.
 */
const brokerPid = () =>
  pidListeningOn(Number(TEST_KAFKA_BROKERS[0]?.split(':').pop())) ??
  pidByCommand((cmdline) => cmdline.includes('java') && cmdline.includes('kafka.Kafka'));

/** How busy the machine is with other work right before a measurement, in %. */
async function idleCheck(label: string): Promise<number> {
  const a = machineTicks();
  await new Promise((resolveWait) => setTimeout(resolveWait, 1000));
  const b = machineTicks();
  const busy = b.total > a.total ? Math.round(((b.busy - a.busy) / (b.total - a.total)) * 100) : 0;
  if (busy > 20)
    process.stderr.write(`note: machine already ${busy} % busy before ${label}; figures will be noisy\n`);
  return busy;
}

interface CpuSample {
  server: number;
  broker: number;
  machine: { busy: number; total: number };
  at: number;
}

function sampleCpu(serverPid: number | undefined, broker: number | undefined): CpuSample {
  return {
    server: processSeconds(serverPid),
    broker: processSeconds(broker),
    machine: machineTicks(),
    at: performance.now(),
  };
}

/** CPU use between two samples, in % of one core (server, broker) and % of the machine. */
function cpuBetween(a: CpuSample, b: CpuSample) {
  const seconds = (b.at - a.at) / 1000;
  const pct = (cpu: number) => Math.round((cpu / seconds) * 100);
  const total = b.machine.total - a.machine.total;
  return {
    server: pct(b.server - a.server),
    broker: pct(b.broker - a.broker),
    machine: total > 0 ? Math.round(((b.machine.busy - a.machine.busy) / total) * 100) : 0,
  };
}

// ---------------------------------------------------------------------------------------------

interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  server_cpu_pct: number;
  /** The server's CPU time per accepted request, in µs: what a request costs it, however busy the machine. */
  cpu_us_per_req: number;
}

interface Measured {
  figures: Figures;
  requests: number;
  statuses: Record<string, number>;
  brokerCpu: number;
  machineCpu: number;
  /** Machine CPU busy % just before the warm-up: other work on the machine. */
  idleBusy: number;
}

/**
 * Request `n`: a few thousand valid recipients cycled through by every connection, each text its
 * own — identical texts to a number within the tenant's dedup window would be answered as
 * duplicates without being published, which is not the path this bench measures.
 */
const requestBody = (n: number) => `{"to":"+1415555${1000 + (n % 5000)}","body":"hello from bench ${n}"}`;

async function load(
  url: string,
  pid: number | undefined,
  connections: number,
  seconds: number,
  overallRate?: number,
): Promise<Measured> {
  let next = 0;
  const options = (duration: number): CannonOptions => ({
    url,
    connections,
    ...(overallRate ? { overallRate } : {}),
    pipelining: 1,
    duration,
    timeout: 10,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    requests: [
      {
        method: 'POST',
        path: '/v1/messages',
        setupRequest: (request) => {
          request.body = requestBody(next++);
          return request;
        },
      },
    ],
  });
  const idleBusy = await idleCheck(url);
  await autocannon(options(envInt('BENCH_WARMUP', benchSize(3, 1))));
  const broker = brokerPid();
  const before = sampleCpu(pid, broker);
  const result = await autocannon(options(seconds));
  const after = sampleCpu(pid, broker);
  const cpu = cpuBetween(before, after);
  const elapsed = (result.finish.getTime() - result.start.getTime()) / 1000;
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = count;
  return {
    figures: {
      rps: Math.round(result['2xx'] / elapsed),
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      errors: result.non2xx + result.errors + result.timeouts,
      server_cpu_pct: cpu.server,
      cpu_us_per_req:
        result['2xx'] > 0 ? Math.round(((after.server - before.server) * 1e6) / result['2xx']) : 0,
    },
    requests: result['2xx'] + result.non2xx,
    statuses,
    brokerCpu: broker ? cpu.broker : -1,
    machineCpu: cpu.machine,
    idleBusy,
  };
}

/** One request first, so a misconfigured server fails the run instead of producing 4xx at full speed. */
async function checkAccepts(base: string): Promise<void> {
  const response = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: requestBody(Number.MAX_SAFE_INTEGER), // a text no timed request repeats
  });
  if (response.status !== 202)
    throw new Error(`${base}: expected 202, got ${response.status}: ${await response.text()}`);
}

function row(cells: Array<string | number>): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(19) : String(c).padStart(9))).join(' ');
}

async function main(): Promise<void> {
  const seconds = envInt('BENCH_DURATION', benchSize(15, 4));
  const fixedRate = envInt('BENCH_FIXED_RATE', 5000);
  const connections = envInt('BENCH_CONNECTIONS', 100);

  let db: TestDatabase | undefined;
  let api: ServiceProcess | undefined;
  let baselineChild: ChildProcess | undefined;
  let produceChild: ChildProcess | undefined;
  let baseline: Measured;
  let produce: Measured;
  let produceFixed: Measured;
  let ours: Measured;
  let fixed: Measured;
  try {
    const baselinePort = await freePort();
    baselineChild = await startBaseline(baselinePort);
    const baselineUrl = `http://127.0.0.1:${baselinePort}`;
    await checkAccepts(baselineUrl);
    process.stderr.write(`baseline: bare Fastify, ${connections} connections, ${seconds} s…\n`);
    baseline = await load(baselineUrl, baselineChild.pid, connections, seconds);
    await stopChild(baselineChild);

    const producePort = await freePort();
    produceChild = await startProduceBaseline(producePort, PARTITIONS);
    const produceUrl = `http://127.0.0.1:${producePort}`;
    await checkAccepts(produceUrl);
    process.stderr.write(
      `baseline: bare Fastify + Kafka produce (acks=all), ${connections} connections, ${seconds} s…\n`,
    );
    produce = await load(produceUrl, produceChild.pid, connections, seconds);
    // The same fixed rate as ours below: the latency the broker's acks=all alone gives at it.
    process.stderr.write(`baseline: bare Fastify + Kafka produce, fixed rate, ${fixedRate} req/s offered…\n`);
    produceFixed = await load(produceUrl, produceChild.pid, connections, seconds, fixedRate);
    await stopChild(produceChild);

    db = await createTestDatabase();
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const profileDir = process.env.BENCH_CPU_PROF;
    api = startServiceProcess('api', {
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_PARTITIONS: String(PARTITIONS),
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_PUBLIC_URL: apiUrl,
      ...BENCH_SEND_POLICY,
      PORT: String(apiPort),
      LOG_LEVEL: 'warn',
      PIGEON_API_WORKERS: String(envInt('BENCH_API_WORKERS', 1)),
      NODE_OPTIONS: benchChildNodeOptions(
        profileDir ? `--cpu-prof --cpu-prof-dir=${resolve(profileDir)}` : undefined,
      ),
    });
    await waitForReady(`${apiUrl}/readyz`, api, 90_000);
    await checkAccepts(apiUrl);
    process.stderr.write(`ours: API over Kafka (acks=all), ${connections} connections, ${seconds} s…\n`);
    ours = await load(apiUrl, api.child.pid, connections, seconds);
    process.stderr.write(
      `ours: fixed rate, ${fixedRate} req/s offered, ${connections} connections, ${seconds} s…\n`,
    );
    fixed = await load(apiUrl, api.child.pid, connections, seconds, fixedRate);
  } finally {
    if (baselineChild) await stopChild(baselineChild);
    if (produceChild) await stopChild(produceChild);
    if (api) {
      const code = await api.stop();
      if (code !== 0) process.stderr.write(`api exited with ${code}\n--- api output ---\n${api.output()}\n`);
      else if (api.output().trim()) process.stderr.write(`--- api output (warnings) ---\n${api.output()}\n`);
    }
    await db
      ?.drop()
      .catch((err: unknown) => process.stderr.write(`could not drop the database: ${String(err)}\n`));
  }

  const lines = [
    `POST /v1/messages — ${connections} connections, pipelining 1, ${seconds} s after a warm-up, loopback`,
    row(['', 'rps', 'p50 ms', 'p99 ms', 'errors', 'cpu %', 'µs/req']),
    row([
      'baseline',
      baseline.figures.rps,
      baseline.figures.p50_ms,
      baseline.figures.p99_ms,
      baseline.figures.errors,
      baseline.figures.server_cpu_pct,
      baseline.figures.cpu_us_per_req,
    ]),
    row([
      '+produce',
      produce.figures.rps,
      produce.figures.p50_ms,
      produce.figures.p99_ms,
      produce.figures.errors,
      produce.figures.server_cpu_pct,
      produce.figures.cpu_us_per_req,
    ]),
    row([
      `+produce ${fixedRate}/s`,
      produceFixed.figures.rps,
      produceFixed.figures.p50_ms,
      produceFixed.figures.p99_ms,
      produceFixed.figures.errors,
      produceFixed.figures.server_cpu_pct,
      produceFixed.figures.cpu_us_per_req,
    ]),
    row([
      'ours',
      ours.figures.rps,
      ours.figures.p50_ms,
      ours.figures.p99_ms,
      ours.figures.errors,
      ours.figures.server_cpu_pct,
      ours.figures.cpu_us_per_req,
    ]),
    row([
      `ours ${fixedRate}/s`,
      fixed.figures.rps,
      fixed.figures.p50_ms,
      fixed.figures.p99_ms,
      fixed.figures.errors,
      fixed.figures.server_cpu_pct,
      fixed.figures.cpu_us_per_req,
    ]),
    `statuses: baseline ${JSON.stringify(baseline.statuses)}, +produce ${JSON.stringify(produce.statuses)}, ours ${JSON.stringify(ours.statuses)}, ` +
      `fixed rate ${JSON.stringify(fixed.statuses)}`,
    `machine CPU busy: baseline run ${baseline.machineCpu} %, ours ${ours.machineCpu} % ` +
      `(before: ${baseline.idleBusy} %, ${ours.idleBusy} %)` +
      (ours.brokerCpu >= 0 ? `; Kafka broker during ours: ${ours.brokerCpu} % of a core` : ''),
    '(cpu % = the server process, in % of one core; µs/req = its CPU time per accepted request)',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  const ratioOf = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);
  const ratio = ratioOf(ours.figures.rps, baseline.figures.rps);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'api-accept',
      ours: { ...ours.figures, fixed_rate: { offered_rps: fixedRate, ...fixed.figures } },
      baseline: baseline.figures,
      baseline_produce: {
        ...produce.figures,
        fixed_rate: { offered_rps: fixedRate, ...produceFixed.figures },
      },
      ratio,
      ratio_vs_produce: ratioOf(ours.figures.rps, produce.figures.rps),
      // The same comparison by CPU per request: baseline µs / ours µs.
      cpu_ratio: ratioOf(baseline.figures.cpu_us_per_req, ours.figures.cpu_us_per_req),
      cpu_ratio_vs_produce: ratioOf(produce.figures.cpu_us_per_req, ours.figures.cpu_us_per_req),
    })}\n`,
  );
}

if (process.argv[2] === '--baseline-server') await serveBaseline();
else await main();
