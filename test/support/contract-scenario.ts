/**
 * The export history the analytics contract tests read: several complete runs per module, an interrupted run
 * (parts, no manifest) later on the same day as a complete one, and re-runs of a run id (one after a complete
 * attempt with more parts, one after an interrupted attempt), so stale parts must have been removed.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModuleName } from '../../shared/config';
import { startSimulator } from '../sim';
import {
  pagerRecords,
  writeFixtureRun,
  type ExportRecord,
  type FixtureRun,
  type WrittenRun,
} from './contract-fixture';
import { simConfig, testClient } from './harness';

export interface Scenario {
  /** The export root (`<out>/<prefix>`): module directories and manifests/ live here. */
  root: string;
  /** Every write, in order; a later write of the same (module, dt, runId) replaces the earlier one. */
  writes: WrittenRun[];
  /** How the scenario was produced. */
  source: 'fixture-writer' | 'engine';
}

export const SIM_COUNTS = { pci: 60, certview: 80, edr: 900, mobile: 45 };
export const EDR_START = '2026-03-01T00:00:00.000Z';

/** The final state of each run (later writes of a run id replace earlier ones). */
export function finalRuns(s: Scenario): WrittenRun[] {
  const byKey = new Map<string, WrittenRun>();
  for (const w of s.writes) byKey.set(`${w.module}|${w.dt}|${w.runId}`, w);
  return [...byKey.values()];
}

export async function fixtureScenario(): Promise<Scenario> {
  const sim = await startSimulator({ seed: 7, counts: SIM_COUNTS, edr: { start: EDR_START, stepMs: 1000 } });
  try {
    const config = simConfig(sim);
    const client = testClient(sim, config);
    const now = new Date('2026-03-01T00:20:00.000Z');
    const data = {} as Record<ModuleName, ExportRecord[]>;
    for (const m of ['pci-scans', 'certview-certificates', 'edr-events', 'mobile-assets'] as const) {
      data[m] = await pagerRecords(m, config, client, now);
    }
    const root = join(await mkdtemp(join(tmpdir(), 'qexport-contract-')), 'qualys');
    const writes: WrittenRun[] = [];
    const w = async (run: Omit<FixtureRun, 'partRecords'> & { partRecords?: number }) =>
      writes.push(await writeFixtureRun(root, { partRecords: 25, ...run }));
    const t = (day: string, hm: string) => `2026-03-${day}T${hm}:00.000Z`;

    // PCI: an older snapshot, today's complete snapshot, then a later run today that was interrupted.
    const pci = data['pci-scans'];
    await w({
      module: 'pci-scans',
      runId: '20260301T010000Z-aaaaaa',
      dt: '2026-03-01',
      startedAt: t('01', '01:00'),
      endedAt: t('01', '01:05'),
      records: pci.slice(0, 40),
      complete: true,
    });
    await w({
      module: 'pci-scans',
      runId: '20260302T010000Z-bbbbbb',
      dt: '2026-03-02',
      startedAt: t('02', '01:00'),
      endedAt: t('02', '01:06'),
      records: pci,
      complete: true,
    });
    await w({
      module: 'pci-scans',
      runId: '20260302T070000Z-cccccc',
      dt: '2026-03-02',
      startedAt: t('02', '07:00'),
      endedAt: t('02', '07:01'),
      records: pci.slice(0, 20),
      complete: false,
      partRecords: 10,
    });

    // CertView: a complete run, then a run id written complete with 4 parts and re-run with 3 (stale part-00003).
    const cv = data['certview-certificates'];
    await w({
      module: 'certview-certificates',
      runId: '20260301T020000Z-dddddd',
      dt: '2026-03-01',
      startedAt: t('01', '02:00'),
      endedAt: t('01', '02:04'),
      records: cv,
      complete: true,
    });
    await w({
      module: 'certview-certificates',
      runId: '20260302T020000Z-eeeeee',
      dt: '2026-03-02',
      startedAt: t('02', '02:00'),
      endedAt: t('02', '02:03'),
      records: cv,
      complete: true,
    });
    await w({
      module: 'certview-certificates',
      runId: '20260302T020000Z-eeeeee',
      dt: '2026-03-02',
      startedAt: t('02', '02:00'),
      endedAt: t('02', '02:09'),
      records: cv.slice(0, 70),
      complete: true,
    });

    // EDR: three complete windows over two days, then an interrupted fourth.
    const edr = data['edr-events'];
    const win = (from: number, to: number) => ({
      from: new Date(Date.parse(EDR_START) + from * 1000).toISOString(),
      to: new Date(Date.parse(EDR_START) + to * 1000).toISOString(),
      filter: null,
      overlapMinutes: 10,
    });
    await w({
      module: 'edr-events',
      runId: '20260301T010000Z-ffffff',
      dt: '2026-03-01',
      startedAt: t('01', '01:00'),
      endedAt: t('01', '01:01'),
      records: edr.slice(0, 300),
      complete: true,
      range: win(0, 300),
    });
    await w({
      module: 'edr-events',
      runId: '20260301T020000Z-111111',
      dt: '2026-03-01',
      startedAt: t('01', '02:00'),
      endedAt: t('01', '02:01'),
      records: edr.slice(300, 600),
      complete: true,
      range: win(300, 600),
    });
    await w({
      module: 'edr-events',
      runId: '20260302T000000Z-222222',
      dt: '2026-03-02',
      startedAt: t('02', '00:00'),
      endedAt: t('02', '00:02'),
      records: edr.slice(600, 800),
      complete: true,
      range: win(600, 800),
    });
    await w({
      module: 'edr-events',
      runId: '20260302T010000Z-333333',
      dt: '2026-03-02',
      startedAt: t('02', '01:00'),
      endedAt: t('02', '01:00'),
      records: edr.slice(800, 850),
      complete: false,
      range: win(800, 900),
    });

    // Mobile: a complete run, then a run id interrupted after 4 parts and re-run to completion with 3.
    const mob = data['mobile-assets'];
    await w({
      module: 'mobile-assets',
      runId: '20260301T030000Z-444444',
      dt: '2026-03-01',
      startedAt: t('01', '03:00'),
      endedAt: t('01', '03:01'),
      records: mob.slice(0, 30),
      complete: true,
    });
    await w({
      module: 'mobile-assets',
      runId: '20260302T030000Z-555555',
      dt: '2026-03-02',
      startedAt: t('02', '03:00'),
      endedAt: t('02', '03:00'),
      records: mob.slice(0, 40),
      complete: false,
      partRecords: 10,
    });
    await w({
      module: 'mobile-assets',
      runId: '20260302T030000Z-555555',
      dt: '2026-03-02',
      startedAt: t('02', '03:00'),
      endedAt: t('02', '03:02'),
      records: mob,
      complete: true,
      partRecords: 20,
    });

    return { root, writes, source: 'fixture-writer' };
  } finally {
    await sim.close();
  }
}
