import { PigeonError } from '../errors.ts';
import { isSealed, openSealed, SealedBodyError, sealBody } from '../sealed-body.ts';

/**
 * Seals the columns that hold credentials — provider definitions (auth tokens, API secrets, SMPP
 * passwords) and tenants' webhook signing secrets — under PIGEON_SECRETS_KEY, so a database dump,
 * a replica or a backup does not hand out the keys to send SMS on the operator's accounts.
 *
 * Rows written before a key was set stay readable (a value without the `enc:` prefix is taken as
 * it is) and are sealed the next time they are written. Rotation: the new key goes in
 * PIGEON_SECRETS_KEY and the old one in PIGEON_SECRETS_KEY_PREVIOUS until every row was written
 * again; reads try the current key first.
 */
export class SecretSealer {
  readonly sealing: boolean;
  private readonly current: Buffer | undefined;
  private readonly previous: readonly Buffer[];

  constructor(keys: { current?: Buffer | undefined; previous?: readonly Buffer[] } = {}) {
    this.current = keys.current;
    this.previous = keys.previous ?? [];
    this.sealing = this.current !== undefined;
  }

  /** The value to store: sealed when a key is set, else as it is. */
  seal(plain: string): string {
    return this.current ? sealBody(plain, this.current) : plain;
  }

  /** A stored value written again under the current key (for rotation, and for rows stored plain). */
  reseal(stored: string, what: string): string {
    return this.seal(this.open(stored, what));
  }

  /** The stored value in clear; PIGEON_ERR_CONFIG when it was sealed under a key this process lacks. */
  open(stored: string, what: string): string {
    if (!isSealed(stored)) return stored;
    for (const key of this.current ? [this.current, ...this.previous] : this.previous) {
      try {
        return openSealed(stored, key);
      } catch (err) {
        if (!(err instanceof SealedBodyError)) throw err;
      }
    }
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `${what} is sealed under a key this process does not have: set PIGEON_SECRETS_KEY ` +
        '(and PIGEON_SECRETS_KEY_PREVIOUS while rotating) to the key it was written with',
    );
  }
}

export interface ResealCounts {
  providers: number;
  webhooks: number;
}

/** No key: values are stored as given. */
export const PLAIN_SECRETS = new SecretSealer();
