import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** Sortable unique id (ULID, 26 chars). Time-ordered so cursors paginate by id. */
export function newId(now = Date.now()): string {
  return nextUlid(now);
}
