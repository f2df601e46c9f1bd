import type { MessageClass, MessageStatus } from '../../message.ts';

/**
 * A campaign's life. `draft` takes recipients; submitting makes it `scheduled` (or
 * `pending_approval` above the tenant's threshold, then `scheduled` or `rejected`); the runner
 * makes it `running` at its send time and `completed` once every row is expanded (a recurring one
 * goes back to `scheduled` for its next run). `paused` and `cancelled` are the client's.
 */
export const CAMPAIGN_STATES = [
  'draft',
  'pending_approval',
  'scheduled',
  'running',
  'paused',
  'completed',
  'cancelled',
  'rejected',
] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

/** How often a campaign runs again after its first run, at the same local wall time. */
export const RECURRENCES = ['daily', 'weekly', 'monthly'] as const;
export type Recurrence = (typeof RECURRENCES)[number];

/** One bulk send of a tenant: one text (a template or a body) to many recipients. */
export interface CampaignRecord {
  tenantId: string;
  /** ULID, unique across tenants (recipient rows are keyed by it alone). */
  id: string;
  name: string;
  state: CampaignState;
  /** The template the text comes from, or null when `body` is given. */
  templateId: string | null;
  body: string | null;
  messageClass: MessageClass;
  /** The template variant wanted; null: the template's default. */
  locale: string | null;
  /** Campaign-wide template variables; a recipient's own variables override them. */
  variables: Record<string, string>;
  /** The sender id or number; null: the tenant's default. */
  from: string | null;
  /** When the next run starts (ms since the epoch, UTC); null: as soon as it is scheduled. */
  sendAt: number | null;
  /** When the first run was due: a monthly recurrence keeps its day of the month. */
  firstSendAt: number | null;
  /** The IANA zone `sendAt` was given in, which a recurrence keeps the wall time of. */
  timeZone: string | null;
  recurrence: Recurrence | null;
  /** The tenant's own ceiling in messages per second; null: only the providers' limits. */
  rateCap: number | null;
  /** Valid recipient rows stored (numbered 0 … recipientCount-1). */
  recipientCount: number;
  /** Rows refused at intake (campaign_row_errors). */
  invalidCount: number;
  /** From the route table's prices at submission; null until submitted or when unpriced. */
  estimatedCost: number | null;
  /** Checkpoint: the next recipient row to expand in the current run. */
  nextRow: number;
  /** The run the checkpoint belongs to: 0 for the first, one more for each recurrence. */
  run: number;
  /** The client's `Idempotency-Key`, unique per tenant; null when none was sent. */
  idempotencyKey: string | null;
  /** A digest of the creating request, so a reused key with another body is told apart. */
  requestHash: string | null;
  /** The API key that created it, and the one that approved or rejected it. */
  createdBy: string | null;
  approvedBy: string | null;
  /** Whoever runs it now (the runner's lease), until when; null when nobody does. */
  leaseOwner: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
  /** When the current run started and when the campaign reached an end state. */
  startedAt: number | null;
  finishedAt: number | null;
}

/** One valid recipient row of a campaign. */
export interface CampaignRecipient {
  /** Dense from 0 in upload order: the runner reads [from, from + n). */
  rowNo: number;
  /** E.164. */
  to: string;
  /** The row's own template variables (the CSV's other columns). */
  variables: Record<string, string>;
  clientRef: string | null;
}

/** A row refused at intake, by its place in the upload. */
export interface CampaignRowError {
  /** The data row of the upload, 1 for the first after the header (or the inline list's index + 1). */
  row: number;
  /** A stable code: PIGEON_ERR_INVALID_NUMBER, PIGEON_ERR_MISSING_VARIABLES, … */
  code: string;
  reason: string;
}

/** Messages of a campaign with one status and error code, as the persister recorded them. */
export interface CampaignStatusCount {
  status: MessageStatus;
  /** The failure or skip reason (errorCode) the messages ended with; null when none. */
  errorCode: string | null;
  count: number;
}

/** A campaign's messages not yet final, by the two statuses that are not. */
export interface CampaignUnsettledCounts {
  queued: number;
  submitted: number;
}

/** What a state change also writes, when given. */
export interface CampaignChanges {
  estimatedCost?: number | null;
  approvedBy?: string | null;
  startedAt?: number | null;
  finishedAt?: number | null;
  /** The next run's first send time (a recurrence), and its checkpoint. */
  sendAt?: number | null;
  nextRow?: number;
  run?: number;
}

/** A tenant's campaign approval thresholds; null: no limit of that kind. */
export interface CampaignApprovalSettings {
  /** A campaign with more valid recipients than this waits for approval. */
  maxRecipients: number | null;
  /** A campaign whose estimated cost is above this waits for approval. */
  maxCost: number | null;
  updatedAt: number;
}

/**
 * Campaigns (`campaigns`), their recipients (`campaign_recipients`), refused rows
 * (`campaign_row_errors`) and the tenants' approval thresholds (`tenant_campaign_settings`).
 * Every state and checkpoint change is a compare-and-set, so two API instances or two runners
 * never both act on one campaign.
 */
