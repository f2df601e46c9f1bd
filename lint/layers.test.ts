import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint, RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { LAYERS, layersRule } from './layers.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const root = '/repo';
const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, sourceType: 'module' } });
const at = (file: string, code: string) => ({ code, filename: `${root}/${file}`, options: [{ root }] });
const crossing = (file: string, code: string) => ({ ...at(file, code), errors: [{ messageId: 'crossing' }] });

tester.run('pigeon/layers', layersRule, {
  valid: [
    at('api/src/app.ts', "import { x } from '../../core/errors.ts';"),
    at('api/src/routes/admin.ts', "import { x } from '../../../routing/table.ts';"),
    at('supplier-bridge/src/service.ts', "import { x } from '../../providers/registry.ts';"),
    at('routing/catalog.ts', "import { x } from '../providers/registry.ts';"),
    at('monitor/src/canary.ts', "import type { x } from '../../alerting/config.ts';"),
    at('bin/embedded.ts', "import { x } from '../api/src/service.ts';"),
    at('bin/cli.ts', "const m = await import('../monitor/src/index.ts');"),
    at('core/store/store.ts', "import { x } from '../errors.ts';"),
    at('api/src/app.test.ts', "import { fake } from '../../test/fakes/fake-http.ts';"),
    at('test/e2e/x.test.ts', "import { x } from '../../api/src/service.ts';"),
    at('api/src/app.ts', "import Fastify from 'fastify';"),
  ],
  invalid: [
    crossing('api/src/service.ts', "import { x } from '../../supplier-bridge/src/bridge.ts';"),
    crossing('monitor/src/canary.ts', "import { x } from '../../api/src/publisher.ts';"),
    crossing('persister/src/fold.ts', "export { x } from '../../monitor/src/monitor.ts';"),
    crossing('core/config.ts', "import { x } from '../routing/rules.ts';"),
    crossing('core/runtime.ts', "const m = await import('../api/src/index.ts');"),
    crossing('providers/twilio.ts', "import { x } from '../routing/table.ts';"),
    crossing('routing/catalog.ts', "import { x } from '../supplier-bridge/src/bridge.ts';"),
    crossing('alerting/rules.ts', "export * from '../monitor/src/windows.ts';"),
    crossing('api/src/app.ts', "import { x } from '../../bin/embedded.ts';"),
    crossing('api/src/app.ts', "import { fake } from '../../test/fakes/fake-http.ts';"),
  ],
});

test('every service may import core and no other service', () => {
  const services = ['api', 'supplier-bridge', 'persister', 'monitor'];
  for (const service of services) {
    const allowed = LAYERS[service]!;
    assert.ok(allowed.includes('core'), service);
    assert.deepEqual(
      allowed.filter((folder) => services.includes(folder)),
      [],
      `${service} may import another service`,
    );
  }
  assert.deepEqual(LAYERS.core, []);
});

test('npm run lint applies the rule to every source folder', async () => {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const eslint = new ESLint({ cwd });
  for (const file of ['core/config.ts', 'api/src/app.ts', 'routing/catalog.ts', 'bin/cli.ts']) {
    const config = (await eslint.calculateConfigForFile(file)) as { rules: Record<string, unknown> };
    assert.deepEqual((config.rules['pigeon/layers'] as unknown[])[0], 2, file);
  }
});
