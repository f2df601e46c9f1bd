import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { OVERSIZED_RECORD, RecordGuard, UNTERMINATED_RECORD } from './record-guard.ts';

async function guarded(input: Buffer, maxBytes: number, chunkSize: number): Promise<string> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  for await (const piece of Readable.from(chunks).pipe(new RecordGuard(maxBytes))) {
    out.push(Buffer.from(piece as Buffer));
  }
  return Buffer.concat(out).toString('utf8');
}

test('records within the limit pass unchanged, whatever the chunking', async () => {
  const csv = 'to,name\r\n+14155550001,"Ana\r\nMaria"\r\n+14155550002,"say ""hi"""\r\n+14155550003,李';
  for (const size of [1, 2, 3, 7, 64, 1024]) {
    assert.equal(await guarded(Buffer.from(csv), 64, size), csv, `chunks of ${size}`);
  }
});

test('a record over the limit becomes one marker record and the rows after it survive', async () => {
  const big = 'x'.repeat(200_000);
  const csv = `to,name\n+14155550001,a\n+14155550002,"${big}\n${big}"\n+14155550003,b\n`;
  for (const size of [5, 4096, 65_536]) {
    assert.equal(
      await guarded(Buffer.from(csv), 1024, size),
      `to,name\n+14155550001,a\n${OVERSIZED_RECORD}\n+14155550003,b\n`,
      `chunks of ${size}`,
    );
  }
  assert.equal(await guarded(Buffer.from(`a\n${big}`), 100, 999), `a\n${OVERSIZED_RECORD}\n`);
});

test('a quote left open at the end is reported as one unterminated record', async () => {
  assert.equal(await guarded(Buffer.from('a,b\n1,"open\n2,3\n'), 1024, 4), `a,b\n${UNTERMINATED_RECORD}\n`);
});

test('property: under the limit the output is the input byte for byte', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.constantFrom('"', '\n', '\r', ',', 'é', '字'), fc.string({ maxLength: 4 })), {
        maxLength: 60,
      }),
      fc.integer({ min: 1, max: 16 }),
      async (parts, size) => {
        const text = parts.join('');
        const balanced = (text.match(/"/g)?.length ?? 0) % 2 === 0;
        fc.pre(balanced);
        const input = Buffer.from(text);
        assert.equal(await guarded(input, input.length + 1, size), text);
      },
    ),
    { numRuns: 200 },
  );
});
