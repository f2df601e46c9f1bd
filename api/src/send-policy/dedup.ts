import { hmacSha256 } from '../../../core/hmac.ts';
import type { MessageClass } from '../../../core/message.ts';

/**
 * What makes two sends "the same message" for dedup, pure. Same tenant, recipient, sender and
 * class, and the same body once normalised: Unicode NFC, runs of whitespace as one space, no
 * leading or trailing whitespace — so a client's retry that re-wraps a line is still a duplicate,
 * while any change a reader would see (a digit, a letter's case, punctuation) makes a new message.
 * Only marketing and transactional traffic is deduplicated: a code or page sent again on purpose
 * (a "resend code" button, a repeated alert) must go out.
 */

/** The classes whose duplicates are sent once. */
export const DEDUPLICATED_CLASSES: ReadonlySet<MessageClass> = new Set(['marketing', 'transactional']);

export interface DedupIdentity {
  to: string;
  /** The sender the message goes from, as chosen for it; absent: the route's default. */
  from: string | undefined;
  messageClass: MessageClass;
  body: string;
}

/** Printable ASCII with single spaces, no space at either end: already its own normal form. */
const NORMAL_ASCII = /^[!-~]+(?: [!-~]+)*$/;

export function normaliseBody(body: string): string {
  // Most bodies are plain ASCII, where NFC changes nothing: skip the normalisation's copies.
  if (NORMAL_ASCII.test(body)) return body;
  return body.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

/**
 * The keyed hash naming a message's duplicates: HMAC-SHA-256 under a gateway secret, so the cache
 * holds neither the body nor the number, and nobody without the key can test a guess against it.
 */
export function dedupFingerprint(key: string | Uint8Array, identity: DedupIdentity): string {
  return hmacSha256(key).digest(
    // NUL cannot occur in a number, sender or class, so no two identities give the same input.
    [identity.to, identity.from ?? '', identity.messageClass, normaliseBody(identity.body)].join('\0'),
  );
}
