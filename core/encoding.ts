import { GSM7_DEFAULT, GSM7_EXTENSION, LOCKING_SHIFT, type NationalLanguage, SINGLE_SHIFT } from './gsm7.ts';
import type { Encoding } from './message.ts';

/**
 * Look-alikes that word processors and phones put into text, each with the GSM-7 text a reader
 * takes for the same thing. One of them left in a message switches all of it to UCS-2, where a
 * part holds 70 characters instead of 160.
 */
export const LOOK_ALIKES: ReadonlyMap<string, string> = new Map([
  // Double quotes and primes.
  ...[...'“”„‟«»″‶〝〞＂˝ʺ'].map((c) => [c, '"'] as const),
  // Single quotes, apostrophes, primes and accents used as apostrophes.
  ...[...'‘’‚‛′‵ʹʻʼʽˈ´`ˊˋ＇'].map((c) => [c, "'"] as const),
  ['‹', '<'],
  ['›', '>'],
  // Hyphens, dashes and the minus sign.
  ...[...'‐‑‒–—―−﹘﹣－'].map((c) => [c, '-'] as const),
  // Spaces of every width, the tab, and line and paragraph separators.
  ...[
    ...'\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\u2028\u2029',
  ].map((c) => [c, ' '] as const),
  // Invisible characters: zero-width space, joiners, word joiner, byte order mark, soft hyphen.
  ...[...'\u200b\u200c\u200d\u2060\ufeff\u00ad'].map((c) => [c, ''] as const),
  ['…', '...'],
  ['•', '-'],
  ['·', '.'],
  ['‼', '!!'],
  ['˜', '~'],
  ['ˆ', '^'],
  ['、', ','],
  ['。', '.'],
  ['，', ','],
  ['：', ':'],
  ['；', ';'],
  ['！', '!'],
  ['？', '?'],
  ['（', '('],
  ['）', ')'],
]);

/** One look-alike replaced throughout the text. */
export interface Replacement {
  from: string;
  to: string;
  /** How many times it occurred. */
  count: number;
}

/** The national shift tables a text was counted with (TS 23.038 6.2.1.2.4). */
export interface ShiftTables {
  locking?: NationalLanguage;
  single?: NationalLanguage;
}

/** How a text goes out as SMS, and why. */
export interface EncodingReport {
  /** The text to send: the input, or the input with its look-alikes replaced. */
  text: string;
  encoding: Encoding;
  segments: number;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
  /** What each part holds in those units: 160/153 for GSM-7, 70/67 for UCS-2, less under a national table. */
  perSegment: number;
  /** The look-alikes replaced, in order of first occurrence; empty unless replacement was allowed and brought the text into GSM-7. */
  replaced: Replacement[];
  /** The characters (distinct, in order) outside GSM-7 that no allowed replacement removes: why the text is UCS-2. */
  forcedUcs2: string[];
  /** Present only when a national shift table was allowed and needed. */
  shiftTables?: ShiftTables;
}

export interface EncodingOptions {
  /** Replace look-alikes (LOOK_ALIKES) when that makes the whole text GSM-7. */
  smartEncoding?: boolean;
  /**
   * National shift tables the path to the handset can signal (a UDH information element per part).
   * No adapter sends them yet, so the send paths pass none; see docs/api.md "Encoding".
   */
  nationalLanguages?: readonly NationalLanguage[];
}

const UDH_CONCAT_OCTETS = 5; // IEI 0x00, length 3, reference, total, sequence
const UDH_SHIFT_OCTETS = 3; // IEI 0x24 or 0x25, length 1, language

/**
 * Decides a text's encoding and counts its parts. Pure and allocation-light: it runs for every
 * accepted message. A part never ends between an escape and its character, nor inside a surrogate
 * pair; a UCS-2 part may end inside a grapheme cluster (a flag, a ZWJ emoji), which the handset
 * reassembles.
 */
export function encodeText(text: string, options: EncodingOptions = {}): EncodingReport {
  if (text.length === 0) {
    return { text, encoding: 'GSM-7', segments: 0, units: 0, perSegment: 160, replaced: [], forcedUcs2: [] };
  }
  const outside = charactersOutsideGsm7(text);
  if (outside.length === 0) return gsm7Report(text, []);
  if (options.smartEncoding) {
    const replaced = outside.every((c) => LOOK_ALIKES.has(c));
    if (replaced) {
      const { text: clean, replacements } = replaceLookAlikes(text);
      return gsm7Report(clean, replacements);
    }
  }
  const languages = options.nationalLanguages ?? [];
  if (languages.length > 0) {
    const candidate = options.smartEncoding ? replaceLookAlikes(text) : { text, replacements: [] };
    const national = bestNationalCount(candidate.text, languages);
    if (national) return { ...national, replaced: candidate.replacements, forcedUcs2: [] };
  }
  const forcedUcs2 = options.smartEncoding ? outside.filter((c) => !LOOK_ALIKES.has(c)) : outside;
  return { text, encoding: 'UCS-2', ...packUcs2(text), replaced: [], forcedUcs2 };
}

