import smpp from 'smpp';
import type { Logger } from '../../core/logger.ts';
import { SmppEvents } from '../events.ts';
import type { SmppOptions } from './options.ts';
import { ESME_RINVCMDID, ESME_ROK, statusHex } from './status.ts';

/**
 * The SMPP link: one bind_transceiver session to the SMSC, kept alive with enquire_link and
 * rebound with jittered backoff when it drops.
 */

export type SmppLinkState = 'idle' | 'connecting' | 'bound' | 'closed';

/** One connection and its bind; a reconnect makes a new one. */
export class Link {
  bound = false;
  awaitingEnquire = false;
  enquireTimer: NodeJS.Timeout | undefined;
  /** Fails every submit still waiting for its response; called when the link drops. */
  readonly pending = new Set<() => void>();
  constructor(readonly session: smpp.Session) {}
}

/** Keeps one provider's link bound: connects, binds, keeps it alive and rebinds after a drop. */
export class LinkKeeper {
  private link: Link | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private bindRejected = false;
  private closing = false;
  private started: Promise<void> | undefined;
  /** The last reason the link was not bound (a code, never a credential). */
  lastError: string | undefined;

  constructor(
    private readonly name: string,
    private readonly options: SmppOptions,
    private readonly logger: Logger,
    private readonly random: () => number,
    /** Handles a deliver_sm; it must answer the PDU itself. */
    private readonly onDeliverSm: (link: Link, pdu: smpp.PDU) => void,
  ) {}

  get state(): SmppLinkState {
    if (this.closing) return 'closed';
    if (this.link?.bound) return 'bound';
    return this.link ? 'connecting' : 'idle';
  }

  /** The current link, bound or still connecting; undefined between attempts. */
  get current(): Link | undefined {
    return this.link;
  }

  /** Connects and binds once; later calls wait for that same first attempt. */
  async start(): Promise<void> {
    this.started ??= this.connect();
    await this.started;
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
