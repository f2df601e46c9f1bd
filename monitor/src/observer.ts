/**
 * Reads what the other services say — outcomes, receipts, verification events, heartbeats — into
 * the monitor's models: live traffic (traffic.ts), OTP conversion (otp-conversion.ts), canaries
 * (canary.ts) and liveness (liveness.ts), counting as it goes. No I/O: fed with consumed records,
 * so tests drive it directly.
 *
 * Receipts pass peak protection first (sampling.ts): under a backlog, a bulk receipt the sample
 * leaves out is counted by the class and provider of its message — found by the record key, the
 * message id — without even being parsed; OTP and alert receipts are always read in full.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ConsumedBatch, ConsumedRecord } from '../../core/bus/bus.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import { decodeHeartbeat } from '../../core/heartbeat.ts';
import type { Logger } from '../../core/logger.ts';
import type { PigeonEvent } from '../../core/message.ts';
import { Topics } from '../../core/topics.ts';
import { decodeVerificationEvent, VerificationEvents } from '../../core/verification.ts';
import { Canary } from './canary.ts';
import type { Liveness } from './liveness.ts';
import type { OtpConversion } from './otp-conversion.ts';
import type { ReceiptSampler } from './sampling.ts';
import { type Traffic, UNKNOWN } from './traffic.ts';

export interface ObserverParts {
  traffic: Traffic;
  conversion: OtpConversion;
  liveness: Liveness;
  sampler: ReceiptSampler;
  canary?: Canary | undefined;
}

export class Observer {
  private readonly outcomes: Counter<'provider' | 'status'>;
  private readonly receipts: Counter<'provider' | 'status'>;
  private readonly sampled: Counter<'class'>;
  private readonly submitLatency: Histogram<'provider'>;
  private readonly otpSent: Counter<'provider' | 'country'>;
  private readonly otpChecks: Counter<'provider' | 'country' | 'result'>;
  private readonly otpApprovals: Counter<'provider' | 'country' | 'method'>;

  constructor(
    readonly parts: ObserverParts,
    registry: Registry,
    private readonly logger: Logger,
  ) {
    const r = [registry];
    this.outcomes = new Counter({
      name: 'pigeon_monitor_outcomes_total',
      help: 'Provider outcomes seen by the monitor',
      labelNames: ['provider', 'status'],
      registers: r,
    });
    this.receipts = new Counter({
      name: 'pigeon_monitor_receipts_total',
      help: 'Delivery receipts read by the monitor',
      labelNames: ['provider', 'status'],
      registers: r,
    });
    this.sampled = new Counter({
      name: 'pigeon_monitor_receipts_sampled_out_total',
      help: 'Receipts counted but not read under a receipt backlog (peak protection), by message class',
      labelNames: ['class'],
      registers: r,
    });
    this.submitLatency = new Histogram({
      name: 'pigeon_monitor_submit_latency_seconds',
      help: 'Provider submit latency reported by the bridge',
      labelNames: ['provider'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.otpSent = new Counter({
      name: 'pigeon_monitor_otp_sent_total',
      help: 'Verification codes handed to a provider, by provider and destination country',
      labelNames: ['provider', 'country'],
      registers: r,
    });
    this.otpChecks = new Counter({
      name: 'pigeon_monitor_otp_checks_total',
      help: 'Verification checks by the provider that carried the code, country and result',
      labelNames: ['provider', 'country', 'result'],
      registers: r,
    });
    this.otpApprovals = new Counter({
      name: 'pigeon_monitor_otp_approvals_total',
      help: 'Verifications approved, by the provider that carried the code, country and method',
      labelNames: ['provider', 'country', 'method'],
      registers: r,
    });
    const { conversion, sampler, traffic } = parts;
    new Gauge({
      name: 'pigeon_monitor_otp_conversion_ratio',
      help: 'SMS codes approved ÷ sent over the last 15 minutes, by provider and country: a drop means a provider stopped delivering',
      labelNames: ['provider', 'country'],
      registers: r,
      collect() {
        this.reset();
        for (const s of conversion.snapshot())
          this.set({ provider: s.provider, country: s.country }, s.ratio);
      },
    });
    new Gauge({
      name: 'pigeon_monitor_receipt_backlog',
      help: 'Receipts waiting for the monitor, over every partition',
      registers: r,
      collect() {
        this.set(sampler.backlog);
      },
    });
    new Gauge({
      name: 'pigeon_monitor_receipt_sampling',
      help: '1 while bulk receipts are sampled because of a receipt backlog',
      registers: r,
      collect() {
        this.set(sampler.active ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pigeon_monitor_tracked_submissions',
      help: 'Submissions waiting for their receipt in the monitor',
      registers: r,
      collect() {
        this.set(traffic.tracked);
      },
    });
  }

  /** Reads one consumed batch. */
  batch(batch: ConsumedBatch): void {
    if (batch.topic === Topics.receipts) this.parts.sampler.recordLag(batch.partition, batch.lag);
    for (const record of batch.records) this.record(record);
  }

  record(record: ConsumedRecord): void {
    switch (record.topic) {
      case Topics.otpEvents:
        this.verificationEvent(record.value, record.timestamp);
        return;
      case Topics.heartbeats:
        try {
          this.parts.liveness.heartbeat(decodeHeartbeat(record.value));
        } catch (err) {
          if (!(err instanceof EventDecodeError)) throw err;
          this.logger.warn({ offset: record.offset }, 'monitor.bad_heartbeat');
        }
        return;
      case Topics.receipts:
        if (!this.sampledOut(record.key)) this.event(record);
        return;
      default:
        this.event(record);
    }
  }

  /** Peak protection: true when the receipt was only counted. */
  private sampledOut(messageId: string): boolean {
    const { sampler, traffic } = this.parts;
    if (!sampler.active) return false;
    const messageClass = traffic.classOf(messageId);
    if (sampler.keep(messageId, messageClass)) return false;
    traffic.unobserved(messageId);
    this.sampled.inc({ class: messageClass ?? UNKNOWN });
    return true;
  }

  private event(record: ConsumedRecord): void {
    let event: PigeonEvent;
    try {
      event = decodeEvent(record.value);
    } catch (err) {
      if (!(err instanceof EventDecodeError)) throw err;
      this.logger.warn({ topic: record.topic, offset: record.offset }, 'monitor.undecodable_event');
      return;
    }
    const at = Date.parse(event.occurredAt);
    const { traffic, conversion, canary } = this.parts;
    const probe = Canary.isProbe(event.tenantId);
    if (event.type === 'message.submitted') {
      this.outcomes.inc({ provider: event.provider, status: 'submitted' });
      if (probe) {
        canary?.submitted(event.messageId, at);
        return;
      }
      this.submitLatency.observe({ provider: event.provider }, event.latencyMs / 1000);
      traffic.submitted({ ...event, at });
      const otp = conversion.submitted(event.messageId, event.provider, event.country);
      if (otp) {
        this.otpSent.inc(otp);
        traffic.otpSent(otp, at);
      }
    } else if (event.type === 'message.failed') {
      this.outcomes.inc({ provider: event.provider ?? 'none', status: event.status });
      if (probe) canary?.failed(event.messageId);
      else traffic.failed({ ...event, at });
    } else if (event.type === 'attempt.failed') {
      // A refusal another provider made up for: the message is fine, this provider is not.
      this.outcomes.inc({ provider: event.provider, status: 'attempt_failed' });
      if (!probe) traffic.failed({ ...event, at });
    } else if (event.type === 'receipt.received') {
      this.receipts.inc({ provider: event.provider, status: event.status });
      if (probe) canary?.receipt(event.messageId, event.status, at);
      else traffic.receipt({ ...event, at });
    }
  }

  private verificationEvent(raw: string, appendedAt: number): void {
    const event = decodeVerificationEvent(raw);
    if (!event) return;
    const { traffic, conversion } = this.parts;
    const at = Number.isNaN(Date.parse(event.occurredAt)) ? appendedAt : Date.parse(event.occurredAt);
    if (event.type === VerificationEvents.sent && event.messageId) {
      const where = conversion.sent(event.messageId, event.country);
      if (where) {
        this.otpSent.inc(where);
        traffic.otpSent(where, at);
      }
    } else if (event.type === VerificationEvents.checked && event.result) {
      this.otpChecks.inc({ ...conversion.attribute(event.messageId, event.country), result: event.result });
    } else if (event.type === VerificationEvents.approved) {
      const method = event.method ?? 'sms';
      const where = conversion.approved(event.messageId, event.country, method);
      this.otpApprovals.inc({ ...where, method });
      if (method === 'sms' && where.provider !== UNKNOWN) traffic.otpApproved(where, at);
    }
  }
}
