import type { AddressInfo } from 'node:net';
import smpp from 'smpp';

/**
 * A local SMSC speaking real SMPP 3.4 (the `smpp` package's own server), for adapter tests: it
 * checks bind credentials, records every submit_sm, answers with message ids or a scripted fault,
 * and sends deliver_sm receipts and mobile-originated SMS.
 */

export type SmscFault =
  /** Answers with `status`; after `after` more submits were answered normally, when given. */
  { kind: 'status'; status: number; after?: number } | { kind: 'hang' } | { kind: 'dropLink' } | undefined;

export interface RecordedSubmit {
  /** The id answered in submit_sm_resp (absent when a fault answered instead). */
  messageId: string | undefined;
  sourceAddr: string;
  sourceTon: number;
  destinationAddr: string;
  destTon: number;
  esmClass: number;
  dataCoding: number;
  registeredDelivery: number;
  /** The concatenation information element (IEI, IEDL, reference, total, sequence), when present. */
  concatenation: Buffer | undefined;
  /** The part's text, decoded by data_coding. */
  text: string;
  hasValidity: boolean;
}

export interface ReceiptOptions {
  err?: string;
  /** Also send the receipted_message_id and message_state TLVs. */
  tlvs?: boolean;
  /** The id as the receipt text gives it, when the SMSC formats it differently from the resp. */
  textId?: string;
  esmClass?: number;
}

const ESME_RINVBNDSTS = 0x04;
const ESME_RBINDFAIL = 0x0d;
const MESSAGE_STATE: Record<string, number> = {
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
};

export class FakeSmsc {
  readonly submits: RecordedSubmit[] = [];
  readonly binds: Array<{ systemId: string; systemType: string; accepted: boolean }> = [];
  enquireLinks = 0;
  unbinds = 0;
  private fault: SmscFault;
  private answeredSinceFault = 0;
  private nextId = 0xa0000;
  private readonly bound = new Set<smpp.Session>();

  private constructor(
    private readonly server: smpp.Server,
    readonly port: number,
  ) {}

  static async start(credentials: { systemId: string; password: string }): Promise<FakeSmsc> {
    const server = smpp.createServer({});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new FakeSmsc(server, (server.address() as AddressInfo).port);
    server.on('session', (session: smpp.Session) => fake.accept(session, credentials));
    return fake;
  }

  get boundSessions(): number {
    return this.bound.size;
  }

  setFault(fault: SmscFault): void {
    this.fault = fault;
    this.answeredSinceFault = 0;
  }

  private accept(session: smpp.Session, credentials: { systemId: string; password: string }): void {
    session.on('error', () => session.destroy());
    session.on('close', () => this.bound.delete(session));
    session.on('bind_transceiver', (pdu: smpp.PDU) => {
      const accepted = pdu.system_id === credentials.systemId && pdu.password === credentials.password;
      this.binds.push({ systemId: String(pdu.system_id), systemType: String(pdu.system_type), accepted });
      if (!accepted) {
        session.send(pdu.response({ command_status: ESME_RBINDFAIL }), () => session.close());
        return;
      }
      this.bound.add(session);
      session.send(pdu.response({ system_id: 'FAKESMSC' }));
    });
    session.on('enquire_link', (pdu: smpp.PDU) => {
      this.enquireLinks++;
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: smpp.PDU) => {
      this.unbinds++;
      this.bound.delete(session);
      session.send(pdu.response(), () => session.close());
    });
    session.on('submit_sm', (pdu: smpp.PDU) => this.onSubmit(session, pdu));
  }

  private onSubmit(session: smpp.Session, pdu: smpp.PDU): void {
    if (!this.bound.has(session)) {
      session.send(pdu.response({ command_status: ESME_RINVBNDSTS }));
      return;
    }
    const shortMessage = pdu.short_message as { udh?: Buffer[]; message?: string | Buffer };
    const record: RecordedSubmit = {
      messageId: undefined,
      sourceAddr: String(pdu.source_addr),
      sourceTon: Number(pdu.source_addr_ton),
      destinationAddr: String(pdu.destination_addr),
      destTon: Number(pdu.dest_addr_ton),
      esmClass: Number(pdu.esm_class),
      dataCoding: Number(pdu.data_coding),
      registeredDelivery: Number(pdu.registered_delivery),
      concatenation: shortMessage.udh?.find((ie) => ie[0] === 0x00),
      text: typeof shortMessage.message === 'string' ? shortMessage.message : '',
      hasValidity: Boolean(pdu.validity_period),
    };
    this.submits.push(record);
    const fault = this.fault;
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'dropLink') {
      session.destroy();
      return;
    }
    if (fault?.kind === 'status' && this.answeredSinceFault++ >= (fault.after ?? 0)) {
      session.send(pdu.response({ command_status: fault.status }));
      return;
    }
    record.messageId = (this.nextId++).toString(16).toUpperCase();
    session.send(pdu.response({ message_id: record.messageId }));
  }

  private anyBound(): smpp.Session {
    const [session] = this.bound;
    if (!session) throw new Error('no bound session');
    return session;
  }

  /** Sends a delivery receipt; resolves with the ESME's deliver_sm_resp. */
  sendReceipt(messageId: string, stat: string, options: ReceiptOptions = {}): Promise<smpp.PDU> {
    const session = this.anyBound();
    const text =
      `id:${options.textId ?? messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} ` +
      `submit date:2401011200 done date:240101120005 stat:${stat} err:${options.err ?? '000'} Text:hello there`;
    const fields: Record<string, unknown> = {
      source_addr: '14155550123',
      destination_addr: 'PIGEON',
      esm_class: options.esmClass ?? 0x04,
      short_message: text,
    };
    if (options.tlvs) {
      fields.receipted_message_id = messageId;
      fields.message_state = MESSAGE_STATE[stat] ?? 7;
    }
    return new Promise((resolve, reject) => {
      if (!session.deliver_sm(fields, resolve)) reject(new Error('session not writable'));
    });
  }

  /**
   * Sends a mobile-originated deliver_sm (esm_class without the receipt bits), as a handset's SMS
   * reaches the ESME; `fields` override the defaults (a UK handset to a UK long number, GSM-7).
   * Resolves with the ESME's deliver_sm_resp.
   */
  sendMobileOriginated(fields: Record<string, unknown>): Promise<smpp.PDU> {
    const session = this.anyBound();
    const pdu = {
      source_addr: '447700900123',
      source_addr_ton: 1,
      source_addr_npi: 1,
      destination_addr: '447700900999',
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      esm_class: 0,
      data_coding: 0,
      ...fields,
    };
    return new Promise((resolve, reject) => {
      if (!session.deliver_sm(pdu, resolve)) reject(new Error('session not writable'));
    });
  }

  /** Sends enquire_link to the ESME; resolves with its enquire_link_resp. */
  enquireLink(): Promise<smpp.PDU> {
    const session = this.anyBound();
    return new Promise((resolve, reject) => {
      if (!session.enquire_link({}, resolve)) reject(new Error('session not writable'));
    });
  }

  /** Drops every connection at once, as an SMSC restart does. */
  killSessions(): void {
    for (const session of [...this.server.sessions]) session.destroy();
    this.bound.clear();
  }

  async close(): Promise<void> {
    this.killSessions();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
