import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { callbackHost, callbackUrlProblem } from '../../../core/callback-url.ts';
import { isPigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import { backoffDelay } from '../../../core/retry.ts';
import type { CallbackChange, CallbackDelivery, WebhookRecord } from '../../../core/store/kinds/callbacks.ts';
import type { Store } from '../../../core/store/store.ts';
import { CallbackHttp, type PostResult } from './http.ts';
import { CALLBACK_RETRY, nextAttemptAt } from './retry.ts';
import { type StatusCallback, withClientReference } from './payload.ts';
import { SIGNATURE_HEADER, signatureHeader } from '../../../core/signature.ts';
import { CallbackEvents } from '../events.ts';

/** The status event's id, also the body's `id`: receivers dedupe by it. */
export const EVENT_ID_HEADER = 'pigeon-event-id';

export interface CallbackWorkerSettings {
  timeoutMs: number;
  concurrency: number;
  perHost: number;
  maxAgeMs: number;
  keepMs: number;
  allowPrivateNetworks: boolean;
}

export interface CallbackWorkerOptions {
  store: Store;
  logger: Logger;
  registry: Registry;
  settings: CallbackWorkerSettings;
  /** The clock every due time is read from (tests drive retries with it). */
  now?: () => number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** How often the outbox is polled for due deliveries. */
  pollMs?: number;
}

/** Results of `pigeon_callbacks_deliveries_total`, one per attempt or decision. */
export const DELIVERY_RESULTS = ['delivered', 'retrying', 'given_up', 'skipped'] as const;
type DeliveryResult = (typeof DELIVERY_RESULTS)[number];

/**
 * A claimed delivery stays the worker's this long past its timeout, room for recording the
 * result; a worker that dies lets it go this long after the attempt would have ended.
 */
const LEASE_MARGIN_MS = 10_000;
/** An unresolved delivery looks for its message's request again after this. */
const RESOLVE_RETRY_MS = 2_000;
/** After this many failures in a row a host is paused: its waiting deliveries move past the pause. */
const PAUSE_AFTER_FAILURES = 3;
const MAX_HOSTS_REMEMBERED = 10_000;
/** Deliveries in flight a host starts with (slow start). */
const INITIAL_HOST_LIMIT = 2;
/** Due rows read per free slot: enough to fill slots when a few hosts are at their limit. */
const SCAN_FACTOR = 4;
const SECRET_TTL_MS = 5_000;

/**
 * Delivers the callback outbox. Each poll reads due deliveries, skipping hosts at their limit
 * and paused hosts, leases them, and POSTs them signed. The HTTP calls run beside the poll loop,
 * at most `concurrency` at once; per destination host a slow start applies (2 at first, one more
 * per success up to `perHost`, back to 1 on a failure), so an endpoint that hangs holds a slot or
 * two for `timeoutMs` while everyone else's callbacks keep flowing, and a host failing again and
 * again is paused. Failures are retried with backoff until `maxAgeMs` after the status change. A
 * worker that dies mid-delivery leaves a lease that expires, and the delivery is made again (at
 * least once).
 */
export class CallbackWorker {
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly settings: CallbackWorkerSettings;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly http: CallbackHttp;
  private readonly inFlight = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly failuresInARow = new Map<string, number>();
  private readonly pausedUntil = new Map<string, number>();
  private readonly secrets = new Map<string, { webhook: WebhookRecord | undefined; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;
  private databaseDown = false;
  /** Slow start per host: deliveries it may have in flight, up to `perHost`. */
  private readonly hostLimits = new Map<string, number>();
  private stopped = true;
  private readonly results: Counter;
  private readonly attemptSeconds: Histogram;
  private readonly pausedHosts: Gauge;

  constructor(options: CallbackWorkerOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.settings = options.settings;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.pollMs = options.pollMs ?? 250;
    this.http = new CallbackHttp({
      timeoutMs: this.settings.timeoutMs,
      allowPrivateNetworks: this.settings.allowPrivateNetworks,
    });
    this.results = new Counter({
      name: 'pigeon_callbacks_deliveries_total',
      help: 'Callback attempts and decisions: delivered, retrying (failed, will retry), given_up, skipped',
      labelNames: ['result'],
      registers: [options.registry],
    });
    this.attemptSeconds = new Histogram({
      name: 'pigeon_callbacks_attempt_seconds',
      help: 'Time of one callback POST, whatever its result',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [options.registry],
    });
    this.pausedHosts = new Gauge({
      name: 'pigeon_callbacks_paused_hosts',
      help: 'Destination hosts paused after failing several times in a row',
      registers: [options.registry],
      collect: () => {
        const at = this.now();
        this.pausedHosts.set([...this.pausedUntil.values()].filter((until) => until > at).length);
      },
    });
  }

  /**
   * Polls until close(): again at once while a round found work or a delivery finished (a busy
   * endpoint is fed as fast as it answers), else every `pollMs`.
   */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.again = false;
      this.polling = this.poll()
        .catch((err: unknown) => {
          if (isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_UNAVAILABLE') {
            // Once per outage, not once per poll.
            if (!this.databaseDown)
              this.logger.warn({ err: err.message }, CallbackEvents.databaseUnavailable);
            this.databaseDown = true;
          } else this.logger.error({ err }, CallbackEvents.pollFailed);
          return -1;
        })
        .then((started) => {
          if (started >= 0 && this.databaseDown) {
            this.databaseDown = false;
            this.logger.info(CallbackEvents.databaseRecovered);
          }
          this.polling = undefined;
          this.schedule(this.again || started > 0 ? 0 : this.pollMs);
        });
    }, delayMs);
  }

  /**
   * One round: leases the due deliveries there are slots for and starts them, without waiting
   * for their HTTP calls (idle() does). Resolves to how many were started or resolved.
   */
  async poll(): Promise<number> {
    const free = this.settings.concurrency - this.total();
    if (free <= 0) return 0;
    const at = this.now();
    const excludeHosts = [...this.busyHosts(at)];
    const due = await this.store.dueCallbacks({ now: at, limit: free * SCAN_FACTOR, excludeHosts });
    const picked: string[] = [];
    const perHost = new Map<string, number>();
    let sends = 0;
    let resolves = 0;
    for (const { id, host } of due) {
      if (host === '') {
        // Resolving is a database read, not a call to anyone: it takes no host's slot.
        if (resolves < free) {
          resolves++;
          picked.push(id);
        }
        continue;
      }
      const taken = (this.inFlight.get(host) ?? 0) + (perHost.get(host) ?? 0);
      if (taken >= this.limitOf(host) || sends >= free) continue;
      perHost.set(host, (perHost.get(host) ?? 0) + 1);
      sends++;
      picked.push(id);
    }
    if (picked.length === 0) return 0;
    const token = newId(at);
    const claimed = await this.store.claimCallbacks(picked, {
      now: at,
      leaseUntil: at + this.settings.timeoutMs + LEASE_MARGIN_MS,
      token,
    });
    const toResolve = claimed.filter((d) => d.url === null);
    if (toResolve.length > 0) await this.resolve(toResolve, token);
    for (const delivery of claimed) {
      if (delivery.url === null) continue;
      const host = callbackHost(delivery.url);
      this.inFlight.set(host, (this.inFlight.get(host) ?? 0) + 1);
      const run = this.deliver(delivery, token)
        .catch((err: unknown) => this.logger.error({ err, id: delivery.id }, CallbackEvents.deliveryFailed))
        .finally(() => {
          const left = (this.inFlight.get(host) ?? 1) - 1;
          if (left > 0) this.inFlight.set(host, left);
          else this.inFlight.delete(host);
          this.running.delete(run);
          this.schedule(0);
        });
      this.running.add(run);
    }
    return claimed.length;
  }

  /** Resolves once every delivery started so far has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Stops polling and waits for the deliveries in flight (each ends within its timeout). */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    await this.idle();
    this.http.close();
  }

  private total(): number {
    let sum = 0;
    for (const n of this.inFlight.values()) sum += n;
    return sum;
  }

  private busyHosts(at: number): Set<string> {
    const hosts = new Set<string>();
    for (const [host, n] of this.inFlight) if (n >= this.limitOf(host)) hosts.add(host);
    for (const [host, until] of this.pausedUntil) {
      if (until > at) hosts.add(host);
      else this.pausedUntil.delete(host);
    }
    return hosts;
  }

  /** Deliveries enqueued before their message's request was stored: find where they go now. */
  private async resolve(deliveries: CallbackDelivery[], token: string): Promise<void> {
    const targets = new Map(
      (await this.store.callbackTargets(deliveries.map((d) => d.messageId))).map((t) => [t.messageId, t]),
    );
    const at = this.now();
    for (const d of deliveries) {
      const target = targets.get(d.messageId);
      const change: CallbackChange = {
        state: 'pending',
        attempts: d.attempts,
        nextAttemptAt: at,
        updatedAt: at,
      };
      if (!target?.requested) {
        if (at >= d.createdAt + this.settings.maxAgeMs) {
          await this.store.updateCallback(d.id, token, {
            ...change,
            state: 'failed',
            lastError: 'the message was never recorded',
          });
          this.count('given_up');
        } else {
          await this.store.updateCallback(d.id, token, { ...change, nextAttemptAt: at + RESOLVE_RETRY_MS });
        }
        continue;
      }
      const webhook = await this.webhookOf(target.tenantId);
      const url = webhook ? (target.statusCallback ?? webhook.url) : null;
      if (url === null) {
        await this.store.updateCallback(d.id, token, {
          ...change,
          state: 'skipped',
          tenantId: target.tenantId,
          lastError: webhook ? 'no callback URL' : 'no webhook for the tenant',
        });
        this.count('skipped');
        continue;
      }
      // Due at once: the next poll sends it under the host's limits like any other. Written before
      // the request was stored, its body lacks the client's reference until now.
      const payload = JSON.stringify(withClientReference(JSON.parse(d.payload) as StatusCallback, target));
      await this.store.updateCallback(d.id, token, { ...change, tenantId: target.tenantId, url, payload });
    }
  }

  private async deliver(delivery: CallbackDelivery, token: string): Promise<void> {
    const url = delivery.url!;
    const host = callbackHost(url);
    const attempts = delivery.attempts + 1;
    const webhook = await this.webhookOf(delivery.tenantId);
    const refused = callbackUrlProblem(url, { allowPrivateNetworks: this.settings.allowPrivateNetworks });
    if (!webhook || refused) {
      // Without a secret nothing can be signed (the tenant deleted its webhook); a URL the rules
      // refuse now (they changed) is never called. Neither gets better by waiting.
      const at = this.now();
      await this.store.updateCallback(delivery.id, token, {
        state: 'failed',
        attempts: delivery.attempts,
        nextAttemptAt: at,
        updatedAt: at,
        lastError: webhook ? `URL refused: ${refused}` : 'the tenant has no signing secret any more',
      });
      this.count('given_up');
      return;
    }
    const started = performance.now();
    const signedAt = this.now();
    const result: PostResult = await this.http.post(url, delivery.payload, {
      'content-type': 'application/json',
      'user-agent': 'Pigeon-Callbacks/1',
      [SIGNATURE_HEADER]: signatureHeader(webhook.secret, delivery.payload, signedAt / 1000),
      [EVENT_ID_HEADER]: delivery.id,
      'pigeon-delivery-attempt': String(attempts),
    });
    this.attemptSeconds.observe((performance.now() - started) / 1000);
    const at = this.now();
    const status = 'status' in result ? result.status : null;
    if (status !== null && status >= 200 && status < 300) {
      this.failuresInARow.delete(host);
      this.hostLimits.set(host, Math.min(this.settings.perHost, this.limitOf(host) + 1));
      await this.store.updateCallback(delivery.id, token, {
        state: 'delivered',
        attempts,
        nextAttemptAt: at,
        updatedAt: at,
        lastStatus: status,
        lastError: null,
      });
      this.count('delivered');
      return;
    }
    const lastError = 'error' in result ? result.error : `HTTP ${result.status}`;
    const next = nextAttemptAt(attempts, at, delivery.createdAt, this.settings.maxAgeMs, this.random);
    await this.store.updateCallback(delivery.id, token, {
      state: next === undefined ? 'failed' : 'pending',
      attempts,
      nextAttemptAt: next ?? at,
      updatedAt: at,
      lastStatus: status,
      lastError,
    });
    this.count(next === undefined ? 'given_up' : 'retrying');
    if (next === undefined) {
      this.logger.warn({ id: delivery.id, host, attempts, lastError }, CallbackEvents.givenUp);
    }
    await this.hostFailed(host, at);
  }

  /**
   * A host failing again and again is paused with the same backoff as a delivery, and its
   * waiting deliveries move past the pause instead of each spending a timeout to learn the same.
   */
  private async hostFailed(host: string, at: number): Promise<void> {
    this.hostLimits.set(host, 1);
    const failures = (this.failuresInARow.get(host) ?? 0) + 1;
    this.failuresInARow.set(host, failures);
    if (failures < PAUSE_AFTER_FAILURES) return;
    const until = at + backoffDelay(failures - PAUSE_AFTER_FAILURES + 1, CALLBACK_RETRY, this.random);
    this.pausedUntil.set(host, until);
    const moved = await this.store.deferCallbacks(host, until);
    this.logger.warn({ host, failures, pausedMs: until - at, moved }, CallbackEvents.hostPaused);
  }

  /**
   * How many deliveries a host may have in flight: a host starts at 2, gains one per success up to
   * `perHost`, and drops to 1 on a failure, so an endpoint that hangs holds one or two slots while
   * one that answers gets as many as it can take.
   */
  private limitOf(host: string): number {
    // Hosts come and go with customers; forgetting them all now and then only restarts slow start.
    if (this.hostLimits.size > MAX_HOSTS_REMEMBERED) this.hostLimits.clear();
    if (this.failuresInARow.size > MAX_HOSTS_REMEMBERED) this.failuresInARow.clear();
    return this.hostLimits.get(host) ?? Math.min(INITIAL_HOST_LIMIT, this.settings.perHost);
  }

  private count(result: DeliveryResult): void {
    this.results.inc({ result });
  }

  /** The tenant's webhook and secret, remembered for a few seconds (real time, not the test clock). */
  private async webhookOf(tenantId: string): Promise<WebhookRecord | undefined> {
    const at = Date.now();
    const cached = this.secrets.get(tenantId);
    if (cached && cached.until > at) return cached.webhook;
    const webhook = tenantId ? await this.store.getWebhook(tenantId) : undefined;
    if (this.secrets.size > 10_000) this.secrets.clear();
    this.secrets.set(tenantId, { webhook, until: at + SECRET_TTL_MS });
    return webhook;
  }
}
