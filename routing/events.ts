/** Log event names of routing (the catalog, the health feed); metrics and alerts key off the same words. */
export const RoutingEvents = {
  reloaded: 'routing.reloaded',
  providerFailed: 'routing.provider_failed',
  routeInvalid: 'routing.route_invalid',
  refreshFailed: 'routing.refresh_failed',
  refreshRecovered: 'routing.refresh_recovered',
  closeFailed: 'routing.close_failed',
  badHealthEvent: 'routing.bad_health_event',
} as const;
