import type { MessageClass } from './message.ts';

/**
 * Opt-out keywords and the suppression rules, as pure data and functions: what an inbound text
 * asks for (`keywordAction`), and whether a suppression blocks a message of a class
 * (`blocks`). The API applies the first to inbound SMS, the bridge the second just before routing.
 */

/** What an inbound keyword asks for. `stop_all` suppresses the number for every sender of the tenant. */
export type KeywordAction = 'stop' | 'stop_all' | 'start' | 'help';

/** A tenant's keyword lists; each word is matched whole, case- and width-insensitively. */
export interface KeywordLists {
  stop: readonly string[];
  stopAll: readonly string[];
  start: readonly string[];
  help: readonly string[];
}

/** A tenant's opt-out settings: keyword lists and the auto-replies they send (none when absent). */
export interface OptOutSettings {
  keywords: KeywordLists;
  replies: { stop?: string; start?: string; help?: string };
}

/**
 * The defaults: the US carriers' (CTIA) words, and 退订 / TD, which Chinese operators require
 * marketing senders to honour. TD is a plain Latin pair, so it only counts for Chinese senders
 * (see `keywordAction`); elsewhere "td" may well be an ordinary reply.
 */
export const DEFAULT_KEYWORDS: KeywordLists = Object.freeze({
  stop: Object.freeze(['STOP', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', '退订']),
  stopAll: Object.freeze(['STOPALL']),
  start: Object.freeze(['START', 'UNSTOP', 'YES']),
  help: Object.freeze(['HELP']),
});

/** Words that only count when the message was sent to a Chinese sender (+86 or a 106 code). */
export const CHINESE_ONLY_KEYWORDS: ReadonlySet<string> = new Set(['TD']);

export const DEFAULT_OPT_OUT_SETTINGS: OptOutSettings = Object.freeze({
  keywords: DEFAULT_KEYWORDS,
  replies: Object.freeze({}),
});

/**
 * The text as a keyword: NFKC folds full-width letters (ＳＴＯＰ, common on Chinese handsets) to
 * ASCII, then case, surrounding whitespace and trailing punctuation ("Stop.", "STOP!") are dropped.
 * Only the whole text counts: "please don't stop" is not an opt-out.
 */
export function normalizeKeyword(text: string): string {
  return text
    .normalize('NFKC')
    .trim()
    .replace(/[\s.!。！?？,，]+$/u, '')
    .toUpperCase();
}

/** Whether `to` (the number or code the text was sent to) is a Chinese sender. */
export function isChineseSender(to: string): boolean {
  return to.startsWith('+86') || /^106\d+$/.test(to);
}

/** What an inbound text asks for, or undefined when it is no keyword of the tenant's lists. */
export function keywordAction(
  text: string,
  to: string,
  keywords: KeywordLists = DEFAULT_KEYWORDS,
): KeywordAction | undefined {
  const word = normalizeKeyword(text);
  if (word === '') return undefined;
  const has = (list: readonly string[]) => list.some((k) => normalizeKeyword(k) === word);
  if (has(keywords.stopAll)) return 'stop_all';
  if (has(keywords.stop)) return 'stop';
  if (CHINESE_ONLY_KEYWORDS.has(word) && isChineseSender(to)) return 'stop';
  if (has(keywords.start)) return 'start';
  if (has(keywords.help)) return 'help';
  return undefined;
}

/** The sender scope of a suppression that covers every sender of the tenant (STOPALL). */
export const ALL_SENDERS = '*';

/**
 * Which suppressions block which classes. A STOP to one sender is a marketing opt-out: it blocks
 * marketing from that sender only. A STOPALL blocks marketing and transactional from every sender.
 * OTP and alerts are never blocked: the person asked for the code themselves, and an alert goes
 * to an on-call engineer who opted in at work; refusing either would lock people out or hide an
 * outage, and carriers exempt both from opt-out rules.
 */
export const SUPPRESSION_RULES: Readonly<Record<MessageClass, { sender: boolean; all: boolean }>> =
  Object.freeze({
    marketing: { sender: true, all: true },
    transactional: { sender: false, all: true },
    otp: { sender: false, all: false },
    alert: { sender: false, all: false },
  });

/** Whether a number with these suppression scopes (senders, or ALL_SENDERS) may not get this message. */
export function blocks(
  scopes: readonly string[],
  message: { class: MessageClass; from?: string | undefined },
): boolean {
  if (scopes.length === 0) return false;
  const rule = SUPPRESSION_RULES[message.class];
  if (rule.all && scopes.includes(ALL_SENDERS)) return true;
  if (!rule.sender) return false;
  // Without a sender named, the message may go out from any of them: any opt-out applies, which
  // errs on the side of the person who said STOP.
  if (message.from === undefined) return true;
  return scopes.includes(message.from) || scopes.includes(ALL_SENDERS);
}