/** Whether every character of the text is in the GSM-7 default alphabet or its extension table. */
export function isGsm7(text: string): boolean {
  for (const c of text) if (!GSM7_DEFAULT.has(c) && !GSM7_EXTENSION.has(c)) return false;
  return true;
}

function charactersOutsideGsm7(text: string): string[] {
  let outside: string[] | undefined;
  for (const c of text) {
    if (GSM7_DEFAULT.has(c) || GSM7_EXTENSION.has(c)) continue;
    outside ??= [];
    if (!outside.includes(c)) outside.push(c);
  }
  return outside ?? [];
}

/** The text with every look-alike replaced, and what was replaced. */
export function replaceLookAlikes(text: string): { text: string; replacements: Replacement[] } {
  const replacements: Replacement[] = [];
  let out = '';
  for (const c of text) {
    const to = LOOK_ALIKES.get(c);
    if (to === undefined) {
      out += c;
      continue;
    }
    out += to;
    const seen = replacements.find((r) => r.from === c);
    if (seen) seen.count++;
    else replacements.push({ from: c, to, count: 1 });
  }
  return { text: out, replacements };
}

function gsm7Report(text: string, replaced: Replacement[]): EncodingReport {
  // Only called for text already found to be GSM-7.
  const counted = packSeptets(text, GSM7_DEFAULT, GSM7_EXTENSION, 0)!;
  return { text, encoding: 'GSM-7', ...counted, replaced, forcedUcs2: [] };
}

/**
 * The cheapest national table pair that holds the text: fewest parts, then the smaller header
 * (a single shift alone before a locking shift alone before both).
 */
function bestNationalCount(
  text: string,
  languages: readonly NationalLanguage[],
): Omit<EncodingReport, 'replaced' | 'forcedUcs2'> | undefined {
  let best: Omit<EncodingReport, 'replaced' | 'forcedUcs2'> | undefined;
  const lockings: (NationalLanguage | undefined)[] = [
    undefined,
    ...languages.filter((l) => LOCKING_SHIFT[l]),
  ];
  const singles: (NationalLanguage | undefined)[] = [undefined, ...languages];
  for (const locking of lockings) {
    for (const single of singles) {
      if (locking === undefined && single === undefined) continue;
      const basic = locking === undefined ? GSM7_DEFAULT : LOCKING_SHIFT[locking]!;
      const extension = single === undefined ? GSM7_EXTENSION : SINGLE_SHIFT[single];
      const tables = (locking ? 1 : 0) + (single ? 1 : 0);
      const counted = packSeptets(text, basic, extension, tables * UDH_SHIFT_OCTETS);
      if (!counted) continue;
      const better =
        !best ||
        counted.segments < best.segments ||
        (counted.segments === best.segments && counted.perSegment > best.perSegment);
      if (better) {
        const shiftTables: ShiftTables = {};
        if (locking) shiftTables.locking = locking;
        if (single) shiftTables.single = single;
        best = { text, encoding: 'GSM-7', ...counted, shiftTables };
      }
    }
  }
  return best;
}

/** Septets left in a 140-octet part after a user data header of `udhOctets` (plus its length octet). */
function septetCapacity(udhOctets: number): number {
  return udhOctets === 0 ? 160 : 160 - Math.ceil(((udhOctets + 1) * 8) / 7);
}

function packSeptets(
  text: string,
  basic: ReadonlySet<string>,
  extension: ReadonlySet<string>,
  shiftOctets: number,
): { segments: number; units: number; perSegment: number } | undefined {
  let units = 0;
  for (const c of text) {
    if (basic.has(c)) units += 1;
    else if (extension.has(c)) units += 2;
    else return undefined;
  }
  const single = septetCapacity(shiftOctets);
  if (units <= single) return { segments: 1, units, perSegment: single };
  const multi = septetCapacity(shiftOctets + UDH_CONCAT_OCTETS);
  let segments = 1;
  let used = 0;
  for (const c of text) {
    const width = basic.has(c) ? 1 : 2;
    if (used + width > multi) {
      segments++;
      used = 0;
    }
    used += width;
  }
  return { segments, units, perSegment: multi };
}

function packUcs2(text: string): { segments: number; units: number; perSegment: number } {
  const units = text.length;
  if (units <= 70) return { segments: 1, units, perSegment: 70 };
  let segments = 1;
  let used = 0;
  for (const c of text) {
    const width = c.length; // 2 for a surrogate pair, which never straddles two parts
    if (used + width > 67) {
      segments++;
      used = 0;
    }
    used += width;
  }
  return { segments, units, perSegment: 67 };
}
