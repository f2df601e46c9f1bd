/**
 * `npm run test:faults`: the fault suite's full form, every fault in turn (about 10 minutes of phases plus start-up on a quiet
 * 2-core machine). Prints the table docs/reliability.md keeps, writes it with the run's details to
 * .cache/faults/<time>.json, and exits 1 if any promise was broken.
 * FAULTS_RATE (messages/s, default 60) and FAULTS_ONLY (comma-separated fault names) adjust it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ALL_FAULTS, type FaultName } from './faults.ts';
import { runFaultSuite } from './suite.ts';

const only = process.env.FAULTS_ONLY?.split(',').map((f) => f.trim()) as FaultName[] | undefined;
const unknown = only?.filter((f) => !ALL_FAULTS.includes(f)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown fault ${unknown.join(', ')}; faults are: ${ALL_FAULTS.join(', ')}\n`);
  process.exit(64);
}
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
const loadBefore = loadavg()[0]!;
const result = await runFaultSuite({
  faults: only ?? ALL_FAULTS,
  ratePerSecond: Number(process.env.FAULTS_RATE ?? 60),
  steadyMs: 5_000,
  recoverMs: 15_000,
  settleMs: 90_000,
  log: (line) => process.stdout.write(`faults: ${line}\n`),
});
process.stdout.write(`\n${result.table}\n\n`);
process.stdout.write(
  `commit ${commit}, ${Math.round(result.durationMs / 1000)} s, load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`,
);
for (const row of result.rows) {
  process.stdout.write(
    `${row.fault}: acknowledged but never sent, by final status: ${JSON.stringify(row.unsent)}\n`,
  );
}
for (const note of result.notes.slice(0, 20)) process.stdout.write(`NOTE ${note}\n`);
for (const violation of result.violations.slice(0, 50)) process.stdout.write(`VIOLATION ${violation}\n`);
mkdirSync('.cache/faults', { recursive: true });
const file = `.cache/faults/${new Date().toISOString().replaceAll(':', '-')}.json`;
writeFileSync(file, JSON.stringify({ commit, ...result, output: undefined }, null, 2));
if (result.violations.length > 0) {
  process.stdout.write(result.output);
  process.exitCode = 1;
}
