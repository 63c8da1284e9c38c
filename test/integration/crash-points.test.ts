import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES, type AppConfig, type Env, type ModuleName } from '../../shared/config';
import { LEASE_TTL_MS } from '../../shared/export/engine';
import { forgetKnownJournals } from '../../shared/export/journal';
import { catalogManifestKeyFor, stateKeyFor, withPrefix } from '../../shared/export/layout';
import type { Manifest, RunResult, StateFile } from '../../shared/export/types';
import { createDirStore, createS3Store } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { startSimulator, type Simulator } from '../sim';
import { crashWorld, WRITE_MODES, type CrashMode, type CrashPlan } from '../support/crash-points';
import {
  compareIds,
  expectedFor,
  recordKey,
  readParts,
  runUntilSettled,
  simConfig,
  tempStore,
  testClient,
} from '../support/harness';
import { startS3Server, type S3Server } from '../support/s3-server';

/**
 * Every failure point of a run is resumable (issue 19 item 4). For each module and each store (directory, S3
 * stand-in), a run is first counted (its writes and API requests), then run again once per point with that point
 * going wrong (see test/support/crash-points.ts: a write fails, lands unacknowledged, or the process dies at it; or
 * the process dies at a request). After each, a plain rerun (same settings, a fresh client and fresh store objects,
 * later than any lease the dead run left) must complete, and what is published must hold every record the
 * simulator has, once, with manifests that match their parts and nothing else among the data.
 *
 * Modules join by declaration: a module added to MODULES does not typecheck here until it says how to run it small.
 */
const SETUP: Record<ModuleName, { env?: Env }> = {
  'pci-scans': {},
  'certview-certificates': {},
  'edr-events': {},
  'mobile-assets': {},
  'vmdr-detections': { env: { QUALYS_VMDR_TRUNCATION_LIMIT: '10' } },
  // Sub-pages of about 1 KB of XML put checkpoints inside each response too.
  knowledgebase: { env: { QEXPORT_XML_SUBPAGE_KB: '1' } },
};
const RECORDS = 23;
const NOW = Date.parse('2026-05-06T07:00:00.000Z');
/** Small pages and parts: every run crosses several pages, parts and checkpoints. */
const ENV: Env = {
  QUALYS_PCI_PAGE_SIZE: '10',
  QUALYS_CERTVIEW_PAGE_SIZE: '10',
  QUALYS_EDR_PAGE_SIZE: '10',
  QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
  QEXPORT_PART_MAX_RECORDS: '10',
  QUALYS_HTTP_MAX_RETRIES: '1',
};

let sim: Simulator;
let s3: S3Server;
const dirs: string[] = [];
const tally: { module: string; store: string; mode: CrashMode; points: number }[] = [];

beforeAll(async () => {
  sim = await startSimulator({
    seed: 19,
    counts: { pci: RECORDS, certview: RECORDS, edr: RECORDS, mobile: RECORDS, vmdr: RECORDS, kb: RECORDS },
    // The KnowledgeBase truncates where the server decides: here after 10 VULNs, so a run crosses responses.
    dialect: { kbTruncation: 10 },
    edr: { start: new Date(NOW - 3 * 3600_000).toISOString(), stepMs: 5 * 60_000 },
  });
  s3 = await startS3Server();
});
afterAll(async () => {
  await sim?.close();
  await s3?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  const total = tally.reduce((n, t) => n + t.points, 0);
  const modules = new Set(tally.map((t) => t.module)).size;
  console.log(
    `crash-point matrix: ${total} points over ${modules} modules × ${new Set(tally.map((t) => t.store)).size} stores\n` +
      tally.map((t) => `  ${t.module} ${t.store} ${t.mode}: ${t.points}`).join('\n'),
  );
});

type StoreKind = 'dir' | 's3';
let caseN = 0;

/** A fresh place to export to; `open()` gives a new store object over it each time (a new process's). */
async function freshPlace(kind: StoreKind): Promise<{ open: () => ObjectStore; env: Env }> {
  if (kind === 'dir') {
    const { dir } = await tempStore();
    dirs.push(dir);
    return { open: () => createDirStore(dir), env: { QEXPORT_PREFIX: 'qualys' } };
  }
  const prefix = `crash${++caseN}`;
  return { open: () => createS3Store({ s3: s3.client, bucket: s3.bucket }), env: { QEXPORT_PREFIX: prefix } };
}

const at = (ms: number) => () => new Date(NOW + ms);

