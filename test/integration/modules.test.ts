import { afterEach, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import {
  ALL_MODULES,
  compareIds,
  expectedOptions,
  idOf,
  pageBudget,
  randomPageBudgets,
  readRunFromDir,
  runUntilSettled,
  simRuns,
  testClient,
} from '../support/harness';
import { onlyCounts } from '../sim';
import { listedCount } from '../sim/counts';

const NOW = () => new Date('2026-01-02T00:00:00.000Z');
const PAGE = 10;
const runs = simRuns();
afterEach(() => runs.cleanup());

function setup(module: ModuleName, count: number, seed = 3) {
  return runs.start({ seed, counts: onlyCounts(module, count) });
}

const expectedOpts = expectedOptions;

describe.each(ALL_MODULES)('%s', (module) => {
  it.each([0, 1, PAGE - 1, PAGE, PAGE + 1, 5 * PAGE + 3])(
    'exports exactly what the API holds: %i records',
    async (count) => {
      const { sim, config, dir, store } = await setup(module, count);
      const client = testClient(sim, config);
      const { result } = await runUntilSettled(module, config, client, store, { now: NOW });
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      const run = await readRunFromDir(dir, result.manifestKey!);
      const expected = [...sim.expectedRecords(module, expectedOpts(module, run.manifest.range))];
      expect(expected).toHaveLength(listedCount(module, count));
      expect(run.records).toEqual(expected);
      expect(run.manifest.totals.records).toBe(listedCount(module, count));
      expect(run.manifest.module).toBe(module);
      // Parts roll over at 25 records, always at a page boundary.
      for (const p of run.manifest.parts) expect(p.records).toBeLessThanOrEqual(25 + PAGE);
      if (count === 0) expect(run.manifest.parts).toHaveLength(0);
    },
  );

  it('resumes exactly after interruptions at random points (time budget)', async () => {
    const { sim, config, dir, store } = await setup(module, 7 * PAGE + 4, 11);
    const client = testClient(sim, config);
    const { result, invocations } = await runUntilSettled(module, config, client, store, {
      now: NOW,
      deadlineFor: randomPageBudgets(42, 4),
    });
    expect(result.status).toBe('done');
    expect(invocations).toBeGreaterThan(2);
    const run = await readRunFromDir(dir, result.manifestKey!);
    const ids = run.records.map((r) => idOf(module, r));
    expect(compareIds(sim.expectedIds(module, expectedOpts(module, run.manifest.range)), ids)).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
    expect(run.manifest.invocations).toBe(invocations);
  });
});

describe('edr-events windows', () => {
  it('consecutive runs cover the timeline with no gap and no duplicate across the overlap', async () => {
    const { sim, config, dir, store } = await runs.start(
      {
        counts: { edr: 3000 },
        edr: { start: '2026-01-01T00:00:00.000Z', stepMs: 1000 },
      },
      { QUALYS_EDR_OVERLAP_MINUTES: '5' },
    );
    const client = testClient(sim, config);
    const all: string[] = [];
    // Three runs 20 minutes apart; the first looks back 24 h.
    for (const at of ['2026-01-01T00:20:00.000Z', '2026-01-01T00:40:00.000Z', '2026-01-01T01:00:00.000Z']) {
      const { result } = await runUntilSettled('edr-events', config, client, store, {
        now: () => new Date(at),
      });
      expect(result.status).toBe('done');
      const run = await readRunFromDir(dir, result.manifestKey!);
      all.push(...run.records.map((r) => String(r.id)));
    }
    const expected = sim.expectedIds('edr-events', {
      from: '2025-12-31T00:20:00.000Z',
      to: '2026-01-01T01:00:00.000Z',
    });
    expect(compareIds(expected, all)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  });

  it('many events sharing one dateTime survive a resume at that instant', async () => {
    const { sim, config, dir, store } = await runs.start({
      counts: { edr: 95 },
      edr: { start: '2026-01-01T00:00:00.000Z', stepMs: 1000, perTick: 15 },
    });
    const { result } = await runUntilSettled('edr-events', config, testClient(sim, config), store, {
      now: NOW,
      deadlineFor: () => pageBudget(1),
    });
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(
      compareIds(
        sim.expectedIds('edr-events'),
        run.records.map((r) => String(r.id)),
      ),
    ).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });

  it('applies the configured QQL filter on top of the window', async () => {
    const { sim, config, dir, store } = await runs.start(
      { counts: { edr: 200 } },
      { QUALYS_EDR_FILTER: 'type:MUTEX' },
    );
    const { result } = await runUntilSettled('edr-events', config, testClient(sim, config), store, {
      now: NOW,
    });
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(run.records.length).toBeGreaterThan(0);
    expect(run.records.every((r) => r.type === 'MUTEX')).toBe(true);
    expect(run.records.map((r) => r.id)).toEqual([
      ...sim.expectedIds('edr-events', { filter: 'type:MUTEX' }),
    ]);
  });
});

describe('certview-certificates versions', () => {
  it('v1 stops with a clear error past its 10,000-result cap instead of losing data', async () => {
    const { sim, config, store } = await runs.start(
      { counts: { certview: 10_050 } },
      {
        QUALYS_CERTVIEW_API_VERSION: 'v1',
        QUALYS_CERTVIEW_PAGE_SIZE: '200',
        QEXPORT_PART_MAX_RECORDS: '100000',
      },
    );
    const { result } = await runUntilSettled('certview-certificates', config, testClient(sim, config), store);
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/v1 returns at most 10000.*QUALYS_CERTVIEW_API_VERSION=v2/);
  });
});
