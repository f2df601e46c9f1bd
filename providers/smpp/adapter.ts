import type smpp from 'smpp';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { newId } from '../../core/ids.ts';
import type {
  InboundHttpRequest,
  InboundSms,
  ParsedReceipt,
  ProviderAdapter,
  ProviderFactory,
  SendRequest,
  SendResult,
} from '../provider.ts';
import { ProviderError } from '../provider.ts';
import { encodeMessage, ESM_CLASS_UDHI, sourceAddress } from './encoding.ts';
import { SmppEvents } from '../events.ts';
import { type Link, LinkKeeper, type SmppLinkState } from './link.ts';
import { type SmppOptions, smppOptions } from './options.ts';
import { inboundFromDeliverSm, isMobileOriginated } from './mobile-originated.ts';
import { normaliseId, receiptFromDeliverSm } from './receipt-text.ts';
import { classifySubmitStatus, ESME_ROK, ESME_RX_T_APPN } from './status.ts';

/**
 * SMPP 3.4 adapter: one bind_transceiver link per provider (kept by link.ts). Messages go out as
 * submit_sm (split into UDH concatenated parts when long) and receipts come back as deliver_sm on
 * the same link.
 */

export class SmppProvider implements ProviderAdapter {
  readonly type = 'smpp';
  private readonly keeper: LinkKeeper;
  private readonly listeners: Array<(receipt: ParsedReceipt) => Promise<void> | void> = [];
  private readonly inboundListeners: Array<(sms: InboundSms) => Promise<void> | void> = [];
  private reference = Math.floor(Math.random() * 256);

  constructor(
    readonly name: string,
    private readonly options: SmppOptions,
    private readonly logger: Logger,
    random: () => number = Math.random,
  ) {
    this.keeper = new LinkKeeper(name, options, logger, random, (link, pdu) => this.onDeliverSm(link, pdu));
  }

  get linkState(): SmppLinkState {
    return this.keeper.state;
  }

  /** The last reason the link was not bound (a code, never a credential). */
  get lastError(): string | undefined {
    return this.keeper.lastError;
  }

  /**
   * Connects and binds; resolves once the first attempt has ended either way. An SMSC that is
   * down or refuses the bind must not stop the bridge from serving the other providers, so
   * failures are logged and retried in the background while sends fail fast with NOT_BOUND.
   */
  async start(): Promise<void> {
    await this.keeper.start();
  }

  onReceipt(listener: (receipt: ParsedReceipt) => Promise<void> | void): void {
    this.listeners.push(listener);
  }

  onInbound(listener: (sms: InboundSms) => Promise<void> | void): void {
    this.inboundListeners.push(listener);
  }

  async parseReceipt(_request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    throw new PigeonError('PIGEON_ERR_NOT_FOUND', 'SMPP receipts arrive over the SMPP link');
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const link = this.keeper.current;
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

  /*
   * Receipts carry no signature: their authenticity comes from the link itself, which this
   * adapter opened to the configured SMSC and bound with our system_id and password. Nothing
   * else can write on it, so no receipt is accepted from any other source (parseReceipt refuses
   * the HTTP webhook).
   */
  private onDeliverSm(link: Link, pdu: smpp.PDU): void {
    if (isMobileOriginated(pdu)) {
      this.onMobileOriginated(link, pdu);
      return;
    }
    const esmClass = typeof pdu.esm_class === 'number' ? pdu.esm_class : 0;
    // Bits 5..2 are the message type; 0001 is an SMSC delivery receipt. Anything else (an
    // intermediate notification, a manual acknowledgement) is acknowledged and ignored.
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

  /**
   * An SMS from a handset. Its id is assigned here, once: the SMSC names none, and the same id
   * travelling with it is what lets the api recognise a redelivered record. Acknowledged when
   * every listener has it (the bridge: published to Kafka), refused for redelivery otherwise.
   */
  private onMobileOriginated(link: Link, pdu: smpp.PDU): void {
    const sms = inboundFromDeliverSm(pdu, `smpp-${newId()}`, new Date());
    if (!sms || this.inboundListeners.length === 0) {
      if (!sms) this.logger.warn({ provider: this.name }, SmppEvents.inboundUnparsed);
      // Nobody here takes inbound SMS (an api-side adapter) or it is unreadable: redelivering
      // it would not change that.
      link.session.send(pdu.response());
      return;
    }
    void Promise.all(this.inboundListeners.map(async (listener) => listener(sms))).then(
      () => link.session.send(pdu.response()),
      (err: unknown) => {
        this.logger.error({ provider: this.name, err }, SmppEvents.inboundListenerFailed);
        link.session.send(pdu.response({ command_status: ESME_RX_T_APPN }));
      },
    );
  }

  /** Unbinds and closes the link; no reconnect follows. */
  async close(): Promise<void> {
    await this.keeper.close();
  }
}

export const createSmpp: ProviderFactory = (name, options, deps) =>
  new SmppProvider(name, smppOptions(name, options), deps.logger);
