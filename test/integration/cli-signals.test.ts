// Ctrl-C and SIGTERM: the CLI says where the checkpoint is, removes the directory store's temporary files,
// exits 130 / 143, and the same command then resumes to a complete run with nothing lost or doubled.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parentOf } from '../../bin/cli/launcher';
import type { StateFile } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { lines, QEXPORT, qexport, ROOT, simCliEnv, walk } from '../support/cli';
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
  ['SIGHUP', 129],
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

// ---------------------------------------------------------------------------------------------------------------
// However it is started: npm (npx, npm run) passes no signal on to qexport, which therefore watches npm; and
// --env-file reaches qexport's own message on every launch path where Node itself does not stop first.

/** The environment npx runs with here: the user's npm cache, no update check (no network). */
const npmEnv = () => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
});

/** Starts `npx qexport <args>` in the repository (as the README's examples do). */
function npx(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn('npx', ['qexport', ...args], {
    cwd: ROOT,
    env: { ...npmEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The processes below `pid` (Linux /proc; none elsewhere). */
function descendants(pid: number): number[] {
  let all: number[];
  try {
    all = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  const parent = new Map<number, number>();
  for (const p of all) {
    const info = parentOf(p);
    if (info) parent.set(p, info.ppid);
  }
  return all.filter((p) => {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) if (q === pid) return true;
    return false;
  });
}

/** Whether something still accepts connections at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

describe('started by npx, qexport stops when npx is killed (npm passes no signal on)', () => {
  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'npx qexport sim, npx gets %s: the simulator stops',
    async (signal) => {
      const child = npx(['sim', '--port', '0']);
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('close', (code) =>
          reject(new Error(`npx exited ${code} before the simulator listened: ${out}`)),
        );
      });
      expect(await answers(url)).toBe(true);
      const started = descendants(child.pid!);
      try {
        child.kill(signal);
        await until(async () => !(await answers(url)));
      } finally {
        // Should the test fail, leave no simulator behind.
        for (const pid of started) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone, as it should be
          }
        }
      }
    },
    60_000,
  );

  it('npx qexport export, npx gets SIGTERM: the export stops at a page boundary, checkpoint kept, lease released', async () => {
    const out = join(tmp, 'npx-export');
    const stateFile = join(out, 'qualys', '_state', 'mobile-assets.json');
    const child = npx(['export', 'mobile-assets', '--out', out], env());
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await until(async () => {
      if (!existsSync(stateFile)) return false;
      const state = JSON.parse(await readFile(stateFile, 'utf8').catch(() => '{}')) as StateFile;
      return (state.inProgress?.stored?.parts ?? 0) >= 1;
    }, 40_000);
    child.kill('SIGTERM');
    // npx is gone at once; qexport notices, stops as on SIGHUP and gives the module back.
    await until(async () => {
      const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
      return state.lease === undefined && (await tempFiles(out)).length === 0;
    }, 30_000);
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
    expect(state.inProgress?.records, stderr).toBeGreaterThan(0);
    const runId = state.inProgress!.runId;
    await expectResumed(out, runId);
  }, 120_000);
});

describe('--env-file reaches qexport, which names --dotenv, however it is started', () => {
  const ENV_FILE_MESSAGE = /^qexport: --env-file is now --dotenv \(Node\.js itself reads --env-file/m;

  it.each([
    ['node -- bin/qexport.mjs', process.execPath, ['--', QEXPORT, 'token', '--env-file', '/nonexistent']],
    ['npm run demo --', 'npm', ['run', '-s', 'demo', '--', '--env-file', '/nonexistent']],
    ['npx -- qexport', 'npx', ['--', 'qexport', 'token', '--env-file', '/nonexistent']],
  ])(
    '%s',
    async (_how, cmd, args) => {
      const child = spawn(cmd, args, { cwd: ROOT, env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const code = await new Promise((r) => child.on('close', r));
      expect(stderr).not.toMatch(/^node: /m);
      expect(stderr).toMatch(ENV_FILE_MESSAGE);
      expect(code).toBe(2);
    },
    60_000,
  );
});