export interface CampaignStore {
  /** Inserts a new campaign; false when the tenant already has one with its idempotency key. */
  createCampaign(record: CampaignRecord): Promise<boolean>;
  getCampaign(tenantId: string, id: string): Promise<CampaignRecord | undefined>;
  findCampaignByIdempotencyKey(tenantId: string, key: string): Promise<CampaignRecord | undefined>;
  /** The tenant's campaigns, newest first, up to `limit`, older than `before` (an id) when given. */
  listCampaigns(tenantId: string, page: { limit: number; before?: string }): Promise<CampaignRecord[]>;
  /**
   * Compare-and-set: moves the campaign to `to` only while it is in one of `from`, writing
   * `changes` too; false when it was not (another instance acted first, or the state is wrong).
   */
  transitionCampaign(
    tenantId: string,
    id: string,
    from: readonly CampaignState[],
    to: CampaignState,
    at: number,
    changes?: CampaignChanges,
  ): Promise<boolean>;
  /** The recipient and invalid counts and cost estimate of a draft (after an upload); false when not a draft. */
  setCampaignCounts(
    tenantId: string,
    id: string,
    counts: { recipientCount: number; invalidCount: number; estimatedCost: number | null },
    at: number,
  ): Promise<boolean>;
  /**
   * Takes or renews the runner's lease: succeeds when nobody holds it, `owner` does, or the
   * holder's lease ran out before `now`.
   */
  leaseCampaign(tenantId: string, id: string, owner: string, now: number, until: number): Promise<boolean>;
  /** Gives the lease up; false when `owner` did not hold it. */
  releaseCampaign(tenantId: string, id: string, owner: string): Promise<boolean>;
  /**
   * Compare-and-set on the checkpoint: moves (run, nextRow) from `expected` to `next` only while
   * the campaign is `running` and still at `expected`; false otherwise.
   */
  advanceCampaign(
    tenantId: string,
    id: string,
    expected: { run: number; nextRow: number },
    next: { run: number; nextRow: number },
    at: number,
  ): Promise<boolean>;
  /**
   * Campaigns a runner should look at, oldest send time first: `scheduled` ones whose send time
   * (or none) is not after `now`, and `running` ones whose lease is free or ran out.
   */
  dueCampaigns(now: number, limit: number): Promise<CampaignRecord[]>;

  /** Stores recipient rows (a batch of an upload); a row number already stored is replaced. */
  appendRecipients(campaignId: string, rows: readonly CampaignRecipient[]): Promise<void>;
  /** Rows numbered [from, from + limit), in order. */
  readRecipients(campaignId: string, from: number, limit: number): Promise<CampaignRecipient[]>;
  /** Stores refused rows; a row already recorded is replaced. */
  appendRowErrors(campaignId: string, errors: readonly CampaignRowError[]): Promise<void>;
  /** Refused rows in row order, after `after` when given. */
  listRowErrors(campaignId: string, page: { limit: number; after?: number }): Promise<CampaignRowError[]>;
  /** Deletes every recipient and refused row of a campaign (before a new upload replaces them). */
  clearRecipients(campaignId: string): Promise<void>;

  /** Message counts of the campaign by status and error code (messages.campaign_id). */
  campaignStatusCounts(tenantId: string, campaignId: string): Promise<CampaignStatusCount[]>;
  /**
   * How many of the campaign's messages are still queued (in the lane for the bridge) and
   * submitted (a receipt to come): one range of the campaign's status index, so the cost follows
   * those messages, not the campaign's size as `campaignStatusCounts` does.
   */
  campaignUnsettledCounts(campaignId: string): Promise<CampaignUnsettledCounts>;
  /** Which of `ids` the store holds as messages of the campaign (the persister has written them). */
  storedCampaignMessageIds(campaignId: string, ids: readonly string[]): Promise<string[]>;
  /** The campaign's messages by id, after `after` when given: the per-recipient results. */
  listCampaignMessages(
    tenantId: string,
    campaignId: string,
    page: { limit: number; after?: string },
  ): Promise<CampaignMessage[]>;

  getCampaignApproval(tenantId: string): Promise<CampaignApprovalSettings | undefined>;
  putCampaignApproval(tenantId: string, settings: CampaignApprovalSettings): Promise<void>;
}

/** One message of a campaign, as the results export lists it. */
export interface CampaignMessage {
  id: string;
  to: string;
  clientRef: string | null;
  status: MessageStatus;
  errorCode: string | null;
  provider: string | null;
  segments: number;
  cost: number | null;
  queuedAt: number | null;
  submittedAt: number | null;
  finalAt: number | null;
}

/** A campaign row the runner expanded without sending, and why (a stable code). */
export interface CampaignUnsentRow {
  rowNo: number;
  /** The send policy's or the builder's code (PIGEON_ERR_FREQUENCY_CAPPED, …), or DUPLICATE (the same text to the same number within the dedup window). */
  code: string;
  reason: string;
}

/**
 * The rows each run of a campaign expanded without sending (`campaign_unsent_rows`): refused by
 * the send policy, duplicates of a message already sent, or unbuildable. The runner counts them
 * to know how many messages a run makes; written again for the same (campaign, run, row) after a
 * crash, a row stays one row.
 */
export interface CampaignUnsentStore {
  recordUnsentRows(campaignId: string, run: number, rows: readonly CampaignUnsentRow[]): Promise<void>;
  /** Unsent rows of every run of the campaign. */
  countUnsentRows(campaignId: string): Promise<number>;
  /** A run's unsent rows in row order, after `after` when given. */
  listUnsentRows(
    campaignId: string,
    run: number,
    page: { limit: number; after?: number },
  ): Promise<CampaignUnsentRow[]>;
}
