/**
 * The goals of issue #13 over the benches' result lines, as the markdown table `npm run bench`
 * prints and docs/performance.md carries: goal, baseline, ours, ratio, met.
 */

/** The one JSON line every bench ends with (figures are bench-specific). */
export interface BenchLine {
  bench: string;
  ours: Record<string, unknown>;
  baseline: Record<string, unknown>;
  /** api-accept's second baseline: bare Fastify that produces each request to Kafka first. */
  baseline_produce?: Record<string, unknown>;
  ratio: number;
  /** Set by the runner when the bench exited non-zero (e.g. exactly-once failed). */
  failed?: boolean;
}

type Results = Record<string, BenchLine | { error: string }>;

interface GoalRow {
  goal: string;
  baseline: string;
  ours: string;
  ratio: string;
  met: boolean | undefined;
}

const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const obj = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const text = (value: unknown, unit = ''): string =>
  value === undefined ? '–' : `${typeof value === 'string' ? value : JSON.stringify(value)}${unit}`;
const ratioText = (value: number | undefined): string => (value === undefined ? '–' : value.toFixed(2));

function lineOf(results: Results, bench: string): BenchLine | undefined {
  const result = results[bench];
  return result && 'bench' in result ? result : undefined;
}

function rows(results: Results): GoalRow[] {
  const out: GoalRow[] = [];
  const e2e = lineOf(results, 'e2e-delivery');
  if (e2e) {
    const ours = e2e.ours;
    out.push({
      goal: 'e2e delivered/s ≥ 0.5× bare pipeline, exactly once',
      baseline: text(e2e.baseline.delivered_per_s, '/s'),
      ours: `${text(ours.delivered_per_s, '/s')}, exactly once ${String(ours.exactly_once)}`,
      ratio: ratioText(e2e.ratio),
      met: e2e.ratio >= 0.5 && ours.exactly_once === true && !e2e.failed,
    });
    const broker = num(obj(ours.cpu_us_per_msg)['kafka broker']);
    const bareBroker = num(obj(e2e.baseline.cpu_us_per_msg)['kafka broker']);
    out.push({
      goal: 'broker CPU per delivered message ≤ 112 µs (¼ of 450)',
      baseline: text(bareBroker, ' µs (bare)'),
      ours: text(broker, ' µs'),
      ratio: broker !== undefined && bareBroker ? ratioText(broker / bareBroker) : '–',
      met: broker !== undefined && broker >= 0 ? broker <= 112 : undefined,
    });
  }
  const api = lineOf(results, 'api-accept');
  if (api) {
    out.push({
      goal: 'accept ≥ 0.5× bare Fastify (same schema, same autocannon settings)',
      baseline: text(api.baseline.rps, ' req/s'),
      ours: `${text(api.ours.rps, ' req/s')}, p99 ${text(api.ours.p99_ms, ' ms')}`,
      ratio: ratioText(api.ratio),
      met: api.ratio >= 0.5,
    });
    const fixed = obj(api.ours.fixed_rate);
    const offered = num(fixed.offered_rps);
    const achieved = num(fixed.rps);
    const p99 = num(fixed.p99_ms);
    const produceFixed = obj(obj(api.baseline_produce).fixed_rate);
    out.push({
      goal: `accept p99 ≤ 10 ms at ${text(offered)} req/s offered, acks=all`,
      // Bare Fastify + the same acks=all produce at the same rate: the broker's share of the tail.
      baseline:
        num(produceFixed.p99_ms) === undefined
          ? '–'
          : `p99 ${text(num(produceFixed.p99_ms), ' ms')} (+produce)`,
      ours: `p99 ${text(p99, ' ms')} at ${text(achieved, ' req/s')}`,
      ratio: '–',
      met:
        p99 !== undefined && achieved !== undefined && offered !== undefined
          ? p99 <= 10 && achieved >= offered * 0.95
          : undefined,
    });
  }
  const bridge = lineOf(results, 'bridge');
  if (bridge) {
    out.push({
      goal: 'bridge ≥ 0.5× a bare consumer making the same provider call',
      baseline: text(bridge.baseline.bare_consumer_provider_call_rps, '/s'),
      ours: text(bridge.ours.rps_latency_0ms, '/s'),
      ratio: ratioText(bridge.ratio),
      met: bridge.ratio >= 0.5,
    });
    const routing = num(bridge.ours.routing_decision_us);
    out.push({
      goal: 'routing decision ≤ 5 µs',
      baseline: '–',
      ours: text(routing, ' µs'),
      ratio: '–',
      met: routing === undefined ? undefined : routing <= 5,
    });
  }
  const otp = lineOf(results, 'otp');
  if (otp) {
    const create = obj(otp.ours.create);
    const check = obj(otp.ours.check);
    const checkRatio = num(otp.ours.check_ratio);
    out.push({
      goal: 'verification create ≥ 0.6× POST /v1/messages (same process)',
      baseline: text(obj(otp.baseline.messages).rps, '/s'),
      ours: `${text(create.rps, '/s')}, p99 ${text(create.p99_ms, ' ms')}`,
      ratio: ratioText(otp.ratio),
      met: otp.ratio >= 0.6,
    });
    out.push({
      goal: 'verification check ≥ 0.5× bare Fastify + one EVALSHA',
      baseline: text(obj(otp.baseline.evalsha).rps, '/s'),
      ours: `${text(check.rps, '/s')}, p99 ${text(check.p99_ms, ' ms')}`,
      ratio: ratioText(checkRatio),
      met: checkRatio === undefined ? undefined : checkRatio >= 0.5,
    });
  }
  const soak = lineOf(results, 'soak');
  if (soak) {
    out.push({
      goal: `soak: every service's RSS at the end within ±10 % of the first minute's`,
      baseline: `max ${text(soak.baseline.max_delivered_per_s, '/s')}`,
      ours: `${text(soak.ours.rate, '/s')} for ${text(soak.ours.seconds, ' s')}, worst end/first`,
      ratio: ratioText(soak.ratio),
      met: soak.ours.all_within_10pct === true && soak.ours.exactly_once === true,
    });
  }
  const bulk = lineOf(results, 'bulk');
  if (bulk) {
    const ours = bulk.ours;
    out.push({
      goal: 'campaign delivered/s ≥ 0.5× bare pipeline, one message per row',
      baseline: text(bulk.baseline.bare_delivered_per_s, '/s'),
      ours: `${text(ours.delivered_per_s, '/s')} (expansion ${text(ours.expansion_rows_per_s, ' rows/s')}), exactly once ${String(ours.exactly_once)}`,
      ratio: ratioText(bulk.ratio),
      met: bulk.ratio >= 0.5 && ours.exactly_once === true && !bulk.failed,
    });
    const csv = num(ours.csv_ratio);
    out.push({
      goal: 'campaign CSV intake ≥ 0.5× raw csv-parse of the same file',
      baseline: text(bulk.baseline.csv_parse_rows_per_s, ' rows/s'),
      ours: `${text(ours.csv_rows_per_s, ' rows/s')} (into MariaDB ${text(ours.csv_stored_rows_per_s, ' rows/s')})`,
      ratio: ratioText(csv),
      met: csv === undefined ? undefined : csv >= 0.5,
    });
    const otpRatio = num(ours.otp_p99_ratio);
    out.push({
      goal: 'OTP p99 accept→submitted while a campaign drains ≤ 1.5× idle',
      baseline: text(bulk.baseline.otp_p99_ms_idle, ' ms (idle)'),
      ours: text(ours.otp_p99_ms_draining, ' ms'),
      ratio: ratioText(otpRatio),
      met: otpRatio === undefined ? undefined : otpRatio <= 1.5,
    });
  }
  const scale = lineOf(results, 'scale');
  if (scale) {
    out.push({
      goal: 'scale-out: 2 api workers + 2 bridges + 2 persisters vs 1 of each (reported)',
      baseline: text(scale.baseline.delivered_per_s, '/s'),
      ours: text(scale.ours.delivered_per_s, '/s'),
      ratio: ratioText(scale.ratio),
      met: undefined,
    });
  }
  const persister = lineOf(results, 'persister');
  if (persister) {
    out.push({
      goal: 'persister vs raw mysql2 upserts of the same rows (reported)',
      baseline: '–',
      ours: '–',
      ratio: ratioText(persister.ratio),
      met: undefined,
    });
  }
  for (const [bench, result] of Object.entries(results)) {
    if ('error' in result)
      out.push({ goal: `${bench}: no result`, baseline: '–', ours: result.error, ratio: '–', met: false });
  }
  return out;
}

/** The goal table as markdown. */
export function goalTable(results: Results): string {
  const lines = ['| goal | baseline | ours | ratio | met? |', '|---|---|---|---|---|'];
  for (const row of rows(results)) {
    const met = row.met === undefined ? '–' : row.met ? '✓' : '✗';
    lines.push(`| ${row.goal} | ${row.baseline} | ${row.ours} | ${row.ratio} | ${met} |`);
  }
  return `${lines.join('\n')}\n`;
}
