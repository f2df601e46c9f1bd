import { newId } from '../../../core/ids.ts';
import { parseE164 } from '../../../core/phone.ts';
import { describeFailures, sendDirect } from '../../../providers/direct-send.ts';
import type { ProviderAdapter, ProviderDeps } from '../../../providers/provider.ts';
import { createAdapter, type ProviderDefinition } from '../../../providers/registry.ts';
import { type AlertNotification } from '../../../alerting/notification.ts';
import { type AlertChannel, ChannelError } from './channel.ts';
import type { ChannelOptions } from './options.ts';
import { smsText } from './render.ts';

/**
 * SMS to whoever is on call, through one provider adapter called directly — not through Kafka and
 * the bridge — so that pages still go out when the pipeline they are about is down. Each number
 * gets its own message; the channel succeeds when at least one number was reached, and a chain
 * puts a second SMS channel (another provider) or another kind of channel behind it.
 */

export interface SmsChannelDeps {
  providerDeps: ProviderDeps;
  /** The providers of PIGEON_CONFIG, where the provider the channel names is looked up. */
  definitions: readonly ProviderDefinition[];
  /** The numbers of whoever is on call in a roster now (needed for the `roster` option). */
  onCall?: (roster: string) => Promise<string[]>;
  /** PIGEON_PUBLIC_URL: where the provider posts its receipts. */
  publicUrl: string;
  /** The tenant pages are recorded under in the provider's logs and receipts. */
  tenantId: string;
  now?: () => number;
}

/** An alert page expires with the alert's usefulness; the bridge gives alerts an hour too. */
const PAGE_TTL_MS = 3_600_000;

export class SmsChannel implements AlertChannel {
  readonly type = 'sms';
  private started: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly settings: {
      provider: ProviderDefinition;
      adapter: ProviderAdapter;
      to: string[];
      roster?: string;
      from?: string;
      maxLength: number;
    },
    private readonly deps: SmsChannelDeps,
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    const { settings, deps } = this;
    const recipients = new Set(settings.to);
    if (settings.roster && deps.onCall) {
      try {
        for (const phone of await deps.onCall(settings.roster)) recipients.add(phone);
      } catch (cause) {
        if (recipients.size === 0) {
          throw new ChannelError(`${this.name}: roster "${settings.roster}" unavailable`, {
            retriable: true,
            cause,
          });
        }
      }
    }
    if (recipients.size === 0) {
      throw new ChannelError(`${this.name}: nobody to page`, { retriable: false });
    }
    // SMPP adapters bind before their first send; HTTP adapters have nothing to start.
    this.started ??= settings.adapter.start?.() ?? Promise.resolve();
    try {
      await this.started;
    } catch (cause) {
      this.started = undefined;
      throw new ChannelError(`${this.name}: provider ${settings.provider.name} did not start`, {
        retriable: true,
        cause,
      });
    }
    const now = (deps.now ?? Date.now)();
    const body = smsText(notification, settings.maxLength);
    const provider = {
      name: settings.provider.name,
      adapter: settings.adapter,
      ...(settings.provider.senderId ? { senderId: settings.provider.senderId } : {}),
      timeoutMs: settings.provider.breaker?.timeoutMs ?? 10_000,
    };
    const results = await Promise.all(
      [...recipients].map((to) =>
        sendDirect(
          [provider],
          {
            messageId: newId(now),
            tenantId: deps.tenantId,
            to,
            body,
            ...(settings.from ? { from: settings.from } : {}),
            messageClass: 'alert',
            expiresAt: new Date(now + PAGE_TTL_MS).toISOString(),
          },
          { publicUrl: deps.publicUrl, signal },
        ),
      ),
    );
    if (results.some((r) => r.ok)) return;
    const failures = results.flatMap((r) => (r.ok ? [] : r.failures));
    throw new ChannelError(`${this.name}: ${describeFailures(failures)}`, {
      retriable:
        failures.length === 0 || failures.some((f) => f.error.isProviderFault || f.error.sent === 'maybe'),
      cause: failures[0]?.error,
    });
  }

  async close(): Promise<void> {
    await this.settings.adapter.close?.();
  }
}

export function createSmsChannel(
  options: ChannelOptions,
  deps: SmsChannelDeps,
  raw: Record<string, unknown>,
): SmsChannel {
  options.only(['provider', 'to', 'roster', 'from', 'maxLength']);
  let provider: ProviderDefinition;
  const named = raw.provider;
  if (typeof named === 'string') {
    const found = deps.definitions.find((d) => d.name === named);
    if (!found) options.fail('provider', `the name of a provider in PIGEON_CONFIG (no "${named}")`);
    provider = found;
  } else if (named && typeof named === 'object' && !Array.isArray(named)) {
    const inline = named as ProviderDefinition;
    if (typeof inline.name !== 'string' || typeof inline.type !== 'string')
      options.fail('provider', 'a provider definition with name and type');
    provider = inline;
  } else {
    return options.fail('provider', 'a provider name or definition');
  }
  const to = options.stringList('to');
  to.forEach((phone) => {
    if (parseE164(phone)?.e164 !== phone) options.fail('to', `E.164 numbers (not "${phone}")`);
  });
  const roster = options.optionalString('roster');
  if (to.length === 0 && roster === undefined)
    options.fail('to', 'given, or roster (at least one of the two)');
  if (roster !== undefined && !deps.onCall)
    options.fail('roster', 'used where rosters can be read (the monitor with a store)');
  let adapter: ProviderAdapter;
  try {
    adapter = createAdapter(provider, deps.providerDeps);
  } catch (err) {
    return options.fail(
      'provider',
      `a provider that builds: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const from = options.optionalString('from');
  return new SmsChannel(
    options.name,
    {
      provider,
      adapter,
      to,
      ...(roster ? { roster } : {}),
      ...(from ? { from } : {}),
      maxLength: options.integer('maxLength', 306, 70, 1530),
    },
    deps,
  );
}
