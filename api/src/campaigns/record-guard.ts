import { Transform, type TransformCallback } from 'node:stream';

/**
 * The records a guard puts in place of one it refused: one field no CSV exporter writes (it starts
 * with NUL), so the parser still counts a record there and row numbers stay those of the file.
 */
export const OVERSIZED_RECORD = '\u0000oversized';
export const UNTERMINATED_RECORD = '\u0000unterminated';

const QUOTE = 0x22;
const NEWLINE = 0x0a;

/**
 * Passes CSV bytes through and replaces any record longer than `maxBytes` by OVERSIZED_RECORD (and
 * a record whose quote is still open at the end of the file by UNTERMINATED_RECORD). csv-parse's
 * own max_record_size cannot do this: with skip_records_with_error it drops the rest of the chunk
 * after the long record (csv-parse 6.2), so the rows after a 10 MB one would be lost. Here a long
 * record's bytes are discarded as they arrive: at most `maxBytes` of one record are ever held.
 *
 * The scan is RFC 4180's: `"` toggles quoting (an escaped `""` toggles twice) and a newline outside
 * quotes ends a record. UTF-8 never puts those bytes inside a multi-byte character.
 */
export class RecordGuard extends Transform {
  private quoted = false;
  private recordBytes = 0;
  private dropping = false;
  /** The start of the current record, from earlier chunks (never while dropping). */
  private carry: Buffer[] = [];

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // Bytes before `from` are passed on or discarded; the current record starts at `record`.
    let from = 0;
    let record = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === QUOTE) this.quoted = !this.quoted;
      if (!this.dropping && ++this.recordBytes > this.maxBytes) {
        if (record > from) this.push(chunk.subarray(from, record));
        this.carry = [];
        this.dropping = true;
      }
      if (byte !== NEWLINE || this.quoted) continue;
      if (this.dropping) {
        this.push(`${OVERSIZED_RECORD}\n`);
        this.dropping = false;
        from = i + 1;
      } else if (this.carry.length > 0) {
        this.push(Buffer.concat([...this.carry, chunk.subarray(from, i + 1)]));
        this.carry = [];
        from = i + 1;
      }
      record = i + 1;
      this.recordBytes = 0;
    }
    if (!this.dropping) {
      // Whole records go on in one piece; the unfinished one waits for the rest of it.
      if (record > from) this.push(chunk.subarray(from, record));
      if (record < chunk.length) this.carry.push(chunk.subarray(record));
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.dropping) this.push(`${OVERSIZED_RECORD}\n`);
    else if (this.quoted) this.push(`${UNTERMINATED_RECORD}\n`);
    else if (this.carry.length > 0) this.push(Buffer.concat(this.carry));
    done();
  }
}
