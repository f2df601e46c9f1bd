import { Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchDeferral, Bus, BusRecord, ConsumedRecord, Subscription } from '../../core/bus/bus.ts';
import { groupBy, KeyedSequence, slots } from '../../core/concurrency.ts';
import { BRIDGE_LANES, type BridgeLane } from '../../core/config.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import type { Lane, MessageRequested } from '../../core/message.ts';
import { DELAY_TOPICS, LANE_TOPICS, Topics } from '../../core/topics.ts';
import type { Dispatcher } from './dispatch/dispatcher.ts';
import type { AwaitAnswer, Pass, PassResult } from './dispatch/pass.ts';
import { followUpRecord, passFromHeaders } from './dispatch/pass-headers.ts';
import { BridgeEvents } from './events.ts';
import { watchEventLoopLateness } from './event-loop-lateness.ts';
import { LowerLaneGate, type LowerLaneGateOptions } from './lower-lane-gate.ts';

export const BRIDGE_GROUP = 'pigeon-bridge';

/**
 * Batches of one lane partition handled at once. A batch ends with its slowest pass, so one at a
 * time, a provider hanging until its send timeout on one message in ten held its whole partition
 * for that long per batch: bulk drained at 980/s through the healthy provider against 2,400/s
 * with none hanging (`bench/hol.ts`). The next batches run meanwhile; one recipient's messages
 * still go in order, and offsets are committed in order.
 */
const LANE_BATCHES_AT_ONCE = 4;

export interface BridgeOptions {
  bus: Bus;
  /**
   * Publishes what the high lane's passes produce, when given: a producer of its own (a second
   * Kafka bus), so an OTP's outcome never waits behind the produce request carrying a bulk
   * batch's outcomes and follow-ups. A message's records all go through one of the two (its high
   * lane pass through this one), so one key's records keep their order.
   */
  urgentPublisher?: Pick<Bus, 'publish'>;
  dispatcher: Dispatcher;
  logger: Logger;
  registry: Registry;
  /**
   * Messages of one lane partition in flight at once, shared by the batches of it handled together
   * (different recipients; one recipient's stay in order).
   */
  concurrency: number;
  /** Consumer group prefix (default `pigeon-bridge`); each lane and the delay topics get their own group. */
  groupId?: string;
  /**
   * Where a group with no committed offsets starts (default true: a new deployment takes over
   * the backlog). A test's throwaway group starts at the end, so it never replays (and re-schedules)
   * the retry rounds other tests left in the delay topics.
   */
  fromBeginning?: boolean;
  now?: () => number;
  /** What this bridge consumes (default all: every lane and the delay topics); see config. */
  lanes?: readonly BridgeLane[];
  /** The high lane's precedence over the lower lanes in this process (see lower-lane-gate.ts). */
  lowerLaneGate?: Partial<Pick<LowerLaneGateOptions, 'activeWindowMs' | 'targetDelayMs' | 'floor'>> & {
    /** How often the gate's limit is adjusted (default 100 ms). */
    windowMs?: number;
  };
}

export interface RunningBridge {
  close(): Promise<void>;
}

const LOWER_LANES: readonly Lane[] = ['normal', 'bulk'];
/** How long a high-lane partition's report of a backlog holds the lower lanes without a newer one. */
export const HIGH_LAG_REPORT_TTL_MS = 30_000;
const HIGH_LAG_RECHECK_MS = 1_000;

/**
 * The supplier bridge's consumers. Each lane has its own consumer, so a bulk backlog never sits
 * in front of an OTP in a fetch; while the high lane has lag, the lower lanes are paused so every
 * provider token and connection goes to it. Retry rounds and receipt checks come back through the
 * delay topics. Every record a batch produces is published before the batch's offset commits, so
 * a crash replays the batch and the dispatcher's markers make the replay harmless.
 */
