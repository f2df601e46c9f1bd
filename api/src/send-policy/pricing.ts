import type { ProviderInfo } from '../../../routing/table.ts';

/** Spend counters hold millionths of the currency unit: integers, so the cache can add them. */
export const MICROS = 1_000_000;

/**
 * The price one part to `country` is estimated at: the highest any enabled provider lists for the
 * country (or as its `*` price), since routing may pick any of them and failover the dearest; the
 * fallback when none lists a price. Pumping goes for expensive destinations, so a flat price would
 * let it run far past a cap meant in money.
 */
export function pricePerPart(
  providers: Iterable<ProviderInfo>,
  country: string | undefined,
  fallback: number,
): number {
  let highest: number | undefined;
  for (const provider of providers) {
    if (!provider.enabled) continue;
    const price =
      (country === undefined ? undefined : provider.prices.get(country)) ?? provider.prices.get('*');
    if (price !== undefined && (highest === undefined || price > highest)) highest = price;
  }
  return highest ?? fallback;
}

/** The estimated cost of a message in millionths. */
export function costMicros(segments: number, pricePerPart: number): number {
  return Math.round(segments * pricePerPart * MICROS);
}

/**
 * The estimated cost in millionths of `segments` parts to `country`, each at pricePerPart: the one
 * price model every spend cap counts in, the messages' and the verification codes' alike.
 */
export function estimateCostMicros(
  providers: Iterable<ProviderInfo>,
  country: string | undefined,
  segments: number,
  fallback: number,
): number {
  return costMicros(segments, pricePerPart(providers, country, fallback));
}
