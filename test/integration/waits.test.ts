import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDirStore } from '../../shared/sink';
import { runExport } from '../../shared/export/engine';
import { stateKeyFor } from '../../shared/export/layout';
import type { StateFile } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { startSimulator, type Simulator } from '../sim';
import { lines, qexport, simCliEnv } from '../support/cli';
import { readStateFile, simConfig, tempStore, testClient } from '../support/harness';

/**
 * Waits of any length over real HTTP: a 30-day SECONDS_TO_WAIT ends a Lambda invocation with `continue` and that
 * wait (the Step Functions Wait state takes it; the lease is kept past it); the CLI shows a wait while it sits
 * through one, and one longer than QEXPORT_MAX_WAIT_SECONDS ends with exit 3, its checkpoint and when to resume.
 */
const THIRTY_DAYS = 30 * 86_400;
let sim: Simulator;
let tmp: string;
beforeAll(async () => {
  sim = await startSimulator({ seed: 6, counts: { pci: 35 }, dialect: { rateLimitBody: 'documented' } });
  tmp = await mkdtemp(join(tmpdir(), 'qexport-waits-'));
});
afterAll(async () => {
  await sim.close();
  await rm(tmp, { recursive: true, force: true });
});
afterEach(() => sim.faults.clear());

describe('Lambda: a 30-day wait', () => {
  it('returns continue with the whole wait, and a Step Functions execution keeps the lease past it', async () => {
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', after: 1, waitSec: THIRTY_DAYS });
    const config = simConfig(sim);
    const { store } = await tempStore();
    const started = Date.now();
    const client = testClient(sim, config, { deadline: () => started + 14 * 60_000 });
    const result = await runExport({
      module: getModule('pci-scans'),
      config,
      client,
      store,
      invocation: { owner: 'arn:aws:states:execution:test' },
      deadline: () => started + 15 * 60_000,
    });
    expect(result.status).toBe('continue');
    expect(result.waitSeconds).toBe(THIRTY_DAYS);
    expect(client.stats().waitMs).toBe(0); // never slept in the invocation
    const state = (await readStateFile(store, config, 'pci-scans'))!;
    expect(state.inProgress?.records).toBeGreaterThan(0);
    expect(Date.parse(state.lease!.expiresAt)).toBeGreaterThanOrEqual(started + THIRTY_DAYS * 1000);
  });
});

describe('the CLI', () => {
  const env = () => ({ ...simCliEnv(sim), QUALYS_PCI_PAGE_SIZE: '10' });

  it('shows a wait it sits through: why, how long, until when (local and UTC)', async () => {
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', after: 1, waitSec: 3 });
    const out = join(tmp, 'shown');
    const run = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(run.code, run.stderr).toBe(0);
    const shown = lines(run.stderr).find((l) => l.includes('waiting'));
    expect(shown, run.stderr).toMatch(
      /^pci-scans: waiting 0:0[0-3], until \d{4}-\d\d-\d\d \d\d:\d\d local \((\d{4}-\d\d-\d\d )?\d\d:\d\d UTC\): 409 \(code 1965: rate limit\), SECONDS_TO_WAIT says 3 s$/,
    );
  });

  it('a wait longer than QEXPORT_MAX_WAIT_SECONDS: exit 3, checkpoint kept, resume after; the rerun resumes', async () => {
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', after: 2, waitSec: THIRTY_DAYS });
    const out = join(tmp, 'paused');
    const before = Date.now();
    const run = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /qexport: pci-scans paused: .*SECONDS_TO_WAIT says 2592000 s; a wait of 2592000 s is longer than QEXPORT_MAX_WAIT_SECONDS \(172800 s\)/,
    );
    const resume =
      /resume after (\d{4}-\d\d-\d\d \d\d:\d\d) local \(((\d{4}-\d\d-\d\d )?\d\d:\d\d) UTC\)/.exec(
        run.stderr,
      );
    expect(resume, run.stderr).not.toBeNull();
    // The UTC time named is 30 days on (to the minute; the date is given when it differs from the local one).
    const due = before + THIRTY_DAYS * 1000;
    const hhmm = resume![2]!.slice(-5);
    const named = Date.parse(`${new Date(due).toISOString().slice(0, 10)}T${hhmm}:00Z`);
    expect(Math.abs(named - due)).toBeLessThan(3 * 60_000);
    expect(run.stderr).toMatch(
      /checkpoint kept at .*_state\/pci-scans\.json \(run \S+, \d+ records stored\)/,
    );
    expect(run.stdout).toMatch(/pci-scans +paused/);
    // The lease is given up, so the same command resumes the run (once the API lets it).
    const state = (await createDirStore(out).getJson(
      stateKeyFor(simConfig(sim, { QEXPORT_PREFIX: 'qualys' }), 'pci-scans'),
    )) as StateFile;
    expect(state.inProgress).toBeDefined();
    expect(state.lease).toBeUndefined();
    sim.faults.clear();
    const again = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/pci-scans +done +35 /);
  });
});