export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const { bus, logger } = options;
  const group = options.groupId ?? BRIDGE_GROUP;
  const now = options.now ?? Date.now;
  const lanePaused = new Gauge({
    name: 'pigeon_bridge_lane_paused',
    help: '1 while a lane is paused because the high lane has lag',
    labelNames: ['lane'],
    registers: [options.registry],
  });
  const laneWait = new Histogram({
    name: 'pigeon_bridge_lane_wait_seconds',
    help: "Time from a message's append to its lane until its first send pass starts",
    labelNames: ['lane'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [options.registry],
  });
  const gate = new LowerLaneGate({
    now,
    activeWindowMs: options.lowerLaneGate?.activeWindowMs ?? 2_000,
    targetDelayMs: options.lowerLaneGate?.targetDelayMs ?? 10,
    floor: options.lowerLaneGate?.floor ?? Math.ceil(options.concurrency / 16),
  });
  new Gauge({
    name: 'pigeon_bridge_lower_lane_limit',
    help: 'Lower-lane passes allowed in flight while high-lane traffic is about (-1: no limit)',
    registers: [options.registry],
    collect() {
      this.set(gate.limit ?? -1);
    },
  });
  const loopWatch = watchEventLoopLateness(options.lowerLaneGate?.windowMs ?? 100, (lateness) =>
    gate.tick(lateness),
  );
  const subscriptions = new Map<Lane, Subscription>();
  const delaySubscriptions: Subscription[] = [];

  // Priority: pause the lower lanes while any high-lane partition is behind. A report is only
  // believed for a while: the partition may have moved to another bridge in a rebalance (and
  // report nothing here again), or its batch may be stuck on a hanging provider; neither may
  // hold this bridge's bulk traffic for good.
  const highLag = new Map<number, { lag: number; at: number }>();
  const highCaughtUp = () =>
    [...highLag.values()].every((report) => report.lag === 0 || now() - report.at > HIGH_LAG_REPORT_TTL_MS);
  let lowerPaused = false;
  let closing = false;
  const setLowerPaused = (paused: boolean) => {
    if (paused === lowerPaused) return;
    lowerPaused = paused;
    // Fetching stops, and so do the passes of batches fetched already: those of a bulk backlog
    // in flight would take the event loop from the OTPs. Held passes would keep a closing
    // bridge's subscriptions from closing.
    gate.hold(paused && !closing);
    for (const lane of LOWER_LANES) {
      const subscription = subscriptions.get(lane);
      if (paused) subscription?.pause([LANE_TOPICS[lane]]);
      else subscription?.resume([LANE_TOPICS[lane]]);
      lanePaused.set({ lane }, paused ? 1 : 0);
    }
    logger.info({ paused }, paused ? BridgeEvents.lowerLanesPaused : BridgeEvents.lowerLanesResumed);
  };

  const publishResults = async (results: PassResult[], publisher: Pick<Bus, 'publish'>) => {
    const byTopic = new Map<string, BusRecord[]>();
    const add = (topic: string, record: BusRecord) => {
      const list = byTopic.get(topic) ?? [];
      list.push(record);
      byTopic.set(topic, list);
    };
    for (const result of results) {
      for (const attempt of result.attempts ?? [])
        add(Topics.outcomes, { key: attempt.messageId, value: JSON.stringify(attempt) });
      if (result.outcome)
        add(Topics.outcomes, { key: result.outcome.messageId, value: JSON.stringify(result.outcome) });
      if (result.held)
        add(Topics.outcomes, { key: result.held.messageId, value: JSON.stringify(result.held) });
      if (result.followUp) add(result.followUp.topic, result.followUp.record);
      if (result.dlq) add(Topics.dlq, result.dlq);
    }
    await Promise.all([...byTopic].map(([topic, records]) => publisher.publish(topic, records)));
  };

  /**
   * A partition's `concurrency` passes, shared by its batches handled at once: a batch's last
   * slow passes leave the other slots to the next batch, instead of adding a batch's worth.
   */
  const partitionSlots = new Map<string, () => Promise<() => void>>();
  const slotsOf = (record: ConsumedRecord) => {
    const key = `${record.topic}:${record.partition}`;
    let acquire = partitionSlots.get(key);
    if (!acquire) partitionSlots.set(key, (acquire = slots(options.concurrency)));
    return acquire;
  };

  /**
   * Dispatches a batch's records and publishes what they produced: one recipient's in order (also
   * across the lane's batches handled at once, through `inKeyOrder`) and up to `concurrency` of
   * the partition's at once. A pass another bridge may still hold (it crashed or is a zombie) is
   * not waited for here: it goes to a delay topic, due when that bridge's lease ends, and the
   * partition moves on. After a bridge is killed, the records it had claimed would otherwise hold
   * every later record of their partitions, OTPs included, for the whole lease.
   */
  const dispatchAll = async (
    records: ConsumedRecord[],
    passOf: (r: ConsumedRecord) => Pass,
    { publisher = bus, inKeyOrder }: { publisher?: Pick<Bus, 'publish'>; inKeyOrder?: KeyedSequence } = {},
  ) => {
    const first = records[0];
    if (!first) return;
    const acquire = slotsOf(first);
    const results: PassResult[] = [];
    let failure: { error: unknown } | undefined;
    // A recipient's turn first, then a slot: a slot is never held waiting for an earlier batch.
    const dispatchEach = (sameKey: ConsumedRecord[]) => async () => {
      const release = await acquire();
      try {
        for (const record of sameKey) {
          if (failure) return;
          const message = await decodeOrDeadLetter(record);
          if (!message) continue;
          const pass = passOf(record);
          const result = await dispatchInTurn(message, pass);
          results.push(result.notBefore === undefined ? result : deferred(message, pass, result.notBefore));
        }
      } catch (error) {
        failure ??= { error };
      } finally {
        release();
      }
    };
    // Settles only once no pass of the batch runs: a batch replayed after a failure must never
    // find one of its passes still in flight.
    await Promise.all(
      groupBy(records, (r) => r.key).map((sameKey) =>
        inKeyOrder ? inKeyOrder.run(sameKey[0]!.key, dispatchEach(sameKey)) : dispatchEach(sameKey)(),
      ),
    );
    if (failure) throw failure.error;
    await publishResults(results, publisher);
  };

  /**
   * One pass, a lower lane's once the gate lets it start. A lower-lane pass gives its slot up
   * while it waits for a provider's answer and takes one again to go on: a provider hanging until
   * its timeout then holds no slot. (With one provider hanging on every fifth bulk send, bulk
   * drained at a quarter of its healthy rate while waiting passes kept their slots.)
   */
  const dispatchInTurn = async (message: MessageRequested, pass: Pass): Promise<PassResult> => {
    const started = () => {
      if (pass.kind === 'send' && pass.round === 0) {
        laneWait.observe({ lane: message.lane }, Math.max(0, now() - pass.appendedAt) / 1000);
      }
    };
    if (message.lane === 'high') {
      gate.highLanePass();
      started();
      return options.dispatcher.dispatch(message, pass);
    }
    let release = await gate.enter();
    started();
    const awaitAnswer: AwaitAnswer = async (answer) => {
      release();
      try {
        return await answer;
      } finally {
        release = await gate.resume();
      }
    };
    try {
      return await options.dispatcher.dispatch(message, pass, awaitAnswer);
    } finally {
      release();
    }
  };

  /** The same pass again, from a delay topic once `dueAt` has come. */
  const deferred = (message: MessageRequested, pass: Pass, dueAt: number): PassResult => ({
    followUp: followUpRecord(
      message,
      {
        kind: pass.kind,
        round: pass.round,
        ...(pass.refusedRounds === undefined ? {} : { refusedRounds: pass.refusedRounds }),
        dueAt,
        exclude: [...pass.exclude],
        attempts: pass.attemptsSoFar,
        ...(pass.holdUntil === undefined ? {} : { holdUntil: pass.holdUntil }),
        appendedAt: pass.appendedAt,
      },
      now(),
    ),
  });

  const decodeOrDeadLetter = async (record: ConsumedRecord): Promise<MessageRequested | undefined> => {
    try {
      const event = decodeEvent(record.value);
      return event.type === 'message.requested' ? event : undefined;
    } catch (err) {
      if (!(err instanceof EventDecodeError)) throw err;
      logger.error(
        { topic: record.topic, offset: record.offset, reason: err.message },
        BridgeEvents.poisonMessage,
      );
      await bus.publish(Topics.dlq, [
        { key: record.key, value: record.value, headers: { reason: err.message, source: record.topic } },
      ]);
      return undefined;
    }
  };

  const firstPass = (record: ConsumedRecord): Pass => ({
    kind: 'send',
    round: 0,
    appendedAt: record.timestamp,
    exclude: [],
    attemptsSoFar: 0,
  });

  const consumes = new Set(options.lanes ?? BRIDGE_LANES);
  for (const lane of (['high', 'normal', 'bulk'] as const).filter((l) => consumes.has(l))) {
    const inKeyOrder = new KeyedSequence();
    const subscription = await bus.subscribe({
      groupId: `${group}.${lane}`,
      topics: [LANE_TOPICS[lane]],
      // An OTP must not wait for the broker to fill a fetch; bulk and normal traffic can.
      fetch: lane === 'high' ? 'immediate' : 'batched',
      batchesAtOnce: LANE_BATCHES_AT_ONCE,
      fromBeginning: options.fromBeginning ?? true,
      handler: async (batch) => {
        if (lane !== 'high') return dispatchAll(batch.records, firstPass, { inKeyOrder });
        // A high-lane partition with records beyond this batch has a backlog: the lower lanes
        // wait until every high partition has caught up.
        highLag.set(batch.partition, { lag: batch.lag, at: now() });
        if (batch.lag > 0) setLowerPaused(true);
        await dispatchAll(batch.records, firstPass, { publisher: options.urgentPublisher, inKeyOrder });
        if (highCaughtUp()) setLowerPaused(false);
      },
    });
    subscriptions.set(lane, subscription);
  }

  if (consumes.has('delay')) {
    delaySubscriptions.push(
      await bus.subscribe({
        groupId: `${group}.delay`,
        fromBeginning: options.fromBeginning ?? true,
        topics: DELAY_TOPICS.map((t) => t.name),
        // A retry already waits a second or more, so a second's more wait for a fetch is within
        // its slack, while a 200 ms poll of five topics costs the broker five requests a second
        // from every bridge whether or not a retry is due (docs/performance.md, *Idle fetches*).
        fetch: 'relaxed',
        handler: async (batch): Promise<void | BatchDeferral> => {
          // Records of one delay topic are due in about append order: handle the due prefix, and
          // let the bus bring the rest back when the first of them is due.
          const passes = batch.records.map((r) => passFromHeaders(r.headers, r.timestamp));
          let due = 0;
          while (due < passes.length && (passes[due]?.dueAt ?? 0) <= now()) due++;
          const ready = batch.records.slice(0, due);
          const byOffset = new Map(ready.map((r, i) => [r.offset, passes[i]]));
          const unreadable = ready.filter((r) => !byOffset.get(r.offset));
          for (const record of unreadable) {
            logger.error({ topic: record.topic, offset: record.offset }, BridgeEvents.delayRecordWithoutPass);
          }
          await dispatchAll(
            ready.filter((r) => byOffset.get(r.offset)),
            (r) => byOffset.get(r.offset)!,
          );
          if (due < batch.records.length) return { processed: due, retryAt: passes[due]!.dueAt };
        },
      }),
    );
  }

  // With no high-lane batch coming, nothing else would notice that the last reports went stale.
  const recheck = setInterval(() => {
    if (lowerPaused && highCaughtUp()) setLowerPaused(false);
  }, HIGH_LAG_RECHECK_MS);
  recheck.unref();

  return {
    close: async () => {
      clearInterval(recheck);
      loopWatch.stop();
      closing = true;
      gate.hold(false);
      await Promise.all([...subscriptions.values(), ...delaySubscriptions].map((s) => s.close()));
    },
  };
}
