import { idFloor } from '../../ids.ts';
import type { MessageClass } from '../../message.ts';
import type {
  AttemptRecord,
  MessageEventRecord,
  MessageRecord,
  MessageStore,
  OverdueCursor,
  OverdueReceipt,
  PurgeCounts,
  WriteBatch,
} from '../kinds/messages.ts';
import {
  ATTEMPT_COLUMNS,
  type AttemptRow,
  attemptUpsertAssignments,
  attemptValues,
  EVENT_COLUMNS,
  type EventRow,
  eventValues,
  insertInto,
  MESSAGE_COLUMNS,
  messageUpsertAssignments,
  type MessageRow,
  patchValues,
  sortAttempts,
  toAttemptRecord,
  toEventRecord,
  toMessageRecord,
} from '../rows.ts';
import { insertGroups, oneRowOnce, type SqlDialect } from './dialect.ts';
import type { SqlRunner, SqlStatement } from './runner.ts';

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `messages`, `message_events` and `message_attempts`, as the persister writes them. */
export class SqlMessageStore implements MessageStore {
  private readonly upsertMessages: (rows: number) => string;
  private readonly insertEvents: (rows: number) => string;
  private readonly upsertAttempts: (rows: number) => string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const messageAssignments = messageUpsertAssignments(dialect);
    const attemptAssignments = attemptUpsertAssignments((c) => dialect.incoming(c));
    this.upsertMessages = oneRowOnce(
      (rows) =>
        `${insertInto('messages', MESSAGE_COLUMNS, rows)}\n${dialect.upsert(['id'], messageAssignments)}`,
    );
    // Keeps the first copy of an event on the event id only (see SqlDialect.keepExisting).
    this.insertEvents = oneRowOnce(
      (rows) =>
        `${insertInto('message_events', EVENT_COLUMNS, rows)}\n${dialect.keepExisting('event_id', ['event_id'])}`,
    );
    this.upsertAttempts = oneRowOnce(
      (rows) =>
        `${insertInto('message_attempts', ATTEMPT_COLUMNS, rows)}\n${dialect.upsert(
          ['message_id', 'attempt'],
          attemptAssignments,
        )}`,
    );
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    const attempts = sortAttempts(batch.attempts ?? []);
    if (batch.messages.length === 0 && batch.events.length === 0 && attempts.length === 0) return;
    // Taking row locks in id order keeps two persisters writing overlapping batches from
    // deadlocking; the sort is stable, so patches for one id keep their relative order.
    const patches = [...batch.messages].sort((a, b) => byString(a.id, b.id));
    const events = [...batch.events].sort((a, b) => byString(a.eventId, b.eventId));
    const statements: SqlStatement[] = [
      ...insertGroups(this.dialect, patches).map((group) => ({
        sql: this.upsertMessages(group.length),
        params: group.flatMap(patchValues),
      })),
      ...insertGroups(this.dialect, events).map((group) => ({
        sql: this.insertEvents(group.length),
        params: group.flatMap(eventValues),
      })),
      ...insertGroups(this.dialect, attempts).map((group) => ({
        sql: this.upsertAttempts(group.length),
        params: group.flatMap(attemptValues),
      })),
    ];
    await this.sql.transaction(statements);
  }

  async getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined> {
    const rows = await this.sql.query<MessageRow>('SELECT * FROM messages WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ]);
    return rows[0] && toMessageRecord(rows[0]);
  }

  async listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]> {
    const rows = await this.sql.query<EventRow>(
      'SELECT * FROM message_events WHERE message_id = ? AND tenant_id = ? ORDER BY occurred_at, event_id',
      [messageId, tenantId],
    );
    return rows.map(toEventRecord);
  }

  async listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]> {
    const rows = await this.sql.query<AttemptRow>(
      'SELECT * FROM message_attempts WHERE message_id = ? AND tenant_id = ? ORDER BY attempt',
      [messageId, tenantId],
    );
    return rows.map(toAttemptRecord);
  }

  async purgeMessages(before: number, limit: number): Promise<PurgeCounts> {
    const below = idFloor(before);
    // Each table on its own, in small autocommitted deletes along an index in key order: TiDB
    // and InnoDB both prefer many short transactions to one that holds locks on millions of rows.
    const purge = (table: string, column: string) =>
      this.sql.execute(this.dialect.deleteLimited(table, `${column} < ?`, column), [below, limit]);
    const events = await purge('message_events', 'message_id');
    const attempts = await purge('message_attempts', 'message_id');
    const messages = await purge('messages', 'id');
    return { messages, events, attempts };
  }

  async overdueReceipts(query: {
    messageClass: MessageClass;
    submittedBefore: number;
    limit: number;
    cursor?: OverdueCursor | undefined;
  }): Promise<OverdueReceipt[]> {
    const { cursor } = query;
    // Row-value comparison written out: MySQL does not use an index range for (a, b) > (?, ?).
    const after = cursor ? ' AND (submitted_at > ? OR (submitted_at = ? AND id > ?))' : '';
    const rows = await this.sql.query<{
      id: string;
      tenant_id: string | null;
      submitted_at: number | string;
      attempt: number | null;
    }>(
      `SELECT id, tenant_id, submitted_at, attempt FROM messages
       WHERE status = 'submitted' AND message_class = ? AND submitted_at < ?${after}
       ORDER BY submitted_at, id LIMIT ?`,
      [
        query.messageClass,
        query.submittedBefore,
        ...(cursor ? [cursor.submittedAt, cursor.submittedAt, cursor.id] : []),
        query.limit,
      ],
    );
    return rows.map((row) => ({
      id: row.id,
      tenantId: row.tenant_id ?? '',
      messageClass: query.messageClass,
      submittedAt: Number(row.submitted_at),
      attempt: row.attempt ?? 0,
    }));
  }
}
