/**
 * The V8 old-space cap each distributed service runs with (`--max-old-space-size`, in MiB).
 *
 * Without one, V8 sizes the heap from the memory it can see: the host's, or at best the whole of a
 * container's limit. It then defers full collections far above the working set. Under a steady
 * load a service's RSS climbed by a fifth in five minutes with nothing leaking, and would keep
 * climbing with garbage until the kernel killed the pod. With a cap, V8 collects near the cap and
 * RSS stays flat (docs/performance.md, *Heap caps: RSS flat under load*).
 *
 * Each cap is at most half of the service's container memory limit in k8s/base. The rest is for
 * the young generation (up to 128 MiB on Node 24), compiled code, Buffers (Kafka batches, sockets)
 * and native allocations: draining a campaign of a million messages, the bridge ran at 383 MiB of
 * RSS with a 192 MiB cap, and the monitor at 310 MiB with 128. test/k8s.test.ts holds the
 * manifests to these figures. The tests and benches start the services with them too
 * (test/support/processes.ts), so what they measure is what runs in production.
 *
 * Too tight a cap costs CPU instead: V8 then collects the old space whenever it grows by a little
 * over its live part. The bridge draining a backlog (bench:bridge, one process) ran 293 full
 * collections with a 192 MiB cap against 52 with 288 and 48 with 384, and spent three times the
 * CPU per message (1,394 µs against 466 and 444); draining a campaign, its service spent 35 % of
 * its CPU in full collections, four a second. So the bridge's cap is 384 (docs/performance.md,
 * *Heap caps that cost CPU*). The api's is 512: at 256 it marked its whole old space every two
 * seconds or so at 5,000 requests a second, and took 10–20 % more CPU per request (bench:api-accept,
 * two A/B pairs) for a working set near 70 MiB.
 */
export const SERVICE_HEAP_MIB = {
  api: 512,
  'supplier-bridge': 384,
  persister: 256,
  monitor: 128,
} as const;

export type HeapCappedService = keyof typeof SERVICE_HEAP_MIB;

const ALIASES: Record<string, HeapCappedService> = { bridge: 'supplier-bridge' };

/** Node's arguments capping a service's heap; none for other commands (embedded, migrate, …). */
export function heapArgs(command: string): string[] {
  const service = ALIASES[command] ?? command;
  return Object.hasOwn(SERVICE_HEAP_MIB, service)
    ? [`--max-old-space-size=${SERVICE_HEAP_MIB[service as HeapCappedService]}`]
    : [];
}
