import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { MemoryCache } from '../core/cache/memory-cache.ts';
import { loadConfig } from '../core/config.ts';
import { PigeonError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { providerError } from '../test/support/provider-testing.ts';
import { SIMULATOR_ENV } from '../test/support/simulator-env.ts';
import { sleep, waitFor } from '../test/support/wait.ts';
import type { ProviderError, SendRequest } from './provider.ts';
import {
  createSimulator,
  FAULT_REFRESH_MS,
  type OutboxEntry,
  outboxKey,
  type ScriptedFault,
  type SimulatorFault,
  simulatorFaultKey,
  SimulatorProvider,
  signSimulatorReceipt,
  simulatorReceiptSecret,
} from './simulator.ts';

const logger = createLogger({ level: 'silent' });

describe('simulator faults', () => {
  let receiver: Server;
  let callbackUrl: string;
  const receipts: Array<{ id: string; reference: string; status: string }> = [];
  let cache: MemoryCache;
  const simulators: SimulatorProvider[] = [];
  let clock = 0;
  let sequence = 0;

  function simulator(options: { faults?: ScriptedFault[]; manualClock?: boolean } = {}): SimulatorProvider {
    const sim = new SimulatorProvider('sim-t', {
      latencyMs: 0,
      receiptDelayMs: 10,
      secret: 'test-secret',
      outbox: cache,
      logger,
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.manualClock ? { now: () => clock } : {}),
    });
    simulators.push(sim);
    return sim;
  }

  function request(): SendRequest {
    sequence++;
    return {
      messageId: `01J00000000000000000000${String(sequence).padStart(3, '0')}`,
      tenantId: 'tenant-a',
      to: `+1415555${String(sequence).padStart(4, '0')}`,
      from: undefined,
      body: 'hello',
      segments: 1,
      messageClass: 'transactional',
      country: 'US',
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      callbackUrl,
    };
  }

  // Receipts of an earlier test may still land (a post in flight when it ended): find by reference.
  const receiptFor = (req: SendRequest) => receipts.find((r) => r.reference === req.messageId);
  const setFault = (fault: SimulatorFault) => cache.set(simulatorFaultKey('sim-t'), JSON.stringify(fault));
  const outbox = async (to: string) =>
    (await cache.list(outboxKey(to))).map((e) => JSON.parse(e) as OutboxEntry);

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        receipts.push(JSON.parse(body) as (typeof receipts)[number]);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/receipts/sim-t`;
  });

  afterEach(async () => {
    await Promise.all(simulators.splice(0).map((s) => s.close()));
    await cache?.close();
    receipts.length = 0;
    clock = 0;
  });

  after(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  const fresh = () => {
    cache = new MemoryCache();
  };

  describe('set at runtime through the cache', () => {
    test('down: every send is a definite non-send, ECONNREFUSED, and nothing reaches the outbox', async () => {
      fresh();
      await setFault({ fault: 'down' });
      const req = request();
      const error = await providerError(simulator().send(req, AbortSignal.timeout(1000)));
      assert.equal(error.errorClass, 'retryable');
      assert.equal(error.rawCode, 'ECONNREFUSED');
      assert.equal(error.sent, 'no');
      assert.deepEqual(await outbox(req.to), []);
    });

    test('slow: adds slowMs to every send, and the signal still aborts it', async () => {
      fresh();
      await setFault({ fault: 'slow', slowMs: 150 });
      const sim = simulator();
      const started = Date.now();
      await sim.send(request(), AbortSignal.timeout(2000));
      assert.ok(Date.now() - started >= 140, `took ${Date.now() - started} ms`);
      await assert.rejects(sim.send(request(), AbortSignal.timeout(30)));
    });

    test('throttle: throttled with the given retryAfterMs', async () => {
      fresh();
      await setFault({ fault: 'throttle', retryAfterMs: 4000 });
      const error = await providerError(simulator().send(request(), AbortSignal.timeout(1000)));
      assert.equal(error.errorClass, 'throttled');
      assert.equal(error.retryAfterMs, 4000);
      assert.equal(error.sent, 'no');
    });

    test('ambiguous: the message goes out and its receipt comes, but the send times out as maybe', async () => {
      fresh();
      await setFault({ fault: 'ambiguous' });
      const req = request();
      const error = await providerError(simulator().send(req, AbortSignal.timeout(1000)));
      assert.equal(error.rawCode, 'TIMEOUT');
      assert.equal(error.sent, 'maybe');
      assert.equal((await outbox(req.to)).length, 1);
      await waitFor(() => receiptFor(req) !== undefined, 2000, 'receipt');
    });

    test('silent: accepted and in the outbox, but no receipt ever comes', async () => {
      fresh();
      await setFault({ fault: 'silent' });
      const req = request();
      const result = await simulator().send(req, AbortSignal.timeout(1000));
      assert.ok(result.providerMessageId);
      assert.equal((await outbox(req.to)).length, 1);
      await sleep(150);
      assert.equal(receiptFor(req), undefined);
    });

    test('reject: permanent INVALID_NUMBER', async () => {
      fresh();
      await setFault({ fault: 'reject' });
      const error = await providerError(simulator().send(request(), AbortSignal.timeout(1000)));
      assert.equal(error.errorClass, 'permanent');
      assert.equal(error.rawCode, 'INVALID_NUMBER');
    });

    test('no fault: accepted, and a delivered receipt follows', async () => {
      fresh();
      const req = request();
      await simulator().send(req, AbortSignal.timeout(1000));
      await waitFor(() => receiptFor(req) !== undefined, 2000, 'receipt');
      assert.equal(receiptFor(req)?.status, 'delivered');
    });

    test(`the cache is read at most every ${FAULT_REFRESH_MS} ms, not on every send`, async () => {
      fresh();
      const sim = simulator({ manualClock: true });
      await sim.send(request(), AbortSignal.timeout(1000));
      await setFault({ fault: 'down' });
      clock += FAULT_REFRESH_MS - 1;
      await sim.send(request(), AbortSignal.timeout(1000)); // still the value read at t=0
      clock += 1;
      assert.equal(
        (await providerError(sim.send(request(), AbortSignal.timeout(1000)))).rawCode,
        'ECONNREFUSED',
      );
      await cache.del(simulatorFaultKey('sim-t'));
      clock += FAULT_REFRESH_MS;
      await sim.send(request(), AbortSignal.timeout(1000));
    });

    test('a runtime fault ends at its `until`', async () => {
      fresh();
      await setFault({ fault: 'down', until: 500 });
      const sim = simulator({ manualClock: true });
      await providerError(sim.send(request(), AbortSignal.timeout(1000)));
      clock = 499;
      await providerError(sim.send(request(), AbortSignal.timeout(1000)));
      clock = 500;
      await sim.send(request(), AbortSignal.timeout(1000));
    });

    test('a runtime fault overrides the script, and `none` suspends it', async () => {
      fresh();
      await setFault({ fault: 'none' });
      const sim = simulator({ faults: [{ fault: 'down' }], manualClock: true });
      await sim.send(request(), AbortSignal.timeout(1000));
      await setFault({ fault: 'reject' });
      clock += FAULT_REFRESH_MS;
      assert.equal(
        (await providerError(sim.send(request(), AbortSignal.timeout(1000)))).rawCode,
        'INVALID_NUMBER',
      );
      await cache.del(simulatorFaultKey('sim-t'));
      clock += FAULT_REFRESH_MS;
      assert.equal(
        (await providerError(sim.send(request(), AbortSignal.timeout(1000)))).rawCode,
        'ECONNREFUSED',
      );
    });

    test('malformed cache values are ignored', async () => {
      fresh();
      await cache.set(simulatorFaultKey('sim-t'), '{"fault":"explode"}');
      await simulator().send(request(), AbortSignal.timeout(1000));
    });
  });

  describe('scripted in the provider definition', () => {
    test('each step applies from afterMs for forMs after the adapter was created', async () => {
      fresh();
      const sim = simulator({
        manualClock: true,
        faults: [
          { fault: 'reject', afterMs: 100, forMs: 100 },
          { fault: 'throttle', afterMs: 300, retryAfterMs: 5000 },
        ],
      });
      const outcome = async (at: number) => {
        clock = at;
        try {
          await sim.send(request(), AbortSignal.timeout(1000));
          return 'ok';
        } catch (err) {
          return (err as ProviderError).errorClass;
        }
      };
      assert.equal(await outcome(0), 'ok');
      assert.equal(await outcome(100), 'permanent');
      assert.equal(await outcome(199), 'permanent');
      assert.equal(await outcome(200), 'ok');
      assert.equal(await outcome(300), 'throttled');
      assert.equal(await outcome(100_000), 'throttled');
    });

    test('the factory reads the script with the real clock', async () => {
      fresh();
      const sim = createSimulator(
        'sim-t',
        { latencyMs: 0, faults: [{ fault: 'down', afterMs: 0, forMs: 80 }] },
        { config: loadConfig(SIMULATOR_ENV), cache, logger },
      );
      await providerError(sim.send(request(), AbortSignal.timeout(1000)));
      await sleep(100);
      await sim.send(request(), AbortSignal.timeout(1000));
      await sim.close?.();
    });

    test('a bad script is a configuration error naming the step', () => {
      fresh();
      const deps = { config: loadConfig(SIMULATOR_ENV), cache, logger };
      for (const [faults, path] of [
        [{ fault: 'down' }, '"faults"'],
        [[{ fault: 'down' }, { fault: 'explode' }], '"faults[1].fault"'],
        [[{ fault: 'slow', slowMs: -1 }], '"faults[0].slowMs"'],
        [[{ fault: 'slow', lateMs: 5 }], '"faults[0].lateMs"'],
      ] as const) {
        assert.throws(
          () => createSimulator('sim-t', { faults }, deps),
          (err: unknown) =>
            err instanceof PigeonError && err.code === 'PIGEON_ERR_CONFIG' && err.message.includes(path),
        );
      }
    });
  });
});

describe('the simulator receipt secret', () => {
  test('embedded mode generates one per data directory, kept 0600 and stable across restarts', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-sim-secret-'));
    const config = loadConfig({ PIGEON_DATA_DIR: dataDir }, { mode: 'embedded' });
    assert.equal(config.simulator.enabled, true);
    const secret = simulatorReceiptSecret(config);
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.notEqual(secret, 'pigeon-simulator-secret');
    assert.equal(statSync(join(dataDir, 'simulator-secret')).mode & 0o777, 0o600);
    assert.equal(
      simulatorReceiptSecret(loadConfig({ PIGEON_DATA_DIR: dataDir }, { mode: 'embedded' })),
      secret,
    );
    const elsewhere = loadConfig(
      { PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-sim-secret-')) },
      {
        mode: 'embedded',
      },
    );
    assert.notEqual(simulatorReceiptSecret(elsewhere), secret, 'no two deployments share one');
  });

  test('a configured secret is used as given, in either mode', () => {
    assert.equal(simulatorReceiptSecret(loadConfig(SIMULATOR_ENV)), SIMULATOR_ENV.PIGEON_SIMULATOR_SECRET);
    const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-sim-secret-'));
    const embedded = loadConfig({ ...SIMULATOR_ENV, PIGEON_DATA_DIR: dataDir }, { mode: 'embedded' });
    assert.equal(simulatorReceiptSecret(embedded), SIMULATOR_ENV.PIGEON_SIMULATOR_SECRET);
  });

  test('a receipt signed with the formerly documented default is refused by a simulator with its own', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-sim-secret-'));
    const config = loadConfig({ PIGEON_DATA_DIR: dataDir }, { mode: 'embedded' });
    const sim = createSimulator('sim-a', {}, { config, cache: new MemoryCache(), logger });
    const rawBody = JSON.stringify({
      id: 'SIMforged',
      reference: '01J0000000000000000000000A',
      status: 'delivered',
    });
    const signed = (secret: string) => {
      const timestamp = String(Date.now());
      return {
        headers: {
          'x-simulator-timestamp': timestamp,
          'x-simulator-signature': signSimulatorReceipt(secret, timestamp, rawBody),
        },
        rawBody,
        url: '/v1/receipts/sim-a',
        fullUrl: 'http://127.0.0.1:3000/v1/receipts/sim-a',
        method: 'POST',
      };
    };
    await assert.rejects(
      async () => sim.parseReceipt(signed('pigeon-simulator-secret')),
      (err: unknown) => err instanceof PigeonError && err.code === 'PIGEON_ERR_RECEIPT_SIGNATURE',
    );
    const [receipt] = await sim.parseReceipt(signed(simulatorReceiptSecret(config)));
    assert.equal(receipt?.status, 'delivered');
    await sim.close?.();
  });
});
