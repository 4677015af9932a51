/** Throwaway PostgreSQL databases for integration tests (the server at 127.0.0.1:5432, trust auth). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';

/** The maintenance database used to create and drop test databases. */
export const maintenanceUrl = process.env['DIRBRIDGE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the maintenance database. */
export async function maintenance(statement: string): Promise<void> {
  // Generous: on a loaded 2-core CI machine a connection has been seen to take over 5 s.
  const client = new pg.Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Why PostgreSQL cannot be used here, or undefined when it can. */
export async function postgresProblem(): Promise<string | undefined> {
  let problem: string | undefined;
  // A few tries: a busy machine must not turn into a skipped (or, under CI, failed) suite.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    problem = await maintenance('select 1').then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    if (problem === undefined) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
  }
  return problem;
}

/** Creates an empty database with a random name; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const database = `dirbridge_test_${randomBytes(6).toString('hex')}`;
  await maintenance(`create database ${database}`);
  const url = new URL(maintenanceUrl);
  url.pathname = `/${database}`;
  return { url: url.toString(), drop: () => maintenance(`drop database if exists ${database} with (force)`) };
}

/**
 * Declares the PostgreSQL half of a contract suite: `declare` (which calls `describe`) when the
 * server answers; under CI an unreachable server is a failing test; elsewhere a skipped suite.
 */
export function declareWhenPostgres(name: string, problem: string | undefined, declare: () => void): void {
  if (problem === undefined) {
    declare();
  } else if (process.env['CI'] !== undefined) {
    describe(name, () => {
      it('connects to PostgreSQL (required when CI is set)', () => {
        assert.fail(`PostgreSQL at ${maintenanceUrl} is unreachable: ${problem}`);
      });
    });
  } else {
    describe(name, { skip: `PostgreSQL unreachable (${problem}); set CI to make this fail` }, () => {});
  }
}
