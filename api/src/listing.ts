import { createHash } from 'node:crypto';
import { PigeonError } from '../../core/errors.ts';
import type { MessageFilter } from '../../core/store/kinds/reports.ts';

// The pure parts of GET /v1/messages and GET /v1/usage: times, cursors and CSV.

const DATE = /^\d{4}-\d{2}-\d{2}$/;
// RFC 3339 date-time (ISO 8601 profile): a time zone is required, so a time never depends on the
// server's zone.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * An ISO 8601 instant as ms since the epoch: `2026-01-31` (midnight UTC) or a date-time with
 * `Z` or an offset. Throws PIGEON_ERR_VALIDATION naming the query parameter.
 */
export function parseInstant(name: string, raw: string): number {
  const ms =
    DATE.test(raw) && isRealDate(raw)
      ? Date.parse(`${raw}T00:00:00Z`)
      : DATE_TIME.test(raw) && isRealDate(raw.slice(0, 10))
        ? Date.parse(raw)
        : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new PigeonError(
      'PIGEON_ERR_VALIDATION',
      `"${name}" must be an ISO 8601 date (2026-01-31) or date-time with a time zone (2026-01-31T12:00:00Z)`,
      { errors: [{ field: `/${name}`, message: 'not an ISO 8601 date or date-time with a time zone' }] },
    );
  }
  return ms;
}

/** Date.parse accepts 2026-02-31 and rolls it over; a date must exist as written. */
function isRealDate(date: string): boolean {
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}

/** Checks since < until when both are given. */
export function checkRange(since: number | undefined, until: number | undefined): void {
  if (since !== undefined && until !== undefined && since >= until) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', '"since" must be before "until"', {
      errors: [{ field: '/since', message: 'not before until' }],
    });
  }
}

/** A page size from the query: 1–1,000, 100 when absent. */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const limit = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(limit >= 1 && limit <= 1000)) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', '"limit" must be an integer from 1 to 1000', {
      errors: [{ field: '/limit', message: 'not an integer from 1 to 1000' }],
    });
  }
  return limit;
}

/** A short digest of the filters, so a cursor cannot be replayed against other filters. */
export function filterDigest(filter: MessageFilter): string {
  const canonical = (
    ['recipient', 'status', 'messageClass', 'provider', 'since', 'until', 'clientRef'] as const
  ).map((key) => filter[key] ?? null);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 16);
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** The opaque cursor after `lastId`: base64url of the id and the filters' digest. */
export function encodeCursor(lastId: string, filter: MessageFilter): string {
  return Buffer.from(`${lastId}.${filterDigest(filter)}`).toString('base64url');
}

/** The last id a cursor stands for; PIGEON_ERR_INVALID_CURSOR when malformed or made for other filters. */
export function decodeCursor(cursor: string, filter: MessageFilter): string {
  const [id = '', digest, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('.');
  if (!ULID.test(id) || digest === undefined || extra !== undefined) {
    throw new PigeonError('PIGEON_ERR_INVALID_CURSOR', 'The cursor is not one this API issued', {
      errors: [{ field: '/cursor', message: 'malformed' }],
    });
  }
  if (digest !== filterDigest(filter)) {
    throw new PigeonError(
      'PIGEON_ERR_INVALID_CURSOR',
      'The cursor was issued for other filters; repeat the filters of the request that returned it',
      { errors: [{ field: '/cursor', message: 'issued for other filters' }] },
    );
  }
  return id;
}

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled, lines end CRLF. */
export function toCsv(rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string {
  return rows
    .map((row) =>
      row
        .map((value) => {
          const text = value === null ? '' : String(value);
          return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
        })
        .join(','),
    )
    .map((line) => `${line}\r\n`)
    .join('');
}
