import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../../../core/bus/bus.ts';
import type { Logger } from '../../../core/logger.ts';
import { Topics } from '../../../core/topics.ts';
import { type VerificationEvent, verificationEvent } from '../../../core/verification.ts';

export interface VerificationAuditDeps {
  bus: Bus;
  logger: Logger;
  registry: Registry;
}

/** The verification audit trail: one event on the otp-events topic per send, check, approval, cancel and block. */
export class VerificationAudit {
  private readonly failures: Counter;

  constructor(private readonly deps: VerificationAuditDeps) {
    this.failures = new Counter({
      name: 'pigeon_otp_audit_publish_failures_total',
      help: 'Verification audit events the bus did not take',
      registers: [deps.registry],
    });
  }

  record(
    type: VerificationEvent['type'],
    tenantId: string,
    now: number,
    fields: Parameters<typeof verificationEvent>[3],
  ): void {
    const event = verificationEvent(type, tenantId, now, fields);
    // Not awaited: a check must not wait for Kafka. The producer retries; what it finally gives up
    // on is counted and logged.
    this.deps.bus
      .publish(Topics.otpEvents, [{ key: tenantId, value: JSON.stringify(event) }])
      .catch((err: unknown) => {
        this.failures.inc();
        this.deps.logger.warn({ err: (err as Error).message, type }, 'verification.audit_failed');
      });
  }
}
