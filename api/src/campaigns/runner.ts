import { Counter, Gauge, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import { mapLimit } from '../../../core/concurrency.ts';
import { isPigeonError, type PigeonError } from '../../../core/errors.ts';
import { timeOfId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import { markCampaignCancelled } from '../../../core/campaign-cancel.ts';
import { buildMessage } from '../../../core/message-request.ts';
import type { MessageRequested } from '../../../core/message.ts';
import type {
  CampaignRecipient,
  CampaignRecord,
  CampaignUnsentRow,
} from '../../../core/store/kinds/campaigns.ts';
import type { TemplateRecord } from '../../../core/store/kinds/templates.ts';
import type { Store } from '../../../core/store/store.ts';
import { messageText } from '../../../core/template.ts';
import { applySender, sendCandidate } from '../outgoing.ts';
import type { MessagePublisher } from '../publisher.ts';
import type { Admission, SendPolicy } from '../send-policy/engine.ts';
import type { SenderDirectory } from '../senders.ts';
import { CampaignEvents, CampaignNotifier } from './events.ts';
import { FairShare } from './fair-share.ts';
import { campaignEventId, campaignMessageId } from './message-id.ts';
import { nextRunAt } from './schedule.ts';
import { TokenBucket } from './token-bucket.ts';
import { fullCountDue, inLaneOf, type LaneTracking, progressOf, unknownUnstoredOf } from './run-progress.ts';

/** The one lease (core/store/kinds/leases.ts) whose holder runs every campaign. */
export const RUNNER_LEASE = 'campaign-runner';

export interface CampaignRunnerSettings {
  /** How often the runner looks at its campaigns. */
  tickMs: number;
  /** How long its lease (and each campaign's) lasts unrenewed: a dead runner's work resumes after it. */
  leaseTtlMs: number;
  /** Recipient rows read, built, admitted and published together; the checkpoint moves per chunk. */
  chunkRows: number;
  /**
   * Campaign messages published and not yet taken by the bridge, across all campaigns: the bulk
   * lane never holds more of them, so a campaign queued later waits at most this much.
   */
  maxInFlight: number;
  /** The fair share's quantum: rows a tenant earns per round. */
  quantum: number;
  /**
   * How often each campaign's messages in the lane are counted (they feed the window): the queued
   * ones the store holds and the published ones it does not hold yet.
   */
  countsEveryMs: number;
  /**
   * Rows of a chunk built and admitted at once. The send policy's script goes to the Redis
   * connection the api's own requests use: a whole chunk's scripts at once would put an OTP's
   * admission (and the rest of its request) behind hundreds of them, and their replies would
   * come back as one long run of callbacks on the loop that accepts it.
   */
  admitsInFlight: number;
}

export const DEFAULT_RUNNER_SETTINGS: CampaignRunnerSettings = Object.freeze({
  tickMs: 200,
  leaseTtlMs: 10_000,
  chunkRows: 500,
  maxInFlight: 5_000,
  quantum: 100,
  countsEveryMs: 500,
  admitsInFlight: 32,
});

export interface CampaignRunnerDeps {
  store: Store;
  cache: Cache;
  publisher: Pick<MessagePublisher, 'publish'>;
  /** The send policy every send path passes: opt-outs, frequency caps, dedup, rates, spend. */
  policy: Pick<SendPolicy, 'admit'>;
  senders: SenderDirectory;
  smartEncoding: (tenantId: string) => Promise<boolean> | boolean;
  logger: Logger;
  registry: Registry;
  publishTimeoutMs: number;
  allowPrivateCallbackNetworks: boolean;
  /** Who this runner is in the leases: unique per process. */
  holder: string;
  now?: () => number;
  settings?: Partial<CampaignRunnerSettings>;
}

/** A campaign this runner holds, with what it keeps between ticks. */
interface Held extends LaneTracking {
  campaign: CampaignRecord;
  template: TemplateRecord | undefined;
  bucket: TokenBucket;
  unstored: Set<string>;
  countsAt: number;
}

/** What releasing one chunk did. */
interface Released {
  /** Rows done with (published, or set aside as unsent); the checkpoint moves by this. */
  consumed: number;
}

/**
 * Runs campaigns inside the api service, which owns the send policy, templates and publisher.
 * Exactly one runner acts at a time across api replicas: the holder of the `campaign-runner`
 * lease, renewed every tick. It starts due campaigns (a compare-and-set from `scheduled`, so one
 * start whatever the replicas), expands running ones in chunks into bulk-lane messages with ids
 * derived from (campaign, run, row), releases rows by deficit round-robin across tenants within a
 * bounded in-flight window and each campaign's rate cap, and completes a run once every row is
 * expanded and every message settled. All state is in the store: a runner killed at any point
 * resumes from the checkpoint, republishing at most one chunk with the same ids.
 */
export class CampaignRunner {
  private readonly settings: CampaignRunnerSettings;
  private readonly now: () => number;
  private readonly held = new Map<string, Held>();
  private readonly fairShare: FairShare;
  private readonly notifier: CampaignNotifier;
  private readonly rows: Counter<'result'>;
  private readonly inFlightGauge: Gauge;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private leader = false;
  /** When this runner last renewed its lease (as leader). */
  private renewedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: CampaignRunnerDeps) {
    this.settings = { ...DEFAULT_RUNNER_SETTINGS, ...deps.settings };
    this.now = deps.now ?? Date.now;
    this.fairShare = new FairShare(this.settings.quantum);
    this.notifier = new CampaignNotifier(deps.store);
    this.rows = new Counter({
      name: 'pigeon_campaign_rows_total',
      help: 'Campaign rows expanded, by result (published, unsent: refused by the send policy or invalid)',
      labelNames: ['result'],
      registers: [deps.registry],
    });
    this.inFlightGauge = new Gauge({
      name: 'pigeon_campaign_in_flight',
      help: 'Campaign messages published and not yet taken by the bridge (bounded by the window)',
      registers: [deps.registry],
    });
  }

  /** Whether this runner held the lease at its last tick. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Ticks every `tickMs` until closed. */
  start(): void {
    const loop = () => {
      if (this.closed) return;
      this.running = this.tick()
        .catch((err: unknown) => {
          this.deps.logger.warn({ err: (err as Error).message }, 'campaign.runner_tick_failed');
        })
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(loop, this.settings.tickMs);
        });
    };
    loop();
  }

  /** Stops ticking, lets the current tick finish and gives up the leases so another runner takes over at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    const { store } = this.deps;
    await Promise.allSettled(
      [...this.held.values()].map((h) =>
        store.releaseCampaign(h.campaign.tenantId, h.campaign.id, this.deps.holder),
      ),
    );
    this.held.clear();
    if (this.leader) await store.releaseLease(RUNNER_LEASE, this.deps.holder).catch(() => undefined);
    this.leader = false;
  }

  /** One step: renew the lease, start due campaigns, release rows, complete finished runs. */
  async tick(): Promise<void> {
    const { store, holder } = this.deps;
    const now = this.now();
    // The leader renews once a third of its lease has passed, not every tick: a write (and a
    // redo-log flush) five times a second while idle was most of the api's database work when no
    // campaign runs, and two thirds of the lease is still ample warning of a lost renewal.
    if (!this.leader || now - this.renewedAt >= this.settings.leaseTtlMs / 3) {
      this.leader = await store.acquireLease(RUNNER_LEASE, holder, now, now + this.settings.leaseTtlMs);
      if (this.leader) this.renewedAt = now;
    }
    if (!this.leader) {
      // Another replica runs campaigns; what this one held is theirs once its leases run out.
      this.held.clear();
      return;
    }
    await this.takeDue(now);
    await this.refresh(now);
    await this.release(now);
    this.inFlightGauge.set([...this.held.values()].reduce((sum, h) => sum + inLaneOf(h), 0));
  }

  /** Starts scheduled campaigns whose time came and takes running ones nobody holds. */
  private async takeDue(now: number): Promise<void> {
    const { store, holder } = this.deps;
    for (const due of await store.dueCampaigns(now, 100)) {
      if (this.held.has(due.id)) continue;
      let campaign = due;
      if (due.state === 'scheduled') {
        const started = await store.transitionCampaign(due.tenantId, due.id, ['scheduled'], 'running', now, {
          startedAt: now,
        });
        if (!started) continue;
        campaign = { ...due, state: 'running', startedAt: now, updatedAt: now };
        await this.notifier.notify(campaign, CampaignEvents.started, now);
      } else if (due.state !== 'running') continue;
      if (!(await store.leaseCampaign(due.tenantId, due.id, holder, now, now + this.settings.leaseTtlMs))) {
        continue;
      }
      this.held.set(due.id, {
        campaign,
        template:
          campaign.templateId === null
            ? undefined
            : await store.getTemplate(campaign.tenantId, campaign.templateId),
        bucket: new TokenBucket(campaign.rateCap ?? undefined, now),
        unstored: new Set(),
        unknownUnstored: 0,
        lastFullCount: undefined,
        queued: 0,
        countsAt: 0,
      });
    }
  }

  /**
   * Re-reads each held campaign: a client may have paused or cancelled it. Renews its lease and,
   * every `countsEveryMs`, counts its messages in the lane; the full count, which tells whether the
   * run is over, only when `fullCountDue`.
   */
  private async refresh(now: number): Promise<void> {
    const { store, holder, cache } = this.deps;
    await Promise.all(
      [...this.held.values()].map(async (held) => {
        const { tenantId, id } = held.campaign;
        const current = await store.getCampaign(tenantId, id);
        if (!current || current.state !== 'running') {
          this.held.delete(id);
          await store.releaseCampaign(tenantId, id, holder);
          if (current?.state === 'cancelled') {
            // The bridge skips the campaign's messages still in the lane from now on.
            await markCampaignCancelled(cache, id);
            await this.notifier.notify(current, CampaignEvents.cancelled, now);
          } else if (current?.state === 'paused') {
            await this.notifier.notify(current, CampaignEvents.paused, now);
          }
          return;
        }
        if (!(await store.leaseCampaign(tenantId, id, holder, now, now + this.settings.leaseTtlMs))) {
          this.held.delete(id);
          return;
        }
        // The checkpoint this runner moved is the one it knows; the store's is the truth.
        held.campaign = current;
        if (held.lastFullCount !== undefined && now - held.countsAt < this.settings.countsEveryMs) return;
        held.countsAt = now;
        if (held.unstored.size > 0) {
          for (const stored of await store.storedCampaignMessageIds(id, [...held.unstored])) {
            held.unstored.delete(stored);
          }
        }
        const unsettled = await store.campaignUnsettledCounts(id);
        if (fullCountDue(current, held, unsettled, now, this.settings.countsEveryMs)) {
          const countStarted = this.now();
          const progress = progressOf(
            current,
            await store.campaignStatusCounts(tenantId, id),
            await store.countUnsentRows(id),
          );
          held.lastFullCount = { at: now, tookMs: this.now() - countStarted };
          held.unknownUnstored = unknownUnstoredOf(progress, held);
          if (progress.done) {
            await this.finishRun(held, now);
            return;
          }
        }
        held.queued = unsettled.queued;
      }),
    );
  }

  /** Ends the run: completed, or back to scheduled for the next run of a recurring campaign. */
  private async finishRun(held: Held, now: number): Promise<void> {
    const { store, holder } = this.deps;
    const c = held.campaign;
    this.held.delete(c.id);
    const next =
      c.recurrence === null
        ? undefined
        : nextRunAt(
            c.sendAt ?? c.startedAt ?? now,
            c.timeZone ?? 'UTC',
            c.recurrence,
            c.firstSendAt ?? c.sendAt ?? c.startedAt ?? now,
          );
    const ended =
      next === undefined
        ? await store.transitionCampaign(c.tenantId, c.id, ['running'], 'completed', now, { finishedAt: now })
        : await store.transitionCampaign(c.tenantId, c.id, ['running'], 'scheduled', now, {
            sendAt: next,
            run: c.run + 1,
            nextRow: 0,
            startedAt: null,
          });
    await store.releaseCampaign(c.tenantId, c.id, holder);
    if (ended) {
      await this.notifier.notify(
        { ...c, state: next === undefined ? 'completed' : 'scheduled', updatedAt: now },
        CampaignEvents.completed,
        now,
      );
      this.deps.logger.info({ campaignId: c.id, run: c.run, next }, CampaignEvents.completed);
    }
  }

  /** Shares the room in the window among the held campaigns and expands each its share. */
  private async release(now: number): Promise<void> {
    const held = [...this.held.values()];
    const inFlight = held.reduce((sum, h) => sum + inLaneOf(h), 0);
    const room = this.settings.maxInFlight - inFlight;
    if (room <= 0) return;
    const shares = this.fairShare.allocate(
      held.map((h) => ({
        tenantId: h.campaign.tenantId,
        campaignId: h.campaign.id,
        ready: Math.min(h.campaign.recipientCount - h.campaign.nextRow, h.bucket.available(now)),
      })),
      room,
    );
    await Promise.all(
      [...shares].map(async ([id, rows]) => {
        const h = this.held.get(id);
        if (h) await this.expand(h, rows, now);
      }),
    );
  }

  /** Expands up to `rows` rows of one campaign, a chunk at a time, each chunk checkpointed. */
  private async expand(held: Held, rows: number, now: number): Promise<void> {
    const { store } = this.deps;
    let left = rows;
    while (left > 0 && this.held.has(held.campaign.id) && !this.closed) {
      const c = held.campaign;
      // A tick can outlast the leases (a slow store, a loaded machine): renewed before each chunk,
      // so a runner whose lease another replica took stops before publishing rather than after.
      if (!(await this.renew(c, this.now()))) {
        this.held.delete(c.id);
        return;
      }
      const from = c.nextRow;
      const chunk = await store.readRecipients(c.id, from, Math.min(left, this.settings.chunkRows));
      if (chunk.length === 0) return;
      const released = await this.releaseChunk(held, chunk, now);
      if (released.consumed === 0) return;
      const moved = await store.advanceCampaign(
        c.tenantId,
        c.id,
        { run: c.run, nextRow: from },
        { run: c.run, nextRow: from + released.consumed },
        now,
      );
      // Paused or cancelled since the last refresh (the checkpoint moves only while running):
      // the next refresh tells which, marks a cancel for the bridge and reports it.
      if (!moved) return;
      held.campaign = { ...c, nextRow: from + released.consumed };
      held.bucket.take(released.consumed, now);
      left -= released.consumed;
      // Cut short by the tenant's send rate: the rest waits for the next tick.
      if (released.consumed < chunk.length) return;
    }
  }

  /** Renews the runner's lease and the campaign's; false when either is someone else's now. */
  private async renew(campaign: CampaignRecord, now: number): Promise<boolean> {
    const { store, holder } = this.deps;
    const until = now + this.settings.leaseTtlMs;
    this.leader = await store.acquireLease(RUNNER_LEASE, holder, now, until);
    if (this.leader) this.renewedAt = now;
    return this.leader && (await store.leaseCampaign(campaign.tenantId, campaign.id, holder, now, until));
  }

  /**
   * Builds, admits and publishes one chunk of rows. Rows the policy or the builder refuses are
   * recorded as unsent (with their code) and count as done; at the first row refused only for
   * the tenant's send rate the chunk is cut, and that row and the rest are released next time.
   */
  private async releaseChunk(
    held: Held,
    chunk: readonly CampaignRecipient[],
    now: number,
  ): Promise<Released> {
    const { policy, store } = this.deps;
    const c = held.campaign;
    const senders = await this.deps.senders.senders(c.tenantId);
    const smartEncoding = await this.deps.smartEncoding(c.tenantId);
    const startedAt = c.startedAt ?? timeOfId(c.id);
    type Outcome =
      | { row: CampaignRecipient; event: MessageRequested; admission: Admission }
      | { row: CampaignRecipient; error: PigeonError };
    const outcomes = await mapLimit(chunk, this.settings.admitsInFlight, async (row): Promise<Outcome> => {
      let event: MessageRequested;
      try {
        event = this.build(held, row, { senders, smartEncoding, startedAt, now });
      } catch (err) {
        if (!isPigeonError(err)) throw err;
        return { row, error: err };
      }
      try {
        return { row, event, admission: await policy.admit(c.tenantId, sendCandidate(event)) };
      } catch (err) {
        if (!isPigeonError(err) || err.code === 'PIGEON_ERR_CACHE_UNAVAILABLE') throw err;
        return { row, error: err };
      }
    });
    let cut = outcomes.findIndex((o) => 'error' in o && o.error.code === 'PIGEON_ERR_RATE_LIMITED');
    if (cut === -1) cut = outcomes.length;
    await releaseAll(outcomes.slice(cut));
    const kept = outcomes.slice(0, cut);
    const events: MessageRequested[] = [];
    const unsent: CampaignUnsentRow[] = [];
    for (const o of kept) {
      if ('error' in o) {
        unsent.push({ rowNo: o.row.rowNo, code: o.error.code, reason: o.error.message.slice(0, 512) });
        continue;
      }
      const { duplicateOf } = o.admission;
      // Its own id: this row was admitted before, by a runner that died before its checkpoint.
      // Published again, the bridge's claim and the persister's upsert make it one message.
      if (duplicateOf === undefined || duplicateOf === o.event.messageId) events.push(o.event);
      else unsent.push({ rowNo: o.row.rowNo, code: 'DUPLICATE', reason: `same as ${duplicateOf}` });
    }
    if (unsent.length > 0) await store.recordUnsentRows(c.id, c.run, unsent);
    if (events.length > 0) {
      try {
        await this.deps.publisher.publish(events, { abortOnFailure: false });
      } catch (err) {
        await releaseAll(kept);
        throw err;
      }
      for (const event of events) held.unstored.add(event.messageId);
    }
    this.rows.inc({ result: 'published' }, events.length);
    if (unsent.length > 0) this.rows.inc({ result: 'unsent' }, unsent.length);
    return { consumed: cut };
  }

  /** The row's message, as POST /v1/messages/batch builds one, on the bulk lane. */
  private build(
    held: Held,
    row: CampaignRecipient,
    context: {
      senders: Parameters<typeof applySender>[1];
      smartEncoding: boolean;
      startedAt: number;
      now: number;
    },
  ): MessageRequested {
    const c = held.campaign;
    const text = messageText(
      {
        // A template's variables: the campaign's, overridden by the row's own (as at intake).
        ...(held.template
          ? {
              template: held.template.id,
              variables: { ...c.variables, ...row.variables },
              ...(c.locale === null ? {} : { locale: c.locale }),
            }
          : { body: c.body ?? '', class: c.messageClass }),
      },
      held.template,
    );
    const messageId = campaignMessageId(c.id, c.run, row.rowNo, context.startedAt);
    const { event } = buildMessage(
      {
        to: row.to,
        body: text.body,
        class: text.messageClass ?? c.messageClass,
        ...(c.from === null ? {} : { from: c.from }),
        ...(row.clientRef === null ? {} : { clientRef: row.clientRef }),
      },
      {
        tenantId: c.tenantId,
        messageId,
        now: context.now,
        publishTimeoutMs: this.deps.publishTimeoutMs,
        fromBatch: true,
        campaignId: c.id,
        allowPrivateCallbackNetworks: this.deps.allowPrivateCallbackNetworks,
        smartEncoding: context.smartEncoding,
      },
    );
    applySender(event, context.senders);
    event.id = campaignEventId(messageId, context.startedAt);
    // Whatever its class, a campaign rides the bulk lane: the high lane stays the codes'.
    event.lane = 'bulk';
    // No client waits on this publish, so no 503 promise to keep: a record appended late (a
    // publish that timed out, then landed) must still be sendable, as the runner's retry of it
    // carries the same id and the bridge's claim lets only the first one through.
    event.acceptDeadline = event.expiresAt;
    return event;
  }
}

/** Gives back what the admitted ones of `outcomes` counted: their rows were not published. */
async function releaseAll(outcomes: ReadonlyArray<{ admission: Admission } | object>): Promise<void> {
  await Promise.all(outcomes.flatMap((o) => ('admission' in o ? [o.admission.release()] : [])));
}
