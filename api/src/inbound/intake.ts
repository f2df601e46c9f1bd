import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { PigeonError } from '../../../core/errors.ts';
import { maskPhone } from '../../../core/phone.ts';
import type { Store } from '../../../core/store/store.ts';
import type { InboundSms } from '../../../providers/provider.ts';
import type { OncallService } from '../oncall/oncall.ts';
import { acknowledgeIncident } from '../routes/alerts-admin.ts';
import type { InboundReceiver } from './receiver.ts';

export interface InboundIntakeDeps {
  store: Store;
  oncall: OncallService;
  registry: Registry;
  /** The tenant whose on-call pages a reply may acknowledge (PIGEON_TENANT); absent: none. */
  pageTenant?: string;
  /** Whether a number is one incidents are sent to (an SMS alert channel's); absent: none is. */
  isIncidentRecipient?: (phone: string) => Promise<boolean>;
  /** Stores, applies keywords, forwards and answers SMS sent to tenants' senders. */
  receiver?: InboundReceiver;
  now?: () => number;
}

/** "ACK 4821" (an incident's code) or "ack 01J…" (a page's id): the word ACK, then the code. */
const ACK_REPLY = /^\s*ACK\s+(\S+)/i;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const notFound = (err: unknown): undefined => {
  if (err instanceof PigeonError && err.code === 'PIGEON_ERR_NOT_FOUND') return undefined;
  throw err;
};

/**
 * `acknowledged` / `unmatched`: an ACK reply; `ignored`: sent to a number no tenant registered;
 * `partial`: a part, the rest to come; `duplicate`: a provider's retry; `stored`: a tenant's
 * inbound SMS; `stop`, `stop_all`, `start`, `help`: one that was a keyword.
 */
export type InboundResult =
  | 'acknowledged'
  | 'unmatched'
  | 'ignored'
  | 'partial'
  | 'duplicate'
  | 'stored'
  | 'stop'
  | 'stop_all'
  | 'start'
  | 'help';

/**
 * Numbers incident notifications go to: the `to` of every SMS alert channel, and every member of
 * a roster an SMS channel pages (whoever is on call now may have handed over since).
 */
export function smsAlertRecipients(
  channels: ReadonlyArray<{ type: string } & Record<string, unknown>>,
  store: Pick<Store, 'getRoster'>,
  tenantId: string,
): (phone: string) => Promise<boolean> {
  const sms = channels.filter((c) => c.type === 'sms');
  const numbers = new Set(sms.flatMap((c) => (Array.isArray(c.to) ? c.to.map(String) : [])));
  const rosters = [...new Set(sms.flatMap((c) => (typeof c.roster === 'string' ? [c.roster] : [])))];
  return async (phone) => {
    if (numbers.has(phone)) return true;
    for (const name of rosters) {
      const record = await store.getRoster(tenantId, name);
      if (record?.roster.members.some((m) => m.phone === phone)) return true;
    }
    return false;
  };
}

/**
 * Where every inbound SMS goes, whichever way it came (a provider's webhook, or the bus from the
 * bridge's SMPP links): a reply "ACK <code>" from a number the incident or page went to
 * acknowledges it; anything else goes to the receiver. Counted and logged (number masked).
 */
export interface InboundIntake {
  handle(provider: string, sms: InboundSms, log: FastifyBaseLogger): Promise<InboundResult>;
  /** Counts a webhook whose signature or body was refused. */
  refused(provider: string): void;
}

export function inboundIntake(deps: InboundIntakeDeps): InboundIntake {
  const now = deps.now ?? Date.now;
  const received = new Counter({
    name: 'pigeon_api_inbound_sms_total',
    help: 'Inbound SMS received, by provider and result (acknowledged, unmatched, ignored, partial, duplicate, stored, or the keyword)',
    labelNames: ['provider', 'result'],
    registers: [deps.registry],
  });

  /** Acknowledges what `code` names among what `from` was sent; false when nothing matches. */
  const acknowledge = async (code: string, from: string): Promise<boolean> => {
    const by = `sms:${maskPhone(from)}`;
    try {
      if (ULID.test(code) && deps.pageTenant !== undefined) {
        const page = await deps.oncall.page(deps.pageTenant, code).catch(notFound);
        if (page?.chain.some((m) => m.phone === from)) {
          await deps.oncall.acknowledge(deps.pageTenant, code, by);
          return true;
        }
      }
      if (deps.isIncidentRecipient && (await deps.isIncidentRecipient(from))) {
        await acknowledgeIncident(deps.store, code, by, now());
        return true;
      }
    } catch (err) {
      // Nothing open by that code, or it resolved first: an answer for the log, not the provider.
      if (
        err instanceof PigeonError &&
        (err.code === 'PIGEON_ERR_NOT_FOUND' || err.code === 'PIGEON_ERR_CONFLICT')
      ) {
        return false;
      }
      throw err;
    }
    return false;
  };

  /** A tenant's SMS: stored, keyword applied, forwarded, answered; `ignored` when no tenant owns the number. */
  const receive = async (
    provider: string,
    sms: InboundSms,
    log: FastifyBaseLogger,
  ): Promise<InboundResult> => {
    if (!deps.receiver) return 'ignored';
    const outcome = await deps.receiver.receive(provider, sms);
    switch (outcome.result) {
      case 'unowned':
        return 'ignored';
      case 'partial':
      case 'duplicate':
        return outcome.result;
      case 'stored':
        if (outcome.replyError !== undefined) {
          const err = outcome.replyError;
          log.warn(
            { provider, from: maskPhone(sms.from), err: err instanceof Error ? err.message : 'unknown' },
            'inbound.reply_failed',
          );
        }
        return outcome.action ?? 'stored';
    }
  };

  const handle = async (provider: string, sms: InboundSms, log: FastifyBaseLogger) => {
    const code = ACK_REPLY.exec(sms.body)?.[1];
    let result: InboundResult;
    if (code !== undefined && (await acknowledge(code, sms.from))) {
      result = 'acknowledged';
    } else {
      result = await receive(provider, sms, log);
      // An ACK that acknowledged nothing, sent to a number no tenant owns.
      if (code !== undefined && result === 'ignored') result = 'unmatched';
    }
    received.inc({ provider, result });
    log.info(
      { provider, from: maskPhone(sms.from), providerMessageId: sms.providerMessageId, result },
      'inbound.sms',
    );
    return result;
  };

  return { handle, refused: (provider) => received.inc({ provider, result: 'refused' }) };
}
