import { afterEach, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import { MAX_REREADS } from '../../shared/export/engine';
import { mobileAssets, type MobileCursor } from '../../shared/modules/mobile-assets';
import type { SimOptions, Simulator } from '../sim';
import {
  compareIds,
  idCheck,
  manifestKeys,
  readRunFromDir,
  readStateFile,
  runUntilSettled,
  simRuns,
  testClient,
} from '../support/harness';

/**
 * What makes a run unprovable ends it `failed` with the numbers, in the result and in the state file, and a rerun
 * once the cause is gone completes with nothing lost and nothing written twice.
 */
const NOW = () => new Date('2026-01-02T00:00:00.000Z');
const runs = simRuns();
afterEach(() => runs.cleanup());

async function setup(opts: SimOptions, env: Record<string, string> = {}) {
  const run = await runs.start({ seed: 4, ...opts }, env);
  return { ...run, client: testClient(run.sim, run.config) };
}

async function lostAndDuplicated(sim: Simulator, module: ModuleName, dir: string, manifestKey: string) {
  return idCheck(sim, module, await readRunFromDir(dir, manifestKey));
}

describe('a fault that makes completeness unprovable', () => {
  it('EDR: /count disagrees → failed with both numbers (result and state); cleared → the rerun completes', async () => {
    const { sim, config, dir, store, client } = await setup({
      counts: { edr: 47 },
      edr: { start: '2026-01-01T12:00:00.000Z', stepMs: 60_000, perTick: 3 },
      dialect: { edrCount: 'disagree' },
    });
    const failed = await runUntilSettled('edr-events', config, client, store, { now: NOW });
    expect(failed.result.status).toBe('failed');
    // Read again from its start MAX_REREADS times (the window may have been moving), then failed; the first
    // /count call is the server time probe sent before the window was fixed.
    expect(sim.stats().byPath['/ioc/events/count']).toBe(1 + MAX_REREADS + 1);
    const numbers = /edr\.count-endpoint failed \(expected 48, actual 47\)/;
    expect(failed.result.error?.message).toMatch(numbers);
    const state = await readStateFile(store, config, 'edr-events');
    expect(state?.inProgress?.lastError?.message).toMatch(numbers);
    expect(state?.committed).toBeUndefined();
    expect(await manifestKeys(dir)).toEqual([]);

    sim.setDialect({ edrCount: 'present' });
    const { result } = await runUntilSettled('edr-events', config, client, store, { now: NOW });
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(result.runId).toBe(failed.result.runId);
    expect(await lostAndDuplicated(sim, 'edr-events', dir, result.manifestKey!)).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(run.manifest.completeness.find((c) => c.name === 'edr.count-endpoint')).toMatchObject({
      outcome: 'passed',
      expected: 47,
      actual: 47,
    });
  });

  it('EDR: no /count endpoint → the check is skipped and recorded in the manifest', async () => {
    const { sim, config, dir, store, client } = await setup({
      counts: { edr: 30 },
      edr: { start: '2026-01-01T12:00:00.000Z' },
      dialect: { edrCount: 'absent' },
    });
    const { result } = await runUntilSettled('edr-events', config, client, store, { now: NOW });
    expect(result.status).toBe('done');
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(run.manifest.completeness.find((c) => c.name === 'edr.count-endpoint')).toMatchObject({
      outcome: 'skipped',
      detail: expect.stringMatching(/HTTP 404/),
    });
    expect(await lostAndDuplicated(sim, 'edr-events', dir, result.manifestKey!)).toMatchObject({ lost: 0 });
  });

  it('PCI: a list that never stops moving → failed naming the totals; once it settles the rerun completes', async () => {
    const { sim, config, dir, store, client } = await setup({
      counts: { pci: 33 },
      dialect: { pciInsertAfterFirstPage: { count: 2, times: Infinity } },
    });
    const failed = await runUntilSettled('pci-scans', config, client, store, { now: NOW });
    expect(failed.result.status).toBe('failed');
    expect(failed.result.error?.message).toMatch(
      /PCI scan list kept moving: 5 passes .*totalCounts seen: 33, 35, 37/,
    );
    const state = await readStateFile(store, config, 'pci-scans');
    expect(state?.inProgress?.lastError?.message).toMatch(/kept moving/);
    expect(await manifestKeys(dir)).toEqual([]);

    sim.setDialect({ pciInsertAfterFirstPage: undefined });
    const { result } = await runUntilSettled('pci-scans', config, client, store, { now: NOW });
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(result.runId).toBe(failed.result.runId);
    expect(await lostAndDuplicated(sim, 'pci-scans', dir, result.manifestKey!)).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });

  it('EDR: more events in one instant than a page, and no continuation id → failed, not a silent skip', async () => {
    const { config, dir, store, client } = await setup({
      counts: { edr: 40 },
      edr: { start: '2026-01-01T12:00:00.000Z', perTick: 15 },
      dialect: { edrBody: 'array', edrContinuation: 'none' },
    });
    const { result } = await runUntilSettled('edr-events', config, client, store, { now: NOW });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(
      /more EDR events share the instant 2026-01-01T12:00:00.000\+0000 than one page holds/,
    );
    expect(await manifestKeys(dir)).toEqual([]);
  });
});

describe('listings that move while they are read', () => {
  it('CertView: certificates added mid-run repeat one on a later page → the run is read again, complete', async () => {
    const { sim, config, dir, store, client } = await setup({
      counts: { certview: 47 },
      dialect: { certviewInsertAfterFirstPage: { count: 3 } },
    });
    const { result } = await runUntilSettled('certview-certificates', config, client, store, { now: NOW });
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect([...sim.expectedIds('certview-certificates')]).toHaveLength(50);
    expect(await lostAndDuplicated(sim, 'certview-certificates', dir, result.manifestKey!)).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
    const state = await readStateFile(store, config, 'certview-certificates');
    expect(state?.committed?.runId).toBe(result.runId);
    // The first read stopped at the repeat; the second read every page (6 pages of 10, the last one empty).
    expect(sim.stats().byPath['/certview/v2/certificates']).toBeGreaterThan(6);
  });
});

describe('EDR windows and late agents', () => {
  /** Three runs 20 minutes apart; every 4th event's agent uploads 25 minutes late (beyond the 5-minute overlap). */
  async function consecutiveRuns(timeField: string) {
    let clock = Date.parse('2026-01-01T00:20:00.000Z');
    const { sim, config, dir, store, client } = await setup(
      {
        counts: { edr: 3600 },
        edr: {
          start: '2026-01-01T00:00:00.000Z',
          stepMs: 1000,
          lateEvery: 4,
          lateMs: 25 * 60_000,
          clock: () => clock,
        },
      },
      { QUALYS_EDR_OVERLAP_MINUTES: '5', QUALYS_EDR_TIME_FIELD: timeField, QUALYS_EDR_PAGE_SIZE: '500' },
    );
    const all: string[] = [];
    let lastTo = '';
    for (const at of ['2026-01-01T00:20:00.000Z', '2026-01-01T00:40:00.000Z', '2026-01-01T01:00:00.000Z']) {
      clock = Date.parse(at);
      const { result } = await runUntilSettled('edr-events', config, client, store, {
        now: () => new Date(at),
      });
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      const run = await readRunFromDir(dir, result.manifestKey!);
      all.push(...run.records.map((r) => String(r.id)));
      lastTo = run.manifest.range.to as string;
    }
    // Everything Qualys had processed by the end of the last window (the indexing lag before the last run):
    // what an export should hold by then.
    expect(Date.parse(lastTo)).toBe(Date.parse('2026-01-01T01:00:00.000Z') - 60_000);
    const processed = sim.expectedIds('edr-events', {
      timeField: 'eventProcessedTime',
      from: '2025-12-31T00:20:00.000Z',
      to: lastTo,
    });
    return compareIds(processed, all);
  }

  it('windows on eventProcessedTime lose nothing when agents upload late', async () => {
    expect(await consecutiveRuns('event.eventProcessedTime')).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  });

  it('windows on event.datetime miss events uploaded later than the overlap (why the option exists)', async () => {
    const r = await consecutiveRuns('event.datetime');
    expect(r.duplicated).toBe(0);
    // Late events whose dateTime fell in a window already closed; each run's /count agreed when it ran.
    expect(r.lost).toBeGreaterThan(0);
  });
});

describe('Mobile truncation URL on another host', () => {
  it('is never followed: its id_min is re-issued on the configured origin, counted, and the listing is complete', async () => {
    const other = 'https://qualysapi.qg2.apps.qualys.com';
    const { sim, config, client } = await setup({
      counts: { mobile: 25 },
      dialect: { mobileUrlHost: other },
    });
    const cursor = mobileAssets.start({ config, now: NOW(), committed: undefined }) as MobileCursor;
    const ids: string[] = [];
    let last: MobileCursor | undefined;
    for await (const page of mobileAssets.pages(client, cursor, config)) {
      ids.push(...page.records.map((r) => String(r.ID)));
      last = page.cursor as MobileCursor;
    }
    expect(compareIds(sim.expectedIds('mobile-assets'), ids)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    const batches = sim.stats().byPath['/sem/v1/assetList']!;
    expect(batches).toBeGreaterThan(1);
    // Every response but the last named the other host; each of its id_mins went to the simulator instead.
    expect(last).toMatchObject({ done: true, rehomed: batches - 1, rehomedFrom: [other] });
  });
});

describe('EDR backfill', () => {
  it('reads exactly its window before scheduled coverage, records it, and refuses overlaps', async () => {
    // Events over three days; the first scheduled run at day 3 looks back 24 h.
    const { sim, config, dir, store, client } = await setup({
      counts: { edr: 3 * 24 * 60 },
      edr: { start: '2026-01-01T00:00:00.000Z', stepMs: 60_000 },
    });
    const T = '2026-01-04T00:00:00.000Z';
    const at = () => new Date(T);
    const scheduled = await runUntilSettled('edr-events', config, client, store, { now: at });
    expect(scheduled.result.status).toBe('done');
    const before = await readStateFile(store, config, 'edr-events');
    // The window ends the indexing lag (60 s) before now; the first one looks back 24 h from there.
    expect(before?.committed).toMatchObject({
      coveredFrom: '2026-01-02T23:59:00.000Z',
      windowEnd: '2026-01-03T23:59:00.000Z',
    });

    const window = { from: '2026-01-01T23:59:00.000Z', to: '2026-01-02T23:59:00.000Z' };
    const back = await runUntilSettled('edr-events', config, client, store, { now: at, backfill: window });
    expect(back.result.status, JSON.stringify(back.result.error)).toBe('done');
    const run = await readRunFromDir(dir, back.result.manifestKey!);
    expect(
      compareIds(
        sim.expectedIds('edr-events', window),
        run.records.map((r) => String(r.id)),
      ),
    ).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(run.records).toHaveLength(24 * 60);
    const after = await readStateFile(store, config, 'edr-events');
    expect(after?.committed).toMatchObject({
      windowEnd: '2026-01-03T23:59:00.000Z',
      backfills: [{ ...window, runId: back.result.runId }],
    });

    // Into scheduled coverage, or over the earlier backfill: refused before anything is read.
    const calls = sim.stats().requests;
    for (const [w, message] of [
      [
        { from: '2026-01-02T12:00:00.000Z', to: '2026-01-03T12:00:00.000Z' },
        /overlaps what scheduled runs cover/,
      ],
      [{ from: '2026-01-01T12:00:00.000Z', to: '2026-01-02T12:00:00.000Z' }, /overlaps the earlier backfill/],
      [{ from: '2026-01-02T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' }, /from before to/],
    ] as const) {
      await expect(
        runUntilSettled('edr-events', config, client, store, { now: at, backfill: w }),
      ).rejects.toThrow(message);
    }
    expect(sim.stats().requests).toBe(calls);
  });
});
