import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODULES } from '../../shared/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateFile } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { lines, qexport, simCliEnv } from '../support/cli';

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
    await mkdir(out);
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
        startCursor: { offset: 1, limit: 10 },
        cursor: { offset: 11, limit: 10 },
        records: 0,
        stored: { parts: 0, bytes: 0, rawBytes: 0 },
        journal: 0,
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
    expect(held.stderr).toMatch(/being exported by arn:aws:states.*Nothing was reset/);
    expect(held.stderr).toContain('`qexport state reset pci-scans --yes --take-over`');
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
/** Every file and folder under `dir` with its size and mtime: what a read-only command must leave as it is. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string) => {
    const s = await stat(p);
    out.push(`${p} ${s.size} ${s.mtimeMs}`);
    if (s.isDirectory()) for (const e of await readdir(p)) await visit(join(p, e));
  };
  await visit(dir);
  return out.sort();
}

describe('qexport state show reads any output folder, read-only', () => {
  let demoOut: string;
  let demoDir: string;
  beforeAll(async () => {
    demoOut = join(tmp, 'demo-out');
    const demo = await qexport(['demo', '--out', demoOut, '--scale', '0.01']);
    expect(demo.code, demo.stderr).toBe(0);
    demoDir = /^output: (\S+)$/m.exec(demo.stdout)![1]!;
    // Read-only for everyone (root still may write: the snapshot below proves nothing was).
    await chmodTree(demoOut, false);
  });
  afterAll(async () => {
    await chmodTree(demoOut, true);
  });

  async function chmodTree(dir: string, writable: boolean) {
    for (const p of [dir, ...(await walkAll(dir))]) {
      const s = await stat(p);
      await chmod(p, s.isDirectory() ? (writable ? 0o755 : 0o555) : writable ? 0o644 : 0o444);
    }
  }
  async function walkAll(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      out.push(p);
      if (e.isDirectory()) out.push(...(await walkAll(p)));
    }
    return out;
  }

  it.each([
    ['the demo folder itself', () => demoDir],
    ['the --out folder holding one demo', () => demoOut],
  ])('%s: every module shows its complete run, and nothing is written', async (_name, where) => {
    const before = await snapshot(demoOut);
    const shown = await qexport(['state', 'show', 'all', '--out', where()], { env: {} });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stderr).toBe('');
    for (const m of MODULES) {
      expect(shown.stdout).toMatch(
        new RegExp(`^${m} \\(${demoDir}/_state/${m}\\.json\\)\n {2}no run in progress\\.`, 'm'),
      );
    }
    expect(shown.stdout.match(/last complete run \S+ at /g)).toHaveLength(MODULES.length);
    expect(shown.stdout).not.toMatch(/no state yet/);
    expect(await snapshot(demoOut)).toEqual(before);
  });

  it('a folder holding several exports is named, with the way to pick one', async () => {
    const two = join(tmp, 'two-demos');
    await mkdir(two);
    for (const name of ['demo-a', 'demo-b']) await cp(demoDir, join(two, name), { recursive: true });
    await chmodTree(two, true); // the copies keep the read-only modes
    const r = await qexport(['state', 'show', 'all', '--out', two], { env: {} });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `qexport: ${two} holds 2 exports (demo-a, demo-b): name one, e.g. --out ${join(two, 'demo-b')}`,
    ]);
  });

  it('a folder that does not exist is an error naming it, not "no state yet"', async () => {
    const missing = join(tmp, 'no-such-folder');
    const r = await qexport(['state', 'show', 'all', '--out', missing], { env: {} });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `qexport: --out: directory '${missing}' does not exist (nothing was exported there; check the path)`,
    ]);
    expect(existsSync(missing)).toBe(false);
  });
});

describe('qexport export --from/--to', () => {
  it('is refused with one line for snapshots, half windows, reversed and future windows', async () => {
    const out = join(tmp, 'bad-backfill');
    const cases: [string[], RegExp][] = [
      [['pci-scans', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z'], /only edr-events/],
      [['edr-events', '--from', '2026-01-01T00:00:00Z'], /both --from and --to/],
      [
        ['edr-events', '--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z'],
        /--from \(2026-01-02T00:00:00Z\) must be before --to \(2026-01-01T00:00:00Z\)/,
      ],
      [['edr-events', '--from', '2026-01-01T00:00:00Z', '--to', '2999-01-01T00:00:00Z'], /in the future/],
      [
        ['edr-events', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z'],
        /^qexport: --from must be an ISO 8601 time with its zone, e\.g\. 2026-11-01T00:00:00Z, .*got 'yesterday'$/m,
      ],
      [
        ['edr-events', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02 10:00'],
        /^qexport: --to must be an ISO 8601 time with its zone/m,
      ],
      [['edr-events', '--to', '2026-01-01T00:00:00Z'], /both --from and --to \(missing --from\)/],
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
