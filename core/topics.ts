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
} as const;

export const LANE_TOPICS: Record<Lane, string> = {
  high: Topics.sendHigh,
  normal: Topics.sendNormal,
  bulk: Topics.sendBulk,
};

/** Lanes in drain order: high first. */
export const SEND_TOPICS = [Topics.sendHigh, Topics.sendNormal, Topics.sendBulk] as const;

export const ALL_TOPICS = Object.values(Topics);
