import smpp from 'smpp';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import { countSegments, isGsm7 } from '../core/segments.ts';
import type {
  InboundHttpRequest,
  ParsedReceipt,
  ProviderAdapter,
  ProviderFactory,
  SendRequest,
  SendResult,
} from './provider.ts';
import { ProviderError } from './provider.ts';

/**
 * SMPP 3.4 adapter: one bind_transceiver link per provider, kept alive with enquire_link and
 * rebound with jittered backoff when it drops. Messages go out as submit_sm (split into UDH
 * concatenated parts when long) and receipts come back as deliver_sm on the same link.
 */

export interface SmppOptions {
  host: string;
  port: number;
  /** TLS (SMPP over TLS, usually port 3550); an object passes CA / verification settings. */
  tls: false | { ca?: string; rejectUnauthorized?: boolean; servername?: string };
  systemId: string;
  password: string;
  systemType: string;
  serviceType: string;
  enquireLinkMs: number;
  /** Connect plus bind must finish within this, or the attempt is abandoned and retried. */
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** How long the bridge pauses this provider after ESME_RTHROTTLED. */
  throttledRetryAfterMs: number;
  /** How long after ESME_RMSGQFUL: the SMSC's queue drains slower than a throttle window. */
  queueFullRetryAfterMs: number;
  /** Sends the message's expiry as an absolute validity_period (some SMSCs refuse it). */
  validityPeriod: boolean;
}

export type SmppLinkState = 'idle' | 'connecting' | 'bound' | 'closed';

/** Log event names of this adapter. */
export const SmppEvents = {
  bound: 'smpp.bound',
  bindFailed: 'smpp.bind_failed',
  linkError: 'smpp.link_error',
  linkDown: 'smpp.link_down',
  enquireLinkTimeout: 'smpp.enquire_link_timeout',
  receiptUnparsed: 'smpp.receipt_unparsed',
  receiptListenerFailed: 'smpp.receipt_listener_failed',
} as const;

const ESME_ROK = 0x00;
const ESME_RINVCMDID = 0x03;
/** ESME Receiver Temporary App Error: the SMSC keeps the deliver_sm and retries it later. */
const ESME_RX_T_APPN = 0x64;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;

const STATUS_NAMES: Record<number, string> = {
  0x01: 'ESME_RINVMSGLEN',
  0x04: 'ESME_RINVBNDSTS',
  0x06: 'ESME_RINVPRTFLG',
  0x07: 'ESME_RINVREGDLVFLG',
  0x08: 'ESME_RSYSERR',
  0x0a: 'ESME_RINVSRCADR',
  0x0b: 'ESME_RINVDSTADR',
  0x0d: 'ESME_RBINDFAIL',
  0x0e: 'ESME_RINVPASWD',
  0x0f: 'ESME_RINVSYSID',
  0x14: 'ESME_RMSGQFUL',
  0x15: 'ESME_RINVSERTYP',
  0x43: 'ESME_RINVESMCLASS',
  0x45: 'ESME_RSUBMITFAIL',
  0x48: 'ESME_RINVSRCTON',
  0x49: 'ESME_RINVSRCNPI',
  0x50: 'ESME_RINVDSTTON',
  0x51: 'ESME_RINVDSTNPI',
  0x58: 'ESME_RTHROTTLED',
  0x61: 'ESME_RINVSCHED',
  0x62: 'ESME_RINVEXPIRY',
  0x63: 'ESME_RINVDFTMSGID',
  0xc0: 'ESME_RINVTLVSTREAM',
  0xc1: 'ESME_RTLVNOTALLWD',
  0xc2: 'ESME_RINVTLVLEN',
  0xc3: 'ESME_RMISSINGTLV',
  0xc4: 'ESME_RINVTLVVAL',
  0x104: 'ESME_RINVDCS',
};

