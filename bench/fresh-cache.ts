/**
 * Empties the benches' own Redis database before a bench, so every bench starts from the same
 * state. The services' markers (receipt bindings, claims, dedup fingerprints) live for days, and the
 * benches used to write them into the tests' database: after a few days of runs it held 2.6
 * million keys (605 MB). Measured, that many keys did not change Redis's CPU per delivered message
 * in bench:e2e (84–98 µs on an empty database, 86 µs with them, one round each), but a figure should
 * not depend on what ran before it. The benches use database 15 (bench/with-kafka.sh), never the
 * tests' database 0, so this touches nobody else's keys.
 *
 *   node --import tsx bench/fresh-cache.ts     # FLUSHDB on TEST_REDIS_URL's database
 */
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../test/support/infra.ts';

/** The database a redis:// URL names (its path), 0 when it names none. */
export function redisDatabase(url: string): number {
  const path = new URL(url).pathname.replace(/^\//, '');
  return path === '' ? 0 : Number(path);
}

/** FLUSHDB on the benches' database; refuses database 0, which the tests and developers use. */
export async function freshBenchCache(url = TEST_REDIS_URL): Promise<void> {
  const db = redisDatabase(url);
  if (!Number.isInteger(db) || db === 0) {
    process.stderr.write(`bench cache: ${url} is database 0, left as it is (benches use /15)\n`);
    return;
  }
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.dbsize();
    await redis.flushdb();
    process.stderr.write(`bench cache: database ${db} emptied (${keys} keys)\n`);
  } finally {
    redis.disconnect();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await freshBenchCache();
