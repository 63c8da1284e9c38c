import { isJournalKey } from '../../shared/export/journal';
// Issue 19 items 1–3 and EDR's share of 7, over real HTTP against the simulator: Qualys's clock as the reference
// for windows that end at "now", what identifies an EDR event, checkpoints that do not grow with the run, and run
// ids that never destroy published data.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MODULES, type ModuleName } from '../../shared/config';
import { stateKeyFor } from '../../shared/export/layout';
import type { ReferenceTime } from '../../shared/export/window';
import type { CompletenessCheck } from '../../shared/modules/types';
import type { ObjectStore } from '../../shared/sink/types';
import type { SimOptions } from '../sim';
import {
  compareIds,
  idCheck,
  manifestKeys,
  readRunFromDir,
  readStateFile,
  recordKey,
  runUntilSettled,
  randomPageBudgets,
  simRuns,
  testClient,
} from '../support/harness';
import { qexport, simCliEnv, walk } from '../support/cli';

const runs = simRuns();
afterEach(() => runs.cleanup());

const MIN = 60_000;
const check = (checks: CompletenessCheck[], name: string) => checks.find((c) => c.name === name);

/** A fetch that drops the Date header of every response: a server that tells no time. */
const withoutDate: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const headers = new Headers(res.headers);
  headers.delete('date');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
};

describe("Qualys's clock is the reference (the issue's scenario: 8 events processed in between)", () => {
  // Runs at 06:00, 06:20 and 06:40 by our clock; an event every 112.5 s, one at 05:45:01, so eight are processed
  // in the 15 minutes between Qualys's 05:45 and our 06:00. Windows on event.datetime, 10-minute overlap.
  const T1 = Date.parse('2026-01-01T06:00:00.000Z');
  const STEP = 112_500;
  const START = Date.parse('2026-01-01T05:45:01.000Z') - 100 * STEP;

  async function scenario(
    skewSeconds: number,
    env: Record<string, string> = {},
    fetch?: typeof globalThis.fetch,
  ) {
    let now = T1;
    const { sim, config, dir, store } = await runs.start(
      {
        seed: 3,
        counts: { pci: 0, certview: 0, edr: 400, mobile: 0 },
        // The simulator's "now" is ours + the skew: events processed after it are not visible yet.
        edr: { start: new Date(START).toISOString(), stepMs: STEP, clock: () => now },
        dialect: { clockSkewSeconds: skewSeconds },
      },
      { QUALYS_EDR_PAGE_SIZE: '50', ...env },
    );
    const client = testClient(sim, config, fetch ? { fetch } : {});
    const written: string[] = [];
    const ranges: Record<string, unknown>[] = [];
    for (const minutes of [0, 20, 40]) {
      now = T1 + minutes * MIN;
      const { result } = await runUntilSettled('edr-events', config, client, store, {
        now: () => new Date(now),
      });
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      const run = await readRunFromDir(dir, result.manifestKey!);
      written.push(...run.records.map((r) => recordKey('edr-events', r)));
      ranges.push(run.manifest.range);
      expect(check(run.manifest.completeness, 'edr.count-endpoint')?.outcome).toBe('passed');
    }
    // Everything in the union of the windows (contiguous: each starts an overlap before the previous end), all
    // processed by Qualys before the last run read it.
    const expected = sim.expectedRecords('edr-events', {
      from: ranges[0]!.from as string,
      to: ranges.at(-1)!.to as string,
    });
    const want = [...expected].map((r) => recordKey('edr-events', r));
    // The scenario's eight: processed between Qualys's 05:45 and our 06:00.
    const between = [
      ...sim.expectedIds('edr-events', { from: '2026-01-01T05:45:00Z', to: '2026-01-01T06:00:00Z' }),
    ];
    expect(between).toHaveLength(8);
    return { result: compareIds(want, written), ranges };
  }

  it.each([
    ['15 minutes behind ours (exporter ahead)', -900],
    ['15 minutes ahead of ours (exporter behind)', 900],
  ])('Qualys %s: nothing lost, nothing written twice', async (_t, skew) => {
    const { result, ranges } = await scenario(skew);
    expect(result).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    const clock = ranges[0]!.clock as ReferenceTime;
    expect(clock.samples).toBeGreaterThanOrEqual(1);
    expect(Math.abs(clock.skewMs - skew * 1000)).toBeLessThan(1500);
    expect(clock.lagMs).toBe(60_000);
    // The window ends at the earlier clock minus the lag: Qualys's when it is behind, ours when it is ahead.
    const end = Date.parse(ranges[0]!.to as string);
    const expectedEnd = T1 + Math.min(0, skew * 1000) - 60_000;
    expect(end).toBeLessThanOrEqual(expectedEnd);
    expect(end).toBeGreaterThan(expectedEnd - 2000);
    expect(Math.abs(Date.parse(clock.serverNow!) - (T1 + skew * 1000))).toBeLessThan(1500);
  });

  it('without a Date header the exporter cannot know: the first build loses 3 of the 8 at each window end', async () => {
    // Our clock alone and no lag: the first build's window end. This is what the measurement prevents: 3 lost
    // between the first and second run, 3 more between the second and third (recorded as 0 samples).
    const { result, ranges } = await scenario(-900, { QUALYS_EDR_INDEXING_LAG_SECONDS: '0' }, withoutDate);
    expect(result).toEqual({ lost: 6, duplicated: 0, extra: 0 });
    expect(ranges[0]!.clock).toMatchObject({
      samples: 0,
      skewMs: 0,
      lagMs: 0,
      end: new Date(T1).toISOString(),
    });
  });
});

