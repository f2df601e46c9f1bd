import type { CacheScript } from './cache/cache.ts';
import { MARKER_TTL_MS, Markers } from './markers.ts';

/**
 * The name of a message's first send among its passes (the bridge's `passKey` of `send`, round 0):
 * the only pass the API's abort applies to.
 */
export const FIRST_SEND_PASS = 'send:0';

/**
 * The API's side of "a 503 means never sent". When a publish is not acknowledged in time, the
 * record may still land and be read by a bridge. The API therefore marks the message aborted only
 * if no bridge has claimed its first send, in one atomic step; the bridge takes that claim and
 * reads the marker in one atomic step too (supplier-bridge/src/dispatch/pass-claim.ts). Exactly
 * one of the two wins: either the bridge finds the abort and sends nothing, or the API finds the
 * claim and must answer that the message is on its way, since it is.
 *
 * KEYS abort marker, first-send claim; ARGV ttl. Replies 1 when aborted, 0 when already claimed.
 */
export const ABORT_UNLESS_CLAIMED: CacheScript<number> = {
  name: 'pigeonAbortUnlessClaimed',
  lua: `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`,
  memory(redis, keys, args) {
    if (redis.exists(keys[1]!)) return 0;
    redis.set(keys[0]!, '1', { px: Number(args[0]) });
    return 1;
  },
};

/** ABORT_UNLESS_CLAIMED's KEYS and ARGV for one message (both keys share its hash tag). */
export function abortUnlessClaimedCall(messageId: string): { keys: string[]; args: number[] } {
  return {
    keys: [Markers.abort(messageId), Markers.attempt(messageId, FIRST_SEND_PASS)],
    args: [MARKER_TTL_MS],
  };
}
