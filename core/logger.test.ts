import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ destination, level: 'info' }) };
}

test('phone numbers are masked in fields and in message text; bodies and codes never appear', () => {
  const { lines, logger } = capture();
  logger.info({ to: '+14155550123', body: 'your code is 123456', code: '123456' }, 'sent to +14155550123');
  logger.info({ message: { to: '+447700900123', body: 'secret text' } }, 'nested');
  const out = lines.join('');
  assert.doesNotMatch(out, /14155550123/);
  assert.doesNotMatch(out, /447700900123/);
  assert.doesNotMatch(out, /123456/);
  assert.doesNotMatch(out, /secret text/);
  assert.match(out, /\+1415\*+23/);
});

test('authorization headers are redacted', () => {
  const { lines, logger } = capture();
  logger.info({ req: { headers: { authorization: 'Bearer pgn_abc' } } }, 'request');
  assert.doesNotMatch(lines.join(''), /pgn_abc/);
});
