import { Counter, Histogram, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import {
  DEFAULT_ROSTER,
  escalationChain,
  nextEscalationAt,
  type PageDelivery,
  type PageRecord,
  type Roster,
  ROSTER_NAME_PATTERN,
} from '../../../core/oncall.ts';
import type { Store } from '../../../core/store/store.ts';
import { type IncomingAlert, type ParsedAlerts, pageText } from './alerts.ts';
import type { Pager } from './pager.ts';

/** Log event names of on-call paging; the metrics count the same outcomes. */
export const OncallEvents = {
  paged: 'oncall.paged',
  duplicate: 'oncall.duplicate',
  resolved: 'oncall.resolved',
  escalated: 'oncall.escalated',
  acknowledged: 'oncall.acknowledged',
  notRecorded: 'oncall.page_not_recorded',
  dedupeUnavailable: 'oncall.dedupe_unavailable',
  escalationFailed: 'oncall.escalation_failed',
  rosterStale: 'oncall.roster_stale',
} as const;

export type AlertResult = 'paged' | 'duplicate' | 'resolved' | 'no_page';

export interface AlertOutcome {
  fingerprint: string;
  status: 'firing' | 'resolved';
  result: AlertResult;
  pageId?: string;
  via?: PageDelivery['via'];
}

export interface OncallDeps {
  store: Store;
  cache: Cache;
  pager: Pager;
  logger: Logger;
  registry: Registry;
  now?: () => number;
}

/**
 * How long an alert's firing (or resolved) notice is remembered, so the same notice posted again —
 * Alertmanager replicas each send it, and it repeats it every `repeat_interval` — pages once.
 * A resolved notice forgets the firing one, so the next firing pages again.
 */
export const DEDUPE_TTL_MS = 24 * 3_600_000;
/** How long a sweeper holds an escalation it is sending, so two api replicas never both send it. */
const ESCALATION_LEASE_MS = 120_000;
/** Rosters are read on every alert; they change rarely, and a store outage must not stop a page. */
const ROSTER_CACHE_MS = 5_000;

const dedupeKey = (tenantId: string, fingerprint: string, status: string) =>
  `oncall:alert:${tenantId}:${fingerprint}:${status}`;

/**
 * On-call paging: alerts in, pages out to the member on call, escalation to the next member when
 * nobody acknowledges, and a resolved notice to everyone paged. State lives in the store
 * (`oncall_pages`); duplicates are caught twice — a cache claim per fingerprint and status, then
 * the store's open pages for the fingerprint — and escalations are claimed by compare-and-set, so
 * any number of api replicas can run this side by side.
 */
export class OncallService {
  private readonly rosters = new Map<string, { roster: Roster | undefined; at: number }>();
  private readonly received: Counter<'source' | 'status' | 'result'>;
  private readonly escalations: Counter;
  private readonly acknowledgements: Counter;
  private readonly timeToAck: Histogram;
  private readonly now: () => number;

  constructor(private readonly deps: OncallDeps) {
    this.now = deps.now ?? Date.now;
    this.received = new Counter({
      name: 'pigeon_oncall_alerts_total',
      help: 'Alerts received for on-call paging, by source (alertmanager, generic), status and result (paged, duplicate, resolved, no_page)',
      labelNames: ['source', 'status', 'result'],
      registers: [deps.registry],
    });
    this.escalations = new Counter({
      name: 'pigeon_oncall_escalations_total',
      help: 'Pages escalated to the next member after going unacknowledged',
      registers: [deps.registry],
    });
    this.acknowledgements = new Counter({
      name: 'pigeon_oncall_acknowledgements_total',
      help: 'Pages acknowledged',
      registers: [deps.registry],
    });
    this.timeToAck = new Histogram({
      name: 'pigeon_oncall_time_to_acknowledge_seconds',
      help: 'From the first page to its acknowledgement',
      buckets: [30, 60, 120, 300, 600, 900, 1800, 3600],
      registers: [deps.registry],
    });
  }

  /**
   * Pages for the firing alerts and sends resolved notices for the resolved ones. Every roster the
   * request needs is checked first, so a missing one refuses the request before anything is sent.
   */
  async receive(tenantId: string, parsed: ParsedAlerts): Promise<AlertOutcome[]> {
    const rosters = new Map<IncomingAlert, { name: string; roster: Roster }>();
    for (const alert of parsed.alerts) {
      if (alert.status === 'firing') rosters.set(alert, await this.rosterFor(tenantId, alert));
    }
    const outcomes: AlertOutcome[] = [];
    for (const alert of parsed.alerts) {
      const outcome =
        alert.status === 'firing'
          ? await this.fire(tenantId, alert, rosters.get(alert)!)
          : await this.resolve(tenantId, alert);
      this.received.inc({ source: parsed.source, status: alert.status, result: outcome.result });
      outcomes.push(outcome);
    }
    return outcomes;
  }

  private async rosterFor(tenantId: string, alert: IncomingAlert): Promise<{ name: string; roster: Roster }> {
    if (alert.roster !== undefined) {
      const roster = new RegExp(ROSTER_NAME_PATTERN).test(alert.roster)
        ? await this.roster(tenantId, alert.roster)
        : undefined;
      if (!roster) throw missingRoster(alert.roster);
      return { name: alert.roster, roster };
    }
    if (alert.receiver !== undefined && new RegExp(ROSTER_NAME_PATTERN).test(alert.receiver)) {
      const roster = await this.roster(tenantId, alert.receiver);
      if (roster) return { name: alert.receiver, roster };
    }
    const roster = await this.roster(tenantId, DEFAULT_ROSTER);
    if (!roster) throw missingRoster(DEFAULT_ROSTER);
    return { name: DEFAULT_ROSTER, roster };
  }

  /** A roster, cached briefly; while the store is down the last one read is used. */
  private async roster(tenantId: string, name: string): Promise<Roster | undefined> {
    const key = `${tenantId}\u0000${name}`;
    const cached = this.rosters.get(key);
    const now = this.now();
    if (cached && now - cached.at < ROSTER_CACHE_MS) return cached.roster;
    try {
      const roster = (await this.deps.store.getRoster(tenantId, name))?.roster;
      if (this.rosters.size > 10_000) this.rosters.clear();
      this.rosters.set(key, { roster, at: now });
      return roster;
    } catch (err) {
      if (!cached) throw err;
      this.deps.logger.warn({ err, roster: name }, OncallEvents.rosterStale);
      return cached.roster;
    }
  }

  /** Forgets cached rosters of a tenant after the admin API changed one. */
  rosterChanged(tenantId: string, name: string): void {
    this.rosters.delete(`${tenantId}\u0000${name}`);
  }

  /** Claims the notice once; true when this caller is the first (or the cache cannot tell). */
  private async claim(tenantId: string, alert: IncomingAlert): Promise<boolean> {
    const { cache, logger } = this.deps;
    try {
      const first = await cache.set(
        dedupeKey(tenantId, alert.fingerprint, alert.status),
        String(this.now()),
        {
          nx: true,
          ttlMs: DEDUPE_TTL_MS,
        },
      );
      if (first) {
        const other = alert.status === 'firing' ? 'resolved' : 'firing';
        await cache.del(dedupeKey(tenantId, alert.fingerprint, other));
      }
      return first;
    } catch (err) {
      // A duplicate page is a nuisance; a page lost to a cache outage is an incident.
      logger.warn({ err, fingerprint: alert.fingerprint }, OncallEvents.dedupeUnavailable);
      return true;
    }
  }

  private async release(tenantId: string, alert: IncomingAlert): Promise<void> {
    await this.deps.cache.del(dedupeKey(tenantId, alert.fingerprint, alert.status)).catch(() => undefined);
  }

  private async fire(
    tenantId: string,
    alert: IncomingAlert,
    { name, roster }: { name: string; roster: Roster },
  ): Promise<AlertOutcome> {
    const { store, pager, logger } = this.deps;
    const base = { fingerprint: alert.fingerprint, status: alert.status };
    if (!(await this.claim(tenantId, alert))) {
      logger.info({ fingerprint: alert.fingerprint }, OncallEvents.duplicate);
      return { ...base, result: 'duplicate' };
    }
    // The cache forgets (a Redis restart, the ttl); the store still knows the page is open.
    const open = await store.findPages(tenantId, alert.fingerprint, ['open', 'acknowledged']).catch(() => []);
    if (open.length > 0) return { ...base, result: 'duplicate', pageId: open[0]!.id };

    const now = this.now();
    const chain = escalationChain(roster, now);
    const first = chain[0]!;
    const pageId = newId(now);
    let sent;
    try {
      sent = await pager.send(tenantId, first.phone, pageText('page', alert, pageId), 'page');
    } catch (err) {
      // Forget the claim, so the sender's retry of this notice pages.
      await this.release(tenantId, alert);
      throw err;
    }
    const page: PageRecord = {
      id: pageId,
      tenantId,
      roster: name,
      fingerprint: alert.fingerprint,
      status: 'open',
      severity: alert.severity,
      // The column holds 512 characters; code points, so a cut never splits one.
      title: [...alert.title].slice(0, 500).join(''),
      level: 0,
      chain,
      deliveries: [delivery(first.name, 0, 'page', sent, now)],
      createdAt: now,
      escalateAt: nextEscalationAt(roster, chain.length, 0, now),
      acknowledgedAt: null,
      acknowledgedBy: null,
      resolvedAt: null,
      updatedAt: now,
    };
    try {
      await store.insertPage(page);
    } catch (err) {
      // The page went out, which is what matters; without the record it cannot be acknowledged,
      // escalated or resolved, which the log says.
      logger.error({ err, pageId, fingerprint: alert.fingerprint }, OncallEvents.notRecorded);
    }
    logger.info(
      { pageId, roster: name, member: first.name, via: sent.via, fingerprint: alert.fingerprint },
      OncallEvents.paged,
    );
    return { ...base, result: 'paged', pageId, via: sent.via };
  }

  private async resolve(tenantId: string, alert: IncomingAlert): Promise<AlertOutcome> {
    const { store, pager, logger } = this.deps;
    const base = { fingerprint: alert.fingerprint, status: alert.status };
    if (!(await this.claim(tenantId, alert))) return { ...base, result: 'duplicate' };
    let pages: PageRecord[];
    try {
      pages = await store.findPages(tenantId, alert.fingerprint, ['open', 'acknowledged']);
    } catch (err) {
      await this.release(tenantId, alert);
      throw err;
    }
    if (pages.length === 0) return { ...base, result: 'no_page' };
    let via: PageDelivery['via'] | undefined;
    for (const page of pages) {
      const now = this.now();
      const resolved: PageRecord = {
        ...page,
        status: 'resolved',
        resolvedAt: now,
        escalateAt: null,
        updatedAt: now,
      };
      // Whoever resolved it first sends the notice; a concurrent resolve finds it changed.
      if (!(await store.updatePage(resolved, { status: page.status, level: page.level }))) continue;
      const paged = [...new Set(page.deliveries.filter((d) => d.kind !== 'resolved').map((d) => d.member))];
      const notices: PageDelivery[] = [];
      for (const member of page.chain.filter((m) => paged.includes(m.name))) {
        try {
          const sent = await pager.send(
            tenantId,
            member.phone,
            pageText('resolved', page, page.id),
            'resolved',
          );
          notices.push(delivery(member.name, -1, 'resolved', sent, now));
          via = sent.via;
        } catch (err) {
          // The alert is over either way; a lost "resolved" is logged, not retried.
          logger.warn({ err, pageId: page.id, member: member.name }, OncallEvents.resolved);
        }
      }
      const withNotices = {
        ...resolved,
        deliveries: [...resolved.deliveries, ...notices],
        updatedAt: this.now(),
      };
      await store.updatePage(withNotices, { status: 'resolved', level: page.level }).catch(() => false);
      logger.info({ pageId: page.id, notified: notices.length }, OncallEvents.resolved);
    }
    return { ...base, result: 'resolved', pageId: pages[0]!.id, ...(via ? { via } : {}) };
  }

  async page(tenantId: string, id: string): Promise<PageRecord> {
    const page = await this.deps.store.getPage(tenantId, id);
    if (!page) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No page ${id} for this API key`);
    return page;
  }

  /** Stops the escalation of an open page; acknowledging twice is harmless, a resolved page conflicts. */
  async acknowledge(tenantId: string, id: string, by: string): Promise<PageRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const page = await this.page(tenantId, id);
      if (page.status === 'acknowledged') return page;
      if (page.status === 'resolved') {
        throw new PigeonError('PIGEON_ERR_CONFLICT', `Page ${id} is already resolved`);
      }
      const now = this.now();
      const acknowledged: PageRecord = {
        ...page,
        status: 'acknowledged',
        acknowledgedAt: now,
        acknowledgedBy: by,
        escalateAt: null,
        updatedAt: now,
      };
      if (await this.deps.store.updatePage(acknowledged, { status: 'open', level: page.level })) {
        this.acknowledgements.inc();
        this.timeToAck.observe(Math.max(0, now - page.createdAt) / 1000);
        this.deps.logger.info({ pageId: id, by, level: page.level }, OncallEvents.acknowledged);
        return acknowledged;
      }
      // An escalation moved the page meanwhile: read it again.
    }
    throw new PigeonError('PIGEON_ERR_CONFLICT', `Page ${id} kept changing; try again`);
  }

  /**
   * Pages the next member of every open page whose escalation is due. Each escalation is leased in
   * the cache while it is sent and then recorded by compare-and-set, so of several replicas
   * sweeping at once exactly one sends it; one that cannot be sent is tried at the next sweep.
   */
  async escalateDue(limit = 50): Promise<number> {
    const { store, cache, pager, logger } = this.deps;
    const due = await store.duePages(this.now(), limit);
    let escalated = 0;
    for (const page of due) {
      const level = page.level + 1;
      const member = page.chain[level];
      if (!member) continue;
      const lease = `oncall:escalate:${page.id}:${level}`;
      const leased = await cache.set(lease, '1', { nx: true, ttlMs: ESCALATION_LEASE_MS }).catch(() => true);
      if (!leased) continue;
      const now = this.now();
      const lastAt = page.deliveries.filter((d) => d.kind !== 'resolved').at(-1)?.at ?? page.createdAt;
      const interval = Math.max(60_000, (page.escalateAt ?? now) - lastAt);
      const previous = page.chain[page.level]?.name ?? 'nobody';
      let sent;
      try {
        sent = await pager.send(
          page.tenantId,
          member.phone,
          pageText('escalation', page, page.id, `${previous} did not acknowledge`),
          'escalation',
        );
      } catch (err) {
        await cache.del(lease).catch(() => undefined);
        logger.error(
          { err: isPigeonError(err) ? err.message : err, pageId: page.id, level },
          OncallEvents.escalationFailed,
        );
        continue;
      }
      const next: PageRecord = {
        ...page,
        level,
        deliveries: [...page.deliveries, delivery(member.name, level, 'escalation', sent, now)],
        escalateAt: level + 1 < page.chain.length ? now + interval : null,
        updatedAt: now,
      };
      if (await store.updatePage(next, { status: 'open', level: page.level })) {
        escalated++;
        this.escalations.inc();
        logger.warn({ pageId: page.id, level, member: member.name, via: sent.via }, OncallEvents.escalated);
      }
    }
    return escalated;
  }
}

function delivery(
  member: string,
  level: number,
  kind: PageDelivery['kind'],
  sent: { messageId: string; via: PageDelivery['via']; provider?: string },
  at: number,
): PageDelivery {
  return {
    member,
    level,
    kind,
    messageId: sent.messageId,
    via: sent.via,
    ...(sent.provider ? { provider: sent.provider } : {}),
    at,
  };
}

function missingRoster(name: string): PigeonError {
  return new PigeonError(
    'PIGEON_ERR_NOT_FOUND',
    `No on-call roster "${name}" for this API key's tenant (create it with PUT /v1/admin/oncall/${name})`,
  );
}
