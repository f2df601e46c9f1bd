import { PigeonError } from '../../../core/errors.ts';
import { ALL_SENDERS } from '../../../core/opt-out.ts';
import { parseE164 } from '../../../core/phone.ts';
import { requireSenderId } from '../../../core/sender-id.ts';

/** Most entries one import may carry: bigger lists go in several calls, each a bounded write. */
export const MAX_IMPORT_ENTRIES = 10_000;

/** One entry to suppress: a number, for one sender or for all (`*`). */
export interface SuppressionEntry {
  phone: string;
  sender: string;
}

type Problem = { field: string; message: string };

/** The sender as stored: a registered-shape sender id, or `*` (absent means every sender). */
export function senderScope(sender: string | undefined, field: string): string {
  if (sender === undefined || sender === '' || sender === ALL_SENDERS) return ALL_SENDERS;
  return requireSenderId(sender, field).value;
}

function entry(
  phone: unknown,
  sender: unknown,
  at: string,
  problems: Problem[],
): SuppressionEntry | undefined {
  const parsed = typeof phone === 'string' ? parseE164(phone.trim()) : undefined;
  if (!parsed) {
    problems.push({ field: `${at}/phone`, message: 'not an E.164 number' });
    return undefined;
  }
  if (sender !== undefined && typeof sender !== 'string') {
    problems.push({ field: `${at}/sender`, message: 'not a string' });
    return undefined;
  }
  try {
    return { phone: parsed.e164, sender: senderScope(sender?.trim(), `${at}/sender`) };
  } catch {
    problems.push({ field: `${at}/sender`, message: 'not a sender id, number, short code or *' });
    return undefined;
  }
}

/**
 * The entries of an import body: a JSON array of numbers or `{ phone, sender? }` objects, or CSV
 * lines `phone[,sender]` (a header line `phone,…` is skipped). All or nothing: any bad entry
 * refuses the import with every bad line named, so a half-applied list never needs untangling.
 */
export function parseImport(body: unknown, contentType: string): SuppressionEntry[] {
  const problems: Problem[] = [];
  const entries: SuppressionEntry[] = [];
  if (contentType.startsWith('text/csv')) {
    const lines = String(body).split(/\r?\n/);
    lines.forEach((line, i) => {
      const [phone = '', sender] = line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
      if (phone === '' || (i === 0 && phone.toLowerCase() === 'phone')) return;
      const e = entry(phone, sender, `/line/${i + 1}`, problems);
      if (e) entries.push(e);
    });
  } else if (Array.isArray(body)) {
    body.forEach((item: unknown, i) => {
      const e =
        typeof item === 'object' && item !== null
          ? entry(
              (item as Record<string, unknown>).phone,
              (item as Record<string, unknown>).sender,
              `/${i}`,
              problems,
            )
          : entry(item, undefined, `/${i}`, problems);
      if (e) entries.push(e);
    });
  } else {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'Send a JSON array or text/csv', {
      errors: [{ field: '/', message: 'not an array' }],
    });
  }
  if (entries.length + problems.length > MAX_IMPORT_ENTRIES) {
    throw new PigeonError('PIGEON_ERR_PAYLOAD_TOO_LARGE', `At most ${MAX_IMPORT_ENTRIES} entries per import`);
  }
  if (problems.length > 0) {
    throw new PigeonError(
      'PIGEON_ERR_VALIDATION',
      `${problems.length} entries are not valid; nothing was imported`,
      {
        errors: problems.slice(0, 100),
      },
    );
  }
  return entries;
}
