import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRecipient, csvColumns, csvRecord, IntakeBatcher, type IntakeRules } from './csv-intake.ts';
import { OVERSIZED_RECORD, UNTERMINATED_RECORD } from './record-guard.ts';

const rules: IntakeRules = {
  template: {
    variants: [{ locale: 'en', body: 'Hi {{name}}, {{code}} at {{shop}}. Reply STOP to opt out' }],
    defaultLocale: 'en',
    variables: ['code', 'name', 'shop'],
  },
  variables: { shop: 'Pigeon' },
  smartEncoding: false,
  pricePerPart: (country) => (country === 'US' ? 0.01 : 0.05),
};

test('the header names the number, the reference and the variables, in any case and order', () => {
  const columns = csvColumns([' Phone ', 'code', 'CLIENTREF', 'name'], rules);
  assert.deepEqual(columns, {
    to: 0,
    clientRef: 2,
    variables: [
      ['code', 1],
      ['name', 3],
    ],
    width: 4,
  });
  // A column may also override a campaign variable.
  assert.equal(csvColumns(['to', 'name', 'code', 'shop'], rules).variables.length, 3);
});

test('a header that cannot work is refused as a whole, naming what is wrong', () => {
  for (const [header, text] of [
    [['name', 'code'], /no "to"/],
    [['to', 'phone', 'name', 'code'], /both/],
    [['to', 'name', 'name', 'code'], /appears twice/],
    [['to', 'name', 'code', 'colour'], /not in the template: colour/],
    [['to', 'name'], /neither a column nor the campaign's: code/],
  ] as const) {
    assert.throws(
      () => csvColumns(header, rules),
      (err: Error & { code?: string }) => {
        return err.code === 'PIGEON_ERR_CSV_HEADER' && text.test(err.message);
      },
    );
  }
  const bodyRules: IntakeRules = { ...rules, template: undefined, body: 'Sale! Reply STOP', variables: {} };
  assert.throws(() => csvColumns(['to', 'name'], bodyRules), /a campaign with a body has no variables/);
  assert.deepEqual(csvColumns(['to'], bodyRules).variables, []);
});

test('records the guard replaced, bad UTF-8 and a wrong field count are refused before any check', () => {
  const columns = csvColumns(['to', 'name', 'code'], rules);
  const code = (fields: string[]) => {
    const outcome = csvRecord(fields, columns);
    return 'ok' in outcome && !outcome.ok ? outcome.code : 'input';
  };
  assert.equal(code([OVERSIZED_RECORD]), 'PIGEON_ERR_CSV_ROW_TOO_LARGE');
  assert.equal(code([UNTERMINATED_RECORD]), 'PIGEON_ERR_CSV_MALFORMED');
  assert.equal(code(['+14155550101', 'Ana']), 'PIGEON_ERR_CSV_MALFORMED');
  assert.equal(code(['+14155550101', 'J\ufffdrg', '1']), 'PIGEON_ERR_CSV_ENCODING');
  assert.deepEqual(csvRecord([' +14155550101 ', 'Ana', '7'], columns), {
    to: '+14155550101',
    variables: { name: 'Ana', code: '7' },
  });
});

test('a row is checked as its message will be built: number, variables, parts; its cost is estimated', () => {
  const ok = checkRecipient(
    { to: '+14155550101', variables: { name: 'Ana', code: 'X1' }, clientRef: 'c1' },
    rules,
  );
  assert.deepEqual(ok, {
    ok: true,
    recipient: { to: '+14155550101', variables: { name: 'Ana', code: 'X1' }, clientRef: 'c1' },
    segments: 1,
    cost: 0.01,
  });
  const refusedCode = (input: Parameters<typeof checkRecipient>[0]) => {
    const outcome = checkRecipient(input, rules);
    return outcome.ok ? 'ok' : outcome.code;
  };
  assert.equal(
    refusedCode({ to: '4155550101', variables: { name: 'A', code: '1' } }),
    'PIGEON_ERR_INVALID_NUMBER',
  );
  assert.equal(
    refusedCode({ to: '+14155550101', variables: { name: '', code: '1' } }),
    'PIGEON_ERR_TEMPLATE_VARIABLES',
  );
  assert.equal(
    refusedCode({ to: '+14155550101', variables: { name: 'A' } }),
    'PIGEON_ERR_TEMPLATE_VARIABLES',
  );
  assert.equal(
    refusedCode({ to: '+14155550101', variables: { name: '字'.repeat(700), code: '1' } }),
    'PIGEON_ERR_BODY_TOO_LONG',
  );
  assert.equal(
    refusedCode({ to: '+14155550101', variables: { name: 'A', code: '1' }, clientRef: 'bad\u0007ref' }),
    'PIGEON_ERR_VALIDATION',
  );
  const uk = checkRecipient({ to: '+447911123456', variables: { name: 'Bó', code: '1' } }, rules);
  assert.ok(uk.ok && uk.cost === 0.05);
});

test('the batcher numbers valid rows densely and keeps refused rows by their place', async () => {
  const written: { recipients: number[]; errors: number[] } = { recipients: [], errors: [] };
  const batcher = new IntakeBatcher(
    {
      recipients: async (rows) => void written.recipients.push(...rows.map((r) => r.rowNo)),
      errors: async (rows) => void written.errors.push(...rows.map((r) => r.row)),
    },
    2,
  );
  const good = checkRecipient({ to: '+14155550101', variables: { name: 'A', code: '1' } }, rules);
  const bad = checkRecipient({ to: 'x', variables: {} }, rules);
  for (const [row, outcome] of [
    [1, good],
    [2, bad],
    [3, good],
    [4, good],
    [5, bad],
  ] as const) {
    await batcher.add(row, outcome);
  }
  await batcher.flush();
  assert.deepEqual(written, { recipients: [0, 1, 2], errors: [2, 5] });
  assert.deepEqual(batcher.counts, { recipients: 3, invalid: 2, costMicros: 30_000 });
});
