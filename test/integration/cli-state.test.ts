import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODULES } from '../../shared/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateFile } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { qexport, simCliEnv } from '../support/cli';

/** `qexport state show|reset` and `qexport export --from/--to` as an operator runs them (child processes). */
let sim: Simulator;
let tmp: string;
let env: Record<string, string>;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-cli-state-'));
  sim = await startSimulator({
    seed: 4,
    counts: { pci: 30, certview: 0, edr: 300, mobile: 0 },
    edr: { start: new Date(Date.now() - 3 * 3600_000).toISOString(), stepMs: 30_000 },
  });
  env = {
    ...simCliEnv(sim),
    QUALYS_EDR_INITIAL_LOOKBACK_HOURS: '1',
  };
});
afterAll(async () => {
  await sim.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('qexport state', () => {
  it('show explains a module with no state, then what a complete run committed', async () => {
    const out = join(tmp, 'show');
    const empty = await qexport(['state', 'show', 'edr-events', '--out', out], { env });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/edr-events: no state yet .*the next run starts from the beginning/);
    const run = await qexport(['export', 'edr-events', '--out', out], { env });
    expect(run.code, run.stderr).toBe(0);
    const shown = await qexport(['state', 'show', 'edr-events', '--out', out], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /last complete run \S+ at .*complete data through .*next scheduled window starts near/,
    );
    const json = await qexport(['state', 'show', 'all', '--out', out, '--json'], { env });
    const parsed = JSON.parse(json.stdout) as { state: StateFile }[];
    expect(parsed).toHaveLength(MODULES.length);
    expect(parsed.find((p) => p.state.module === 'edr-events')?.state.committed?.runId).toBeTruthy();
  });

  it('reset asks for --yes, refuses while a run holds the lease, and abandons the run once it is free', async () => {
    const out = join(tmp, 'reset');
    const key = join(out, 'qualys', '_state', 'pci-scans.json');
    await mkdir(join(out, 'qualys', '_state'), { recursive: true });
    const runDir = join(out, 'qualys', 'pci-scans', 'dt=2026-01-01', 'run=stuck-1');
    await mkdir(runDir, { recursive: true });
    await writeFile(join(runDir, 'part-00000.ndjson.gz'), 'x');
    const state = (expiresAt: string): StateFile => ({
      module: 'pci-scans',
      inProgress: {
        runId: 'stuck-1',
        dt: '2026-01-01',
        startedAt: '2026-01-01T00:00:00.000Z',
        startCursor: { offset: 1 },
        cursor: { offset: 11 },
        parts: [],
        records: 10,
        apiCalls: 2,
        retries: 0,
        invocations: 1,
      },
      lease: { owner: 'arn:aws:states:…:execution:loop:abc', expiresAt },
    });
    await writeFile(key, JSON.stringify(state(new Date(Date.now() + 3600_000).toISOString())));

    const ask = await qexport(['state', 'reset', 'pci-scans', '--out', out], { env });
    expect(ask.code).toBe(2);
    expect(ask.stdout).toMatch(/run stuck-1 in progress/);
    expect(ask.stderr).toMatch(/run the same command with --yes/);

    const held = await qexport(['state', 'reset', 'pci-scans', '--out', out, '--yes'], { env });
    expect(held.code).toBe(3);
    expect(held.stderr).toMatch(/being exported by arn:aws:states.*reset refused/);
    expect(JSON.parse(await readFile(key, 'utf8'))).toMatchObject({ inProgress: { runId: 'stuck-1' } });

    await writeFile(key, JSON.stringify(state(new Date(Date.now() - 1000).toISOString())));
    const done = await qexport(['state', 'reset', 'pci-scans', '--out', out, '--yes'], { env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/abandoned run stuck-1 .*deleted its 1 object/);
    expect(JSON.parse(await readFile(key, 'utf8'))).toEqual({ module: 'pci-scans' });
    const again = await qexport(['export', 'pci-scans', '--out', out], { env });
    expect(again.code, again.stderr).toBe(0);
  });

  it('bad usage names the fix', async () => {
    const none = await qexport(['state', 'frobnicate', 'pci-scans'], { env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/usage: qexport state show/);
    const all = await qexport(['state', 'reset', 'all', '--yes'], { env });
    expect(all.code).toBe(2);
    expect(all.stderr).toMatch(/one module at a time/);
    const unknown = await qexport(['state', 'show', 'nope'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown module 'nope'/);
  });
});
describe('qexport export --from/--to', () => {
  it('is refused with one line for snapshots, half windows, reversed and future windows', async () => {
    const out = join(tmp, 'bad-backfill');
    const cases: [string[], RegExp][] = [
      [['pci-scans', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z'], /only edr-events/],
      [['edr-events', '--from', '2026-01-01T00:00:00Z'], /both --from and --to/],
      [['edr-events', '--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z'], /must be before/],
      [['edr-events', '--from', '2026-01-01T00:00:00Z', '--to', '2999-01-01T00:00:00Z'], /in the future/],
      [['edr-events', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z'], /must be \{"from"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await qexport(['export', ...args, '--out', out], { env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('backfills a window before the scheduled coverage, leaves the schedule alone, and refuses an overlap', async () => {
    const out = join(tmp, 'backfill');
    const scheduled = await qexport(['export', 'edr-events', '--out', out], { env });
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const before = await qexport(['state', 'show', 'edr-events', '--out', out, '--json'], { env });
    const committed = (JSON.parse(before.stdout) as { state: StateFile }[])[0]!.state.committed!;
    // The simulator's events start 3 h ago; the scheduled run covered the last hour.
    const to = new Date(Date.parse(committed.coveredFrom as string)).toISOString();
    const from = new Date(Date.parse(to) - 3600_000).toISOString();
    const back = await qexport(['export', 'edr-events', '--from', from, '--to', to, '--out', out], { env });
    expect(back.code, back.stderr).toBe(0);
    const after = await qexport(['state', 'show', 'edr-events', '--out', out, '--json'], { env });
    const state = (JSON.parse(after.stdout) as { state: StateFile }[])[0]!.state;
    expect(state.committed?.windowEnd).toBe(committed.windowEnd);
    expect(state.committed?.backfills).toEqual([expect.objectContaining({ from, to })]);
    const again = await qexport(['export', 'edr-events', '--from', from, '--to', to, '--out', out], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/overlaps/);
  });
});
