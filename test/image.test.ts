import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from './support/infra.ts';
import { createTestDatabase, type TestDatabase } from './support/mysql.ts';
import { type RunningGateway, startGateway } from './support/processes.ts';

/**
 * The container image's contents, without a container engine: test/image/stage.sh performs the
 * Dockerfile's steps in a directory outside the repository, and every service then starts from
 * that directory alone (its dist/ and production node_modules) against the real Kafka, MariaDB
 * and Redis. A source file, migration or dependency the image would lack fails here.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const SERVICES = ['api', 'supplier-bridge', 'persister', 'monitor'];

/** The `RUN` instructions of each stage of the Dockerfile, by stage name. */
function dockerfileRuns(): Map<string, string[]> {
  const stages = new Map<string, string[]>();
  let stage = '';
  for (const line of readFileSync(join(root, 'Dockerfile'), 'utf8').replaceAll('\\\n', ' ').split('\n')) {
    const from = /^FROM \S+ AS (\S+)/.exec(line);
    if (from) stages.set((stage = from[1]!), []);
    else if (line.startsWith('RUN ')) stages.get(stage)?.push(line.slice(4).trim());
  }
  return stages;
}

test('the Dockerfile builds, installs production dependencies only and runs as a non-root user', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const runs = dockerfileRuns();
  assert.deepEqual([...runs.keys()], ['build', 'deps', 'runtime']);
  assert.deepEqual(runs.get('build')!.slice(-1), ['npm run build:image']);
  assert.ok(runs.get('deps')!.some((r) => /^npm ci --omit=dev\b/.test(r)));
  assert.ok(!runs.get('runtime')!.some((r) => r.includes('npm ')), 'the runtime stage installs nothing');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^ENTRYPOINT \["node", "dist\/bin\/cli\.js"\]$/m);
  assert.match(dockerfile, /^HEALTHCHECK [^]*?\/healthz/m);
  // stage.sh performs the same steps: the same build, the same install, the same context.
  const stage = readFileSync(join(root, 'test/image/stage.sh'), 'utf8');
  assert.match(stage, /npm run build:image/);
  const [install] = runs.get('deps')!;
  const flags = install!.split(' ').filter((word) => word.startsWith('--'));
  const staged = /npm ci (--omit=dev[^)]*)/.exec(stage)?.[1] ?? '';
  for (const flag of flags) assert.ok(staged.includes(flag), `stage.sh installs with ${flag}`);
  assert.match(stage, /--exclude-from=<\(.*\.dockerignore/, 'stage.sh filters by .dockerignore');
});

describe('the container image, staged', () => {
  let stage: string;
  let app: string;
  let db: TestDatabase;
  let gateway: RunningGateway | undefined;

  before(() => {
    stage = mkdtempSync(join(tmpdir(), 'pigeon-image-'));
    const staged = spawnSync('bash', [join(root, 'test/image/stage.sh'), stage], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(staged.status, 0, `stage.sh failed:\n${staged.stdout}\n${staged.stderr}`);
    app = join(stage, 'app');
  });

  after(async () => {
    for (const s of gateway?.services ?? []) if (s.child.exitCode === null) s.kill();
    await db?.drop();
    rmSync(stage, { recursive: true, force: true });
  });

  test('holds the compiled services, the migrations and production dependencies only', () => {
    assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json']);
    const dist = readdirSync(join(app, 'dist')).sort();
    for (const folder of ['bin', 'core', ...SERVICES]) assert.ok(dist.includes(folder), `dist/${folder}`);
    for (const folder of ['test', 'bench', 'lint']) assert.ok(!dist.includes(folder), `no dist/${folder}`);
    for (const dialect of ['mysql', 'sqlite']) {
      const migrations = readdirSync(join(app, 'dist/core/store/migrations', dialect));
      const sources = readdirSync(join(root, 'core/store/migrations', dialect));
      assert.deepEqual(migrations.sort(), sources.sort(), `${dialect} migrations`);
    }
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const installed = new Set(readdirSync(join(app, 'node_modules')));
    for (const dev of ['typescript', 'tsx', 'eslint', 'prettier']) {
      assert.ok(dev in manifest.devDependencies && !installed.has(dev), `no dev dependency ${dev}`);
    }
    // Every runtime dependency loads from the staged node_modules, also those a service imports
    // only once a provider of that kind is configured.
    const load = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `for (const name of ${JSON.stringify(Object.keys(manifest.dependencies))}) await import(name);`,
      ],
      { cwd: app, encoding: 'utf8' },
    );
    assert.equal(load.status, 0, `a dependency does not load from the image:\n${load.stderr}`);
  });

  test('starts every service from the staged directory alone, each ready on /readyz', async () => {
    db = await createTestDatabase();
    gateway = await startGateway(
      {
        NODE_ENV: 'production',
        KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
        KAFKA_PARTITIONS: '2',
        KAFKA_GROUP_PREFIX: `pigeon-image-${Date.now()}`,
        MYSQL_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        PIGEON_API_KEY: `pgn_${randomBytes(24).toString('hex')}`,
        PIGEON_OTP_KEY: randomBytes(32).toString('hex'),
        PIGEON_FACTOR_KEY: randomBytes(32).toString('hex'),
        PIGEON_BODY_KEY: randomBytes(32).toString('hex'),
        PIGEON_SECRETS_KEY: randomBytes(32).toString('base64'),
        PIGEON_TENANT: `image-${Date.now()}`,
        // The repository's own node_modules must not be reachable from the staged processes.
        NODE_PATH: '',
      },
      { cwd: app, entry: ['dist/bin/cli.js'] },
    );
    assert.deepEqual(gateway.services.map((s) => s.name).sort(), [...SERVICES].sort());
    // How fast each drains is the service tests' business (and depends on this machine's load);
    // here, none may have met a module, file or package the image lacks on the way.
    await gateway.stop();
    for (const service of gateway.services) {
      assert.doesNotMatch(
        service.output(),
        /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/,
        service.name,
      );
    }
  });
});
