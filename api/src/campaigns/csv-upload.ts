import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { PigeonError } from '../../../core/errors.ts';
import {
  checkRecipient,
  csvColumns,
  csvRecord,
  IntakeBatcher,
  type IntakeCounts,
  type IntakeRules,
  type IntakeSink,
} from './csv-intake.ts';
import { RecordGuard } from './record-guard.ts';

export interface CsvUploadLimits {
  /** Data rows (after the header) one upload may carry. */
  maxRows: number;
  /** Bytes one record may take; a longer one is refused as its own row, never held. */
  maxRowBytes: number;
  /** Rows handed to the store at once. */
  batchSize: number;
}

export const CSV_UPLOAD_LIMITS: CsvUploadLimits = {
  maxRows: 1_000_000,
  // A number, a reference of 128 characters and variables for a text of ten parts fit many times
  // over; a row beyond this is a mistake (a missing closing quote swallowing the file, a binary).
  maxRowBytes: 16 * 1024,
  batchSize: 1_000,
};

/**
 * Streams a CSV upload into the store: header, then each record checked and batched. The file is
 * never held: the guard bounds one record, csv-parse reads as bytes arrive, and each batch is
 * written before more is read (for-await applies backpressure down to the socket).
 * BOM, CRLF and quoted newlines are csv-parse's; a refused row is counted and recorded, never fatal.
 */
export async function ingestCsv(
  source: Readable,
  rules: IntakeRules,
  sink: IntakeSink,
  limits: CsvUploadLimits = CSV_UPLOAD_LIMITS,
): Promise<IntakeCounts> {
  const parser = parse({
    bom: true,
    // Checked per row here, so a short row is one refused row rather than a failed upload.
    relax_column_count: true,
    // A stray quote inside an unquoted field is kept as text, as spreadsheets write it.
    relax_quotes: true,
    skip_empty_lines: true,
    // Both, always: csv-parse otherwise keeps to the first one it sees, and the guard's marker
    // records end in LF whatever the file uses.
    record_delimiter: ['\r\n', '\n'],
  });
  const flow = pipeline(source, new RecordGuard(limits.maxRowBytes), parser);
  // Observed below, after the records are read (or their reading failed).
  flow.catch(() => undefined);
  const batcher = new IntakeBatcher(sink, limits.batchSize);
  let columns: ReturnType<typeof csvColumns> | undefined;
  let row = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      if (!columns) {
        columns = csvColumns(fields, rules);
        continue;
      }
      if (++row > limits.maxRows) {
        throw new PigeonError(
          'PIGEON_ERR_TOO_MANY_RECIPIENTS',
          `More than ${limits.maxRows} rows; split the list into several campaigns`,
        );
      }
      const input = csvRecord(fields, columns);
      await batcher.add(row, 'ok' in input ? input : checkRecipient(input, rules));
    }
    await flow;
  } catch (err) {
    parser.destroy();
    if (err instanceof PigeonError) throw err;
    throw new PigeonError('PIGEON_ERR_CSV_MALFORMED', `The CSV could not be read: ${(err as Error).message}`);
  }
  if (!columns) throw new PigeonError('PIGEON_ERR_CSV_HEADER', 'The CSV is empty: no header row');
  await batcher.flush();
  return batcher.counts;
}
