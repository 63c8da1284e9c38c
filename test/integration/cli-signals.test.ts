// Ctrl-C and SIGTERM: the CLI says where the checkpoint is, removes the directory store's temporary files,
// exits 130 / 143, and the same command then resumes to a complete run with nothing lost or doubled.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateFile } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { lines, qexport, simCliEnv, walk } from '../support/cli';
import { compareIds, idOf, manifestKeys, readRunFromDir } from '../support/harness';

const TEMP = /^\..+\.tmp-[0-9a-f]{8}$/;

let tmp: string;
let sim: Simulator;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-cli-signals-'));
  // Slow pages, so the export is surely in the middle of a part when the signal comes.
  sim = await startSimulator({
    port: 0,
    seed: 11,
    counts: { pci: 0, certview: 0, edr: 0, mobile: 400 },
    latencyMs: 40,
  });
});
afterAll(async () => {
  await sim.close();
  await rm(tmp, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({
  ...simCliEnv(sim),
  QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
  QEXPORT_PART_MAX_RECORDS: '30',
});

/** Resolves once `check` holds, polling every 10 ms (at most `ms`). */
async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached in time');
}

async function tempFiles(dir: string): Promise<string[]> {
  return (await walk(dir)).filter((f) => TEMP.test(basename(f)));
}

/** Starts an export, waits for a checkpoint with a stored part and an unfinished part file, then signals. */
async function interrupted(out: string, signals: NodeJS.Signals[]) {
  const stateFile = join(out, 'qualys', '_state', 'mobile-assets.json');
  let child: ChildProcess | undefined;
  const running = qexport(['export', 'mobile-assets', '--out', out], {
    env: env(),
    onSpawn: (c) => (child = c),
  });
  await until(async () => {
    if (!existsSync(stateFile)) return false;
    const state = JSON.parse(await readFile(stateFile, 'utf8').catch(() => '{}')) as StateFile;
    return (state.inProgress?.stored?.parts ?? 0) >= 1 && (await tempFiles(out)).length > 0;
  });
  for (const [i, signal] of signals.entries()) {
    if (i) await new Promise((r) => setTimeout(r, 5));
    child!.kill(signal);
  }
  return { run: await running, stateFile };
}

/** The rerun continues the interrupted run to a complete one: all 400 assets, none lost, none twice. */
async function expectResumed(out: string, runId: string) {
  const again = await qexport(['export', 'mobile-assets', '--out', out], { env: env() });
  expect(again.code, again.stderr).toBe(0);
  const manifests = await manifestKeys(out);
  expect(manifests).toHaveLength(1);
  const key = manifests[0]!;
  expect(key).toContain(`run=${runId}/`); // the interrupted run, continued
  const { records, manifest } = await readRunFromDir(out, key);
  expect(manifest.totals.records).toBe(400);
  expect(
    compareIds(
      sim.expectedIds('mobile-assets'),
      records.map((r) => idOf('mobile-assets', r)),
    ),
  ).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  expect(await tempFiles(out)).toEqual([]);
}

const CHECKPOINT =
  /^qexport: mobile-assets: checkpoint at (\S+) \(run (\S+), (\d+) records in (\d+) parts stored\)$/m;

describe.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)('%s during an export', (signal, exitCode) => {
  it(`stops at a page boundary, says where the checkpoint is, exits ${exitCode}; the rerun resumes`, async () => {
    const out = join(tmp, signal);
    const { run, stateFile } = await interrupted(out, [signal]);
    expect(run.code, run.stderr).toBe(exitCode);
    expect(run.stderr).toMatch(
      new RegExp(`^qexport: ${signal}: finishing the current page and writing the checkpoint`, 'm'),
    );
    expect(run.stderr).toMatch(new RegExp(`^qexport: stopped on ${signal}`, 'm'));
    const m = CHECKPOINT.exec(run.stderr);
    expect(m, run.stderr).not.toBeNull();
    expect(m![1]).toBe(stateFile);
    expect(lines(run.stderr)).toContain('qexport: run the same command again to resume from the checkpoint');
    expect(run.stdout).toMatch(/mobile-assets +interrupted/);
    // The open part was stored, not left half-written; the lease was given up.
    expect(await tempFiles(out)).toEqual([]);
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
    expect(state.inProgress?.runId).toBe(m![2]);
    expect(state.inProgress!.records).toBe(Number(m![3]));
    expect(state.lease).toBeUndefined();
    await expectResumed(out, m![2]!);
  });
});

describe('Ctrl-C twice', () => {
  it('stops at once: removes the temporary files, gives up its lease, exits 130; the rerun resumes', async () => {
    const out = join(tmp, 'twice');
    const { run, stateFile } = await interrupted(out, ['SIGINT', 'SIGINT']);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/^qexport: stopped at once on SIGINT/m);
    const m = CHECKPOINT.exec(run.stderr);
    expect(m, run.stderr).not.toBeNull();
    expect(m![1]).toBe(stateFile);
    expect(run.stderr).not.toMatch(/lease is held/);
    expect(await tempFiles(out)).toEqual([]);
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
    expect(state.lease).toBeUndefined();
    await expectResumed(out, m![2]!);
  });
});
