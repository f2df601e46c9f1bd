/**
 * Absolute floors: what needs no baseline to be called broken. A provider that takes messages to
 * a country and delivers none of them — or none of whose verification codes is ever typed back —
 * is unhealthy whatever it usually does, so the monitor can judge it from its first minute, before
 * any baseline has warmed up. Pure.
 *
 * The delivered floor is set per message class: OTP traffic is small but its failure urgent, so
 * fewer codes are enough evidence than marketing messages, whose carriers deliver later and less.
 * A class is judged once it has `minSamples` submissions past the receipt grace; the provider ×
 * country is below the floor when every class so judged is at or below its `maxRate`.
 */
import type { MonitorFloor, MonitorFloors } from '../../core/config.ts';

/** Successes out of trials, per message class where the source knows it. */
export interface ClassCounts {
  successes: number;
  trials: number;
}

export interface FloorVerdict {
  /** Whether enough traffic was there to apply a floor at all. */
  eligible: boolean;
  /** Below the floor: delivers (or converts) at or near nothing. */
  below: boolean;
  /** Over the classes judged. */
  successes: number;
  trials: number;
}

const NOT_ELIGIBLE: FloorVerdict = { eligible: false, below: false, successes: 0, trials: 0 };

/** The delivered-rate floor of one class (the `default` one for classes not configured). */
export function deliveredFloor(floors: MonitorFloors, messageClass: string): MonitorFloor {
  return floors.delivered[messageClass] ?? floors.delivered.default;
}

/** Judges a provider × country's delivered rate, class by class, against its floors. */
export function judgeDeliveredFloor(
  floors: MonitorFloors,
  byClass: Readonly<Record<string, ClassCounts>>,
): FloorVerdict {
  let successes = 0;
  let trials = 0;
  let below = true;
  for (const [messageClass, counts] of Object.entries(byClass)) {
    const floor = deliveredFloor(floors, messageClass);
    // A floor of 0 samples is switched off: the class says nothing (routes without receipts).
    if (floor.minSamples <= 0 || counts.trials < floor.minSamples) continue;
    successes += counts.successes;
    trials += counts.trials;
    if (counts.successes / counts.trials > floor.maxRate) below = false;
  }
  if (trials === 0) return NOT_ELIGIBLE;
  return { eligible: true, below, successes, trials };
}

/** Judges OTP conversion (codes approved ÷ sent) against its floor. */
export function judgeConversionFloor(floors: MonitorFloors, counts: ClassCounts): FloorVerdict {
  const floor = floors.conversion;
  if (floor.minSamples <= 0 || counts.trials < floor.minSamples) return NOT_ELIGIBLE;
  return {
    eligible: true,
    below: counts.successes / counts.trials <= floor.maxRate,
    successes: counts.successes,
    trials: counts.trials,
  };
}
