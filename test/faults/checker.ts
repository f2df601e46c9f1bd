/**
 * The fault suite's judge: pure, over what a run recorded — the API's answers, the store's rows,
 * the simulated providers' logs and the OTP checks — so it is tested on synthetic histories
 * (checker.test.ts) without any infrastructure.
 *
 * Per class, how many copies a provider may receive (the retry policy, docs/architecture.md
 * "Failover by outcome" and "Receipt-timeout failover"):
 * - transactional and marketing: one. An ambiguous send (timeout after the request was written,
 *   a bridge killed mid-send) is never sent again: the message ends `unknown`.
 * - otp and alert: one per provider. An ambiguous send may fail over once, a crash in flight is
 *   recovered through another provider, and a missing receipt triggers one copy through another
 *   provider: each goes to a provider that has not had it, since a duplicate code beats no code.
 *   A second copy to the same provider is a duplicate.
 */
import { TERMINAL_STATUSES } from '../../core/status-machine.ts';

export const CLASSES = ['otp', 'transactional', 'marketing'] as const;
export type LoadClass = (typeof CLASSES)[number];
export type Lane = 'high' | 'normal' | 'bulk';
export const LANE_OF: Record<LoadClass, Lane> = { otp: 'high', transactional: 'normal', marketing: 'bulk' };

/** Statuses after which nothing more is owed; `unknown` is what the receipt deadline ends with. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([...TERMINAL_STATUSES, 'unknown']);

export interface PhaseWindow {
  name: string;
  /** When the phase began (steady load before the fault). */
  start: number;
  /** When the fault was injected. */
  faultAt: number;
  /** When the fault ended: the service restarted, the link restored, the provider normal again. */
  restoredAt: number;
  end: number;
}

/**
 * The API's answer when neither the bus nor the cache confirmed a message (PIGEON_ERR_OUTCOME_UNKNOWN):
 * it names the message, which may or may not be sent. Sent or not breaks no promise; if it landed,
 * it must be stored once and end final like any accepted message.
 */
export const OUTCOME_UNKNOWN_STATUS = 504;

/** One `POST /v1/messages` and the API's answer. */
export interface SendRecord {
  /** Unique in the run and carried in the message text, so a provider's copy can be traced to it. */
  token: string;
  class: LoadClass;
  phase: string;
  at: number;
  /**
   * HTTP status, or 0 when no answer came (timeout, connection refused): such a message may or
   * may not have been accepted, so it may be sent; so may a 504 (OUTCOME_UNKNOWN_STATUS); a refusal
   * (503 or any other) may not.
   */
  status: number;
  /** The message's id: from a 202, or the `messageId` a 504 named. */
  id?: string;
  /** When the answer came: for a 202, when the API had taken the message. */
  answeredAt?: number;
}

export interface StoredRow {
  id: string;
  status: string;
  /** How many rows the store holds for the id. */
  rows: number;
}

/** One message a simulated provider took. */
export interface ProviderCopy {
  provider: string;
  reference: string;
  body: string;
  at: number;
}

/** A verification checked with a wrong code, then the right one, then the right one again. */
export interface OtpRecord {
  phase: string;
  wrong?: string;
  right?: string;
  again?: string;
}

export interface PhaseRow {
  fault: string;
  acknowledged: number;
  refused: number;
  /** Answered 504: neither sent nor refused for sure (OUTCOME_UNKNOWN_STATUS). */
  unknown: number;
  /** Of those, how many landed: stored, or received by a provider. */
  unknownLanded: number;
  stored: number;
  sent: number;
  /** Copies beyond what the class allows. */
  duplicates: number;
  /** Extra copies the class allows (urgent failover). */
  resent: number;
  lost: number;
  stuck: number;
  /**
   * Per lane, the longest time during the phase in which a message of the lane had been accepted
   * and was still waiting for its first copy, and no copy of the lane reached any provider (ms).
   * A quiet spell with nothing waiting is not a gap: at a few OTPs a second, the load alone leaves
   * seconds between two of them now and then.
   */
  gapMs: Record<Lane, number>;
  /**
   * Per lane, the longest wait from the API's 202 to the first copy at a provider, of the
   * messages acknowledged in the phase that reached one (ms): what a user waits for a code.
   */
  worstWaitMs: Record<Lane, number>;
  /** From the end of the fault to the first copy reaching a provider on every lane (ms). */
  recoverMs: number;
  otpChecked: number;
  /** Final statuses of the acknowledged messages no provider received, e.g. {expired: 2}. */
  unsent: Record<string, number>;
}

