/**
 * The bridge asks Redis at most twice per message on the happy path (claim, abort check, opt-out,
 * token and handover before the call; message-id map and result after it), each time with its
 * commands in one write. Counted on the wire: a TCP relay in front of the real Redis counts the
 * writes the bridge's connection makes, so a command sent on its own would show as one more.
 */
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it, before, after } from 'node:test';
import { Registry } from 'prom-client';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { createLogger } from '../../core/logger.ts';
import { Markers } from '../../core/markers.ts';
import type { MessageRequested } from '../../core/message.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';
import { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { bucketKey, CacheProviderGate } from '../../supplier-bridge/src/provider-gate.ts';
import { asSubmitted, FakeProvider, firstPass, requested } from '../support/dispatch-harness.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';

/** Relays one TCP port to Redis and counts the chunks clients send (one per write on loopback). */
async function countingRelay(target: URL): Promise<{ url: string; writes: () => number; close: () => void }> {
  let writes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      writes++;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    writes: () => writes,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('supplier bridge: Redis round trips per message', () => {
  const prefix = `pigeon-test:round-trips:${uniqueSuffix()}:`;
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  let cache: RedisCache;
  let dispatcher: Dispatcher;
  const provider = new FakeProvider('rt-a');

  before(async () => {
    relay = await countingRelay(new URL(TEST_REDIS_URL));
    cache = new RedisCache(relay.url, { keyPrefix: prefix });
    dispatcher = new Dispatcher({
      planner: new CatalogPlanner(
        fixedRouting([
          // A rate limit, so the token bucket is really taken on every send.
          { adapter: provider, weight: 1, definition: { name: provider.name, type: 'fake', tps: 100_000 } },
        ]),
        undefined,
        () => 0,
      ),
      gate: new CacheProviderGate(cache),
      cache,
      logger: createLogger({ level: 'silent' }),
      registry: new Registry(),
      publicUrl: 'http://127.0.0.1:3000',
    });
    // Scripts reach this Redis on first use (EVALSHA, then EVAL): not what a message costs.
    await send(requested({ class: 'transactional' }));
  });
  after(async () => {
    await dispatcher.close();
    await cache.close();
    relay.close();
  });

  const messages = (n: number, input: Parameters<typeof requested>[0]) =>
    Array.from({ length: n }, () => requested(input, Date.now()));
  const send = (message: MessageRequested) =>
    dispatcher.dispatch(message, firstPass(Date.parse(message.occurredAt) + 10));

  it('sends a message with two writes to Redis, the receipt markers and the result stored', async () => {
    // Transactional: the class whose opt-out is read, so every read the bridge may need is made.
    const batch = messages(20, { class: 'transactional' });
    const before = relay.writes();
    const outcomes = [];
    for (const message of batch) outcomes.push(asSubmitted((await send(message)).outcome));
    const writes = relay.writes() - before;

    assert.ok(writes <= 2 * batch.length, `${writes} writes for ${batch.length} messages`);
    for (const [i, message] of batch.entries()) {
      const outcome = outcomes[i]!;
      const pmid = await cache.get(Markers.providerMessage(provider.name, outcome.providerMessageId));
      assert.equal(JSON.parse(pmid ?? '{}').messageId, message.messageId, 'receipts find the message');
      const ref = await cache.get(Markers.providerReference(provider.name, message.messageId));
      assert.equal(JSON.parse(ref ?? '{}').messageId, message.messageId, 'and so do receipts by our id');
      const claim = JSON.parse((await cache.get(Markers.attempt(message.messageId, 'send:0'))) ?? '{}');
      assert.equal(claim.provider, provider.name, 'the claim names the provider called');
    }
    // A replay is answered from the stored result, in one round trip, without a call.
    const calls = provider.calls;
    const replayed = await send(batch[0]!);
    assert.deepEqual(replayed.outcome, outcomes[0]);
    assert.equal(provider.calls, calls);
  });

  it('shares writes between the messages of a batch handled at once', async () => {
    const batch = messages(40, { class: 'otp', body: 'Your code is 123456' });
    const before = relay.writes();
    const results = await Promise.all(batch.map(send));
    const writes = relay.writes() - before;

    for (const result of results) asSubmitted(result.outcome);
    assert.ok(writes < batch.length, `${writes} writes for ${batch.length} messages at once`);
  });

  it('gives back the token taken beside the claim when the pass does not call: a replay spends none', async () => {
    const [message] = messages(1, { class: 'transactional' });
    await send(message!);
    const tokensAfterSend = await cache.redis.hget(bucketKey(provider.name), 'tokens');
    await send(message!);
    const tokensAfterReplay = await cache.redis.hget(bucketKey(provider.name), 'tokens');
    // The bucket refills meanwhile, so the replay leaves at least as many tokens as before it.
    assert.ok(
      Number(tokensAfterReplay) >= Number(tokensAfterSend),
      `${tokensAfterReplay} < ${tokensAfterSend}`,
    );
  });
});
