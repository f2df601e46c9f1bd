import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One registry per service, so a service's metrics can be served alone (distributed mode) or
 * merged with the others' (embedded mode). Label values are always bounded sets (provider names,
 * statuses, classes, error codes) — never phone numbers, message ids or tenant-supplied text.
 */
export function createRegistry(service: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'pigeon_' });
  return registry;
}

export function mergeRegistries(registries: Registry[]): Registry {
  return Registry.merge(registries);
}