export interface RunVerdict {
  rows: PhaseRow[];
  /** Every broken promise, in words; empty when the run kept them all. */
  violations: string[];
  /** What looks like a broken promise at first sight and is not, in words (printed, not failed). */
  notes: string[];
}

const TOKEN = /\[fault ([0-9a-z-]+)\]/;

/** The token a load message's text carries (see `tokenText`). */
export function tokenOf(body: string): string | undefined {
  return TOKEN.exec(body)?.[1];
}

export function tokenText(token: string): string {
  return `[fault ${token}]`;
}

export function checkRun(input: {
  phases: readonly PhaseWindow[];
  sends: readonly SendRecord[];
  stored: readonly StoredRow[];
  copies: readonly ProviderCopy[];
  otp: readonly OtpRecord[];
}): RunVerdict {
  const violations: string[] = [];
  const notes: string[] = [];
  const stored = new Map(input.stored.map((row) => [row.id, row]));
  const byToken = new Map(input.sends.map((s) => [s.token, s]));
  const byId = new Map<string, SendRecord>();
  for (const send of input.sends) if (mayBeSent(send) && send.id) byId.set(send.id, send);

  // Every copy a provider took, traced to the request it came from.
  const copiesOf = new Map<string, ProviderCopy[]>();
  for (const copy of input.copies) {
    const token = tokenOf(copy.body);
    if (token === undefined) continue; // a verification's code: judged by the OTP checks
    const send = byToken.get(token);
    if (!send) {
      violations.push(`${copy.provider} received a message no request of this run made (${token})`);
      continue;
    }
    // No answer (a client timeout, a connection cut) promises nothing either way.
    if (send.status === 0) continue;
    if (!mayBeSent(send)) {
      violations.push(
        `${copy.provider} received ${token}, which the API refused (${send.status}) in phase ${send.phase}`,
      );
      continue;
    }
    if (copy.reference !== send.id) {
      violations.push(
        `${copy.provider} received ${token} under id ${copy.reference}, acknowledged as ${send.id}`,
      );
      continue;
    }
    copiesOf.set(copy.reference, [...(copiesOf.get(copy.reference) ?? []), copy]);
  }

  const rows = input.phases.map((phase): PhaseRow => {
    const sends = input.sends.filter((s) => s.phase === phase.name);
    const acknowledged = sends.filter((s) => s.status === 202 && s.id);
    const unknown = sends.filter((s) => s.status === OUTCOME_UNKNOWN_STATUS);
    const row: PhaseRow = {
      fault: phase.name,
      acknowledged: acknowledged.length,
      refused: sends.filter((s) => s.status === 503).length,
      unknown: unknown.length,
      unknownLanded: 0,
      stored: 0,
      sent: 0,
      duplicates: 0,
      resent: 0,
      lost: 0,
      stuck: 0,
      gapMs: { high: 0, normal: 0, bulk: 0 },
      worstWaitMs: { high: 0, normal: 0, bulk: 0 },
      recoverMs: 0,
      otpChecked: 0,
      unsent: {},
    };
    for (const send of acknowledged) {
      const id = send.id!;
      const store = stored.get(id);
      if (!store) {
        row.lost++;
        violations.push(`${phase.name}: ${send.class} ${id} was acknowledged and never stored`);
      } else {
        row.stored++;
        if (store.rows !== 1) violations.push(`${phase.name}: ${id} is stored ${store.rows} times`);
        if (!FINAL_STATUSES.has(store.status)) {
          row.stuck++;
          violations.push(`${phase.name}: ${send.class} ${id} is still ${store.status}`);
        }
      }
      const copies = copiesOf.get(id) ?? [];
      if (copies.length > 0) row.sent++;
      else {
        const status = store?.status ?? 'not stored';
        row.unsent[status] = (row.unsent[status] ?? 0) + 1;
      }
      const { duplicates, resent } = extraCopies(send.class, copies);
      row.duplicates += duplicates;
      row.resent += resent;
      if (duplicates > 0) {
        violations.push(
          `${phase.name}: ${send.class} ${id} reached providers ${copies.length} times (${copies.map((c) => c.provider).join(', ')})`,
        );
      }
    }
    for (const send of unknown) {
      if (!send.id) {
        violations.push(`${phase.name}: a ${OUTCOME_UNKNOWN_STATUS} for ${send.token} named no message`);
        continue;
      }
      const store = stored.get(send.id);
      const copies = copiesOf.get(send.id) ?? [];
      if (!store && copies.length === 0) continue; // never landed: nothing owed
      row.unknownLanded++;
      if (!store) {
        violations.push(
          `${phase.name}: ${send.class} ${send.id} (answered ${OUTCOME_UNKNOWN_STATUS}) reached a provider and was never stored`,
        );
      } else {
        if (store.rows !== 1) violations.push(`${phase.name}: ${send.id} is stored ${store.rows} times`);
        if (!FINAL_STATUSES.has(store.status)) {
          violations.push(
            `${phase.name}: ${send.class} ${send.id} (answered ${OUTCOME_UNKNOWN_STATUS}) is still ${store.status}`,
          );
        }
      }
      const { duplicates, resent } = extraCopies(send.class, copies);
      row.duplicates += duplicates;
      row.resent += resent;
      if (duplicates > 0) {
        violations.push(
          `${phase.name}: ${send.class} ${send.id} (answered ${OUTCOME_UNKNOWN_STATUS}) reached providers ${copies.length} times (${copies.map((c) => c.provider).join(', ')})`,
        );
      }
    }
    Object.assign(row, laneTimes(phase, input.copies, byId, copiesOf));
    for (const check of input.otp.filter((o) => o.phase === phase.name)) {
      if (check.wrong !== undefined || check.right !== undefined) row.otpChecked++;
      if (check.wrong === 'approved') violations.push(`${phase.name}: a wrong code was approved`);
      // Approved is final and only a pending verification can be approved (the approve script,
      // api/src/verify/scripts.ts), so a second check that approves proves the first did not. Two
      // approvals the client saw are a broken promise; an approval on the second check after a
      // first that got no answer (an api killed between the check's two halves) or an error is
      // the one approval, which the client never saw before.
      if (check.again === 'approved' && check.right === 'approved') {
        violations.push(`${phase.name}: a code was approved twice`);
      } else if (check.again === 'approved') {
        notes.push(
          `${phase.name}: a code approved on the second right check, the first having answered ${check.right ?? 'nothing'}: approved once`,
        );
      }
    }
    return row;
  });
  return { rows, violations, notes };
}

