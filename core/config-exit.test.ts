import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { EXIT_CONFIG } from './config-exit.ts';

/** Runs `body` in a fresh Node process with exitOnConfigError and PigeonError in scope. */
function run(body: string) {
  const script = `
    const { exitOnConfigError } = await import(${JSON.stringify(new URL('./config-exit.ts', import.meta.url).href)});
    const { PigeonError } = await import(${JSON.stringify(new URL('./errors.ts', import.meta.url).href)});
    ${body}
  `;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

test('a configuration error stops the process with EX_CONFIG and says why on stderr', () => {
  const child = run(
    `exitOnConfigError(new PigeonError('PIGEON_ERR_CONFIG', 'PORT: expected an integer'), 'pigeon api');`,
  );
  assert.equal(child.status, EXIT_CONFIG);
  assert.equal(child.stderr, 'pigeon api: PORT: expected an integer\n');
});

test('any other error is left to the caller', () => {
  const child = run(`
    exitOnConfigError(new PigeonError('PIGEON_ERR_INTERNAL', 'database away'), 'pigeon');
    exitOnConfigError(new Error('boom'), 'pigeon');
    process.stdout.write('carried on');
  `);
  assert.equal(child.status, 0);
  assert.equal(child.stdout, 'carried on');
});
