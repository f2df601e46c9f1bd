import type { Encoding } from './message.ts';

// GSM 03.38 basic character set (the escape 0x1B itself is excluded: it cannot appear in text).
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
// Extension table: each costs two septets (escape + char).
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

export interface SegmentInfo {
  encoding: Encoding;
  segments: number;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
}

/** Maximum body accepted by the API: 10 concatenated parts is what most carriers still reassemble. */
export const MAX_SEGMENTS = 10;

export function isGsm7(text: string): boolean {
  for (const ch of text) {
    if (!GSM7_BASIC.has(ch) && !GSM7_EXTENDED.has(ch)) return false;
  }
  return true;
}

/**
 * Counts SMS parts the way carriers do: 160/153 septets for GSM-7, 70/67 code units for UCS-2.
 * A part never ends between an escape and its extension character, nor inside a surrogate pair,
 * so a long text can need more parts than plain division suggests.
 */
export function countSegments(text: string): SegmentInfo {
  if (text.length === 0) return { encoding: 'GSM-7', segments: 0, units: 0 };
  if (isGsm7(text)) {
    const widths: number[] = [];
    for (const ch of text) widths.push(GSM7_EXTENDED.has(ch) ? 2 : 1);
    return { encoding: 'GSM-7', ...pack(widths, 160, 153) };
  }
  const widths: number[] = [];
  for (const ch of text) widths.push(ch.length); // 2 for astral characters (surrogate pairs)
  return { encoding: 'UCS-2', ...pack(widths, 70, 67) };
}

function pack(widths: number[], single: number, multi: number): { segments: number; units: number } {
  const units = widths.reduce((a, b) => a + b, 0);
  if (units <= single) return { segments: 1, units };
  let segments = 1;
  let used = 0;
  for (const w of widths) {
    if (used + w > multi) {
      segments++;
      used = 0;
    }
    used += w;
  }
  return { segments, units };
}
