/**
 * The fault suite's run: start the deployment, drive the load, inject each fault in turn (steady
 * load, fault, recovery), let everything settle, then read the store and judge (checker.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import {
  checkRun,
  FINAL_STATUSES,
  OUTCOME_UNKNOWN_STATUS,
  type PhaseWindow,
  renderTable,
  type RunVerdict,
  type StoredRow,
} from './checker.ts';
import { type Deployment, startDeployment } from './deployment.ts';
import { FAULTS, type FaultName } from './faults.ts';
import { Load } from './load.ts';

export interface SuiteOptions {
  faults: readonly FaultName[];
  ratePerSecond: number;
  /** Steady load before each fault. */
  steadyMs: number;
  /** Load after each fault ends, before the next phase. */
  recoverMs: number;
  /** Longest wait, after the load stops, for every acknowledged message to be final. */
  settleMs: number;
  log: (line: string) => void;
}

export interface SuiteResult extends RunVerdict {
  table: string;
  durationMs: number;
  /** Diagnostics for a failure: the processes' last output. */
  output: string;
}

async function readStore(url: string, ids: readonly string[]): Promise<StoredRow[]> {
  const conn = await mysql.createConnection({ uri: url });
  try {
    const rows: StoredRow[] = [];
    for (let i = 0; i < ids.length; i += 1_000) {
      const [found] = await conn.query(
        'SELECT id, MAX(status) AS status, COUNT(*) AS n FROM messages WHERE id IN (?) GROUP BY id',
        [ids.slice(i, i + 1_000)],
      );
      for (const r of found as Array<{ id: string; status: string; n: number }>) {
        rows.push({ id: r.id, status: r.status, rows: Number(r.n) });
      }
    }
    return rows;
  } finally {
    await conn.end();
  }
}

export async function runFaultSuite(options: SuiteOptions): Promise<SuiteResult> {
  const started = Date.now();
  const { log } = options;
  const deployment: Deployment = await startDeployment(log);
  const load = new Load(deployment, options.ratePerSecond);
  try {
    load.start();
    // A phase without a fault first: what the run looks like when nothing breaks.
    load.phase = 'no fault';
    const baselineStart = Date.now();
    await sleep(options.steadyMs * 2);
    let brokenBy: string | undefined;
    const phases: PhaseWindow[] = [
      {
        name: 'no fault',
        start: baselineStart,
        faultAt: Date.now(),
        restoredAt: Date.now(),
        end: Date.now(),
      },
    ];
    for (const name of options.faults) {
      const fault = FAULTS[name];
      const start = Date.now();
      load.phase = name;
      await sleep(options.steadyMs);
      const faultAt = Date.now();
      let restoredAt = faultAt;
      try {
        await fault.inject(deployment);
        await sleep(fault.holdMs);
        restoredAt = Date.now();
        // A restart that times out on a loaded machine gets a second chance before the run gives up.
        await fault.restore(deployment).catch(async (err: unknown) => {
          log(`${name}: restore failed (${(err as Error).message.split('\n')[0]}); trying again`);
          await fault.restore(deployment);
        });
      } catch (err) {
        // The deployment is broken: judge what happened so far rather than lose the whole run.
        brokenBy = `${name}: could not be restored: ${(err as Error).message.split('\n')[0]}`;
        log(brokenBy);
        phases.push({ name, start, faultAt, restoredAt, end: Date.now() });
        break;
      }
      log(
        `${name}: injected, restored after ${restoredAt - faultAt} ms, ready after ${Date.now() - faultAt} ms`,
      );
      await sleep(options.recoverMs);
      phases.push({ name, start, faultAt, restoredAt, end: Date.now() });
    }
    load.phase = 'after';
    await load.stop();
    const acknowledged = load.sends.filter((s) => s.status === 202 && s.id).map((s) => s.id!);
    // Messages answered 504 may have landed: read too, so the checker can hold those to the rules.
    const unknown = load.sends.filter((s) => s.status === OUTCOME_UNKNOWN_STATUS && s.id).map((s) => s.id!);
    log(`load stopped: ${load.sends.length} sends, ${acknowledged.length} acknowledged; settling`);
    // Every answer by class: a refusal other than 503 (a 429 from a send policy) empties a lane too.
    const answers: Record<string, Record<number, number>> = {};
    for (const s of load.sends) (answers[s.class] ??= {})[s.status] = (answers[s.class]![s.status] ?? 0) + 1;
    log(`answers by class and status: ${JSON.stringify(answers)}`);
    const settleUntil = Date.now() + options.settleMs;
    const accepted = new Set(acknowledged);
    const read = () => readStore(deployment.databaseUrl, [...acknowledged, ...unknown]);
    let stored = await read();
    while (
      Date.now() < settleUntil &&
      (stored.filter((r) => accepted.has(r.id)).length < acknowledged.length ||
        stored.some((r) => !FINAL_STATUSES.has(r.status)))
    ) {
      await sleep(2_000);
      stored = await read();
    }
    await load.poll();
    log(`settled in ${options.settleMs - Math.max(0, settleUntil - Date.now())} ms`);
    const verdict = checkRun({ phases, sends: load.sends, stored, copies: load.copies, otp: load.otp });
    if (brokenBy) verdict.violations.unshift(brokenBy);
    return {
      ...verdict,
      table: renderTable(verdict.rows),
      durationMs: Date.now() - started,
      output: verdict.violations.length > 0 ? deployment.output() : '',
    };
  } finally {
    await load.stop();
    await deployment.close();
  }
}
