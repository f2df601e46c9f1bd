/**
 * Priors: where a provider × country's delivered-rate baseline starts when nothing is known of it
 * yet — the operator's `expectedDeliveredRate` in PIGEON_CONFIG first (it is a statement of
 * intent: 0 says "this route sends no receipts, do not judge it by them"), else what the last day
 * of `messages` shows. A brand-new deployment then judges by baseline within minutes. Pure.
 */
import type { DeliveryTotals } from '../../core/store/kinds/baselines.ts';
import type { HealthSignal } from './health-model.ts';

/** `expectedDeliveredRate` of PIGEON_CONFIG's providers: one rate, or per ISO country with `*` for the rest. */
export interface ProviderExpectation {
  name: string;
  expectedDeliveredRate?: number | Record<string, number> | undefined;
}

/** Yesterday's rate is only a prior where it rests on this many messages. */
export const MIN_PRIOR_MESSAGES = 50;

export type Prior = (signal: HealthSignal, provider: string, country: string) => number | undefined;

export function priorsFrom(
  providers: readonly ProviderExpectation[],
  totals: readonly DeliveryTotals[],
): Prior {
  const configured = new Map<string, number | Record<string, number>>();
  for (const p of providers) {
    if (p.expectedDeliveredRate !== undefined) configured.set(p.name, p.expectedDeliveredRate);
  }
  const measured = new Map<string, number>();
  for (const t of totals) {
    if (t.submitted >= MIN_PRIOR_MESSAGES)
      measured.set(`${t.provider}\u0000${t.country}`, t.delivered / t.submitted);
  }
  return (signal, provider, country) => {
    if (signal !== 'delivered_rate') return undefined;
    const expected = configured.get(provider);
    const rate =
      typeof expected === 'number'
        ? expected
        : (expected?.[country] ?? expected?.['*'] ?? measured.get(`${provider}\u0000${country}`));
    return rate !== undefined && Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : undefined;
  };
}

/** The range of `messages` a prior is read from: the day before, up to a quarter hour ago (receipts in). */
export function priorRange(now: number): { since: number; until: number } {
  const until = now - 15 * 60_000;
  return { since: until - 24 * 60 * 60_000, until };
}
