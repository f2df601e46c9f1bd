import { Counter, Histogram, type Registry } from 'prom-client';
import type { Bus, Subscription } from '../../core/bus/bus.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import { Topics } from '../../core/topics.ts';

export const MONITOR_GROUP = 'pigeon-monitor';

export interface MonitorOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  /** Consumer group (default `pigeon-monitor`). */
  groupId?: string;
}

/**
 * Watches provider outcomes and carrier receipts and counts them per provider and status; the
 * health windows and alert rules build on these streams.
 */
export async function startMonitor(options: MonitorOptions): Promise<Subscription> {
  const { bus, logger, registry } = options;
  const outcomes = new Counter({
    name: 'pigeon_monitor_outcomes_total',
    help: 'Provider outcomes seen by the monitor',
    labelNames: ['provider', 'status'],
    registers: [registry],
  });
  const receipts = new Counter({
    name: 'pigeon_monitor_receipts_total',
    help: 'Delivery receipts seen by the monitor',
    labelNames: ['provider', 'status'],
    registers: [registry],
  });
  const submitLatency = new Histogram({
    name: 'pigeon_monitor_submit_latency_seconds',
    help: 'Provider submit latency reported by the bridge',
    labelNames: ['provider'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  return bus.subscribe({
    groupId: options.groupId ?? MONITOR_GROUP,
    topics: [Topics.outcomes, Topics.receipts],
    fromBeginning: false,
    handler: async (batch) => {
      for (const record of batch.records) {
        let event: ReturnType<typeof decodeEvent>;
        try {
          event = decodeEvent(record.value);
        } catch (err) {
          if (err instanceof EventDecodeError) {
            logger.warn({ topic: record.topic, offset: record.offset }, 'monitor.undecodable_event');
            continue;
          }
          throw err;
        }
        if (event.type === 'message.submitted') {
          outcomes.inc({ provider: event.provider, status: 'submitted' });
          submitLatency.observe({ provider: event.provider }, event.latencyMs / 1000);
        } else if (event.type === 'message.failed') {
          outcomes.inc({ provider: event.provider ?? 'none', status: event.status });
        } else if (event.type === 'receipt.received') {
          receipts.inc({ provider: event.provider, status: event.status });
        }
      }
    },
  });
}