/** A 202, or a 504 that names a message: either may reach a provider without breaking a promise. */
function mayBeSent(send: SendRecord): boolean {
  return send.status === 202 || send.status === OUTCOME_UNKNOWN_STATUS;
}

/** Copies past the class's allowance, and the extra ones it allows (see the policy above). */
export function extraCopies(
  messageClass: LoadClass,
  copies: readonly ProviderCopy[],
): { duplicates: number; resent: number } {
  if (copies.length <= 1) return { duplicates: 0, resent: 0 };
  if (messageClass !== 'otp') return { duplicates: copies.length - 1, resent: 0 };
  const providers = new Set(copies.map((c) => c.provider)).size;
  return { duplicates: copies.length - providers, resent: providers - 1 };
}

/**
 * Per lane: the longest stall inside the phase (see PhaseRow.gapMs), the worst accept-to-provider
 * wait of the phase's messages, and how long after the fault's end every lane sent again.
 *
 * Between two consecutive copies of a lane nothing finishes waiting, so the set of messages
 * waiting only grows: the stall before a copy at `end` began at the later of the previous copy
 * and the earliest acceptance among the messages still waiting at `end`. Messages that never
 * reached a provider (expired, rejected) are not counted as waiting; the unsent column has them.
 */
function laneTimes(
  phase: PhaseWindow,
  copies: readonly ProviderCopy[],
  byId: ReadonlyMap<string, SendRecord>,
  copiesOf: ReadonlyMap<string, readonly ProviderCopy[]>,
): Pick<PhaseRow, 'gapMs' | 'worstWaitMs' | 'recoverMs'> {
  const times: Record<Lane, number[]> = { high: [], normal: [], bulk: [] };
  for (const copy of copies) {
    const send = byId.get(copy.reference);
    if (!send || copy.at < phase.start || copy.at > phase.end) continue;
    times[LANE_OF[send.class]].push(copy.at);
  }
  const waits: Record<Lane, Array<{ acceptedAt: number; firstCopyAt: number; phase: string }>> = {
    high: [],
    normal: [],
    bulk: [],
  };
  for (const [id, sent] of copiesOf) {
    const send = byId.get(id)!;
    // A 504's message was not known to be waiting: it is in no stall and no wait.
    if (send.status !== 202) continue;
    const acceptedAt = send.answeredAt ?? send.at;
    const firstCopyAt = Math.min(...sent.map((c) => c.at));
    waits[LANE_OF[send.class]].push({ acceptedAt, firstCopyAt, phase: send.phase });
  }
  const gapMs: Record<Lane, number> = { high: 0, normal: 0, bulk: 0 };
  const worstWaitMs: Record<Lane, number> = { high: 0, normal: 0, bulk: 0 };
  let recoverMs = 0;
  for (const lane of Object.keys(times) as Lane[]) {
    const bounds = [phase.start, ...times[lane].sort((a, b) => a - b), phase.end];
    const byLastFirst = waits[lane].slice().sort((a, b) => b.firstCopyAt - a.firstCopyAt);
    let next = 0;
    let earliestWaiting = Infinity;
    for (let i = bounds.length - 1; i >= 1; i--) {
      const end = bounds[i]!;
      while (next < byLastFirst.length && byLastFirst[next]!.firstCopyAt >= end) {
        earliestWaiting = Math.min(earliestWaiting, byLastFirst[next]!.acceptedAt);
        next++;
      }
      if (earliestWaiting < end) {
        gapMs[lane] = Math.max(gapMs[lane], end - Math.max(bounds[i - 1]!, earliestWaiting));
      }
    }
    for (const wait of waits[lane]) {
      if (wait.phase !== phase.name) continue;
      worstWaitMs[lane] = Math.max(worstWaitMs[lane], wait.firstCopyAt - wait.acceptedAt);
    }
    const first = times[lane].find((t) => t >= phase.restoredAt);
    recoverMs = Math.max(recoverMs, (first ?? phase.end) - phase.restoredAt);
  }
  return { gapMs, worstWaitMs, recoverMs };
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** The table the suite prints and docs/reliability.md keeps, as Markdown. */
export function renderTable(rows: readonly PhaseRow[]): string {
  const head =
    '| fault | acknowledged | refused (503) | outcome unknown (504), landed | stored | sent | duplicates | resent (allowed) | lost | stuck | max gap while waiting high / normal / bulk (s) | worst wait high / normal / bulk (s) | time to recover (s) |';
  const rule = `|${head
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`;
  const lines = rows.map(
    (r) =>
      `| ${r.fault} | ${r.acknowledged} | ${r.refused} | ${r.unknown}, ${r.unknownLanded} | ${r.stored} | ${r.sent} | ${r.duplicates} | ${r.resent} | ${r.lost} | ${r.stuck} | ${seconds(r.gapMs.high)} / ${seconds(r.gapMs.normal)} / ${seconds(r.gapMs.bulk)} | ${seconds(r.worstWaitMs.high)} / ${seconds(r.worstWaitMs.normal)} / ${seconds(r.worstWaitMs.bulk)} | ${seconds(r.recoverMs)} |`,
  );
  return [head, rule, ...lines].join('\n');
}
