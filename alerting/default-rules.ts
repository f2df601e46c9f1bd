import type { AlertRule } from './rules.ts';

/**
 * Rules shipped for every metric. Their thresholds are deliberately relative where providers and
 * countries differ (delivered rate, conversion, receipt lag) and absolute where a number means
 * the same everywhere (lag, silence, an open breaker).
 */
export function defaultRules(options: { receiptBacklog?: number } = {}): AlertRule[] {
  return [
    {
      id: 'delivered-rate-drop',
      description: 'A provider accepts messages but delivers far fewer than usual to a country',
      metric: 'delivered_rate',
      window: '1m',
      belowBaseline: 0.6,
      minSamples: 20,
      for: '30s',
      clearFor: '1m',
      severity: 'critical',
    },
    {
      id: 'otp-conversion-drop',
      description: 'Far fewer verification codes sent through a provider are typed back than usual',
      metric: 'otp_conversion_rate',
      window: '15m',
      belowBaseline: 0.6,
      minSamples: 20,
      for: '2m',
      clearFor: '5m',
      severity: 'critical',
    },
    {
      id: 'below-floor',
      description:
        'A provider accepts messages to a country but delivers none (or no code sent through it is typed back), judged before any baseline has warmed up',
      metric: 'below_floor',
      above: 0.5,
      clearFor: '1m',
      severity: 'critical',
    },
    {
      id: 'monitor-blind',
      description:
        'Traffic to a provider and country that the monitor cannot judge: no baseline yet, no prior, too little for a floor',
      metric: 'blind_seconds',
      above: 300,
      clearFor: '1m',
      severity: 'warning',
    },
    {
      id: 'submit-success-low',
      description: 'A provider refuses or fails many submissions',
      metric: 'submit_success_rate',
      window: '5m',
      below: 0.9,
      minSamples: 20,
      for: '2m',
      severity: 'warning',
    },
    {
      id: 'submit-latency-median-high',
      metric: 'submit_latency_p50_seconds',
      window: '5m',
      above: 2,
      minSamples: 20,
      for: '5m',
      severity: 'warning',
    },
    {
      id: 'submit-latency-high',
      metric: 'submit_latency_p95_seconds',
      window: '5m',
      above: 5,
      minSamples: 20,
      for: '5m',
      severity: 'warning',
    },
    {
      id: 'receipt-lag-high',
      description: 'Receipts take far longer than usual: codes may arrive too late to be used',
      metric: 'receipt_lag_p95_seconds',
      window: '15m',
      aboveBaseline: 3,
      minSamples: 20,
      for: '5m',
      severity: 'warning',
    },
    {
      id: 'breaker-open',
      metric: 'breaker_state',
      above: 1.5,
      for: '2m',
      severity: 'warning',
    },
    {
      id: 'otp-lane-lag',
      description: 'Codes and on-call pages wait in the high lane',
      metric: 'consumer_lag',
      match: { topic: 'sms.send.high' },
      above: 1_000,
      for: '1m',
      severity: 'critical',
    },
    {
      id: 'consumer-lag-high',
      metric: 'consumer_lag',
      above: 100_000,
      for: '10m',
      severity: 'warning',
    },
    {
      id: 'service-instance-silent',
      description: 'A service instance stopped reporting without saying it was stopping',
      metric: 'heartbeat_age_seconds',
      above: 35,
      severity: 'warning',
    },
    {
      id: 'service-down',
      description: 'No instance of a service reports any more',
      metric: 'service_instances',
      below: 1,
      for: '30s',
      severity: 'critical',
    },
    {
      id: 'canary-failing',
      description: 'Probes through a provider to a test number are not delivered',
      metric: 'canary_success_rate',
      window: '15m',
      below: 0.5,
      minSamples: 2,
      severity: 'critical',
    },
    {
      id: 'canary-slow',
      metric: 'canary_latency_p95_seconds',
      window: '15m',
      above: 60,
      minSamples: 3,
      for: '5m',
      severity: 'warning',
    },
    {
      id: 'receipt-backlog',
      description:
        'Receipts pile up: bulk receipts are being sampled, OTP and alert receipts still counted in full',
      metric: 'receipt_backlog',
      above: options.receiptBacklog ?? 50_000,
      for: '5m',
      severity: 'info',
    },
  ];
}
