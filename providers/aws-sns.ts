import { type KeyObject, verify, X509Certificate } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';

/**
 * SNS HTTP(S) notifications: the envelope, its signature and the signing certificate it names.
 * Trust comes from fetching that certificate over TLS from an SNS host (as AWS's own message
 * validators do), so every URL in an envelope is checked before it is fetched.
 */

export const DEFAULT_SNS_CERTIFICATE_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

const CERTIFICATE_CACHE_MAX = 32;
const CERTIFICATE_MAX_BYTES = 64 * 1024;
const SNS_FETCH_TIMEOUT_MS = 5_000;

export interface SnsTrust {
  /** Hosts SigningCertURL and SubscribeURL may point at. */
  certificateHost: RegExp;
  /** Lets SigningCertURL and SubscribeURL use plain http; only for tests against a local fake. */
  allowHttp: boolean;
}

interface CachedCertificate {
  publicKey: KeyObject;
  validTo: number;
}

export interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const NOTIFICATION_FIELDS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const CONFIRMATION_FIELDS = [
  'Message',
  'MessageId',
  'SubscribeURL',
  'Timestamp',
  'Token',
  'TopicArn',
  'Type',
] as const;

/** The string SNS signs: `name\nvalue\n` for each documented field present, in this order. */
export function snsStringToSign(envelope: SnsEnvelope): string {
  const fields = envelope.Type === 'Notification' ? NOTIFICATION_FIELDS : CONFIRMATION_FIELDS;
  let out = '';
  for (const field of fields) {
    const value = envelope[field];
    if (typeof value === 'string') out += `${field}\n${value}\n`;
  }
  return out;
}

const SNS_TYPES = new Set(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);
const REQUIRED_SNS_FIELDS = [
  'Type',
  'MessageId',
  'TopicArn',
  'Message',
  'Timestamp',
  'SignatureVersion',
  'Signature',
  'SigningCertURL',
] as const;

/** The SNS message of a webhook body, every signed field present and a string. */
export function parseSnsEnvelope(rawBody: string): SnsEnvelope {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'SNS message is not JSON', { cause });
  }
  if (typeof body !== 'object' || body === null) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'SNS message is not an object');
  }
  const fields = body as Record<string, unknown>;
  // Without these there is nothing to verify: raw message delivery must stay off.
  for (const field of REQUIRED_SNS_FIELDS) {
    if (typeof fields[field] !== 'string') {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS message lacks ${field}`);
    }
  }
  if (!SNS_TYPES.has(fields.Type as string)) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'unknown SNS message type');
  }
  // A signed field of another type would be left out of the string to sign, unsigned.
  const signedOptional =
    fields.Type === 'Notification' ? (['Subject'] as const) : (['SubscribeURL', 'Token'] as const);
  for (const field of signedOptional) {
    const value = fields[field];
    const present = value !== undefined && value !== null;
    if ((fields.Type !== 'Notification' || present) && typeof value !== 'string') {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS message has no valid ${field}`);
    }
  }
  return body as SnsEnvelope;
}

/** Verifies SNS signatures, caching signing certificates by URL, and confirms subscriptions. */
export class SnsVerifier {
  private readonly certificates = new Map<string, Promise<CachedCertificate>>();

  constructor(private readonly trust: SnsTrust) {}

  /** Checks the envelope's signature against its signing certificate; throws when it does not match. */
  async verify(envelope: SnsEnvelope): Promise<void> {
    const digest =
      envelope.SignatureVersion === '1' ? 'sha1' : envelope.SignatureVersion === '2' ? 'sha256' : undefined;
    if (!digest) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'unsupported SNS SignatureVersion');
    }
    const certificate = await this.certificate(envelope.SigningCertURL);
    const valid = verify(
      digest,
      Buffer.from(snsStringToSign(envelope), 'utf8'),
      certificate.publicKey,
      Buffer.from(envelope.Signature, 'base64'),
    );
    if (!valid) throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signature does not match');
  }

  /**
   * The signing certificate, fetched once per URL. Trust comes from fetching it over TLS from an
   * SNS host (as AWS's own message validators do), so the URL is checked before any fetch.
   */
  private async certificate(url: string): Promise<CachedCertificate> {
    this.checkUrl(url, 'SigningCertURL');
    let pending = this.certificates.get(url);
    if (!pending) {
      pending = fetchCertificate(url);
      this.certificates.set(url, pending);
      if (this.certificates.size > CERTIFICATE_CACHE_MAX) {
        const oldest = this.certificates.keys().next().value;
        if (oldest !== undefined) this.certificates.delete(oldest);
      }
    }
    let certificate: CachedCertificate;
    try {
      certificate = await pending;
    } catch (err) {
      this.certificates.delete(url);
      throw err;
    }
    if (certificate.validTo < Date.now()) {
      this.certificates.delete(url);
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signing certificate has expired');
    }
    return certificate;
  }

  /** Refuses a SigningCertURL or SubscribeURL that does not point at an SNS host. */
  private checkUrl(value: string, field: 'SigningCertURL' | 'SubscribeURL'): void {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS ${field} is not a URL`);
    }
    const schemeAllowed = url.protocol === 'https:' || (this.trust.allowHttp && url.protocol === 'http:');
    if (!schemeAllowed || !this.trust.certificateHost.test(url.hostname)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS ${field} is not an SNS address`);
    }
    if (field === 'SigningCertURL' && !url.pathname.endsWith('.pem')) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS SigningCertURL is not a certificate');
    }
  }

  /** Confirms a SubscriptionConfirmation by visiting its SubscribeURL once that is checked. */
  async confirmSubscription(envelope: SnsEnvelope): Promise<void> {
    if (!envelope.SubscribeURL) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'SubscriptionConfirmation without SubscribeURL');
    }
    this.checkUrl(envelope.SubscribeURL, 'SubscribeURL');
    let response: Response;
    try {
      response = await fetch(envelope.SubscribeURL, {
        signal: AbortSignal.timeout(SNS_FETCH_TIMEOUT_MS),
        redirect: 'error',
      });
      await response.arrayBuffer();
    } catch (cause) {
      // Retriable: SNS sends the confirmation again when we do not answer 2xx.
      throw new PigeonError('PIGEON_ERR_INTERNAL', 'could not confirm the SNS subscription', { cause });
    }
    if (!response.ok) {
      throw new PigeonError('PIGEON_ERR_INTERNAL', `SNS refused the subscription (${response.status})`);
    }
  }
}

async function fetchCertificate(url: string): Promise<CachedCertificate> {
  let pem: string;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(SNS_FETCH_TIMEOUT_MS),
      redirect: 'error',
    });
    const body = await response.arrayBuffer();
    if (!response.ok || body.byteLength > CERTIFICATE_MAX_BYTES) {
      throw new Error(`certificate fetch answered ${response.status} with ${body.byteLength} bytes`);
    }
    pem = Buffer.from(body).toString('utf8');
  } catch (cause) {
    // Retriable: the notification is genuine as far as we know, and SNS retries on a 5xx.
    throw new PigeonError('PIGEON_ERR_INTERNAL', 'could not fetch the SNS signing certificate', { cause });
  }
  try {
    const certificate = new X509Certificate(pem);
    return { publicKey: certificate.publicKey, validTo: Date.parse(certificate.validTo) };
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signing certificate is not valid', { cause });
  }
}
