import { PigeonError } from '../../../core/errors.ts';

/**
 * Reading a channel's options from `alerts.channels` in PIGEON_CONFIG. Every factory checks its
 * options when the channels are built at start, so a typo stops the process with a message naming
 * the channel and the option, instead of surfacing as a lost alert.
 */

export interface ChannelDefinition {
  name: string;
  type: string;
  /** How long the chain waits for this channel before trying the next (default 10 s). */
  timeoutMs?: number;
  [option: string]: unknown;
}

export class ChannelOptions {
  constructor(private readonly definition: ChannelDefinition) {}

  get name(): string {
    return this.definition.name;
  }

  fail(option: string, expected: string): never {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `alert channel "${this.definition.name}" (${this.definition.type}): option "${option}" must be ${expected}`,
    );
  }

  has(option: string): boolean {
    return this.definition[option] !== undefined;
  }

  string(option: string): string {
    const value = this.definition[option];
    if (typeof value !== 'string' || value.length === 0) this.fail(option, 'a non-empty string');
    return value;
  }

  optionalString(option: string): string | undefined {
    return this.has(option) ? this.string(option) : undefined;
  }

  url(option: string): string {
    const value = this.string(option);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      return this.fail(option, 'an absolute http(s) URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') this.fail(option, 'an http(s) URL');
    return value;
  }

  optionalUrl(option: string): string | undefined {
    return this.has(option) ? this.url(option) : undefined;
  }

  boolean(option: string, fallback: boolean): boolean {
    const value = this.definition[option];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') this.fail(option, 'true or false');
    return value;
  }

  integer(option: string, fallback: number, min: number, max: number): number {
    const value = this.definition[option];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(option, `an integer from ${min} to ${max}`);
    }
    return value;
  }

  stringList(option: string): string[] {
    const value = this.definition[option];
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
      this.fail(option, 'a list of non-empty strings');
    }
    return value as string[];
  }

  stringRecord(option: string): Record<string, string> {
    const value = this.definition[option];
    if (value === undefined) return {};
    if (!value || typeof value !== 'object' || Array.isArray(value))
      this.fail(option, 'an object of strings');
    const record: Record<string, string> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v !== 'string') this.fail(`${option}.${key}`, 'a string');
      record[key] = v;
    }
    return record;
  }

  /** Refuses options the channel does not know: a misspelt `secret` must not silently mean "unsigned". */
  only(known: readonly string[]): void {
    const allowed = new Set(['name', 'type', 'timeoutMs', ...known]);
    for (const key of Object.keys(this.definition)) {
      if (!allowed.has(key)) this.fail(key, `one of ${[...allowed].join(', ')} (unknown option)`);
    }
  }
}
