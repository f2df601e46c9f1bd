/**
 * What a standalone simulated provider does with one send, decided from the behaviour set at run
 * time. Pure: the server (server.ts) carries the plan out. The modes are the ways real providers
 * fail that the gateway must survive, each with a different answer to "was it sent?":
 * - `normal`: takes the message and answers at once (after its usual latency);
 * - `down`: answers 503 without taking it (definitely not sent);
 * - `slow`: takes it and answers `slowMs` late (sent; the gateway may or may not wait that long);
 * - `ambiguous`: takes it, sends its receipt, but holds the answer `hangMs` (longer than any
 *   gateway waits), so the caller cannot know it was sent;
 * - `throttle`: answers 429 with Retry-After without taking it.
 */

export const BEHAVIOUR_MODES = ['normal', 'down', 'slow', 'ambiguous', 'throttle'] as const;
export type BehaviourMode = (typeof BEHAVIOUR_MODES)[number];

export interface Behaviour {
  mode: BehaviourMode;
  slowMs?: number;
  hangMs?: number;
  retryAfterMs?: number;
  /** Epoch ms after which the provider is `normal` again; for good when absent. */
  until?: number;
}

/** What the server does with one send. */
export type SendPlan =
  | { take: true; answerAfterMs: number }
  | { take: false; answerAfterMs: number; status: 429 | 503; retryAfterSeconds?: number };

export const DEFAULT_SLOW_MS = 2_000;
/** Longer than the bridge's send timeout (10 s by default), so the call always times out. */
export const DEFAULT_HANG_MS = 30_000;
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/** The behaviour in force at `now`: a timed one that has run out is `normal` again. */
export function behaviourAt(set: Behaviour | undefined, now: number): Behaviour {
  if (!set || (set.until !== undefined && now >= set.until)) return { mode: 'normal' };
  return set;
}

/** The plan for a send arriving at `now`, with the provider's usual latency `latencyMs`. */
export function planSend(set: Behaviour | undefined, now: number, latencyMs: number): SendPlan {
  const behaviour = behaviourAt(set, now);
  switch (behaviour.mode) {
    case 'down':
      return { take: false, answerAfterMs: 0, status: 503 };
    case 'throttle':
      return {
        take: false,
        answerAfterMs: latencyMs,
        status: 429,
        retryAfterSeconds: Math.max(1, Math.ceil((behaviour.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS) / 1000)),
      };
    case 'slow':
      return { take: true, answerAfterMs: latencyMs + (behaviour.slowMs ?? DEFAULT_SLOW_MS) };
    case 'ambiguous':
      return { take: true, answerAfterMs: behaviour.hangMs ?? DEFAULT_HANG_MS };
    case 'normal':
      return { take: true, answerAfterMs: latencyMs };
  }
}

const LIMITS = { slowMs: 600_000, hangMs: 600_000, retryAfterMs: 3_600_000, forMs: 86_400_000 } as const;

/**
 * A behaviour from a control request's JSON body (`{mode, forMs?, slowMs?, hangMs?,
 * retryAfterMs?}`), or the reason it is refused.
 */
export function parseBehaviour(value: unknown, now: number): Behaviour | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'body must be an object';
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key !== 'mode' && !(key in LIMITS)) return `unknown field "${key}"`;
  }
  if (!BEHAVIOUR_MODES.includes(raw.mode as BehaviourMode)) {
    return `mode must be one of ${BEHAVIOUR_MODES.join(', ')}`;
  }
  const behaviour: Behaviour = { mode: raw.mode as BehaviourMode };
  for (const key of Object.keys(LIMITS) as (keyof typeof LIMITS)[]) {
    const n = raw[key];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > LIMITS[key]) {
      return `${key} must be an integer from 0 to ${LIMITS[key]}`;
    }
    if (key === 'forMs') behaviour.until = now + n;
    else behaviour[key] = n;
  }
  return behaviour;
}
