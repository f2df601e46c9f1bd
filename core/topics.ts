import type { Lane } from './message.ts';

/** Kafka topic names. One place, so every service and the admin step agree. */
export const Topics = {
  sendHigh: 'sms.send.high',
  sendNormal: 'sms.send.normal',
  sendBulk: 'sms.send.bulk',
  outcomes: 'sms.outcomes',
  receipts: 'sms.receipts',
  dlq: 'sms.dlq',
  providerHealth: 'provider.health',
  /** Verification audit events (sent, checked, approved, blocked; never a code), for the monitor. */
  otpEvents: 'otp.events',
  /** Every service instance's heartbeat (core/heartbeat.ts), latest per instance. */
  heartbeats: 'service.heartbeats',
  /**
   * Revoked keys and suspended or resumed tenants (api/src/credential-changes.ts): every api
   * process drops its cached copy within a second. A signal, not a record: kept an hour.
   */
  credentialChanges: 'api.credential-changes',
  /**
   * Inbound SMS that arrived over a provider's own connection (SMPP deliver_sm) in the bridge,
   * for the api to store, apply and forward; keyed by the sender so a message's parts stay in order.
   */
  inbound: 'sms.inbound',
} as const;

export const LANE_TOPICS: Record<Lane, string> = {
  high: Topics.sendHigh,
  normal: Topics.sendNormal,
  bulk: Topics.sendBulk,
};

/**
 * Delay topics, each holding records due after about the same wait, so a record is never stuck
 * behind one due much later in the same partition. A record goes to the longest delay that does
 * not exceed its wait and carries its exact due time in a header.
 */
export const DELAY_TOPICS = [
  { name: 'sms.delay.1s', delayMs: 1_000 },
  { name: 'sms.delay.10s', delayMs: 10_000 },
  { name: 'sms.delay.1m', delayMs: 60_000 },
  { name: 'sms.delay.10m', delayMs: 600_000 },
  { name: 'sms.delay.1h', delayMs: 3_600_000 },
] as const;

export function delayTopicFor(waitMs: number): string {
  let chosen: string = DELAY_TOPICS[0].name;
  for (const topic of DELAY_TOPICS) if (topic.delayMs <= waitMs) chosen = topic.name;
  return chosen;
}

/** Lanes in drain order: high first. */
export const SEND_TOPICS = [Topics.sendHigh, Topics.sendNormal, Topics.sendBulk] as const;

export const ALL_TOPICS: string[] = [...Object.values(Topics), ...DELAY_TOPICS.map((t) => t.name)];
