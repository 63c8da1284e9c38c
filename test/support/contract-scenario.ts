/**
 * The export history the analytics contract tests read, produced by the real engine against the simulator
 * into a directory store with the S3 key layout: several complete runs per module, interrupted runs (parts, no
 * manifest) later on the same day as a complete one, a run interrupted and then resumed to completion, and a run
 * read again from its start in fewer parts than its first pass wrote (its stale parts must be gone; re-running a
 * completed run id is refused, so this is how one run id comes to be written twice). Mobile runs in
 * incremental mode: snapshots with increments between them (one interrupted and resumed, one interrupted for good),
 * assets changing between runs.
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig, ModuleName } from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import type { Manifest } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createDirStore } from '../../shared/sink';
import { startSimulator } from '../sim';
import { mobileAssetId } from '../sim/data';
import { kbQid, vmdrHostId } from '../sim/vmdr';
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
  /** Part objects on disk. */
  parts: number;
  manifest?: Manifest;
}

export interface Scenario {
  /** The export root (`<out>/<prefix>`): module directories and manifests/ live here. */
  root: string;
  /** Each run after each step, in order; a later entry for the same (module, dt, runId) replaces an earlier one. */
  writes: WrittenRun[];
  /**
   * Every Mobile asset as a full listing showed it after the last complete increment (before the changes only the
   * interrupted run saw): what the current-state view must rebuild from the snapshot and the increments.
   */
  mobileTruth: ExportRecord[];
  /** Every VMDR host and every KB entry as full listings showed them after the last complete increments. */
  vmdrTruth: ExportRecord[];
  kbTruth: ExportRecord[];
}

export const SIM_COUNTS = { pci: 60, certview: 80, edr: 900, mobile: 45, vmdr: 50, kb: 70 };
export const EDR_START = '2026-03-01T00:00:00.000Z';
/** Mobile asset ID of simulator index i. */
const mobileId = (i: number) => String(mobileAssetId(i));
/** Mobile assets changed between runs (indexes), and when. */
export const MOBILE_CHANGES: { at: string; indexes: number[] }[] = [
  // Before the second snapshot: only in the increment before it (which the current state must not use).
  { at: '2026-02-28T05:00:00.000Z', indexes: [0, 1, 2, 3] },
  // Between the second snapshot and the interrupted-then-resumed increment.
  { at: '2026-03-01T05:00:00.000Z', indexes: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28] },
  // Before the next increment: some assets again (another detection), some new.
  { at: '2026-03-01T11:00:00.000Z', indexes: [4, 6, 30, 31, 44] },
  // Only in the increment that never completes.
  { at: '2026-03-02T01:00:00.000Z', indexes: [5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27] },
];

/** VMDR hosts whose scan results were processed between runs (indexes), and when. */
export const VMDR_CHANGES: { at: string; indexes: number[] }[] = [
  { at: '2026-03-01T05:00:00.000Z', indexes: [0, 1, 2, 3, 4, 5, 20, 21] },
  { at: '2026-03-01T11:00:00.000Z', indexes: [2, 3, 30, 31, 49] },
  // Only in the increment that never completes.
  { at: '2026-03-02T01:00:00.000Z', indexes: [8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 22, 23, 24, 25] },
];
/** KnowledgeBase entries Qualys changed between runs (indexes), and when. */
export const KB_CHANGES: { at: string; indexes: number[] }[] = [
  { at: '2026-03-01T05:00:00.000Z', indexes: [0, 5, 6, 60, 69] },
];

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
    parts: (await readdir(join(root, dir))).filter((f) => f.startsWith('part-')).length,
    manifest,
  };
}

