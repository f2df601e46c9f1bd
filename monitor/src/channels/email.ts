import nodemailer from 'nodemailer';
import { type AlertNotification } from '../../../alerting/notification.ts';
import { type AlertChannel, ChannelError } from './channel.ts';
import { errorCode } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { headline, plainText } from './render.ts';

/**
 * E-mail over SMTP with nodemailer: the headline as subject, the plain text as body. One SMTP
 * session per notification (no pool): alerts are rare, and a pooled connection that went stale
 * would fail exactly when it is needed. A 5xx reply (bad recipient, refused login) will not
 * change by trying again; a 4xx, a refused connection or a timeout may.
 */

export interface EmailSettings {
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send without STARTTLS. */
  requireTls: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string[];
}

const ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/;

export class EmailChannel implements AlertChannel {
  readonly type = 'email';
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(
    readonly name: string,
    private readonly settings: EmailSettings,
  ) {
    this.transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      requireTLS: settings.requireTls,
      ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
      // The chain's timeout aborts the send; these bound each SMTP step below it.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.settings.from,
        to: this.settings.to,
        subject: headline(notification),
        text: plainText(notification),
        headers: { 'X-Pigeon-Incident': notification.incidentId },
        signal,
      });
    } catch (err) {
      const responseCode = (err as { responseCode?: unknown }).responseCode;
      const permanent =
        (typeof responseCode === 'number' && responseCode >= 500) || errorCode(err) === 'EAUTH';
      throw new ChannelError(
        signal.aborted
          ? `${this.name}: timed out`
          : `${this.name}: SMTP ${typeof responseCode === 'number' ? responseCode : errorCode(err)}`,
        { retriable: !permanent, cause: err },
      );
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

export function createEmailChannel(options: ChannelOptions): EmailChannel {
  options.only(['host', 'port', 'secure', 'requireTls', 'user', 'password', 'from', 'to']);
  const port = options.integer('port', 587, 1, 65_535);
  const to = options.stringList('to');
  if (to.length === 0) options.fail('to', 'a list of at least one address');
  for (const address of to) if (!ADDRESS.test(address)) options.fail('to', `addresses (not "${address}")`);
  const from = options.string('from');
  const user = options.optionalString('user');
  const password = options.optionalString('password');
  if (password !== undefined && user === undefined) options.fail('user', 'given with password');
  return new EmailChannel(options.name, {
    host: options.string('host'),
    port,
    secure: options.boolean('secure', port === 465),
    requireTls: options.boolean('requireTls', false),
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    from,
    to,
  });
}
