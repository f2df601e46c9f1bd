/** What `pigeon embedded` prints once it is up. */
export interface BannerFacts {
  /** Base URL of the API, e.g. `http://127.0.0.1:3000`. */
  base: string;
  /** `memory bus, sqlite store, memory cache`. */
  infrastructure: string;
  simulator: boolean;
  /** The bootstrap key. */
  apiKey: string | undefined;
  /** Whether the key came from PIGEON_API_KEY rather than being generated. */
  apiKeySupplied: boolean;
}

/**
 * The start banner: where things are, and curl lines to copy. A key the operator supplied is never
 * printed (it would end up in terminal scrollback and log collectors); the lines refer to the
 * variable instead, so they still work in the shell that set it.
 */
export function startBanner(facts: BannerFacts): string {
  const { base } = facts;
  const key = facts.apiKeySupplied ? '$PIGEON_API_KEY' : facts.apiKey;
  const auth = `-H "Authorization: Bearer ${key}"`;
  return [
    '',
    `Pigeon is running (embedded: ${facts.infrastructure}${facts.simulator ? ', simulated providers' : ''})`,
    `  API         ${base}/v1   OpenAPI docs ${base}/docs   metrics ${base}/metrics`,
    `  API key     ${facts.apiKeySupplied ? 'from PIGEON_API_KEY' : (facts.apiKey ?? '(set PIGEON_API_KEY)')}`,
    '',
    'Send a message:',
    `  curl -s ${auth} -H 'content-type: application/json' \\`,
    `    -d '{"to":"+14155550123","body":"hello"}' ${base}/v1/messages`,
    'Then follow it (use the id from the answer):',
    `  curl -s ${auth} ${base}/v1/messages/<id>`,
    ...(facts.simulator ? [`  curl -s ${auth} '${base}/simulator/messages?to=%2B14155550123'`] : []),
    '',
  ].join('\n');
}
