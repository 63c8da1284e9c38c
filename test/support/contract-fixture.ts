/**
 * Writes exports in exactly the layout of the output contract (BRIEF "S3 layout"), for the analytics tests:
 * parts `<root>/<module>/dt=<dt>/run=<runId>/part-NNNNN.ndjson.gz` whose every line starts with
 * `"qexport_run":"<runId>"`, the run manifest `_manifest.json` (single line) written after the parts, the
 * catalogue copy `<root>/manifests/module=<module>/dt=<dt>/<runId>.json`, and stale-part removal when a run
 * id is written again with fewer parts. The records themselves come from the real pagers reading the
 * simulator, so their shapes are the exporter's (XML → JSON for Mobile included).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AppConfig, ModuleName } from '../../shared/config';
import type { Manifest } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import type { QualysClient } from '../../shared/qualys/types';
import type { PartInfo } from '../../shared/sink/types';

export type ExportRecord = Record<string, unknown>;

export interface FixtureRun {
  module: ModuleName;
  runId: string;
  dt: string;
  startedAt: string;
  endedAt: string;
  /** API records (without qexport_run). */
  records: ExportRecord[];
  partRecords: number;
  /** false = interrupted: parts stored, no manifest. */
  complete: boolean;
  range?: Record<string, unknown>;
}

/** What a scenario wrote, for the assertions. */
export interface WrittenRun {
  module: ModuleName;
  runId: string;
  dt: string;
  complete: boolean;
  endedAt: string;
  /** The records as stored (qexport_run first). */
  records: ExportRecord[];
  manifest?: Manifest;
}

/** The line the writer produces: the run id first, then the API's fields unchanged. */
export const withRun = (runId: string, r: ExportRecord): ExportRecord => ({ qexport_run: runId, ...r });

export async function writeFixtureRun(root: string, run: FixtureRun): Promise<WrittenRun> {
  const dir = `${run.module}/dt=${run.dt}/run=${run.runId}`;
  const stored = run.records.map((r) => withRun(run.runId, r));
  const parts: PartInfo[] = [];
  for (let i = 0; i * run.partRecords < stored.length; i++) {
    const slice = stored.slice(i * run.partRecords, (i + 1) * run.partRecords);
    const text = slice.map((r) => `${JSON.stringify(r)}\n`).join('');
    const body = gzipSync(text);
    const key = `${dir}/part-${String(i).padStart(5, '0')}.ndjson.gz`;
    await mkdir(dirname(join(root, key)), { recursive: true });
    await writeFile(join(root, key), body);
    parts.push({
      key,
      records: slice.length,
      bytes: body.length,
      rawBytes: Buffer.byteLength(text),
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  }
  if (!run.complete) {
    return {
      module: run.module,
      runId: run.runId,
      dt: run.dt,
      complete: false,
      endedAt: run.endedAt,
      records: stored,
    };
  }
  // Before publishing: delete parts of an earlier attempt of this run id that the manifest does not list.
  const listed = new Set(parts.map((p) => p.key.slice(dir.length + 1)));
  for (const name of await readdir(join(root, dir))) {
    if (name.startsWith('part-') && !listed.has(name)) await rm(join(root, dir, name));
  }
  const def = getModule(run.module);
  const manifest: Manifest & { schemaDrift: { records: number; fields: string[] } } = {
    module: run.module,
    runId: run.runId,
    dt: run.dt,
    range: run.range ?? {},
    parts,
    totals: {
      records: stored.length,
      parts: parts.length,
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
      rawBytes: parts.reduce((n, p) => n + p.rawBytes, 0),
    },
    kind: def.kind({}),
    completeness: [{ name: 'fixture', outcome: 'passed', detail: 'written by the contract fixture' }],
    schemaDrift: { records: 0, fields: [] },
    apiCalls: parts.length,
    retries: 0,
    invocations: 1,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    formatVersion: 2,
  };
  const line = `${JSON.stringify(manifest)}\n`;
  await writeFile(join(root, dir, '_manifest.json'), line);
  const catalogue = join(root, 'manifests', `module=${run.module}`, `dt=${run.dt}`, `${run.runId}.json`);
  await mkdir(dirname(catalogue), { recursive: true });
  await writeFile(catalogue, line);
  return {
    module: run.module,
    runId: run.runId,
    dt: run.dt,
    complete: true,
    endedAt: run.endedAt,
    records: stored,
    manifest,
  };
}

/** Every record one full listing yields, read through the module's real pager (no engine, no sink). */
export async function pagerRecords(
  module: ModuleName,
  config: AppConfig,
  client: QualysClient,
  now: Date,
): Promise<ExportRecord[]> {
  const def = getModule(module);
  const cursor = def.start({ config, now, committed: undefined });
  const out: ExportRecord[] = [];
  for await (const page of def.pages(client, cursor, config)) out.push(...page.records);
  return out;
}
