import mysql from 'mysql2/promise';
import { TEST_MYSQL_URL, uniqueSuffix } from './infra.ts';

export interface TestDatabase {
  /** TEST_MYSQL_URL with the fresh database as its path. */
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the TEST_MYSQL_URL server, so each suite starts from no schema. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `pigeon_t_${uniqueSuffix()}`;
  const admin = async (sql: string): Promise<void> => {
    const conn = await mysql.createConnection({ uri: TEST_MYSQL_URL, connectTimeout: 3000 });
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };
  await admin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const url = new URL(TEST_MYSQL_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS \`${name}\``) };
}
