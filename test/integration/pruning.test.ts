// The DuckDB queries docs/querying.md shows for pruning partitions, run verbatim over an export whose folders
// outside the queried dates are unreadable: they pass only if DuckDB never opens those folders (records and
// manifests alike), and return exactly the complete runs of the dates they ask for.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duckdbSetup } from '../../shared/schema/duckdb';

const ROOT = join(import.meta.dirname, '..', '..');
let dir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;
const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJson();

async function put(key: string, body: Buffer | string) {
  await mkdir(dirname(join(dir, key)), { recursive: true });
  await writeFile(join(dir, key), body);
}
const part = (records: object[]) => gzipSync(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
const manifest = (runId: string, kind: string, endedAt: string) =>
  JSON.stringify({ runId, kind, startedAt: endedAt.replace(/T\d\d/, 'T00'), endedAt, formatVersion: 1 }) +
  '\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qexport-prune-'));
  // EDR: a complete window on 2026-11-20, an unfinished run (no manifest) on 2026-11-21, a window after the week.
  const edr = (run: string, types: string[]) =>
    types.map((type, i) => ({ qexport_run: run, id: `${run}-${i}`, type }));
  await put(
    'edr-events/dt=2026-11-20/run=r1/part-00000.ndjson.gz',
    part(edr('r1', ['PROCESS', 'FILE', 'PROCESS'])),
  );
  await put(
    'manifests/module=edr-events/dt=2026-11-20/r1.json',
    manifest('r1', 'incremental', '2026-11-20T01:00:00Z'),
  );
  await put('edr-events/dt=2026-11-21/run=r2/part-00000.ndjson.gz', part(edr('r2', ['MUTEX'])));
  await put('edr-events/dt=2026-11-24/run=r3/part-00000.ndjson.gz', part(edr('r3', ['NETWORK'])));
  await put(
    'manifests/module=edr-events/dt=2026-11-24/r3.json',
    manifest('r3', 'incremental', '2026-11-24T01:00:00Z'),
  );
  // PCI: two complete snapshots in the last days.
  const pci = (run: string, ids: number[]) =>
    ids.map((scanId) => ({
      qexport_run: run,
      scanId,
      title: `scan ${scanId}`,
      status: 'Finished',
      compliance: 'PASSED',
    }));
  await put('pci-scans/dt=2026-11-22/run=p1/part-00000.ndjson.gz', part(pci('p1', [1, 2])));
  await put(
    'manifests/module=pci-scans/dt=2026-11-22/p1.json',
    manifest('p1', 'snapshot', '2026-11-22T02:00:00Z'),
  );
  await put('pci-scans/dt=2026-11-23/run=p2/part-00000.ndjson.gz', part(pci('p2', [3, 4, 5])));
  await put(
    'manifests/module=pci-scans/dt=2026-11-23/p2.json',
    manifest('p2', 'snapshot', '2026-11-23T02:00:00Z'),
  );
  // Older dates nobody asks for: unreadable, so reading them fails the query.
  for (const m of ['edr-events', 'pci-scans']) {
    await put(`${m}/dt=2025-06-01/run=old/part-00000.ndjson.gz`, 'not gzip');
    await put(`manifests/module=${m}/dt=2025-06-01/old.json`, 'not json');
  }
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  for (const sql of duckdbSetup(dir, ['pci-scans', 'edr-events'])) await conn.run(sql);
});
afterAll(async () => {
  conn?.closeSync();
  instance?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

describe('docs/querying.md: the DuckDB queries that prune partitions', () => {
  it('without a dt filter the old, unreadable folders are read (the fixture bites)', async () => {
    await expect(rows('SELECT count(*) FROM edr_events_complete')).rejects.toThrow(/2025-06-01/);
    await expect(rows("SELECT count(*) FROM manifests WHERE module = 'pci-scans'")).rejects.toThrow(
      /2025-06-01/,
    );
  });

  it('each DuckDB block runs as written, reads only its dates, and returns the complete runs of them', async () => {
    const text = await readFile(join(ROOT, 'docs', 'querying.md'), 'utf8');
    // The section's own DuckDB blocks (other sections have DuckDB examples of their own, run by cli-query.test.ts).
    const section = /\n## Prune partitions[\s\S]*?(?=\n## )/.exec(text)?.[0] ?? '';
    const blocks = [...section.matchAll(/```sql\n(-- DuckDB[\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks).toHaveLength(2);
    // One week of EDR: the complete window of 2026-11-20 only (not the unfinished run, not the later window).
    expect(await rows(blocks[0]!)).toEqual([
      { type: 'FILE', events: '1' },
      { type: 'PROCESS', events: '2' },
    ]);
    // The latest complete PCI snapshot of the recent dates.
    expect((await rows(blocks[1]!)).map((r) => r.scanId)).toEqual(['3', '4', '5']);
  });
});
