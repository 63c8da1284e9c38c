import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { duckdbSetup } from '../../shared/schema/duckdb';

export interface Duck {
  conn: DuckDBConnection;
  /** Rows as JSON-compatible objects (BIGINT as strings, so cast counts to INTEGER). */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): void;
}

/** An in-memory DuckDB with the tables and views the stack deploys, over an export root. */
export async function openDuck(root: string, opts: { tenants?: boolean } = {}): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
  for (const sql of duckdbSetup(root, undefined, opts)) await conn.run(sql);
  return {
    conn,
    async rows<T>(sql: string) {
      return (await conn.runAndReadAll(sql)).getRowObjectsJson() as T[];
    },
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}
