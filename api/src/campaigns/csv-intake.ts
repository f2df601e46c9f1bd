import { requireClientReference } from '../../../core/client-reference.ts';
import { encodeText } from '../../../core/encoding.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import { requireE164 } from '../../../core/phone.ts';
import { MAX_SEGMENTS } from '../../../core/segments.ts';
import type { CampaignRecipient, CampaignRowError } from '../../../core/store/kinds/campaigns.ts';
import type { TemplateRecord } from '../../../core/store/kinds/templates.ts';
import { renderTemplate } from '../../../core/template.ts';
import { OVERSIZED_RECORD, UNTERMINATED_RECORD } from './record-guard.ts';

/** What every row of a campaign is checked against. */
export interface IntakeRules {
  /** The campaign's template, or undefined when it sends `body`. */
  template?: Pick<TemplateRecord, 'variants' | 'defaultLocale' | 'variables'> | undefined;
  body?: string | undefined;
  locale?: string | undefined;
  /** Campaign-wide variables; a row's own values override them. */
  variables: Readonly<Record<string, string>>;
  smartEncoding: boolean;
  /** The estimated price of one part to a country (the route table's, as the send policy's). */
  pricePerPart: (country: string | undefined) => number;
}

/** Where a CSV's columns are: the number, the client reference and each variable. */
export interface CsvColumns {
  to: number;
  clientRef: number | undefined;
  variables: ReadonlyArray<readonly [name: string, index: number]>;
  width: number;
}

/** A recipient as given (a CSV row or an inline item), before it is checked. */
export interface RecipientInput {
  to: string;
  clientRef?: string | undefined;
  variables?: Readonly<Record<string, string>> | undefined;
}

export type RowOutcome =
  | { ok: true; recipient: Omit<CampaignRecipient, 'rowNo'>; segments: number; cost: number }
  | { ok: false; code: string; reason: string };

const NUMBER_HEADERS = new Set(['to', 'phone']);
const CLIENT_REF_HEADER = 'clientref';
/** What a decoder puts for bytes that are not UTF-8: a file saved as Latin-1 or UTF-16. */
const REPLACEMENT_CHARACTER = '\ufffd';

function headerProblem(message: string): PigeonError {
  return new PigeonError('PIGEON_ERR_CSV_HEADER', message, { errors: [{ field: '/header', message }] });
}

/**
 * Reads the header row: `to` (or `phone`), optional `clientRef`, and one column per template
 * variable the campaign does not fix. Refuses the whole file for a header that cannot work, so
 * no row fails for what the header already shows: no number column, a duplicate column, a column
 * the template has no variable for, or a template variable neither a column nor the campaign gives.
 */
export function csvColumns(header: readonly string[], rules: IntakeRules): CsvColumns {
  const names = header.map((name) => name.trim());
  const lower = names.map((name) => name.toLowerCase());
  const duplicate = lower.find((name, i) => lower.indexOf(name) !== i);
  if (duplicate !== undefined) throw headerProblem(`column "${duplicate}" appears twice`);
  const to = lower.findIndex((name) => NUMBER_HEADERS.has(name));
  if (to < 0) throw headerProblem('no "to" (or "phone") column');
  if (lower.filter((name) => NUMBER_HEADERS.has(name)).length > 1) {
    throw headerProblem('both "to" and "phone": give one number column');
  }
  const clientRefIndex = lower.indexOf(CLIENT_REF_HEADER);
  const templateVariables = rules.template?.variables ?? [];
  const variables: Array<readonly [string, number]> = [];
  const unknown: string[] = [];
  names.forEach((name, i) => {
    if (i === to || i === clientRefIndex) return;
    if (templateVariables.includes(name)) variables.push([name, i]);
    else unknown.push(name);
  });
  if (unknown.length > 0) {
    throw headerProblem(
      rules.template
        ? `columns not in the template: ${unknown.join(', ')} (its variables: ${templateVariables.join(', ') || 'none'})`
        : `columns ${unknown.join(', ')}: a campaign with a body has no variables (name a template)`,
    );
  }
  const given = new Set([...variables.map(([name]) => name), ...Object.keys(rules.variables)]);
  const missing = templateVariables.filter((name) => !given.has(name));
  if (missing.length > 0) {
    throw headerProblem(`template variables neither a column nor the campaign's: ${missing.join(', ')}`);
  }
  return {
    to,
    clientRef: clientRefIndex < 0 ? undefined : clientRefIndex,
    variables,
    width: names.length,
  };
}

/**
 * One CSV record as a recipient input, or the outcome that refuses it before any check: a record
 * the guard replaced (too large, quote never closed), bytes that were not UTF-8, or a record whose
 * field count is not the header's.
 */
