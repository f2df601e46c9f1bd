import { PigeonError } from './errors.ts';
import { fnv1a } from './hash.ts';
import type { SenderRecord } from './store/kinds/senders.ts';

export interface SenderRequest {
  tenantId: string;
  /** The recipient, E.164. */
  to: string;
  /** The recipient's country, when its number has one. */
  country: string | undefined;
  /** The sender the client asked for, already checked for shape (core/sender-id.ts). */
  from: string | undefined;
}

const allows = (sender: SenderRecord, country: string | undefined) =>
  sender.countries.length === 0 || (country !== undefined && sender.countries.includes(country));

/**
 * The sender a message goes out with under its tenant's registry. A tenant with no registered
 * senders sends from what it asks for (or the route's sender). One with senders may only use them,
 * each within its countries; without `from` it gets its default for the destination country (a
 * country's own defaults before defaults for any country), else a number of its pool for that
 * country. Where several qualify, a stable hash of tenant and recipient picks one, so a recipient
 * keeps seeing the same number without any state (sticky sender). Undefined: the route decides.
 */
export function chooseSender(senders: readonly SenderRecord[], request: SenderRequest): string | undefined {
  if (senders.length === 0) return request.from;
  const { from, country } = request;
  if (from !== undefined) {
    requireRegistered(senders, from);
    if (senders.some((s) => s.sender === from && allows(s, country))) return from;
    throw notRegistered(`sender "${from}" is not registered for ${country ?? 'numbers without a country'}`);
  }
  const tiers = [
    senders.filter((s) => s.isDefault && country !== undefined && s.countries.includes(country)),
    senders.filter((s) => s.isDefault && s.countries.length === 0),
    senders.filter((s) => s.kind !== 'alphanumeric' && allows(s, country)),
  ];
  const pool = tiers.find((tier) => tier.length > 0);
  if (!pool) return undefined;
  const sorted = pool.map((s) => s.sender).sort();
  return sorted[fnv1a(`${request.tenantId}\n${request.to}`) % sorted.length];
}

/**
 * Refuses a sender the tenant has not registered at all (a batch's `from`, which every recipient
 * shares); whether it serves each recipient's country is chooseSender's to say.
 */
export function requireRegistered(senders: readonly SenderRecord[], from: string): void {
  if (senders.length === 0 || senders.some((s) => s.sender === from)) return;
  throw notRegistered(`sender "${from}" is not registered for this tenant`);
}

function notRegistered(detail: string): PigeonError {
  return new PigeonError('PIGEON_ERR_SENDER_NOT_REGISTERED', detail, {
    errors: [{ field: '/from', message: 'not one of the tenant’s registered senders' }],
  });
}
