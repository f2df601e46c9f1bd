import type { AlertNotification, NotificationKind } from '../../../alerting/notification.ts';

/**
 * The words of a notification, shared by every channel so that Slack, a robot, an e-mail and a
 * page say the same thing. ASCII punctuation only: one non-GSM character would make an SMS page
 * UCS-2 and halve what fits in a part.
 */

const KIND_WORDS: Record<NotificationKind, string> = {
  firing: 'FIRING',
  reminder: 'STILL FIRING',
  escalation: 'ESCALATED',
  resolved: 'RESOLVED',
};

/** `[FIRING critical] Delivered rate of twilio-main to GB dropped to 41 %`. */
export function headline(n: AlertNotification): string {
  const severity = n.kind === 'resolved' ? '' : ` ${n.severity}`;
  return `[${KIND_WORDS[n.kind]}${severity}] ${n.title}`;
}

/** `provider=twilio-main country=GB`, sorted so every channel lists labels alike. */
export function labelLine(n: AlertNotification): string {
  return Object.keys(n.labels)
    .sort()
    .map((k) => `${k}=${n.labels[k]}`)
    .join(' ');
}

function timeLine(n: AlertNotification): string {
  return n.kind === 'resolved' && n.resolvedAt
    ? `Started ${n.startedAt}, resolved ${n.resolvedAt}`
    : `Started ${n.startedAt}`;
}

/** Plain text: headline, summary, labels, times and link, one block per line. */
export function plainText(n: AlertNotification): string {
  const lines = [headline(n)];
  if (n.summary) lines.push('', n.summary);
  const labels = labelLine(n);
  if (labels) lines.push('', labels);
  lines.push(timeLine(n));
  if (n.url) lines.push(n.url);
  return lines.join('\n');
}

/** Markdown as the Chinese robots render it (DingTalk, WeCom): a heading, then plain paragraphs. */
export function markdownText(n: AlertNotification): string {
  const lines = [`#### ${headline(n)}`];
  if (n.summary) lines.push('', n.summary);
  const labels = labelLine(n);
  if (labels) lines.push('', `> ${labels}`);
  lines.push('', timeLine(n));
  if (n.url) lines.push('', `[${n.url}](${n.url})`);
  return lines.join('\n');
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const marker = '...';
  let out = '';
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes - marker.length) break;
    out += char;
    bytes += size;
  }
  return out + marker;
}

/** Cuts `text` to at most `max` characters (code points), marking the cut. */
export function truncateChars(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 3).join('')}...`;
}

/**
 * A page: the headline and the first line of the summary, at most `maxChars` (default 306, two
 * GSM-7 parts), so it reads on a lock screen and costs little.
 */
export function smsText(n: AlertNotification, maxChars = 306): string {
  const firstLine = n.summary.split('\n').find((l) => l.trim().length > 0);
  const text = firstLine ? `${headline(n)} - ${firstLine.trim()}` : headline(n);
  return truncateChars(text, maxChars);
}