// The message itself (its address, length, coding or parameters) is wrong: another provider or a
// later retry would get the same answer.
const INVALID_PARAMETER = new Set([
  0x01, 0x06, 0x07, 0x0a, 0x0b, 0x15, 0x43, 0x48, 0x49, 0x50, 0x51, 0x61, 0x62, 0x63, 0xc0, 0xc1, 0xc2, 0xc3,
  0xc4, 0x104,
]);

/** `0x58` style, as SMSC logs and the spec print command_status. */
export function statusHex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** The error taxonomy applied to a non-zero submit_sm_resp command_status. */
export function classifySubmitStatus(
  status: number,
  options: Pick<SmppOptions, 'throttledRetryAfterMs' | 'queueFullRetryAfterMs'>,
): ProviderError {
  const raw = statusHex(status);
  const message = `SMSC answered ${STATUS_NAMES[status] ?? 'command_status'} ${raw}`;
  if (status === ESME_RTHROTTLED) {
    return new ProviderError('throttled', raw, message, { retryAfterMs: options.throttledRetryAfterMs });
  }
  if (status === ESME_RMSGQFUL) {
    return new ProviderError('throttled', raw, message, { retryAfterMs: options.queueFullRetryAfterMs });
  }
  if (INVALID_PARAMETER.has(status)) return new ProviderError('permanent', raw, message);
  // ESME_RSYSERR (0x08), ESME_RSUBMITFAIL (0x45) and anything unknown: the SMSC had a problem,
  // not the message, so another provider or a later try may well succeed.
  return new ProviderError('retryable', raw, message);
}

// ---------------------------------------------------------------------------------------------
// Encoding and concatenation

const DATA_CODING_GSM7 = 0x00;
const DATA_CODING_UCS2 = 0x08;
const ESM_CLASS_UDHI = 0x40;
const MAX_PARTS = 255;

export interface EncodedMessage {
  dataCoding: typeof DATA_CODING_GSM7 | typeof DATA_CODING_UCS2;
  /** Each part's complete short_message: UDH (when concatenated) followed by the text. */
  parts: Buffer[];
  concatenated: boolean;
}

/**
 * Splits text into SMS parts the way core/segments.ts counts them (160/153 GSM-7 septets, 70/67
 * UCS-2 units), whole characters only, so no part ends between a GSM escape and its extension
 * character or between the two halves of a surrogate pair.
 */
export function splitText(text: string): { gsm7: boolean; parts: string[] } {
  const gsm7 = isGsm7(text);
  const single = gsm7 ? 160 : 70;
  const multi = gsm7 ? 153 : 67;
  const chars = Array.from(text);
  const widths = chars.map((ch) => (gsm7 ? countSegments(ch).units : ch.length));
  if (widths.reduce((a, b) => a + b, 0) <= single) return { gsm7, parts: [text] };
  const parts: string[] = [];
  let current = '';
  let used = 0;
  chars.forEach((ch, i) => {
    const width = widths[i] ?? 1;
    if (used + width > multi) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += ch;
    used += width;
  });
  parts.push(current);
  return { gsm7, parts };
}

/** short_message bodies for a text: GSM-7 unpacked (data_coding 0) or UCS-2 big-endian (8). */
export function encodeMessage(text: string, reference: number): EncodedMessage {
  const { gsm7, parts } = splitText(text);
  if (parts.length > MAX_PARTS) {
    throw new ProviderError('permanent', 'BODY_TOO_LONG', `message needs ${parts.length} parts`);
  }
  const encode = (part: string) =>
    gsm7 ? smpp.encodings.ASCII.encode(part) : Buffer.from(part, 'utf16le').swap16();
  if (parts.length === 1) {
    return {
      dataCoding: gsm7 ? DATA_CODING_GSM7 : DATA_CODING_UCS2,
      parts: [encode(parts[0] ?? '')],
      concatenated: false,
    };
  }
  return {
    dataCoding: gsm7 ? DATA_CODING_GSM7 : DATA_CODING_UCS2,
    concatenated: true,
    parts: parts.map((part, i) =>
      // UDHL 5, IEI 0x00 (concatenation, 8-bit reference), IEDL 3, reference, total, sequence.
      Buffer.concat([Buffer.from([0x05, 0x00, 0x03, reference & 0xff, parts.length, i + 1]), encode(part)]),
    ),
  };
}

