import type { DirectProvider } from '../../../providers/direct-send.ts';
import type { ConfiguredProvider } from '../../../providers/registry.ts';

/** How long a page waits on one provider before trying the next: Alertmanager is waiting too. */
const DIRECT_TIMEOUT_MS = 5_000;

/**
 * The providers a page goes to when Kafka does not take it, read from the routing catalog at the
 * moment of the page (so admin changes apply): those `alerts.oncall.directProviders` names, in
 * that order, else every enabled provider by weight. SMPP providers are left out: their link is
 * bound by the bridge, not by the API.
 */
export function directProvidersFrom(
  catalog: { providers(): ConfiguredProvider[] },
  names?: readonly string[],
): () => DirectProvider[] {
  return () => {
    const usable = catalog.providers().filter((p) => p.definition.type !== 'smpp');
    const chosen =
      names && names.length > 0
        ? names.flatMap((name) => usable.filter((p) => p.definition.name === name))
        : usable
            .filter((p) => p.definition.enabled !== false)
            .sort((a, b) => b.weight - a.weight || a.definition.name.localeCompare(b.definition.name));
    return chosen.map((p) => ({
      name: p.definition.name,
      adapter: p.adapter,
      ...(p.definition.senderId ? { senderId: p.definition.senderId } : {}),
      timeoutMs: Math.min(p.definition.breaker?.timeoutMs ?? DIRECT_TIMEOUT_MS, DIRECT_TIMEOUT_MS),
    }));
  };
}
