import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import { stateKeyFor, withPrefix } from '../../shared/export/layout';
import { startSimulator, type Simulator } from '../sim';
import { measuringState } from '../support/state-writes';
import {
  idCheck,
  readRunFromDir,
  runUntilSettled,
  simConfig,
  tempStore,
  testClient,
} from '../support/harness';

/**
 * A checkpoint's size does not grow with the run, and the state bytes a run writes grow linearly (issue 19 item 7):
 * the ids and parts are in the run's journal, one segment per checkpoint. Measured by wrapping the store, for runs
 * of n and 4n records with the same part size (so 4× the checkpoints): a resumed run rebuilds from the journal, so
 * every run here is also read in small invocations.
 */
const sims: Simulator[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function run(module: ModuleName, n: number) {
  const sim = await startSimulator({ seed: 61, counts: { pci: n, certview: n, edr: 0, mobile: 0 } });
  sims.push(sim);
  const { dir, store } = await tempStore();
  dirs.push(dir);
  const config = simConfig(sim, {
    QUALYS_PCI_PAGE_SIZE: '50',
    QUALYS_CERTVIEW_PAGE_SIZE: '50',
    QEXPORT_PART_MAX_RECORDS: '100',
  });
  const { store: measured, writes: m } = measuringState(
    store,
    stateKeyFor(config, module),
    `${withPrefix(config, '_state')}/`,
  );
  let pages = 0;
  // Each invocation reads 7 pages: a run of many invocations, each resumed from the checkpoint and its journal.
  const { result } = await runUntilSettled(module, config, testClient(sim, config), measured, {
    deadlineFor: () => () => (pages++ % 7 === 6 ? 0 : Number.POSITIVE_INFINITY),
  });
  expect(result.status, result.error?.message).toBe('done');
  expect(idCheck(sim, module, await readRunFromDir(dir, result.manifestKey!))).toEqual({
    lost: 0,
    duplicated: 0,
    extra: 0,
  });
  return m;
}

describe('checkpoint size and state bytes per run', () => {
  it.each(['pci-scans', 'certview-certificates'] as const)('%s', async (module) => {
    const small = await run(module, 1000);
    const large = await run(module, 4000);
    // Four times the parts, so about four times the checkpoints and journal segments.
    expect(large.checkpoints / small.checkpoints).toBeGreaterThan(3);
    expect(large.journalSegments / small.journalSegments).toBeGreaterThan(3);
    // The checkpoint does not grow with the run (a few digits of its counts at most).
    expect(large.largestCheckpoint).toBeLessThan(small.largestCheckpoint + 64);
    expect(large.largestCheckpoint).toBeLessThan(4096);
    // State bytes grow linearly: about 4× for 4× the records (quadratic would be about 16×).
    const ratio = large.stateBytes / small.stateBytes;
    expect(ratio).toBeGreaterThan(3);
    expect(ratio).toBeLessThan(5);
    console.log(
      `${module}: checkpoint ${small.largestCheckpoint} / ${large.largestCheckpoint} bytes, ` +
        `state bytes per run ${small.stateBytes} / ${large.stateBytes} (×${ratio.toFixed(2)}) for 1,000 / 4,000 records`,
    );
  });
});