function sourceAddress(from: string | undefined) {
  if (!from) return { source_addr_ton: 0, source_addr_npi: 0, source_addr: '' };
  if (/^\+\d+$/.test(from)) return { source_addr_ton: 1, source_addr_npi: 1, source_addr: from.slice(1) };
  if (/^\d+$/.test(from)) return { source_addr_ton: 0, source_addr_npi: 1, source_addr: from };
  return { source_addr_ton: 5, source_addr_npi: 0, source_addr: from };
}

// ---------------------------------------------------------------------------------------------
// Delivery receipts

export interface ReceiptFields {
  id?: string;
  sub?: string;
  dlvrd?: string;
  submitDate?: string;
  doneDate?: string;
  stat?: string;
  err?: string;
  text?: string;
}

const RECEIPT_FIELD = /(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err):(\S*)/gi;
const RECEIPT_TEXT = /(?:^|\s)text:/i;

/**
 * Reads the SMPP 3.4 Appendix B receipt text (`id:… sub:… dlvrd:… submit date:… done date:…
 * stat:… err:… text:…`). The format is only "recommended", so names are case-insensitive, any
 * field may be missing, and `text:` (free text, last) is never searched for other fields.
 */
export function parseReceiptText(raw: string): ReceiptFields {
  const textAt = raw.search(RECEIPT_TEXT);
  const head = textAt < 0 ? raw : raw.slice(0, textAt);
  const fields: ReceiptFields = {};
  if (textAt >= 0) fields.text = raw.slice(raw.indexOf(':', textAt) + 1);
  for (const match of head.matchAll(RECEIPT_FIELD)) {
    const value = match[2] ?? '';
    switch ((match[1] ?? '').toLowerCase()) {
      case 'id':
        fields.id = value;
        break;
      case 'sub':
        fields.sub = value;
        break;
      case 'dlvrd':
        fields.dlvrd = value;
        break;
      case 'submit date':
        fields.submitDate = value;
        break;
      case 'done date':
        fields.doneDate = value;
        break;
      case 'stat':
        fields.stat = value.toUpperCase();
        break;
      case 'err':
        fields.err = value;
        break;
    }
  }
  return fields;
}

/** Final status of a receipt's `stat` word; null for intermediate states (ACCEPTD, ENROUTE). */
const STATUS_BY_STAT: Record<string, ReceiptStatus | null> = {
  DELIVRD: 'delivered',
  UNDELIV: 'undelivered',
  EXPIRED: 'expired',
  REJECTD: 'rejected',
  DELETED: 'unknown',
  UNKNOWN: 'unknown',
  ACCEPTD: null,
  ENROUTE: null,
  SCHEDULED: null,
};

/** message_state TLV values (SMPP 3.4 §5.2.28) by number, as receipt `stat` words. */
const STAT_BY_STATE = [
  'SCHEDULED',
  'ENROUTE',
  'DELIVRD',
  'EXPIRED',
  'DELETED',
  'UNDELIV',
  'ACCEPTD',
  'UNKNOWN',
  'REJECTD',
];

/** YYMMDDhhmm[ss] as ISO time; Appendix B names no zone, and SMSCs overwhelmingly use UTC. */
function receiptDate(value: string | undefined): string | undefined {
  const m = value?.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/);
  if (!m) return undefined;
  const iso = `20${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}Z`;
  return Number.isNaN(Date.parse(iso)) ? undefined : new Date(iso).toISOString();
}

/**
 * SMSCs disagree on the case of hex message ids between submit_sm_resp and the receipt, so ids
 * are kept lower-case on both sides and match exactly.
 */
function normaliseId(id: string): string {
  return id.trim().toLowerCase();
}

function pduText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value && typeof value === 'object' && 'message' in value) return pduText(value.message);
  return '';
}

