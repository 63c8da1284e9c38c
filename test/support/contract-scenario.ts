/**
 * The export history the analytics contract tests read, produced by the real engine against the simulator
 * into a directory store with the S3 key layout: several complete runs per module, interrupted runs (parts, no
 * manifest) later on the same day as a complete one, a run interrupted and then resumed to completion, and a
 * re-run of a run id that had more parts (its stale parts and old manifests must be gone).
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModuleName } from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import type { Manifest } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createDirStore } from '../../shared/sink';
import { startSimulator } from '../sim';
import { storedRecords } from './export-files';
import { pageBudget, runUntilSettled, simConfig, testClient } from './harness';

export type ExportRecord = Record<string, unknown>;

/** One run as it stood on disk after a step of the scenario. */
export interface WrittenRun {
  module: ModuleName;
  runId: string;
  dt: string;
  complete: boolean;
  /** The records as stored (qexport_run first). */
  records: ExportRecord[];
  manifest?: Manifest;
}

export interface Scenario {
  /** The export root (`<out>/<prefix>`): module directories and manifests/ live here. */
  root: string;
  /** Each run after each step, in order; a later entry for the same (module, dt, runId) replaces an earlier one. */
  writes: WrittenRun[];
}

export const SIM_COUNTS = { pci: 60, certview: 80, edr: 900, mobile: 45 };
export const EDR_START = '2026-03-01T00:00:00.000Z';

/** The final state of each run. */
export function finalRuns(s: Scenario): WrittenRun[] {
  const byKey = new Map<string, WrittenRun>();
  for (const w of s.writes) byKey.set(`${w.module}|${w.dt}|${w.runId}`, w);
  return [...byKey.values()];
}

/** Reads one run directory back: its manifest if it has one, and the records of the parts present. */
async function readRun(root: string, module: ModuleName, dt: string, runId: string): Promise<WrittenRun> {
  const dir = `${module}/dt=${dt}/run=${runId}`;
  let manifest: Manifest | undefined;
  try {
    manifest = JSON.parse(await readFile(join(root, dir, '_manifest.json'), 'utf8')) as Manifest;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  return {
    module,
    runId,
    dt,
    complete: Boolean(manifest),
    records: await storedRecords(root, dir),
    manifest,
  };
}

export async function engineScenario(): Promise<Scenario> {
  const sim = await startSimulator({ seed: 7, counts: SIM_COUNTS, edr: { start: EDR_START, stepMs: 1000 } });
  try {
    const out = await mkdtemp(join(tmpdir(), 'qexport-contract-'));
    const store = createDirStore(out);
    const config = simConfig(sim, { QEXPORT_PART_MAX_RECORDS: '25' });
    const root = join(out, config.output.prefix);
    const client = testClient(sim, config);
    const writes: WrittenRun[] = [];
    const at = (iso: string) => () => new Date(iso);
    const record = async (module: ModuleName, runId: string | undefined) => {
      if (!runId) throw new Error(`${module}: the engine returned no run id`);
      for (const dtDir of await readdir(join(root, module))) {
        const runs = await readdir(join(root, module, dtDir));
        if (runs.includes(`run=${runId}`)) writes.push(await readRun(root, module, dtDir.slice(3), runId));
      }
    };
    const complete = async (
      module: ModuleName,
      now: string,
      opts: { runId?: string; partMax?: number } = {},
    ) => {
      const cfg = opts.partMax
        ? { ...config, output: { ...config.output, partMaxRecords: opts.partMax } }
        : config;
      const { result } = await runUntilSettled(module, cfg, client, store, {
        now: at(now),
        runId: opts.runId,
      });
      if (result.status !== 'done') throw new Error(`${module} run at ${now}: ${JSON.stringify(result)}`);
      await record(module, result.runId);
    };
    /** One invocation that runs out of time after `pages` pages: parts stored, no manifest. */
    const interrupted = async (module: ModuleName, now: string, pages: number) => {
      const result = await runExport({
        module: getModule(module),
        config,
        client,
        store,
        invocation: {},
        deadline: pageBudget(pages),
        safetyMs: 0,
        now: at(now),
      });
      if (result.status !== 'continue' || !result.parts) {
        throw new Error(
          `${module} run at ${now} was meant to stop with parts stored: ${JSON.stringify(result)}`,
        );
      }
      await record(module, result.runId);
      return result.runId!;
    };

    // PCI: yesterday's snapshot, today's, then a later run today that was interrupted.
    await complete('pci-scans', '2026-03-01T01:00:00.000Z');
    await complete('pci-scans', '2026-03-02T01:00:00.000Z');
    await interrupted('pci-scans', '2026-03-02T07:00:00.000Z', 3);

    // CertView: a snapshot, then a named run id written with 8 parts and re-run with 4.
    await complete('certview-certificates', '2026-03-01T02:00:00.000Z');
    await complete('certview-certificates', '2026-03-02T02:00:00.000Z', {
      runId: 'nightly-certview',
      partMax: 10,
    });
    await complete('certview-certificates', '2026-03-02T02:00:00.000Z', { runId: 'nightly-certview' });

    // EDR: three consecutive windows (10-minute overlap, deduplicated), then a fourth interrupted (its first 60
    // pages are the overlap, all already written, so it stops a few pages into new events).
    await complete('edr-events', '2026-03-01T00:05:00.000Z');
    await complete('edr-events', '2026-03-01T00:10:00.000Z');
    await complete('edr-events', '2026-03-01T00:13:20.000Z');
    await interrupted('edr-events', '2026-03-02T00:00:00.000Z', 65);

    // Mobile: a snapshot; a run interrupted and then resumed to completion; a later run interrupted.
    await complete('mobile-assets', '2026-03-01T03:00:00.000Z');
    const resumed = await interrupted('mobile-assets', '2026-03-02T03:00:00.000Z', 2);
    const { result } = await runUntilSettled('mobile-assets', config, client, store, {
      now: at('2026-03-02T03:05:00.000Z'),
    });
    if (result.status !== 'done' || result.runId !== resumed)
      throw new Error(`resume: ${JSON.stringify(result)}`);
    await record('mobile-assets', resumed);
    await interrupted('mobile-assets', '2026-03-02T05:00:00.000Z', 2);

    return { root, writes };
  } finally {
    await sim.close();
  }
}