export function csvRecord(fields: readonly string[], columns: CsvColumns): RecipientInput | RowOutcome {
  if (fields.length === 1 && fields[0] === OVERSIZED_RECORD) {
    return refused('PIGEON_ERR_CSV_ROW_TOO_LARGE', 'row is larger than the limit per row');
  }
  if (fields.length === 1 && fields[0] === UNTERMINATED_RECORD) {
    return refused('PIGEON_ERR_CSV_MALFORMED', 'a quoted field is never closed (the rest of the file)');
  }
  if (fields.length !== columns.width) {
    return refused('PIGEON_ERR_CSV_MALFORMED', `${fields.length} fields; the header has ${columns.width}`);
  }
  if (fields.some((field) => field.includes(REPLACEMENT_CHARACTER))) {
    return refused('PIGEON_ERR_CSV_ENCODING', 'row is not valid UTF-8 (save the file as UTF-8)');
  }
  const variables: Record<string, string> = {};
  for (const [name, index] of columns.variables) variables[name] = fields[index]!;
  const clientRef = columns.clientRef === undefined ? '' : fields[columns.clientRef]!;
  return {
    to: fields[columns.to]!.trim(),
    ...(clientRef === '' ? {} : { clientRef }),
    variables,
  };
}

function refused(code: string, reason: string): RowOutcome {
  return { ok: false, code, reason };
}

/**
 * Checks one recipient as its message will be built: an E.164 number, a valid client reference,
 * every template variable given (an empty cell is missing), and a text that fits the gateway's
 * part limit. Pure; the outcome carries the row's parts and estimated cost.
 */
export function checkRecipient(input: RecipientInput, rules: IntakeRules): RowOutcome {
  try {
    const recipient = requireE164(input.to, 'to');
    if (input.clientRef !== undefined) requireClientReference({ clientRef: input.clientRef });
    const own = input.variables ?? {};
    let text: string;
    if (rules.template) {
      const empty = Object.keys(own).filter((name) => own[name] === '' && !(name in rules.variables));
      if (empty.length > 0) {
        return refused('PIGEON_ERR_TEMPLATE_VARIABLES', `missing: ${empty.join(', ')}`);
      }
      const values = { ...rules.variables };
      for (const [name, value] of Object.entries(own)) if (value !== '') values[name] = value;
      text = renderTemplate(rules.template, values, rules.locale).body;
    } else {
      text = rules.body ?? '';
    }
    const report = encodeText(text, { smartEncoding: rules.smartEncoding });
    if (report.text.trim().length === 0) return refused('PIGEON_ERR_EMPTY_BODY', 'the text is empty');
    if (report.segments > MAX_SEGMENTS) {
      return refused(
        'PIGEON_ERR_BODY_TOO_LONG',
        `the text needs ${report.segments} parts (${report.encoding}); the limit is ${MAX_SEGMENTS}`,
      );
    }
    return {
      ok: true,
      recipient: {
        to: recipient.e164,
        variables: Object.fromEntries(Object.entries(own).filter(([, value]) => value !== '')),
        clientRef: input.clientRef ?? null,
      },
      segments: report.segments,
      cost: report.segments * rules.pricePerPart(recipient.country),
    };
  } catch (err) {
    if (!isPigeonError(err)) throw err;
    return refused(err.code, err.message);
  }
}

/** The valid and refused rows of an intake so far, handed to the store in batches. */
export interface IntakeSink {
  recipients(rows: readonly CampaignRecipient[]): Promise<void>;
  errors(rows: readonly CampaignRowError[]): Promise<void>;
}

/** Totals of an intake. */
export interface IntakeCounts {
  recipients: number;
  invalid: number;
  /** In millionths of the currency unit, so a million rows add up exactly. */
  costMicros: number;
}

/**
 * Numbers valid rows densely from 0 (the runner reads ranges of them) and collects refused rows by
 * their place in the upload, passing both to the sink every `batchSize` rows.
 */
export class IntakeBatcher {
  private valid: CampaignRecipient[] = [];
  private refusedRows: CampaignRowError[] = [];
  readonly counts: IntakeCounts = { recipients: 0, invalid: 0, costMicros: 0 };

  constructor(
    private readonly sink: IntakeSink,
    private readonly batchSize: number,
  ) {}

  /** Records the outcome of upload row `row` (1 for the first); flushes when a batch is full. */
  async add(row: number, outcome: RowOutcome): Promise<void> {
    if (outcome.ok) {
      this.valid.push({ rowNo: this.counts.recipients++, ...outcome.recipient });
      this.counts.costMicros += Math.round(outcome.cost * 1_000_000);
    } else {
      this.counts.invalid++;
      this.refusedRows.push({ row, code: outcome.code, reason: outcome.reason });
    }
    if (this.valid.length + this.refusedRows.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    const valid = this.valid;
    const refusedRows = this.refusedRows;
    this.valid = [];
    this.refusedRows = [];
    if (valid.length > 0) await this.sink.recipients(valid);
    if (refusedRows.length > 0) await this.sink.errors(refusedRows);
  }
}