/**
 * The receipt a deliver_sm carries: the receipted_message_id and message_state TLVs when present
 * (they are exact), else the Appendix B text. `null` for intermediate states; undefined when the
 * PDU carries no message id at all.
 */
export function receiptFromDeliverSm(pdu: Record<string, unknown>): ParsedReceipt | null | undefined {
  const text = pduText(pdu.short_message) || pduText(pdu.message_payload);
  const fields = parseReceiptText(text);
  const tlvId = typeof pdu.receipted_message_id === 'string' ? pdu.receipted_message_id : undefined;
  const id = tlvId || fields.id;
  if (!id) return undefined;
  const stateStat = typeof pdu.message_state === 'number' ? STAT_BY_STATE[pdu.message_state] : undefined;
  const stat = stateStat ?? fields.stat ?? 'UNKNOWN';
  const status = Object.hasOwn(STATUS_BY_STAT, stat) ? STATUS_BY_STAT[stat] : 'unknown';
  if (status === null || status === undefined) return null;
  const receipt: ParsedReceipt = {
    providerMessageId: normaliseId(id),
    status,
    providerStatus: fields.err && !/^0+$/.test(fields.err) ? `${stat} err:${fields.err}` : stat,
  };
  const doneAt = receiptDate(fields.doneDate);
  if (doneAt) receipt.doneAt = doneAt;
  return receipt;
}

// ---------------------------------------------------------------------------------------------
// The link

class Link {
  bound = false;
  awaitingEnquire = false;
  enquireTimer: NodeJS.Timeout | undefined;
  /** Fails every submit still waiting for its response; called when the link drops. */
  readonly pending = new Set<() => void>();
  constructor(readonly session: smpp.Session) {}
}

export class SmppProvider implements ProviderAdapter {
  readonly type = 'smpp';
  private link: Link | undefined;
  private readonly listeners: Array<(receipt: ParsedReceipt) => Promise<void> | void> = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private bindRejected = false;
  private closing = false;
  private started: Promise<void> | undefined;
  private reference = Math.floor(Math.random() * 256);
  /** The last reason the link was not bound (a code, never a credential). */
  lastError: string | undefined;

  constructor(
    readonly name: string,
    private readonly options: SmppOptions,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  get linkState(): SmppLinkState {
    if (this.closing) return 'closed';
    if (this.link?.bound) return 'bound';
    return this.link ? 'connecting' : 'idle';
  }

  /**
   * Connects and binds; resolves once the first attempt has ended either way. An SMSC that is
   * down or refuses the bind must not stop the bridge from serving the other providers, so
   * failures are logged and retried in the background while sends fail fast with NOT_BOUND.
   */
  async start(): Promise<void> {
    this.started ??= this.connect();
    await this.started;
  }

  onReceipt(listener: (receipt: ParsedReceipt) => Promise<void> | void): void {
    this.listeners.push(listener);
  }

  async parseReceipt(_request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'SMPP receipts arrive over the SMPP link');
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const link = this.link;
    if (!link?.bound) {
      throw new ProviderError('retryable', 'NOT_BOUND', `${this.name}: SMPP link is not bound`, {
        sent: 'no',
      });
    }
    if (signal.aborted) {
      throw new ProviderError('retryable', 'TIMEOUT', `${this.name}: timed out before submit_sm`, {
        sent: 'no',
      });
    }
    this.reference = (this.reference + 1) & 0xff;
    const encoded = encodeMessage(request.body, this.reference);
    const common: Record<string, unknown> = {
      service_type: this.options.serviceType,
      ...sourceAddress(request.from),
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: request.to.replace(/^\+/, ''),
      esm_class: encoded.concatenated ? ESM_CLASS_UDHI : 0,
      registered_delivery: 1,
      data_coding: encoded.dataCoding,
    };
    const expiresAt = new Date(request.expiresAt);
    if (this.options.validityPeriod && expiresAt.getTime() > Date.now()) common.validity_period = expiresAt;
    const ids: string[] = [];
    for (const shortMessage of encoded.parts) {
      try {
        ids.push(await this.submit(link, { ...common, short_message: shortMessage }, signal));
      } catch (err) {
        // Earlier parts already reached the handset's queue: resending would duplicate them.
        if (ids.length > 0 && err instanceof ProviderError && err.sent === 'no') {
          throw new ProviderError(
            err.errorClass,
            err.rawCode,
            `${err.message} (after ${ids.length} of ${encoded.parts.length} parts were accepted)`,
            { sent: 'maybe', retryAfterMs: err.retryAfterMs, cause: err },
          );
        }
        throw err;
      }
    }
    return { providerMessageId: ids[0] ?? '', partIds: ids, segments: ids.length };
  }

