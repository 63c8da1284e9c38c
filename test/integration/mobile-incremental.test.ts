/**
 * VMDR Mobile incremental runs over real HTTP (the engine against the simulator): a snapshot, then increments that
 * list exactly the assets whose detections changed since the previous complete run started (minus the overlap),
 * interrupted increments that resume exactly, the snapshot-by-default configuration unchanged, the fixed
 * QUALYS_MOBILE_DETECTION_UPDATED_SINCE floor, and every reading of detection_updated_since the simulator speaks.
 *
 * "What changed" is what each test itself told the simulator (mobileUpdated), not the simulator's own filter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../shared/config';
import { showState } from '../../shared/export/admin';
import { runExport } from '../../shared/export/engine';
import type { Manifest } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { mobileStart, mobileTimeMs } from '../../shared/modules/mobile-assets';
import { MOBILE_BASE_ID, mobileAssetId } from '../sim/data';
import type { SimDialect, Simulator } from '../sim';
import {
  compareIds,
  pageBudget,
  randomPageBudgets,
  readRunFromDir,
  readStateFile,
  runUntilSettled,
  simConfig,
  simRuns,
  testClient,
} from '../support/harness';

const N = 60;
const T1 = '2026-03-01T00:00:00.000Z';
const at = (iso: string, minutes = 0) => new Date(Date.parse(iso) + minutes * 60_000);
const idAt = (index: number) => String(mobileAssetId(index));
const ids = (...indexes: number[]) => indexes.map(idAt);
const INCREMENTAL: Env = { QUALYS_MOBILE_MODE: 'incremental', QUALYS_MOBILE_OVERLAP_MINUTES: '30' };

const runs = simRuns();
afterEach(() => runs.cleanup());

async function setup(env: Env = {}, dialect: SimDialect = {}) {
  const { sim, config, dir, store } = await runs.start(
    { seed: 11, counts: { pci: 0, certview: 0, edr: 0, mobile: N }, dialect },
    env,
  );
  /** Every assetList request the exporter sent. */
  const requests: URL[] = [];
  const fetchSpy: typeof fetch = (input, init) => {
    const u = new URL(input instanceof Request ? input.url : String(input));
    if (u.pathname === '/sem/v1/assetList') requests.push(u);
    return fetch(input, init);
  };
  const client = testClient(sim, config, { fetch: fetchSpy });
  const budgets = randomPageBudgets(5, 3);
  /** Runs to `done` at `now`, optionally stopping after a random 1-3 pages per invocation. */
  const run = async (now: Date, interrupted = false) => {
    const { result, invocations } = await runUntilSettled('mobile-assets', config, client, store, {
      now: () => now,
      deadlineFor: interrupted ? budgets : undefined,
    });
    expect(result.status, JSON.stringify(result)).toBe('done');
    const read = await readRunFromDir(dir, result.manifestKey!);
    return { ...read, invocations, ids: read.records.map((r) => String(r.ID)) };
  };
  return { sim, config, client, dir, store, requests, run };
}

/** Every detection of `records` was updated in [since, before). */
function detectionsIn(records: Record<string, unknown>[], range: Manifest['range']) {
  const since = Date.parse(range.detectionUpdatedSince as string);
  const before = Date.parse(range.detectionUpdatedBefore as string);
  return records.every((r) =>
    ((r.DETECTION_LIST as { DETECTION: { LAST_UPDATE_DATETIME: string }[] }).DETECTION ?? []).every((d) => {
      const t = mobileTimeMs(d.LAST_UPDATE_DATETIME);
      return t >= since && t < before;
    }),
  );
}

