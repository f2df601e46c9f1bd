import { encodeText } from './encoding.ts';
import type { Encoding } from './message.ts';

export { isGsm7 } from './encoding.ts';

export interface SegmentInfo {
  encoding: Encoding;
  segments: number;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
}

/** Maximum body accepted by the API: 10 concatenated parts is what most carriers still reassemble. */
export const MAX_SEGMENTS = 10;

/**
 * Counts SMS parts the way carriers do: 160/153 septets for GSM-7, 70/67 code units for UCS-2, the
 * text as it is (no replacement, no national tables: core/encoding.ts decides those).
 */
export function countSegments(text: string): SegmentInfo {
  const { encoding, segments, units } = encodeText(text);
  return { encoding, segments, units };
}
