import { Counter, type Registry } from 'prom-client';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import type { Logger } from '../../../core/logger.ts';
import { isRetriable } from '../../../core/retry.ts';
import type { PageDelivery, PageRoute } from '../../../core/oncall.ts';
import { type DirectProvider, describeFailures, sendDirect } from '../../../providers/direct-send.ts';
import { buildMessageRequested } from '../../../core/message-request.ts';
import type { MessagePublisher } from '../publisher.ts';

/** Log event names of paging; the metrics below count the same outcomes. */
export const PagerEvents = {
  direct: 'oncall.page_direct',
  failed: 'oncall.page_failed',
} as const;

export interface PagerDeps {
  publisher: MessagePublisher;
  /** Providers to page through directly when the bus does not take a page, in order. */
  directProviders: () => readonly DirectProvider[];
  /** PIGEON_PUBLIC_URL, where direct sends' receipts come back. */
  publicUrl: string;
  publishTimeoutMs: number;
  logger: Logger;
  registry: Registry;
  now?: () => number;
}

export interface SentPage {
  messageId: string;
  via: PageRoute;
  provider?: string;
}

/**
 * Sends one page (an `alert`-class message, so the high lane) the normal way — published to
 * Kafka, dispatched by the bridge with its failover and receipts — and, when the bus does not take
 * it, straight to a provider. This is the point of on-call paging: the pages about the pipeline
 * being down must not depend on the pipeline.
 *
 * No duplicate comes from the fallback: a publish the bus did not acknowledge carries an abort
 * marker (MessagePublisher), so if the write lands late the bridge refuses it, and the direct send
 * reuses the same message id.
 */
export class Pager {
  private readonly pages: Counter<'kind' | 'via'>;
  private readonly failures: Counter<'kind'>;

  constructor(private readonly deps: PagerDeps) {
    this.pages = new Counter({
      name: 'pigeon_oncall_pages_total',
      help: 'On-call pages sent, by kind (page, escalation, resolved) and route (bus, or direct to a provider when the bus is down)',
      labelNames: ['kind', 'via'],
      registers: [deps.registry],
    });
    this.failures = new Counter({
      name: 'pigeon_oncall_page_failures_total',
      help: 'On-call pages neither the bus nor any provider took, by kind',
      labelNames: ['kind'],
      registers: [deps.registry],
    });
  }

  /** Sends `body` to `to`; rejects with PIGEON_ERR_PAGE_FAILED when neither route took it. */
  async send(tenantId: string, to: string, body: string, kind: PageDelivery['kind']): Promise<SentPage> {
    const { deps } = this;
    const now = (deps.now ?? Date.now)();
    const event = buildMessageRequested(
      { to, body, class: 'alert' },
      { tenantId, messageId: newId(now), now, publishTimeoutMs: deps.publishTimeoutMs },
    );
    try {
      await deps.publisher.publish([event]);
      this.pages.inc({ kind, via: 'bus' });
      return { messageId: event.messageId, via: 'bus' };
    } catch (err) {
      // The bus could not take it for now (unavailable): a provider may still. Anything else
      // (a page that is not valid) no route would take.
      if (!isRetriable(err)) throw err;
    }
    const result = await sendDirect(
      deps.directProviders(),
      {
        messageId: event.messageId,
        tenantId,
        to: event.to,
        body,
        messageClass: 'alert',
        expiresAt: event.expiresAt,
      },
      { publicUrl: deps.publicUrl },
    );
    if (result.ok) {
      this.pages.inc({ kind, via: 'direct' });
      deps.logger.warn({ messageId: event.messageId, provider: result.provider, kind }, PagerEvents.direct);
      return { messageId: event.messageId, via: 'direct', provider: result.provider };
    }
    this.failures.inc({ kind });
    const detail = describeFailures(result.failures);
    deps.logger.error({ messageId: event.messageId, kind, failures: detail }, PagerEvents.failed);
    throw new PigeonError(
      'PIGEON_ERR_PAGE_FAILED',
      `The bus did not take the page and no provider did either (${detail}); retry`,
      { retryAfterSeconds: 5 },
    );
  }
}
