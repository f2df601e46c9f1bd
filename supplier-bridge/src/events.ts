/** Log event names of the supplier bridge; dashboards, alerts and runbooks use the same words. */
export const BridgeEvents = {
  lowerLanesPaused: 'bridge.lower_lanes_paused',
  lowerLanesResumed: 'bridge.lower_lanes_resumed',
  poisonMessage: 'bridge.poison_message',
  delayRecordWithoutPass: 'bridge.delay_record_without_pass',
  pushedReceiptFailed: 'bridge.pushed_receipt_failed',
  pushedInboundFailed: 'bridge.pushed_inbound_failed',
  recoveringCrashedPass: 'bridge.recovering_crashed_pass',
  passSuperseded: 'bridge.pass_superseded',
  sendFailed: 'bridge.send_failed',
  breakerOpen: 'breaker.open',
  breakerHalfOpen: 'breaker.half_open',
  breakerClose: 'breaker.close',
} as const;