export async function engineScenario(): Promise<Scenario> {
  // EDR events in the recorded body form with a separate time-series id (F_<agentId>_<n> beside timeSeriesId).
  const sim = await startSimulator({
    seed: 7,
    counts: SIM_COUNTS,
    edr: { start: EDR_START, stepMs: 1000 },
    dialect: { edrIdForm: 'agent-number' },
  });
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
    // Mobile: incremental, 30-minute overlap, a snapshot again once the last one is 24 hours old.
    const mobileConfig: AppConfig = {
      ...config,
      modules: {
        ...config.modules,
        mobile: { ...config.modules.mobile, mode: 'incremental', overlapMinutes: 30, snapshotEveryHours: 24 },
      },
    };
    // VMDR: incremental (the default), a snapshot again once the last one is 24 hours old; the KB likewise.
    const vmdrConfig: AppConfig = {
      ...config,
      modules: {
        ...config.modules,
        // Every optional part of a record, so the schemas' every field is seen (schema-coverage.test.ts).
        vmdr: {
          ...config.modules.vmdr,
          overlapMinutes: 30,
          snapshotEveryHours: 24,
          flags: { ...config.modules.vmdr.flags, show_qds_factors: '1' },
        },
        kb: {
          ...config.modules.kb,
          snapshotEveryHours: 24,
          extra: { ...config.modules.kb.extra, show_qid_change_log: '1' },
        },
      },
    };
    const configFor = (module: ModuleName) =>
      module === 'mobile-assets'
        ? mobileConfig
        : module === 'vmdr-detections' || module === 'knowledgebase'
          ? vmdrConfig
          : config;
    const vmdrId = (i: number) => String(vmdrHostId(i));
    const change = (i: number) =>
      sim.mobileUpdated(MOBILE_CHANGES[i]!.indexes.map(mobileId), MOBILE_CHANGES[i]!.at);
    const complete = async (
      module: ModuleName,
      now: string,
      opts: { runId?: string; partMax?: number } = {},
    ) => {
      const base = configFor(module);
      const cfg = opts.partMax ? { ...base, output: { ...base.output, partMaxRecords: opts.partMax } } : base;
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
        config: configFor(module),
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

    // CertView: a snapshot, then a named run; naming it again is refused (its data stays as it is).
    await complete('certview-certificates', '2026-03-01T02:00:00.000Z');
    await complete('certview-certificates', '2026-03-02T02:00:00.000Z', { runId: 'nightly-certview' });
    const refused = await complete('certview-certificates', '2026-03-02T03:00:00.000Z', {
      runId: 'nightly-certview',
    }).catch((err: Error) => err);
    if (!(refused instanceof Error) || !/already completed/.test(refused.message))
      throw new Error(`re-running a completed run id was not refused: ${String(refused)}`);

    // EDR: three consecutive windows (10-minute overlap, deduplicated), then a fourth interrupted (its first 60
    // pages are the overlap, all already written, so it stops a few pages into new events). The first window,
    // named, could not be proven complete on its first pass (its /count disagreed): read again from its start,
    // in bigger parts.
    sim.setDialect({ edrCount: 'disagree' });
    const first = await runExport({
      module: getModule('edr-events'),
      config: { ...config, output: { ...config.output, partMaxRecords: 10 } },
      client,
      store,
      invocation: { runId: 'nightly-edr' },
      deadline: () => Date.now() + 3600_000,
      now: at('2026-03-01T00:05:00.000Z'),
    });
    sim.setDialect({ edrCount: 'present' });
    if (first.status !== 'continue') throw new Error(`EDR first pass: ${JSON.stringify(first)}`);
    await record('edr-events', 'nightly-edr');
    await complete('edr-events', '2026-03-01T00:05:00.000Z', { runId: 'nightly-edr' });
    await complete('edr-events', '2026-03-01T00:10:00.000Z');
    await complete('edr-events', '2026-03-01T00:13:20.000Z');
    await interrupted('edr-events', '2026-03-02T00:00:00.000Z', 65);

    // Mobile (incremental): a snapshot and an increment; a day later a snapshot again; an increment interrupted
    // and resumed to completion; another increment; a later increment interrupted for good.
    await complete('mobile-assets', '2026-02-28T03:00:00.000Z');
    change(0);
    await complete('mobile-assets', '2026-02-28T09:00:00.000Z');
    await complete('mobile-assets', '2026-03-01T03:00:00.000Z');
    change(1);
    const resumed = await interrupted('mobile-assets', '2026-03-01T09:00:00.000Z', 1);
    const { result } = await runUntilSettled('mobile-assets', mobileConfig, client, store, {
      now: at('2026-03-01T09:05:00.000Z'),
    });
    if (result.status !== 'done' || result.runId !== resumed)
      throw new Error(`resume: ${JSON.stringify(result)}`);
    await record('mobile-assets', resumed);
    change(2);
    await complete('mobile-assets', '2026-03-01T15:00:00.000Z');
    const mobileTruth = [...sim.expectedRecords('mobile-assets')];
    change(3);
    await interrupted('mobile-assets', '2026-03-02T01:30:00.000Z', 1);

    // VMDR (incremental): a snapshot, an increment, a snapshot a day later, an increment interrupted and resumed,
    // another increment, and one interrupted for good.
    const processed = (k: number) =>
      sim.vmdrProcessed(VMDR_CHANGES[k]!.indexes.map(vmdrId), VMDR_CHANGES[k]!.at);
    await complete('vmdr-detections', '2026-02-28T03:00:00.000Z');
    await complete('vmdr-detections', '2026-02-28T09:00:00.000Z');
    await complete('vmdr-detections', '2026-03-01T03:00:00.000Z');
    processed(0);
    const vmdrResumed = await interrupted('vmdr-detections', '2026-03-01T09:00:00.000Z', 1);
    const vmdrDone = await runUntilSettled('vmdr-detections', vmdrConfig, client, store, {
      now: at('2026-03-01T09:05:00.000Z'),
    });
    if (vmdrDone.result.status !== 'done' || vmdrDone.result.runId !== vmdrResumed)
      throw new Error(`vmdr resume: ${JSON.stringify(vmdrDone.result)}`);
    await record('vmdr-detections', vmdrResumed);
    processed(1);
    await complete('vmdr-detections', '2026-03-01T15:00:00.000Z');
    const { vmdr, kb } = vmdrConfig.modules;
    const vmdrTruth = [
      ...sim.expectedRecords('vmdr-detections', { filters: { status: vmdr.status, ...vmdr.flags } }),
    ];
    processed(2);
    await interrupted('vmdr-detections', '2026-03-02T01:30:00.000Z', 1);

    // KnowledgeBase: a full read, then an increment of what Qualys changed since.
    await complete('knowledgebase', '2026-03-01T01:00:00.000Z');
    sim.kbModified(
      KB_CHANGES[0]!.indexes.map((j) => String(kbQid(j))),
      KB_CHANGES[0]!.at,
    );
    await complete('knowledgebase', '2026-03-01T09:00:00.000Z');
    const kbTruth = [...sim.expectedRecords('knowledgebase', { filters: { ...kb.flags, ...kb.extra } })];

    return { root, writes, mobileTruth, vmdrTruth, kbTruth };
  } finally {
    await sim.close();
  }
}