describe('default configuration (QUALYS_MOBILE_MODE unset): every run is a full snapshot, as before', () => {
  it('lists every asset every run, sends no detection filter, and says snapshot', async () => {
    const { sim, config, store, requests, run } = await setup();
    expect(config.modules.mobile.mode).toBe('snapshot');
    const first = await run(at(T1));
    sim.mobileUpdated(ids(3, 4, 5), at(T1, 60));
    const second = await run(at(T1, 6 * 60));
    for (const r of [first, second]) {
      expect(r.manifest.kind).toBe('snapshot');
      expect(compareIds(sim.expectedIds('mobile-assets'), r.ids)).toEqual({
        lost: 0,
        duplicated: 0,
        extra: 0,
      });
      expect(r.manifest.range).toEqual({
        kind: 'snapshot',
        truncationLimit: 10,
        detectionUpdatedSince: null,
        detectionUpdatedBefore: null,
        // What the snapshot stands for: the earlier of both clocks minus the indexing lag (60 s).
        clock: expect.objectContaining({ lagMs: 60_000 }),
      });
      expect(r.manifest.completeness.map((c) => c.name)).not.toContain('mobile.updated-window');
    }
    // The second snapshot holds the updated assets as they are now.
    expect(second.records).toEqual([...sim.expectedRecords('mobile-assets')]);
    expect(second.records).not.toEqual(first.records);
    expect(requests.length).toBeGreaterThan(0);
    for (const u of requests) {
      expect(u.searchParams.has('detection_updated_since')).toBe(false);
      expect(u.searchParams.has('detection_updated_before')).toBe(false);
    }
    const state = await readStateFile(store, config, 'mobile-assets');
    expect(state?.committed).toMatchObject({ kind: 'snapshot', nextSince: at(T1, 359).toISOString() });
  });

  it('QUALYS_MOBILE_DETECTION_UPDATED_SINCE keeps its meaning: each snapshot lists detections updated since it', async () => {
    const floor = '2021-04-04T00:00:00Z';
    const { sim, requests, run } = await setup({ QUALYS_MOBILE_DETECTION_UPDATED_SINCE: floor });
    const r = await run(at(T1));
    const want = [...sim.expectedIds('mobile-assets', { updatedSince: floor })];
    expect(want.length).toBeGreaterThan(5);
    expect(want.length).toBeLessThan(N - 5);
    expect(r.manifest.kind).toBe('snapshot');
    expect(r.manifest.range.detectionUpdatedSince).toBe(floor);
    expect(compareIds(want, r.ids)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    for (const u of requests) expect(u.searchParams.get('detection_updated_since')).toBe(floor);
  });
});

describe('QUALYS_MOBILE_MODE=incremental', () => {
  it('a snapshot, then increments of exactly the assets changed since the previous run started − overlap', async () => {
    const { sim, config, store, requests, run } = await setup(INCREMENTAL);
    const first = await run(at(T1));
    expect(first.manifest.kind).toBe('snapshot');
    expect(first.manifest.range).toMatchObject({
      detectionUpdatedSince: null,
      snapshotReason: 'first run: no complete run to continue from',
    });
    expect(first.ids).toHaveLength(N);

    // Stamped 10 min before the snapshot started but visible only after it (processing lag): the overlap catches it.
    sim.mobileUpdated(ids(7), at(T1, -10));
    // Stamped 2 h before: later than any overlap can reach (the documented limit; a snapshot catches it).
    sim.mobileUpdated(ids(8), at(T1, -120));
    // Ordinary changes after the snapshot, one asset twice, and one asset gaining its first detection.
    const noDetections = first.records.find((r) => !r.DETECTION_LIST)!;
    const noneIndex = (Number(noDetections.ID) - MOBILE_BASE_ID) / 3;
    sim.mobileUpdated(ids(1, 20, 41, 59), at(T1, 60));
    sim.mobileUpdated([...ids(20), noDetections.ID as string], at(T1, 120));
    const T2 = at(T1, 6 * 60);
    const sent = requests.length;
    const second = await run(T2);
    expect(second.manifest.kind).toBe('incremental');
    // From where the snapshot stood (its start minus the 60 s indexing lag) minus the overlap, to this run's start
    // minus the lag.
    expect(second.manifest.range).toEqual({
      kind: 'incremental',
      truncationLimit: 10,
      detectionUpdatedSince: '2026-02-28T23:29:00Z',
      detectionUpdatedBefore: '2026-03-01T05:59:00Z',
      overlapMinutes: 30,
      clock: expect.objectContaining({ end: '2026-03-01T05:59:00.000Z', lagMs: 60_000 }),
    });
    const changed = [...ids(1, 7, 20, 41, 59, noneIndex)].sort((a, b) => Number(a) - Number(b));
    expect(compareIds(changed, second.ids)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(second.ids).toEqual(changed);
    expect(second.ids).not.toContain(idAt(8));
    // Each record is the asset as the API lists it for the window: only the detections that changed.
    expect(second.records).toEqual([
      ...sim.expectedRecords('mobile-assets', {
        updatedSince: '2026-02-28T23:29:00Z',
        updatedBefore: '2026-03-01T05:59:00Z',
      }),
    ]);
    expect(detectionsIn(second.records, second.manifest.range)).toBe(true);
    expect(second.manifest.completeness.find((c) => c.name === 'mobile.updated-window')).toMatchObject({
      outcome: 'passed',
      actual: changed.length,
    });
    expect(requests.length).toBeGreaterThan(sent);
    for (const u of requests.slice(sent)) {
      expect(u.searchParams.get('detection_updated_since')).toBe('2026-02-28T23:29:00Z');
      expect(u.searchParams.get('detection_updated_before')).toBe('2026-03-01T05:59:00Z');
    }

    // The next increment starts where the second run started, minus the overlap: nothing of the second twice
    // except changes inside the overlap.
    sim.mobileUpdated(ids(2), at(T2.toISOString(), -5)); // inside the overlap, after the second run read asset 2
    sim.mobileUpdated(ids(33, 34), at(T2.toISOString(), 30));
    const T3 = at(T2.toISOString(), 6 * 60);
    const third = await run(T3);
    expect(third.manifest.kind).toBe('incremental');
    expect(third.manifest.range.detectionUpdatedSince).toBe('2026-03-01T05:29:00Z');
    expect(third.ids).toEqual(ids(2, 33, 34));
    const state = await readStateFile(store, config, 'mobile-assets');
    const asOf = at(T3.toISOString(), -1).toISOString();
    const snapshotAsOf = at(T1, -1).toISOString();
    expect(state?.committed).toMatchObject({
      kind: 'incremental',
      nextSince: asOf,
      lastSnapshotAt: snapshotAsOf,
      // Complete through the instant the listing stood for (the window's end), not the run's start.
      completeThrough: asOf,
    });
    // `qexport state show` explains where the next increment starts.
    const shown = await showState(store, config, 'mobile-assets', at(T3.toISOString(), 1));
    expect(shown.lines.join('\n')).toContain(
      `it was an increment: an incremental next run lists detections updated since ${asOf} minus ` +
        `the overlap (last snapshot started ${snapshotAsOf})`,
    );

    // Nothing changed: an increment with no asset is still a complete run.
    const fourth = await run(at(T3.toISOString(), 60));
    expect(fourth.manifest.kind).toBe('incremental');
    expect(fourth.ids).toEqual([]);
  });

  it('an interrupted increment resumes exactly: same window, nothing lost or written twice', async () => {
    const { sim, run } = await setup({ ...INCREMENTAL, QEXPORT_PART_MAX_RECORDS: '7' });
    await run(at(T1));
    const changed = Array.from({ length: N }, (_, k) => k)
      .filter((k) => k % 7 !== 3)
      .map(idAt);
    sim.mobileUpdated(changed, at(T1, 90));
    const T2 = at(T1, 6 * 60);
    const inc = await run(T2, true);
    expect(inc.invocations).toBeGreaterThan(1);
    expect(inc.manifest.invocations).toBe(inc.invocations);
    expect(inc.manifest.kind).toBe('incremental');
    expect(inc.manifest.parts.length).toBeGreaterThan(2);
    expect(compareIds(changed, inc.ids)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(detectionsIn(inc.records, inc.manifest.range)).toBe(true);
  });

  it('changes that show up while an increment is interrupted: in it when read, else in the next one', async () => {
    const { sim, config, client, store, dir, run } = await setup(INCREMENTAL);
    await run(at(T1));
    const changed = Array.from({ length: 25 }, (_, k) => idAt(2 * k)); // indexes 0, 2, … 48: three batches
    sim.mobileUpdated(changed, at(T1, 60));
    const T2 = at(T1, 6 * 60);
    const stopped = await runExport({
      module: getModule('mobile-assets'),
      config,
      client,
      store,
      invocation: {},
      deadline: pageBudget(1),
      safetyMs: 0,
      now: () => T2,
    });
    expect(stopped.status).toBe('continue');
    // Visible only now: stamped inside the window, on an asset after the batch read (read by the resumed run) and
    // on one before it (missed by this run, inside the next run's overlap); and stamped after this run started.
    sim.mobileUpdated(ids(41), at(T1, 70));
    sim.mobileUpdated(ids(3), at(T2.toISOString(), -10));
    sim.mobileUpdated(ids(51), at(T2.toISOString(), 10));
    const resumed = await runUntilSettled('mobile-assets', config, client, store, {
      now: () => at(T2.toISOString(), 20),
    });
    expect(resumed.result.status).toBe('done');
    expect(resumed.result.runId).toBe(stopped.runId);
    const inc = await readRunFromDir(dir, resumed.result.manifestKey!);
    expect(inc.manifest.invocations).toBe(2);
    expect(inc.manifest.range.detectionUpdatedBefore).toBe('2026-03-01T05:59:00Z');
    const incIds = inc.records.map((r) => String(r.ID));
    expect(compareIds([...changed, idAt(41)], incIds)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    const next = await run(at(T2.toISOString(), 6 * 60));
    expect(next.manifest.range.detectionUpdatedSince).toBe('2026-03-01T05:29:00Z');
    expect(next.ids).toEqual(ids(3, 51));
  });

  it('a full snapshot again after QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS; increments in between', async () => {
    const { sim, run } = await setup({ ...INCREMENTAL, QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS: '12' });
    const kinds: string[] = [];
    for (const h of [0, 6, 11, 12, 18]) {
      // 45 min before the run: after the previous run started, before any overlap of an earlier one.
      sim.mobileUpdated(ids(h), at(T1, h * 60 - 45));
      const r = await run(at(T1, h * 60));
      kinds.push(r.manifest.kind);
      if (r.manifest.kind === 'snapshot') expect(r.ids).toHaveLength(N);
      else expect(r.ids).toEqual(ids(h));
    }
    expect(kinds).toEqual(['snapshot', 'incremental', 'incremental', 'snapshot', 'incremental']);
  });

  it('the floor: the first snapshot starts at QUALYS_MOBILE_DETECTION_UPDATED_SINCE, no increment reaches before it', async () => {
    const floor = '2026-03-01T05:50:00Z';
    const { sim, run } = await setup({ ...INCREMENTAL, QUALYS_MOBILE_DETECTION_UPDATED_SINCE: floor });
    sim.mobileUpdated(ids(1, 2), at(T1, 5 * 60 + 55));
    const first = await run(at(T1, 6 * 60));
    expect(first.manifest.kind).toBe('snapshot');
    expect(first.manifest.range.detectionUpdatedSince).toBe(floor);
    expect(first.ids).toEqual(ids(1, 2));
    sim.mobileUpdated(ids(3), at(T1, 6 * 60 + 5));
    // The previous start minus the overlap (05:30) is before the floor: the floor wins.
    const second = await run(at(T1, 6 * 60 + 10));
    expect(second.manifest.range.detectionUpdatedSince).toBe(floor);
    expect(second.ids).toEqual(ids(1, 2, 3));
  });
});

describe('every reading of detection_updated_since the simulator speaks (dialects), interrupted at random points', () => {
  const cells = (['changed-detections', 'whole-asset', 'ignored'] as const).flatMap((filter) =>
    (['kept', 'dropped'] as const).map(
      (urls) => [`${filter}, truncation URL filters ${urls}`, filter, urls] as const,
    ),
  );
  it.each(cells)('%s', async (_title, filter, urls) => {
    const { sim, requests, run } = await setup(INCREMENTAL, {
      mobileUpdatedFilter: filter,
      mobileUrlFilters: urls,
    });
    await run(at(T1));
    const changed = Array.from({ length: 25 }, (_, k) => idAt(2 * k + 1));
    sim.mobileUpdated(changed, at(T1, 60));
    sim.mobileUpdated(changed.slice(0, 10), at(T1, 90)); // a second detection of some of them changes
    const sent = requests.length;
    const inc = await run(at(T1, 6 * 60), true);
    expect(inc.invocations).toBeGreaterThan(1);
    expect(inc.manifest.kind).toBe('incremental');
    const window = {
      updatedSince: inc.manifest.range.detectionUpdatedSince as string,
      updatedBefore: inc.manifest.range.detectionUpdatedBefore as string,
    };
    // Every batch request carried the run's window, whatever the truncation URL held.
    for (const u of requests.slice(sent)) {
      expect(u.searchParams.get('detection_updated_since')).toBe(window.updatedSince);
      expect(u.searchParams.get('detection_updated_before')).toBe(window.updatedBefore);
    }
    const check = inc.manifest.completeness.find((c) => c.name === 'mobile.updated-window')!;
    if (urls === 'dropped')
      expect(check.detail).toMatch(/\d+ truncation URLs lacked the filters and got them back/);
    else expect(check.detail).toContain('every truncation URL kept the filters');
    if (filter === 'ignored') {
      // The tenant lists everything: nothing is lost, the increment is a full listing, and the manifest says so.
      expect(compareIds(sim.expectedIds('mobile-assets'), inc.ids)).toEqual({
        lost: 0,
        duplicated: 0,
        extra: 0,
      });
      expect(check).toMatchObject({ outcome: 'skipped', actual: N - changed.length });
      return;
    }
    expect(compareIds(changed, inc.ids)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(inc.records).toEqual([...sim.expectedRecords('mobile-assets', window)]);
    expect(check.outcome).toBe('passed');
    if (filter === 'whole-asset') {
      expect(detectionsIn(inc.records, inc.manifest.range)).toBe(false);
      expect(check.detail).toContain('the tenant returns whole assets');
    } else {
      expect(detectionsIn(inc.records, inc.manifest.range)).toBe(true);
      expect(check.detail).toContain('the tenant returns the changed detections');
    }
  });
});

describe('when an incremental deployment starts over with a snapshot (pure: the start cursor)', () => {
  const config = (env: Env) =>
    simConfig({ url: 'http://127.0.0.1:9' } as Simulator, { ...INCREMENTAL, ...env });
  const committed = {
    kind: 'incremental',
    nextSince: '2026-03-01T06:00:00.000Z',
    lastSnapshotAt: '2026-03-01T00:00:00.000Z',
  };
  const now = at(T1, 12 * 60);
  it.each([
    ['nothing committed', {}, undefined, 'first run'],
    [
      'includeFields changed',
      { QUALYS_MOBILE_INCLUDE_FIELDS: 'ID,OS' },
      committed,
      'QUALYS_MOBILE_INCLUDE_FIELDS',
    ],
    [
      'the floor changed',
      { QUALYS_MOBILE_DETECTION_UPDATED_SINCE: '2026-01-01T00:00:00Z' },
      committed,
      'QUALYS_MOBILE_DETECTION_UPDATED_SINCE',
    ],
    [
      'a snapshot is due',
      { QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS: '12' },
      committed,
      'the last snapshot started 12',
    ],
    ['an older state without nextSince', {}, { completeThrough: '2026-03-01T06:00:00.000Z' }, 'first run'],
  ] as const)('%s → snapshot', (_t, env, prev, reason) => {
    const c = mobileStart({ config: config(env), now, committed: prev });
    expect(c.kind).toBe('snapshot');
    expect(c.snapshotReason).toContain(reason);
    expect(c.before).toBeUndefined();
  });

  it('otherwise an increment from the previous start minus the overlap, up to this start minus the lag (seconds)', () => {
    const c = mobileStart({
      config: config({}),
      now: new Date('2026-03-01T12:00:00.750Z'),
      committed: { ...committed, nextSince: '2026-03-01T06:00:00.400Z' },
    });
    expect(c).toMatchObject({
      kind: 'incremental',
      since: '2026-03-01T05:30:00Z',
      before: '2026-03-01T11:59:00Z',
      startedAt: '2026-03-01T12:00:00.750Z',
      overlapMinutes: 30,
    });
    // A committed start in the future (clock moved back) never makes the window start after now.
    const ahead = mobileStart({
      config: config({ QUALYS_MOBILE_OVERLAP_MINUTES: '0' }),
      now,
      committed: { ...committed, nextSince: '2026-03-02T00:00:00.000Z' },
    });
    expect(ahead.since).toBe('2026-03-01T11:59:00Z');
  });
});
