import type { CampaignStatusCount } from '../../../core/store/kinds/campaigns.ts';
import { FULL_COUNT_SPACING } from './run-progress.ts';

type Count = (tenantId: string, campaignId: string) => Promise<CampaignStatusCount[]>;

interface Entry {
  /** When the count started, by the caller's clock. */
  at: number;
  /** How long it took; undefined while it runs. */
  tookMs: number | undefined;
  counts: Promise<CampaignStatusCount[]>;
}

/**
 * A campaign's message counts for its progress view (`GET /v1/campaigns/:id`), shared by the
 * requests that ask within a while. A count reads every message the campaign made, most of a
 * second at a million, and dashboards poll it: one count serves every request for ten of its
 * durations (`FULL_COUNT_SPACING`, the campaign runner's rule), and a request that comes while a
 * count runs waits for that one. A small campaign's count takes a millisecond, so its view is
 * as fresh as before; a large one's is at most a few seconds old, which a progress view can be.
 */
export class SharedStatusCounts {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly count: Count,
    private readonly now: () => number,
    private readonly maxEntries = 1_000,
  ) {}

  get(tenantId: string, campaignId: string): Promise<CampaignStatusCount[]> {
    const key = `${tenantId}/${campaignId}`;
    const at = this.now();
    const held = this.#entries.get(key);
    if (held && (held.tookMs === undefined || at - held.at < FULL_COUNT_SPACING * held.tookMs)) {
      return held.counts;
    }
    const entry: Entry = { at, tookMs: undefined, counts: this.count(tenantId, campaignId) };
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, entry);
    entry.counts.then(
      () => {
        entry.tookMs = this.now() - at;
      },
      () => {
        // A failed count is not shared: the next request counts again.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry.counts;
  }
}
