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

/**
 * What chooseSender needs of one sender list that does not depend on the message, so a message
 * costs a few map lookups however many numbers the tenant's pool has. Built once per list.
 */
interface SenderIndex {
  /** Per registered sender: whether it may send anywhere, else the countries it may send to. */
  readonly byName: ReadonlyMap<string, { anyCountry: boolean; countries: Set<string> }>;
  /** The sorted names a message to the country picks from, per country merged so far (poolFor). */
  readonly poolByCountry: Map<string, readonly string[]>;
  /** The sorted names a message picks from when no sender names its country (or it has none). */
  readonly poolElsewhere: readonly string[];
  /** The per-country inputs poolFor merges on a country's first message (see there). */
  readonly defaultsByCountry: ReadonlyMap<string, string[]>;
  readonly defaultsAnywhere: readonly string[];
  readonly numbersByCountry: ReadonlyMap<string, string[]>;
  readonly numbersAnywhere: readonly string[];
}

// Keyed by the list itself: SenderDirectory (api/src/senders.ts) hands out the same array for a
// tenant until it rereads the store, and a reread is a new array, so a change to the registry gets
// a new index and the old one goes with its array.
const indexes = new WeakMap<readonly SenderRecord[], SenderIndex>();

function indexFor(senders: readonly SenderRecord[]): SenderIndex {
  let index = indexes.get(senders);
  if (!index) {
    index = buildIndex(senders);
    indexes.set(senders, index);
  }
  return index;
}

/**
 * Sorts each sender into the tiers chooseSender picks from. A list entry counts once per tier it is
 * in, however often it names a country, and entries sharing a name each count, as the pick is over
 * the names of the matching entries.
 */
function buildIndex(senders: readonly SenderRecord[]): SenderIndex {
  const byName = new Map<string, { anyCountry: boolean; countries: Set<string> }>();
  const defaultsByCountry = new Map<string, string[]>();
  const numbersByCountry = new Map<string, string[]>();
  const defaultsAnywhere: string[] = [];
  const numbersAnywhere: string[] = [];
  const add = (lists: Map<string, string[]>, country: string, name: string) => {
    const list = lists.get(country);
    if (list) list.push(name);
    else lists.set(country, [name]);
  };
  for (const s of senders) {
    let named = byName.get(s.sender);
    if (!named) {
      named = { anyCountry: false, countries: new Set() };
      byName.set(s.sender, named);
    }
    const number = s.kind !== 'alphanumeric';
    if (s.countries.length === 0) {
      named.anyCountry = true;
      if (s.isDefault) defaultsAnywhere.push(s.sender);
      if (number) numbersAnywhere.push(s.sender);
      continue;
    }
    for (const country of new Set(s.countries)) {
      named.countries.add(country);
      if (s.isDefault) add(defaultsByCountry, country, s.sender);
      if (number) add(numbersByCountry, country, s.sender);
    }
  }
  defaultsAnywhere.sort();
  numbersAnywhere.sort();
  return {
    byName,
    poolByCountry: new Map(),
    poolElsewhere: defaultsAnywhere.length > 0 ? defaultsAnywhere : numbersAnywhere,
    defaultsByCountry,
    defaultsAnywhere,
    numbersByCountry,
    numbersAnywhere,
  };
}

/**
 * The sorted names a message to the country picks from: the country's defaults, else the defaults
 * for any country, else the numbers serving it. Merged on the country's first message rather than
 * for every country up front, as each country's numbers include every any-country number and a
 * large any-country pool times many named countries would be held for countries never sent to.
 */
function poolFor(index: SenderIndex, country: string | undefined): readonly string[] {
  if (country === undefined) return index.poolElsewhere;
  let pool = index.poolByCountry.get(country);
  if (pool) return pool;
  const defaults = index.defaultsByCountry.get(country);
  const numbers = index.numbersByCountry.get(country);
  if (!defaults && !numbers) return index.poolElsewhere;
  if (defaults) pool = [...defaults].sort();
  else if (index.defaultsAnywhere.length > 0) pool = index.defaultsAnywhere;
  else pool = [...index.numbersAnywhere, ...(numbers ?? [])].sort();
  index.poolByCountry.set(country, pool);
  return pool;
}

/**
 * The sender a message goes out with under its tenant's registry. A tenant with no registered
 * senders sends from what it asks for (or the route's sender). One with senders may only use them,
 * each within its countries; without `from` it gets its default for the destination country (a
 * country's own defaults before defaults for any country), else a number of its pool for that
 * country. Where several qualify, a stable hash of tenant and recipient picks one, so a recipient
 * keeps seeing the same number without any state (sticky sender). Undefined: the route decides.
 *
 * What does not depend on the message is worked out once per `senders` array and kept with it, so
 * the array and its records must not be changed once passed here: a changed registry is a new array.
 */
export function chooseSender(senders: readonly SenderRecord[], request: SenderRequest): string | undefined {
  if (senders.length === 0) return request.from;
  const { from, country } = request;
  const index = indexFor(senders);
  if (from !== undefined) {
    const named = index.byName.get(from);
    if (!named) throw notRegistered(`sender "${from}" is not registered for this tenant`);
    if (named.anyCountry || (country !== undefined && named.countries.has(country))) return from;
    throw notRegistered(`sender "${from}" is not registered for ${country ?? 'numbers without a country'}`);
  }
  const pool = poolFor(index, country);
  if (pool.length === 0) return undefined;
  return pool[fnv1a(`${request.tenantId}\n${request.to}`) % pool.length];
}

/**
 * Refuses a sender the tenant has not registered at all (a batch's `from`, which every recipient
 * shares); whether it serves each recipient's country is chooseSender's to say.
 */
export function requireRegistered(senders: readonly SenderRecord[], from: string): void {
  if (senders.length === 0 || indexFor(senders).byName.has(from)) return;
  throw notRegistered(`sender "${from}" is not registered for this tenant`);
}

function notRegistered(detail: string): PigeonError {
  return new PigeonError('PIGEON_ERR_SENDER_NOT_REGISTERED', detail, {
    errors: [{ field: '/from', message: 'not one of the tenant’s registered senders' }],
  });
}