describe('what identifies an EDR event: its id and its content', () => {
  it.each(['present', 'absent'] as const)(
    'an event served twice inside one window (/count %s): written once, counted as a repeat',
    async (count) => {
      const { sim, config, dir, store } = await runs.start(
        {
          seed: 5,
          counts: { pci: 0, certview: 0, edr: 6, mobile: 0 },
          edr: { start: '2026-01-01T23:50:00.000Z', stepMs: 60_000 },
          // Event 2 comes twice in a row: with pages of 3, across a page boundary.
          dialect: {
            edrRepeat: 'served-twice',
            edrCount: count,
            edrBody: 'array',
            edrContinuation: 'header',
          },
        },
        { QUALYS_EDR_PAGE_SIZE: '3' },
      );
      const client = testClient(sim, config);
      for (const rerun of [false, true]) {
        const { result } = await runUntilSettled('edr-events', config, client, store, {
          now: () => new Date(rerun ? '2026-01-02T00:10:00.000Z' : '2026-01-02T00:00:00.000Z'),
        });
        expect(result.status, JSON.stringify(result.error)).toBe('done');
        const run = await readRunFromDir(dir, result.manifestKey!);
        if (rerun) {
          // The next window re-reads all six (and the repeat) in its overlap, and writes none of them again.
          expect(run.records).toHaveLength(0);
          expect(check(run.manifest.completeness, 'edr.previous-run')).toMatchObject({ actual: 6 });
          expect(check(run.manifest.completeness, 'edr.repeats')).toMatchObject({ actual: 1 });
          continue;
        }
        expect(run.records).toHaveLength(6);
        expect(idCheck(sim, 'edr-events', run)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
        expect(check(run.manifest.completeness, 'edr.repeats')).toMatchObject({
          outcome: 'passed',
          actual: 1,
        });
        expect(check(run.manifest.completeness, 'edr.count-endpoint')).toMatchObject(
          count === 'present'
            ? { outcome: 'passed', expected: 6, actual: 6 }
            : { outcome: 'skipped', actual: 6 },
        );
      }
    },
  );

  it('per-day ids shared by many events: consecutive windows lose none of them and write none twice', async () => {
    // The recorded F_<uuid>_D-M-YYYY form: 7 series, so every new event shares its id with events the previous run
    // wrote in the overlap. Deciding by id alone (the first build) dropped every one of them.
    let now = Date.parse('2026-01-01T01:00:00.000Z');
    const { sim, config, dir, store } = await runs.start(
      {
        seed: 6,
        counts: { pci: 0, certview: 0, edr: 300, mobile: 0 },
        edr: { start: '2026-01-01T00:00:00.000Z', stepMs: 30_000, clock: () => now },
        dialect: { edrIdForm: 'per-day' },
      },
      { QUALYS_EDR_PAGE_SIZE: '25' },
    );
    const client = testClient(sim, config);
    const written: string[] = [];
    const ranges: Record<string, unknown>[] = [];
    const checks: CompletenessCheck[][] = [];
    for (const minutes of [0, 20, 40]) {
      now = Date.parse('2026-01-01T01:00:00.000Z') + minutes * MIN;
      const { result } = await runUntilSettled('edr-events', config, client, store, {
        now: () => new Date(now),
        deadlineFor: randomPageBudgets(11 + minutes, 3),
      });
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      const run = await readRunFromDir(dir, result.manifestKey!);
      written.push(...run.records.map((r) => recordKey('edr-events', r)));
      ranges.push(run.manifest.range);
      checks.push(run.manifest.completeness);
    }
    const want = [
      ...sim.expectedRecords('edr-events', { from: ranges[0]!.from as string, to: ranges[2]!.to as string }),
    ].map((r) => recordKey('edr-events', r));
    expect(new Set(want.map((k) => k.split('@')[0])).size).toBeLessThan(10); // ids really are shared
    expect(compareIds(want, written)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    // The second and third runs re-read their overlap (20 events each): not written again, and the events that
    // only share an id with one of them are counted, never dropped.
    for (const c of checks.slice(1)) {
      expect(check(c, 'edr.previous-run')?.actual).toBe(20);
      expect(check(c, 'edr.shared-ids')?.actual).toBeGreaterThan(20);
      expect(check(c, 'edr.count-endpoint')?.outcome).toBe('passed');
    }
  });
});

/** Every state file and scratch object the store is asked to write, with its size in bytes. */
function recordingStore(store: ObjectStore, stateKey: string) {
  const stateWrites: number[] = [];
  const scratchWrites: { key: string; bytes: number }[] = [];
  const wrapped: ObjectStore = {
    ...store,
    putJson: (key, value, condition) => {
      const bytes = Buffer.byteLength(JSON.stringify(value));
      if (key === stateKey) stateWrites.push(bytes);
      // Beside the state file: the module's own objects (the run's journal segments are the journal's).
      else if (key.includes('/_state/') && !isJournalKey(key)) scratchWrites.push({ key, bytes });
      return store.putJson(key, value, condition);
    },
  };
  return { store: wrapped, stateWrites, scratchWrites };
}

describe('EDR checkpoints do not grow with the run', () => {
  async function bigOverlap(opts: Partial<SimOptions> = {}) {
    let now = Date.parse('2026-01-01T00:20:00.000Z');
    // 6,000 events in the last 10 minutes of the window: the overlap the next run re-reads holds all of them.
    const started = await runs.start(
      {
        seed: 8,
        counts: { pci: 0, certview: 0, edr: 12_000, mobile: 0 },
        edr: { start: '2026-01-01T00:09:00.000Z', stepMs: 100, clock: () => now },
        ...opts,
      },
      { QUALYS_EDR_PAGE_SIZE: '500', QEXPORT_PART_MAX_RECORDS: '1000' },
    );
    const rec = recordingStore(started.store, stateKeyFor(started.config, 'edr-events'));
    const client = testClient(started.sim, started.config);
    const run = async (minutes: number, interrupted = true) => {
      now = Date.parse('2026-01-01T00:20:00.000Z') + minutes * MIN;
      return runUntilSettled('edr-events', started.config, client, rec.store, {
        now: () => new Date(now),
        deadlineFor: interrupted ? randomPageBudgets(21 + minutes, 4) : undefined,
      });
    };
    return { ...started, ...rec, run };
  }

  it('an interrupted run with 6,000 events in its overlap: every checkpoint ≤ 64 KB; the next run writes none again', async () => {
    const { sim, config, dir, store, stateWrites, scratchWrites, run } = await bigOverlap();
    const first = await run(0);
    expect(first.result.status, JSON.stringify(first.result.error)).toBe('done');
    expect(first.invocations).toBeGreaterThan(3);
    const one = await readRunFromDir(dir, first.result.manifestKey!);
    expect(one.records.length).toBeGreaterThanOrEqual(6000);
    expect(Math.max(...stateWrites)).toBeLessThanOrEqual(64 * 1024);
    // The overlap's fingerprints went beside the state file, 16 bytes each, each object written once.
    const keys = scratchWrites.map((w) => w.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.every((k) => k.includes(`/_state/edr-events/${first.result.runId}/recent-`))).toBe(true);
    const committed = (await readStateFile(store, config, 'edr-events'))!.committed!;
    expect(committed.overlap).toMatchObject({ inline: '', spilled: { runId: first.result.runId } });
    expect((committed.overlap as { spilled: { count: number } }).spilled.count).toBe(one.records.length);

    // The next window re-reads those 6,000 events and writes only the new ones.
    const second = await run(20);
    expect(second.result.status, JSON.stringify(second.result.error)).toBe('done');
    const two = await readRunFromDir(dir, second.result.manifestKey!);
    expect(check(two.manifest.completeness, 'edr.previous-run')?.actual).toBe(one.records.length);
    const union = [...one.records, ...two.records].map((r) => recordKey('edr-events', r));
    const want = [
      ...sim.expectedRecords('edr-events', {
        from: one.manifest.range.from as string,
        to: two.manifest.range.to as string,
      }),
    ].map((r) => recordKey('edr-events', r));
    expect(compareIds(want, union)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(Math.max(...stateWrites)).toBeLessThanOrEqual(64 * 1024);
    // The first run's objects are gone once the second committed; only the second's may remain.
    const scratch = (await walk(join(dir, 'qualys/_state/edr-events'))).map((p) => p.split('/').at(-2));
    expect(scratch.filter((runId) => runId !== second.result.runId)).toEqual([]);
  });

  it('a damaged fingerprint object is refused naming it, never guessed around', async () => {
    const { dir, run } = await bigOverlap({ counts: { pci: 0, certview: 0, edr: 3000, mobile: 0 } });
    const first = await run(0, false);
    expect(first.result.status).toBe('done');
    const [segment] = (await walk(join(dir, 'qualys/_state/edr-events'))).sort();
    const body = JSON.parse(await readFile(segment!, 'utf8')) as { n: number; fps: string };
    await writeFile(segment!, JSON.stringify({ ...body, fps: body.fps.slice(0, 64) }));
    const second = await run(20, false);
    expect(second.result.status).toBe('failed');
    expect(second.result.error?.message).toMatch(/recent-00000\.json says \d+ fingerprints, holds 3/);
    expect(second.result.error?.message).toMatch(
      /Restore the object, or start over with .*state reset edr-events/,
    );
    expect(second.result.error?.code).toBe('state');
  });
});

describe('a run id names one run: re-running a completed one is refused, its data untouched', () => {
  it.each(MODULES)('%s', async (module: ModuleName) => {
    const { sim, config, dir, store } = await runs.start({
      seed: 12,
      counts: { pci: 23, certview: 31, edr: 37, mobile: 29 },
      edr: { start: '2026-01-01T12:00:00.000Z', stepMs: 60_000 },
    });
    const client = testClient(sim, config);
    const now = () => new Date('2026-01-02T00:00:00.000Z');
    const first = await runUntilSettled(module, config, client, store, { now, runId: 'nightly-1' });
    expect(first.result.status).toBe('done');
    const snapshot = async () =>
      Promise.all((await walk(join(dir, 'qualys', module))).sort().map(async (p) => [p, await readFile(p)]));
    const before = await snapshot();
    const calls = sim.stats().requests;
    // Later (the window would have moved), the same id again: refused before any request or write.
    const later = () => new Date('2026-01-02T00:30:00.000Z');
    await expect(
      runUntilSettled(module, config, client, store, { now: later, runId: 'nightly-1' }),
    ).rejects.toThrow(
      new RegExp(
        `run nightly-1 of ${module} already completed: it is the last complete run .*never overwritten.*` +
          'omit the run id \\(--run-id, event.runId\\)',
      ),
    );
    expect(sim.stats().requests).toBe(calls);
    expect(await snapshot()).toEqual(before);
    expect(idCheck(sim, module, await readRunFromDir(dir, first.result.manifestKey!))).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
    // Another run completes after it: the id is still taken (its manifest is under the date a new run uses).
    const other = await runUntilSettled(module, config, client, store, { now: later });
    expect(other.result.status).toBe('done');
    await expect(
      runUntilSettled(module, config, client, store, { now: later, runId: 'nightly-1' }),
    ).rejects.toThrow(/already completed: its manifest is .*run=nightly-1\/_manifest\.json/);
    expect((await manifestKeys(dir)).filter((k) => k.includes('run=nightly-1'))).toHaveLength(1);
  });
});

describe('the command line', () => {
  it('a run under 15 minutes of skew warns on stderr; its run id named again exits 2, its events untouched', async () => {
    // The scenario: `qexport export edr-events --run-id X` twice. Events of the last two hours (the CLI runs
    // on the real clock), Qualys's clock 15 minutes behind.
    const { sim } = await runs.start({
      seed: 13,
      counts: { pci: 0, certview: 0, edr: 2996, mobile: 0 },
      edr: { start: new Date(Date.now() - 2 * 3600_000).toISOString(), stepMs: 2000 },
      dialect: { clockSkewSeconds: -900 },
    });
    const out = await mkdtemp(join(tmpdir(), 'qexport-integrity-'));
    try {
      const env = { ...simCliEnv(sim), QUALYS_EDR_PAGE_SIZE: '1000' };
      const first = await qexport(['export', 'edr-events', '--out', out, '--run-id', 'X'], { env });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(
        /qexport: edr-events: warning: Qualys's clock is 15 min behind this machine's \(Date headers of \d+ responses\), more than the 10 min overlap/,
      );
      const files = async () =>
        Promise.all(
          (await walk(join(out, 'qualys', 'edr-events'))).sort().map(async (p) => [p, await readFile(p)]),
        );
      const before = await files();
      const [manifestFile] = before.map(([p]) => p as string).filter((p) => p.endsWith('_manifest.json'));
      const manifest = JSON.parse(await readFile(manifestFile!, 'utf8')) as { totals: { records: number } };
      // Everything Qualys had processed up to the window's end (its now, 15 minutes behind, minus the lag).
      expect(manifest.totals.records).toBeGreaterThan(2996 - 15 * 30 - 60);

      const again = await qexport(['export', 'edr-events', '--out', out, '--run-id', 'X'], { env });
      expect(again.code, again.stderr).toBe(2);
      expect(again.stderr).toMatch(/run X of edr-events already completed: .*omit the run id \(--run-id/);
      expect(await files()).toEqual(before);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
