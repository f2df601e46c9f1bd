import { ChannelError } from './channel.ts';

/**
 * One JSON POST to a receiver, classified the way every HTTP channel needs: no answer, 429 or 5xx
 * may work later (retriable); any other 4xx will not until the configuration changes. Errors name
 * the channel, never the URL: webhook URLs carry their credentials.
 */

export interface HttpAnswer {
  status: number;
  body: string;
}

export async function postJson(
  channel: string,
  url: string,
  payload: unknown,
  signal: AbortSignal,
  headers: Record<string, string> = {},
  body: string = JSON.stringify(payload),
): Promise<HttpAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      body,
      signal,
      // A redirect would resend the alert somewhere nobody configured.
      redirect: 'error',
    });
  } catch (cause) {
    throw new ChannelError(
      signal.aborted ? `${channel}: timed out` : `${channel}: request failed (${errorCode(cause)})`,
      { retriable: true, cause },
    );
  }
  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    throw new ChannelError(`${channel}: answer cut off (HTTP ${response.status})`, {
      retriable: true,
      cause,
    });
  }
  if (!response.ok) {
    throw new ChannelError(`${channel}: HTTP ${response.status} ${snippet(text)}`, {
      retriable: response.status === 429 || response.status >= 500 || response.status === 408,
    });
  }
  return { status: response.status, body: text };
}

/** The JSON object of a receiver's answer; a 2xx that is not JSON is the receiver misbehaving. */
export function answerObject(channel: string, answer: HttpAnswer): Record<string, unknown> {
  try {
    const value = JSON.parse(answer.body) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ChannelError(`${channel}: answer is not a JSON object: ${snippet(answer.body)}`, {
    retriable: true,
  });
}

/**
 * For receivers that answer HTTP 200 even for errors (DingTalk, WeCom, Feishu): the verdict is a
 * code in the JSON body, 0 for taken; `retriable` lists the codes worth trying again.
 */
export function requireZeroCode(
  channel: string,
  answer: HttpAnswer,
  read: (body: Record<string, unknown>) => { code: unknown; message: unknown; label: string },
  retriable: ReadonlySet<number>,
): void {
  const { code, message, label } = read(answerObject(channel, answer));
  const value = Number(code);
  if (value !== 0) {
    throw new ChannelError(`${channel}: ${label} ${field(code)} ${field(message)}`, {
      retriable: retriable.has(value),
    });
  }
}

/** Where DingTalk and WeCom put their verdict. */
export const errcodeOf = (body: Record<string, unknown>) => ({
  code: body.errcode,
  message: body.errmsg,
  label: 'errcode',
});

/** A field of a receiver's answer as text, whatever its JSON type. */
export function field(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
}

export function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}

export function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}
