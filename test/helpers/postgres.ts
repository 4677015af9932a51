/** Throwaway PostgreSQL databases for integration tests (the server at 127.0.0.1:5432, trust auth). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The maintenance database used to create and drop test databases. */
export const maintenanceUrl = process.env['DIRBRIDGE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the maintenance database. */
export async function maintenance(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Why PostgreSQL cannot be used here, or undefined when it can. */
export async function postgresProblem(): Promise<string | undefined> {
  return maintenance('select 1').then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

/** Creates an empty database with a random name; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const database = `dirbridge_test_${randomBytes(6).toString('hex')}`;
  await maintenance(`create database ${database}`);
  const url = new URL(maintenanceUrl);
  url.pathname = `/${database}`;
  return { url: url.toString(), drop: () => maintenance(`drop database if exists ${database} with (force)`) };
}
