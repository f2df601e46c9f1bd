import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCatalogue, type ErrorCode, isPigeonError, PigeonError, PROBLEM_TYPE_BASE } from './errors.ts';

const codes = Object.keys(ErrorCatalogue) as ErrorCode[];
const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const CODE = /PIGEON_ERR_[A-Z0-9_]+/g;

/** Codes named in a heading (`### PIGEON_ERR_…`) or a table row (`| PIGEON_ERR_… |`). */
function documentedCodes(): Set<string> {
  const found = new Set<string>();
  for (const line of docs.split('\n')) {
    if (!/^\s*(#|\|)/.test(line)) continue;
    for (const match of line.matchAll(CODE)) found.add(match[0]);
  }
  return found;
}

/** The text under each `### CODE` heading, up to the next heading. */
function sections(): Map<string, string> {
  const result = new Map<string, string>();
  const parts = docs.split(/^#{2,3} /m);
  for (const part of parts) {
    const [heading = '', ...body] = part.split('\n');
    const code = heading.trim();
    if (/^PIGEON_ERR_[A-Z0-9_]+$/.test(code)) result.set(code, body.join('\n'));
  }
  return result;
}

test('every code starts with PIGEON_ERR_ and is in upper snake case', () => {
  for (const code of codes) assert.match(code, /^PIGEON_ERR_[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
});

test('every code maps to a 4xx or 5xx status', () => {
  for (const code of codes) {
    const { status } = ErrorCatalogue[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
  }
});

test('every code has a title and a retriable flag', () => {
  for (const code of codes) {
    const spec = ErrorCatalogue[code];
    assert.ok(spec.title.trim().length > 0, code);
    assert.equal(typeof spec.retriable, 'boolean', code);
  }
});

test('every code has its own problem type', () => {
  const types = codes.map((code) => new PigeonError(code).toProblem().type);
  assert.equal(new Set(types).size, codes.length);
});

test('every code is documented in docs/errors.md', () => {
  const documented = documentedCodes();
  const missing = codes.filter((code) => !documented.has(code));
  assert.deepEqual(missing, [], `undocumented codes: ${missing.join(', ')}`);
});

test('docs/errors.md mentions no code outside the catalogue', () => {
  const unknown = [...new Set(docs.match(CODE) ?? [])].filter((code) => !(code in ErrorCatalogue));
  assert.deepEqual(unknown, [], `codes not in the catalogue: ${unknown.join(', ')}`);
});

test('each documented code states the status and retriability of the catalogue, a cause and a resolution', () => {
  const documented = sections();
  assert.deepEqual([...documented.keys()].sort(), [...codes].sort(), 'one section per code');
  for (const [code, body] of documented) {
    const spec = ErrorCatalogue[code as ErrorCode];
    assert.ok(spec, `${code} is in the catalogue`);
    assert.match(body, new RegExp(`\\*\\*HTTP status:\\*\\* ${spec.status}\\b`), `${code} status`);
    assert.match(
      body,
      new RegExp(`\\*\\*Retriable:\\*\\* ${spec.retriable ? 'yes' : 'no'}\\b`),
      `${code} retriable`,
    );
    assert.match(body, /\*\*Cause:\*\* \S/, `${code} cause`);
    assert.match(body, /\*\*Resolution:\*\* \S/, `${code} resolution`);
  }
});

test('toProblem renders RFC 9457 fields with the stable code', () => {
  const error = new PigeonError('PIGEON_ERR_INVALID_NUMBER', '"to" must be E.164', {
    errors: [{ field: '/to', message: 'not a valid E.164 phone number' }],
  });

  assert.deepEqual(error.toProblem('/v1/messages'), {
    type: `${PROBLEM_TYPE_BASE}invalid-number`,
    title: ErrorCatalogue.PIGEON_ERR_INVALID_NUMBER.title,
    status: 400,
    code: 'PIGEON_ERR_INVALID_NUMBER',
    detail: '"to" must be E.164',
    instance: '/v1/messages',
    errors: [{ field: '/to', message: 'not a valid E.164 phone number' }],
  });
  assert.ok(URL.canParse(error.toProblem().type));
});

test('a problem without a detail uses the title and omits what is absent', () => {
  const problem = new PigeonError('PIGEON_ERR_IDEMPOTENCY_CONFLICT').toProblem();

  assert.deepEqual(problem, {
    type: `${PROBLEM_TYPE_BASE}idempotency-conflict`,
    title: ErrorCatalogue.PIGEON_ERR_IDEMPOTENCY_CONFLICT.title,
    status: 409,
    code: 'PIGEON_ERR_IDEMPOTENCY_CONFLICT',
    detail: ErrorCatalogue.PIGEON_ERR_IDEMPOTENCY_CONFLICT.title,
  });
});

test('a retriable problem carries its retry delay', () => {
  const error = new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'retry later', { retryAfterSeconds: 5 });

  assert.equal(error.retriable, true);
  assert.equal(error.status, 503);
  assert.equal(error.toProblem().retryAfterSeconds, 5);
});

test('a PigeonError is an Error that keeps its cause', () => {
  const cause = new Error('socket closed');
  const error = new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', 'down', { cause });

  assert.ok(error instanceof Error);
  assert.ok(isPigeonError(error));
  assert.equal(isPigeonError(cause), false);
  assert.equal(error.name, 'PigeonError');
  assert.equal(error.cause, cause);
});
