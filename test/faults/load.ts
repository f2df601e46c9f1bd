/**
 * The fault suite's steady load: messages of every class at a fixed rate, each carrying a token
 * in its text so a provider's copy can be traced to the request; a verification a second, checked
 * with a wrong code, the right one, and the right one again; and a poller that gathers the
 * simulated providers' logs. Requests are fired on a clock, not one after another, so a stalled
 * API shows as refusals and timeouts rather than as a slower load.
 */
import { randomBytes } from 'node:crypto';
import {
  type LoadClass,
  OUTCOME_UNKNOWN_STATUS,
  type OtpRecord,
  type ProviderCopy,
  type SendRecord,
  tokenText,
} from './checker.ts';
import { type Deployment, PROVIDERS } from './deployment.ts';

/** Shares of the load per class: the lanes each get enough traffic for their gaps to show. */
const MIX: Record<LoadClass, number> = { otp: 0.2, transactional: 0.6, marketing: 0.2 };
const TICK_MS = 100;
const REQUEST_TIMEOUT_MS = 15_000;
/** Past this many unanswered requests the generator waits: it must not bury the machine. */
const MAX_IN_FLIGHT = 400;
const CODE_WAIT_MS = 40_000;

export class Load {
  readonly sends: SendRecord[] = [];
  readonly otp: OtpRecord[] = [];
  readonly copies: ProviderCopy[] = [];
  phase = 'warm-up';
  private serial = 0;
  private inFlight = new Set<Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private poller: NodeJS.Timeout | undefined;
  private readonly seen = new Map<string, number>(PROVIDERS.map((p) => [p, 0]));
  private readonly codes = new Map<string, string>();
  private readonly runTag = randomBytes(3).toString('hex');
  private polling: Promise<void> | undefined;

  constructor(
    private readonly deployment: Deployment,
    private readonly ratePerSecond: number,
  ) {}

  start(): void {
    let owed = 0;
    this.timers.push(
      setInterval(() => {
        owed += (this.ratePerSecond * TICK_MS) / 1000;
        for (; owed >= 1; owed--) {
          if (this.inFlight.size >= MAX_IN_FLIGHT) continue;
          this.track(this.send());
        }
      }, TICK_MS),
      setInterval(() => {
        if (this.inFlight.size < MAX_IN_FLIGHT) this.track(this.verify());
      }, 1_000),
    );
    this.poller = setInterval(() => void this.poll(), 1_000);
  }

  /**
   * Starts nothing new and waits for what is in flight. The poller goes on until then: a
   * verification still waiting for its code gets it only from a poll.
   */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    clearInterval(this.poller);
    this.poller = undefined;
  }

  /** Reads what the providers took since the last poll; one poll at a time, so none is read twice. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    for (const provider of PROVIDERS) {
      try {
        const log = await this.deployment.providerLog(provider, this.seen.get(provider)!);
        for (const m of log.messages) {
          if (m.seq <= this.seen.get(provider)!) continue;
          this.copies.push({ provider, reference: m.reference, body: m.body, at: m.at });
          this.seen.set(provider, Math.max(this.seen.get(provider)!, m.seq));
          const code = /\b(\d{6})\b/.exec(m.body)?.[1];
          if (code && !m.body.includes('[fault ')) this.codes.set(m.to, code);
        }
      } catch {
        // a poll that fails is made again a second later
      }
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private api(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.deployment.apiBase}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.deployment.apiKey}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  }

  private async send(): Promise<void> {
    const n = this.serial++;
    const draw = Math.random();
    const messageClass: LoadClass =
      draw < MIX.otp ? 'otp' : draw < MIX.otp + MIX.transactional ? 'transactional' : 'marketing';
    const token = `${this.runTag}-${n}`;
    const record: SendRecord = { token, class: messageClass, phase: this.phase, at: Date.now(), status: 0 };
    this.sends.push(record);
    try {
      const response = await this.api('/v1/messages', {
        to: `+1415555${String(1000 + (n % 9000))}`,
        body: `${messageClass} notice ${tokenText(token)}`,
        class: messageClass,
      });
      record.status = response.status;
      record.answeredAt = Date.now();
      const answer = (await response.json().catch(() => ({}))) as { id?: string; messageId?: string };
      if (response.status === 202 && answer.id) record.id = answer.id;
      // The message a 504 (PIGEON_ERR_OUTCOME_UNKNOWN) names, which may yet be sent.
      if (response.status === OUTCOME_UNKNOWN_STATUS && answer.messageId) record.id = answer.messageId;
    } catch {
      record.status = 0;
    }
  }

  private async verify(): Promise<void> {
    const n = this.serial++;
    const record: OtpRecord = { phase: this.phase };
    this.otp.push(record);
    const to = `+1415556${String(1000 + (n % 9000))}`;
    const client = { 'x-forwarded-for': `10.${randomBytes(3).join('.')}` };
    let id: string | undefined;
    // Another verification to the same number (the serial wraps) must not lend its code.
    this.codes.delete(to);
    try {
      const created = await this.api('/v1/verifications', { to, channel: 'sms' }, client);
      const answer = (await created.json().catch(() => ({}))) as { id?: string };
      if (created.status !== 201 && created.status !== 200) return;
      id = answer.id;
    } catch {
      return;
    }
    if (!id) return;
    const deadline = Date.now() + CODE_WAIT_MS;
    while (!this.codes.has(to) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    const code = this.codes.get(to);
    if (!code) return;
    const check = async (value: string): Promise<string> => {
      try {
        const response = await this.api(`/v1/verifications/${id}/check`, { code: value }, client);
        const answer = (await response.json().catch(() => ({}))) as { status?: string };
        return response.status === 200 ? (answer.status ?? 'no status') : `error ${response.status}`;
      } catch {
        return 'no answer';
      }
    };
    const wrong = code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
    record.wrong = await check(wrong);
    record.right = await check(code);
    record.again = await check(code);
  }
}
