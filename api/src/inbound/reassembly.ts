import type { Cache, CacheScript, ScriptRedis } from '../../../core/cache/cache.ts';
import type { InboundSms } from '../../../providers/provider.ts';

/**
 * Joins the parts of a long inbound SMS, which providers may post one webhook at a time, in any
 * order and more than once. Parts wait in one cache hash per message (shared by every api
 * process) until all have come; the last one to arrive gets the joined message.
 */

/** How long the first parts wait for the rest: handsets send them within seconds. */
export const PART_TTL_MS = 10 * 60_000;

/**
 * Stores one part and, when every part is there, hands all of them back and forgets them.
 * KEYS the message's hash. ARGV part index, total, the part as JSON, ttl ms.
 * Reply: null while parts are missing, else HGETALL's flat [index, part, …] list.
 */
export const storePart: CacheScript<string[] | null> = {
  name: 'inbound_store_part',
  lua: `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
if #all / 2 < tonumber(ARGV[2]) then return nil end
redis.call('DEL', KEYS[1])
return all`,
  memory(r: ScriptRedis, [key], [index, total, part, ttl]): string[] | null {
    r.hset(key!, { [index!]: part! });
    r.pexpire(key!, Number(ttl));
    const all = r.hgetall(key!);
    if (all.length / 2 < Number(total)) return null;
    r.del(key!);
    return all;
  },
};

/** The whole message from all its parts, in part order; the first part's id stands for it. */
export function joinParts(parts: readonly InboundSms[]): InboundSms {
  const ordered = [...parts].sort((a, b) => (a.part?.index ?? 0) - (b.part?.index ?? 0));
  const first = ordered[0]!;
  const { part: _part, ...rest } = first;
  return { ...rest, body: ordered.map((p) => p.body).join('') };
}

const partsKey = (provider: string, sms: InboundSms) =>
  `inbound:parts:${provider}:${sms.from}:${sms.to}:${sms.part!.reference}:${sms.part!.total}`;

/**
 * The message to handle for this webhook's SMS: itself when whole, the joined message when it
 * was the last missing part, undefined while parts are still to come.
 */
export async function reassemble(
  cache: Pick<Cache, 'runScript'>,
  provider: string,
  sms: InboundSms,
): Promise<{ sms: InboundSms; parts: number } | undefined> {
  if (!sms.part || sms.part.total <= 1) return { sms, parts: 1 };
  const all = await cache.runScript(
    storePart,
    [partsKey(provider, sms)],
    [sms.part.index, sms.part.total, JSON.stringify(sms), PART_TTL_MS],
  );
  if (all === null) return undefined;
  const parts: InboundSms[] = [];
  for (let i = 1; i < all.length; i += 2) parts.push(JSON.parse(all[i]!) as InboundSms);
  return { sms: joinParts(parts), parts: parts.length };
}
