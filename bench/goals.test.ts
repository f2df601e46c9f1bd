import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goalTable } from './goals.ts';

test('marks a goal met only when its ratio reaches the goal and the run was exactly once', () => {
  const table = goalTable({
    'e2e-delivery': {
      bench: 'e2e-delivery',
      ours: { delivered_per_s: 600, exactly_once: false, cpu_us_per_msg: { 'kafka broker': 100 } },
      baseline: { delivered_per_s: 1000, cpu_us_per_msg: { 'kafka broker': 50 } },
      ratio: 0.6,
    },
    otp: {
      bench: 'otp',
      ours: { create: { rps: 590 }, check: { rps: 400 }, check_ratio: 0.5 },
      baseline: { messages: { rps: 1000 }, evalsha: { rps: 800 } },
      ratio: 0.59,
    },
  });
  const row = (start: string) => table.split('\n').find((line) => line.startsWith(`| ${start}`)) ?? '';
  assert.match(row('e2e delivered/s'), /\| 0\.60 \| ✗ \|$/);
  assert.match(row('broker CPU'), /\| 100 µs \| 2\.00 \| ✓ \|$/);
  assert.match(row('verification create'), /\| 0\.59 \| ✗ \|$/);
  assert.match(row('verification check'), /\| 0\.50 \| ✓ \|$/);
});

test('lists a bench that gave no result line as a goal not met', () => {
  const table = goalTable({ soak: { error: 'exited with 1 without a result line' } });
  assert.match(table, /\| soak: no result \| – \| exited with 1 without a result line \| – \| ✗ \|/);
});

test('bulk: the campaign against the bare pipeline, the CSV intake against csv-parse, OTPs while draining', () => {
  const table = goalTable({
    bulk: {
      bench: 'bulk',
      ours: {
        delivered_per_s: 700,
        expansion_rows_per_s: 5000,
        exactly_once: true,
        csv_rows_per_s: 90_000,
        csv_ratio: 0.45,
        otp_p99_ms_draining: 30,
        otp_p99_ratio: 1.2,
      },
      baseline: { bare_delivered_per_s: 1000, csv_parse_rows_per_s: 200_000, otp_p99_ms_idle: 25 },
      ratio: 0.7,
    },
  });
  const row = (start: string) => table.split('\n').find((line) => line.startsWith(`| ${start}`)) ?? '';
  assert.match(row('campaign delivered/s'), /\| 0\.70 \| ✓ \|$/);
  assert.match(row('campaign CSV intake'), /\| 0\.45 \| ✗ \|$/);
  assert.match(row('OTP p99 accept→submitted while'), /\| 1\.20 \| ✓ \|$/);
});
