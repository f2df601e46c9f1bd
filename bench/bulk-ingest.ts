import { createReadStream } from 'node:fs';
import { ingestCsv } from '../api/src/campaigns/csv-upload.ts';
import type { IntakeRules, IntakeSink } from '../api/src/campaigns/csv-intake.ts';
import { round } from './pipelines.ts';

/** The rules of the bench's campaign: a one-variable marketing template, every part at 0.05. */
export const BENCH_INTAKE_RULES: IntakeRules = {
  template: {
    variants: [{ locale: 'en', body: 'Hello {{name}}, our sale starts today. Reply STOP to opt out' }],
    defaultLocale: 'en',
    variables: ['name'],
  },
  variables: {},
  smartEncoding: false,
  pricePerPart: () => 0.05,
};

const DISCARD: IntakeSink = { recipients: async () => undefined, errors: async () => undefined };

/**
 * The campaign upload's intake (api/src/campaigns/csv-upload.ts, as PUT /v1/campaigns/:id/recipients
 * runs it) over a file: parsed, every row checked and numbered, batches handed to `sink` (the store,
 * or nothing to time the parsing and checks alone). Rows per second of the file's data rows.
 */
export async function ingestCsvFile(
  file: string,
  sink: IntakeSink = DISCARD,
): Promise<{ rows: number; invalid: number; rows_per_s: number }> {
  const started = performance.now();
  const counts = await ingestCsv(createReadStream(file), BENCH_INTAKE_RULES, sink);
  const rows = counts.recipients + counts.invalid;
  return { rows, invalid: counts.invalid, rows_per_s: round(rows / ((performance.now() - started) / 1000)) };
}