  private submit(link: Link, fields: Record<string, unknown>, signal: AbortSignal): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (error: ProviderError | undefined, id?: string) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        link.pending.delete(onLinkDown);
        if (error) reject(error);
        else resolve(id ?? '');
      };
      const onAbort = () =>
        finish(
          new ProviderError('retryable', 'TIMEOUT', `${this.name}: no submit_sm_resp before the timeout`, {
            sent: 'maybe',
          }),
        );
      const onLinkDown = () =>
        finish(
          new ProviderError(
            'retryable',
            'LINK_DOWN',
            `${this.name}: SMPP link dropped before submit_sm_resp`,
            {
              sent: 'maybe',
            },
          ),
        );
      let written: boolean;
      try {
        written =
          link.bound &&
          link.session.submit_sm(fields, (response) => {
            if (response.command_status === ESME_ROK) {
              finish(
                undefined,
                normaliseId(typeof response.message_id === 'string' ? response.message_id : ''),
              );
            } else {
              finish(classifySubmitStatus(response.command_status, this.options));
            }
          });
      } catch (cause) {
        finish(new ProviderError('permanent', 'ENCODE', `${this.name}: cannot encode submit_sm`, { cause }));
        return;
      }
      if (!written) {
        finish(
          new ProviderError('retryable', 'NOT_BOUND', `${this.name}: SMPP link is not bound`, { sent: 'no' }),
        );
        return;
      }
      link.pending.add(onLinkDown);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** One connect-and-bind attempt; resolves when it has ended (bound, refused or timed out). */
  private connect(): Promise<void> {
    if (this.closing) return Promise.resolve();
    const { host, port, tls } = this.options;
    const session = smpp.connect({ host, port, ...(tls ? { tls: true, ...tls } : {}) });
    const link = new Link(session);
    this.link = link;
    return new Promise<void>((resolve) => {
      let attemptOver = false;
      const over = () => {
        if (attemptOver) return;
        attemptOver = true;
        clearTimeout(bindTimer);
        resolve();
      };
      const bindTimer = setTimeout(() => {
        this.lastError = 'BIND_TIMEOUT';
        this.logger.warn({ provider: this.name, code: this.lastError }, SmppEvents.linkError);
        session.destroy();
      }, this.options.connectTimeoutMs);
      session.on('error', (err: Error & { code?: string }) => {
        this.lastError = err.code ?? 'LINK_ERROR';
        this.logger.warn({ provider: this.name, code: this.lastError, err }, SmppEvents.linkError);
        session.destroy();
      });
      session.on('close', () => {
        this.linkClosed(link);
        over();
      });
      session.on('pdu', (pdu: smpp.PDU) => this.onPdu(link, pdu));
      session.once(tls ? 'secureConnect' : 'connect', () => {
        session.bind_transceiver(
          {
            system_id: this.options.systemId,
            password: this.options.password,
            system_type: this.options.systemType,
          },
          (response) => {
            if (response.command_status !== ESME_ROK) {
              this.lastError = statusHex(response.command_status);
              this.bindRejected = true;
              this.logger.error({ provider: this.name, code: this.lastError }, SmppEvents.bindFailed);
              session.destroy();
              return;
            }
            link.bound = true;
            this.bindRejected = false;
            this.reconnectAttempt = 0;
            this.lastError = undefined;
            this.keepAlive(link);
            this.logger.info({ provider: this.name }, SmppEvents.bound);
            over();
          },
        );
      });
    });
  }

  // enquire_link both proves the link to the SMSC (idle NAT entries and firewalls drop silent TCP
  // connections) and detects a dead peer: no answer by the next tick tears the link down.
  private keepAlive(link: Link): void {
    link.enquireTimer = setInterval(() => {
      if (link.awaitingEnquire) {
        this.lastError = 'ENQUIRE_LINK_TIMEOUT';
        this.logger.warn({ provider: this.name }, SmppEvents.enquireLinkTimeout);
        link.session.destroy();
        return;
      }
      link.awaitingEnquire = true;
      link.session.enquire_link({}, () => {
        link.awaitingEnquire = false;
      });
    }, this.options.enquireLinkMs);
    link.enquireTimer.unref();
  }

  private linkClosed(link: Link): void {
    clearInterval(link.enquireTimer);
    const wasBound = link.bound;
    link.bound = false;
    for (const fail of link.pending) fail();
    link.pending.clear();
    if (this.link === link) this.link = undefined;
    if (this.closing) return;
    if (wasBound) this.logger.warn({ provider: this.name, code: this.lastError }, SmppEvents.linkDown);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.reconnectDelay());
    this.reconnectTimer.unref();
  }

  // Exponential with jitter so a fleet of bridges does not rebind in lockstep after an SMSC
  // restart; after a refused bind straight to the maximum, since SMSCs lock accounts that retry
  // bad credentials quickly.
  private reconnectDelay(): number {
    const { reconnectMinMs, reconnectMaxMs } = this.options;
    const ceiling = this.bindRejected
      ? reconnectMaxMs
      : Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.reconnectAttempt++);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  private onPdu(link: Link, pdu: smpp.PDU): void {
    if (pdu.isResponse()) return; // answered through the callbacks given to session methods
    switch (pdu.command) {
      case 'deliver_sm':
        this.onDeliverSm(link, pdu);
        return;
      case 'enquire_link':
        link.session.send(pdu.response());
        return;
      case 'unbind':
        link.bound = false;
        link.session.send(pdu.response(), () => link.session.close());
        return;
      case 'alert_notification':
        return; // has no response
      default:
        link.session.send(pdu.response({ command_status: ESME_RINVCMDID }));
    }
  }

  /*
   * Receipts carry no signature: their authenticity comes from the link itself, which this
   * adapter opened to the configured SMSC and bound with our system_id and password. Nothing
   * else can write on it, so no receipt is accepted from any other source (parseReceipt refuses
   * the HTTP webhook).
   */
  private onDeliverSm(link: Link, pdu: smpp.PDU): void {
    const esmClass = typeof pdu.esm_class === 'number' ? pdu.esm_class : 0;
    // Bits 5..2 are the message type; 0001 is an SMSC delivery receipt. Anything else (a mobile
    // originated message, an intermediate notification) is acknowledged and ignored.
    const receipt = (esmClass & 0x3c) === 0x04 ? receiptFromDeliverSm(pdu) : null;
    if (receipt === undefined) this.logger.warn({ provider: this.name }, SmppEvents.receiptUnparsed);
    if (!receipt) {
      // Acknowledged even when unreadable: an SMSC redelivers unacknowledged receipts forever.
      link.session.send(pdu.response());
      return;
    }
    // Acknowledged only once every listener has it (the bridge: published to Kafka), so a
    // receipt is never lost between the link and the topic: on a failure the SMSC keeps it and
    // delivers it again, and a repeated receipt is harmless downstream.
    void Promise.all(this.listeners.map(async (listener) => listener(receipt))).then(
      () => link.session.send(pdu.response()),
      (err: unknown) => {
        this.logger.error({ provider: this.name, err }, SmppEvents.receiptListenerFailed);
        link.session.send(pdu.response({ command_status: ESME_RX_T_APPN }));
      },
    );
  }

  /** Unbinds and closes the link; no reconnect follows. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const link = this.link;
    if (!link) return;
    clearInterval(link.enquireTimer);
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => link.session.destroy(), 2000);
      link.session.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      const unbinding = link.bound && link.session.unbind({}, () => link.session.close());
      link.bound = false;
      if (!unbinding) link.session.destroy();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Options

const OPTION_KEYS = new Set([
  'host',
  'port',
  'tls',
  'systemId',
  'password',
  'systemType',
  'serviceType',
  'enquireLinkMs',
  'connectTimeoutMs',
  'reconnectMinMs',
  'reconnectMaxMs',
  'throttledRetryAfterMs',
  'queueFullRetryAfterMs',
  'validityPeriod',
]);

/** Validates a provider definition's options; throws PIGEON_ERR_CONFIG naming the bad one. */
export function smppOptions(name: string, options: Record<string, unknown>): SmppOptions {
  const bad = (key: string, expected: string): never => {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${name}": option "${key}" must be ${expected}`);
  };
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) bad(key, `one of ${[...OPTION_KEYS].join(', ')} (unknown option)`);
  }
  const string = (key: string, required: boolean): string => {
    const value = options[key];
    if (value === undefined && !required) return '';
    if (typeof value !== 'string' || (required && value === '')) bad(key, 'a non-empty string');
    return value as string;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const value = options[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      bad(key, `an integer from ${min} to ${max}`);
    }
    return value as number;
  };
  let tls: SmppOptions['tls'] = false;
  const rawTls = options.tls;
  if (rawTls === true) tls = {};
  else if (rawTls !== undefined && rawTls !== false) {
    if (typeof rawTls !== 'object' || rawTls === null || Array.isArray(rawTls)) {
      bad('tls', 'a boolean or an object');
    }
    const t = rawTls as Record<string, unknown>;
    tls = {};
    for (const [key, value] of Object.entries(t)) {
      if (key === 'ca' || key === 'servername') {
        if (typeof value !== 'string') bad(`tls.${key}`, 'a string');
        tls[key] = value as string;
      } else if (key === 'rejectUnauthorized') {
        if (typeof value !== 'boolean') bad('tls.rejectUnauthorized', 'a boolean');
        tls.rejectUnauthorized = value as boolean;
      } else bad(`tls.${key}`, 'one of ca, servername, rejectUnauthorized (unknown option)');
    }
  }
  const validity = options.validityPeriod ?? true;
  if (typeof validity !== 'boolean') bad('validityPeriod', 'a boolean');
  const parsed: SmppOptions = {
    host: string('host', true),
    port: integer('port', tls ? 3550 : 2775, 1, 65535),
    tls,
    systemId: string('systemId', true),
    password: string('password', false),
    systemType: string('systemType', false),
    serviceType: string('serviceType', false),
    enquireLinkMs: integer('enquireLinkMs', 30_000, 10, 3_600_000),
    connectTimeoutMs: integer('connectTimeoutMs', 10_000, 10, 600_000),
    reconnectMinMs: integer('reconnectMinMs', 1_000, 1, 3_600_000),
    reconnectMaxMs: integer('reconnectMaxMs', 30_000, 1, 3_600_000),
    throttledRetryAfterMs: integer('throttledRetryAfterMs', 1_000, 0, 3_600_000),
    queueFullRetryAfterMs: integer('queueFullRetryAfterMs', 5_000, 0, 3_600_000),
    validityPeriod: validity as boolean,
  };
  // SMPP 3.4 §5.2.1: system_id is at most 15 characters (16 octets with the NUL).
  if (parsed.systemId.length > 15) bad('systemId', 'at most 15 characters');
  if (parsed.reconnectMaxMs < parsed.reconnectMinMs) bad('reconnectMaxMs', 'at least reconnectMinMs');
  return parsed;
}

export const createSmpp: ProviderFactory = (name, options, deps) =>
  new SmppProvider(name, smppOptions(name, options), deps.logger);
