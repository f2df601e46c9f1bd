/**
 * Routing end to end in the embedded gateway: a route changed through the admin API steers the
 * running bridge within seconds, `simulate` explains a decision, and an OTP whose provider
 * silently drops it goes out once more through the other provider after the receipt timeout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { type EmbeddedGateway, startEmbedded } from '../../bin/embedded.ts';
import { createLogger } from '../../core/logger.ts';
import { freePort } from '../support/ports.ts';
import { waitFor } from '../support/wait.ts';

describe('routing in a running gateway', () => {
  let gateway: EmbeddedGateway;
  let base: string;
  let key: string;

  const call = (method: string, path: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const send = async (to: string, body: string, messageClass = 'transactional') => {
    const response = await call('POST', '/v1/messages', { to, body, class: messageClass });
    assert.equal(response.status, 202);
    return ((await response.json()) as { id: string }).id;
  };
  const message = async (id: string) =>
    (await (await call('GET', `/v1/messages/${id}`)).json()) as {
      status: string;
      provider?: string;
      history: Array<{ type: string; status: string; provider?: string }>;
      /** Absent in the 404 answered before the message is stored. */
      attempts?: Array<{
        attempt: number;
        provider: string;
        outcome: string;
        errorClass: string | null;
        errorCode: string | null;
        requestedAt: string | null;
        respondedAt: string | null;
      }>;
    };
  const outbox = async (to: string) =>
    (
      (await (await call('GET', `/simulator/messages?to=${encodeURIComponent(to)}`)).json()) as {
        messages: Array<{ provider: string }>;
      }
    ).messages;

  before(async () => {
    const port = await freePort();
    const config = loadConfig(
      {
        PORT: String(port),
        PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-routing-')),
        PIGEON_RECEIPT_TIMEOUT_OTP_MS: '1500',
        LOG_LEVEL: 'silent',
      },
      { mode: 'embedded' },
    );
    gateway = await startEmbedded(config, createLogger({ level: 'silent' }));
    base = `http://127.0.0.1:${port}`;
    key = gateway.api.apiKey!;
  });

  after(async () => {
    await gateway.close();
  });

  test('a route added through the admin API steers the running bridge within seconds', async () => {
    const response = await call('POST', '/v1/admin/routes', {
      name: 'GB through sim-b',
      country: 'GB',
      tiers: [[{ provider: 'sim-b', weight: 1 }], [{ provider: 'sim-a', weight: 1 }]],
    });
    assert.equal(response.status, 201, await response.clone().text());
    const route = (await response.json()) as { id: string };

    const simulation = await call('POST', '/v1/admin/routes/simulate', {
      to: '+447400123456',
      class: 'transactional',
    });
    assert.equal(simulation.status, 200, await simulation.clone().text());
    const simulated = (await simulation.json()) as {
      routeId: string;
      order: string[];
      explanation: string[];
    };
    assert.equal(simulated.routeId, route.id);
    assert.deepEqual(simulated.order, ['sim-b', 'sim-a']);
    assert.ok(simulated.explanation.length > 0);

    // The bridge polls the routing version every 2 s: after that every GB message uses sim-b.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    for (let i = 0; i < 8; i++) {
      const id = await send(`+44740012340${i}`, `routed ${i}`);
      await waitFor(async () => Boolean((await message(id)).provider), 10_000, 'sent');
      assert.equal((await message(id)).provider, 'sim-b');
    }
    assert.equal((await call('DELETE', `/v1/admin/routes/${route.id}`)).status, 204);
  });

  /**
   * Sends `messageClass` through sim-a first (sim-b second) while sim-a has `fault`; returns the
   * undo, which lifts the fault and removes the route.
   */
  const pinToFaultySimA = async (messageClass: string, fault: string) => {
    const route = await call('POST', '/v1/admin/routes', {
      name: `${messageClass} via sim-a`,
      messageClass,
      tiers: [[{ provider: 'sim-a', weight: 1 }], [{ provider: 'sim-b', weight: 1 }]],
    });
    assert.equal(route.status, 201);
    const { id } = (await route.json()) as { id: string };
    const faulted = await call('PUT', '/simulator/providers/sim-a/fault', { fault });
    assert.ok(faulted.ok, await faulted.text());
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the route reaches the bridge
    return async () => {
      await call('DELETE', '/simulator/providers/sim-a/fault');
      assert.equal((await call('DELETE', `/v1/admin/routes/${id}`)).status, 204);
    };
  };

  test('an OTP its provider silently drops goes out once more through the other provider', async () => {
    // sim-a accepts but never delivers.
    const undo = await pinToFaultySimA('otp', 'silent');

    const to = '+14155550777';
    const id = await send(to, 'Your code is 424242', 'otp');
    await waitFor(
      async () => (await message(id)).status === 'delivered',
      15_000,
      'delivered via the second copy',
    );
    const copies = await outbox(to);
    assert.deepEqual(
      copies.map((c) => c.provider).sort(),
      ['sim-a', 'sim-b'],
      'one copy through each provider, no more',
    );
    const submissions = (await message(id)).history.filter((h) => h.type === 'message.submitted');
    assert.equal(submissions.length, 2, 'both attempts are in the history');
    await undo();
  });

  test('a provider refusing a call is on the message record even though another provider took it', async () => {
    const undo = await pinToFaultySimA('transactional', 'down');

    const id = await send('+14155550778', 'Your parcel is on its way');
    // A 404 (no attempts) until the persister has the message.
    await waitFor(async () => (await message(id)).attempts?.length === 2, 10_000, 'both calls recorded');
    const record = await message(id);
    assert.equal(record.provider, 'sim-b');
    assert.deepEqual(
      record.attempts!.map((a) => [a.attempt, a.provider, a.outcome, a.errorClass, a.errorCode]),
      [
        [1, 'sim-a', 'failed', 'retryable', 'ECONNREFUSED'],
        [2, 'sim-b', 'submitted', null, null],
      ],
    );
    assert.ok(record.attempts!.every((a) => a.requestedAt !== null && a.respondedAt !== null));
    assert.ok(record.history.some((h) => h.type === 'attempt.failed' && h.provider === 'sim-a'));
    await undo();
  });
});