/** One run as a process makes it: its own client and store objects; undefined if the process died. */
async function runOnce(
  module: ModuleName,
  config: AppConfig,
  store: ObjectStore,
  plan: CrashPlan | undefined,
  clock: () => Date,
) {
  // A new process knows nothing of the journals the previous one wrote.
  forgetKnownJournals();
  const world = crashWorld(store, globalThis.fetch, plan);
  const client = testClient(sim, config, { fetch: world.fetch, timeoutMs: 2000 });
  const run = runUntilSettled(module, config, client, world.store, { now: clock }).then(
    (r) => ({ result: r.result }),
    (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
  );
  const outcome = await Promise.race([run, world.died.then(() => ({ died: true as const }))]);
  return { world, outcome };
}

/** What is wrong with what the module published, or undefined when nothing is. */
async function problems(
  module: ModuleName,
  config: AppConfig,
  store: ObjectStore,
  result: RunResult,
): Promise<string[]> {
  const out: string[] = [];
  const prefix = withPrefix(config, `${module}/`);
  const keys = await store.list(prefix);
  const manifestKeys = keys.filter((k) => k.endsWith('/_manifest.json'));
  if (result.manifestKey && !manifestKeys.includes(result.manifestKey))
    out.push(`the rerun's manifest ${result.manifestKey} is not stored`);
  const listed = new Set<string>(manifestKeys);
  const incremental: { expected: Set<string>; got: string[] } = { expected: new Set(), got: [] };
  for (const key of manifestKeys) {
    const manifest = (await store.getJson(key)) as Manifest;
    for (const p of manifest.parts) listed.add(p.key);
    let records: Record<string, unknown>[];
    try {
      records = await readParts(manifest, async (k) => readObject(store, config, k));
    } catch (err) {
      out.push(`${key}: ${(err as Error).message}`);
      continue;
    }
    const catalogue = await store.getJson(catalogManifestKeyFor(config, module, manifest.dt, manifest.runId));
    if (JSON.stringify(catalogue) !== JSON.stringify(manifest))
      out.push(`${key}: its catalogue copy differs or is missing`);
    const ids = records.map((r) => recordKey(module, r));
    const expected = expectedFor(sim, module, manifest.range);
    if (manifest.kind === 'snapshot') {
      const c = compareIds(expected, ids);
      if (c.lost || c.duplicated || c.extra) out.push(`${key}: ${JSON.stringify(c)}`);
    } else {
      for (const id of expected) incremental.expected.add(id);
      incremental.got.push(...ids);
    }
  }
  if (incremental.got.length || incremental.expected.size) {
    const c = compareIds(incremental.expected, incremental.got);
    if (c.lost || c.duplicated || c.extra) out.push(`incremental runs together: ${JSON.stringify(c)}`);
  }
  const stray = keys.filter((k) => !listed.has(k));
  if (stray.length) out.push(`objects no manifest lists: ${stray.join(', ')}`);
  const state = (await store.getJson(stateKeyFor(config, module))) as StateFile | undefined;
  if (state?.inProgress) out.push(`state still has run ${state.inProgress.runId} in progress`);
  if (state?.lease) out.push(`state still has a lease (${state.lease.owner})`);
  if (state?.committed?.runId !== result.runId)
    out.push(`state committed ${state?.committed?.runId}, the rerun was ${result.runId}`);
  const journals = await store.list(withPrefix(config, `_state/${module}/`));
  if (journals.length) out.push(`journal objects left: ${journals.join(', ')}`);
  return out;
}

/** Raw bytes of a stored object (parts are gzip, not JSON). */
async function readObject(store: ObjectStore, config: AppConfig, key: string): Promise<Buffer> {
  const where = store.describe(key);
  if (where.startsWith('s3://')) return s3.getObject(key);
  const { readFile } = await import('node:fs/promises');
  return readFile(where);
}

/** Runs `module` with `plan`, then a plain rerun; the problems found (empty: the point is resumable). */
async function crashCase(module: ModuleName, kind: StoreKind, plan: CrashPlan): Promise<string[]> {
  const place = await freshPlace(kind);
  const config = simConfig(sim, { ...ENV, ...SETUP[module].env, ...place.env });
  const first = await runOnce(module, config, place.open(), plan, at(0));
  const where = first.world.hit() ?? 'no point reached';
  // A new process, later than any lease the first one can have left.
  const rerun = await runOnce(
    module,
    config,
    place.open(),
    undefined,
    plan.mode.endsWith('die') ? at(LEASE_TTL_MS + 60_000) : at(1000),
  );
  const label = `${module} ${kind} ${plan.mode} ${plan.at} (${where})`;
  if (!('result' in rerun.outcome))
    return [`${label}: the rerun threw: ${'error' in rerun.outcome ? rerun.outcome.error : 'died'}`];
  const { result } = rerun.outcome;
  if (result.status !== 'done')
    return [`${label}: the rerun ended ${result.status}: ${result.error?.message ?? result.reason}`];
  return (await problems(module, config, place.open(), result)).map((p) => `${label}: ${p}`);
}

describe('crash-point matrix: every failure point of a run is resumable', () => {
  const cells = MODULES.flatMap((module) => (['dir', 's3'] as const).map((kind) => ({ module, kind })));
  // Dozens of runs per cell: allowed more than the default minute on a shared machine.
  it.each(cells)('$module, $kind store', { timeout: 600_000 }, async ({ module, kind }) => {
    // The points of an undisturbed run.
    const place = await freshPlace(kind);
    const config = simConfig(sim, { ...ENV, ...SETUP[module].env, ...place.env });
    const base = await runOnce(module, config, place.open(), undefined, at(0));
    expect('result' in base.outcome && base.outcome.result.status).toBe('done');
    const writes = base.world.writes.length;
    const requests = base.world.requests.length;
    expect(writes).toBeGreaterThan(5);
    expect(requests).toBeGreaterThan(2);
    const failures: string[] = [];
    for (const mode of WRITE_MODES) {
      for (let n = 1; n <= writes; n++) failures.push(...(await crashCase(module, kind, { mode, at: n })));
      tally.push({ module, store: kind, mode, points: writes });
    }
    for (let n = 1; n <= requests; n++)
      failures.push(...(await crashCase(module, kind, { mode: 'request-die', at: n })));
    tally.push({ module, store: kind, mode: 'request-die', points: requests });
    expect(failures).toEqual([]);
  });
});
