import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_GAP_MS, runExport } from '../../shared/export/engine';
import { stateKeyFor } from '../../shared/export/layout';
import { thisProcess } from '../../shared/export/lease';
import type { LeaseProcess, StateFile } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createDirStore } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { startSimulator, type Simulator } from '../sim';
import { qexport, simCliEnv } from '../support/cli';
import { pausedRun, readRunFromDir, idCheck, simConfig, tempStore, testClient } from '../support/harness';

/**
 * Leases that do not trap people (issue 19 item 6). A lease held by a process of this host that no longer runs is
 * taken over at once (the CLI records its process in the lease); any other holder is named with its expiry (local
 * time and UTC, and how far off) and the deliberate way past it, `--take-over`, which is still compare-and-swap.
 */
let sim: Simulator;
const dirs: string[] = [];
beforeAll(async () => {
  sim = await startSimulator({ seed: 44, counts: { pci: 120, certview: 0, edr: 0, mobile: 0 } });
});
afterAll(async () => {
  await sim?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const env = () => ({
  ...simCliEnv(sim),
  QUALYS_PCI_PAGE_SIZE: '10',
  QEXPORT_PART_MAX_RECORDS: '10',
  TZ: 'America/New_York',
});

async function outDir(): Promise<string> {
  const { dir } = await tempStore();
  dirs.push(dir);
  return join(dir, 'out');
}

/** A pid no process has: one that has just exited (and whose parent reaped it). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

/** A paused pci-scans run in `out` (its checkpoint and stored parts), with `lease` as its holder. */
async function heldRun(out: string, lease: { owner: string; minutes: number; process?: LeaseProcess }) {
  const config = simConfig(sim, { QUALYS_PCI_PAGE_SIZE: '10', QEXPORT_PART_MAX_RECORDS: '10' });
  const store = createDirStore(out);
  const r = await pausedRun('pci-scans', { config, client: testClient(sim, config), store }, 3, {
    invocation: { runId: 'held-run' },
  });
  expect(r.status).toBe('continue');
  const key = join(out, stateKeyFor(config, 'pci-scans'));
  const state = JSON.parse(await readFile(key, 'utf8')) as StateFile;
  state.lease = {
    owner: lease.owner,
    expiresAt: new Date(Date.now() + lease.minutes * 60_000).toISOString(),
    ...(lease.process ? { process: lease.process } : {}),
  };
  await writeFile(key, JSON.stringify(state));
  return { key, config, store };
}

/** The one published run under `out`: every scan once, under `runId` (the run that was held). */
async function expectComplete(out: string, runId: string) {
  const found = (await createDirStore(out).list('qualys/pci-scans/')).filter((k) =>
    k.endsWith('/_manifest.json'),
  );
  expect(found).toHaveLength(1);
  const run = await readRunFromDir(out, found[0]!);
  expect(idCheck(sim, 'pci-scans', run)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  expect(run.manifest.runId).toBe(runId);
}

describe('a lease held by a process of this host that no longer runs', () => {
  it('SIGKILLed mid-run: the rerun takes over at once and completes the same run', async () => {
    const out = await outDir();
    sim.setLatency(40);
    const stateFile = join(out, 'qualys', '_state', 'pci-scans.json');
    let child: ChildProcess | undefined;
    const killed = qexport(['export', 'pci-scans', '--out', out], {
      env: env(),
      onSpawn: (c) => (child = c),
    });
    let state: StateFile | undefined;
    for (let i = 0; i < 400; i++) {
      if (existsSync(stateFile)) {
        state = JSON.parse(await readFile(stateFile, 'utf8').catch(() => '{}')) as StateFile;
        if ((state.inProgress?.stored?.parts ?? 0) >= 2 && state.lease?.process) break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child!.kill('SIGKILL');
    const dead = await killed;
    sim.setLatency(0);
    expect(dead.signal).toBe('SIGKILL');
    expect(state?.lease?.process?.pid).toBe(child!.pid);
    const held = JSON.parse(await readFile(stateFile, 'utf8')) as StateFile;
    expect(Date.parse(held.lease!.expiresAt)).toBeGreaterThan(Date.now()); // still "held" for minutes

    const shown = await qexport(['state', 'show', 'pci-scans', '--out', out], { env: env() });
    expect(shown.stdout).toMatch(
      new RegExp(`process ${child!.pid} on this host, no longer running\\) until .*that process is gone`),
    );
    const started = Date.now();
    const rerun = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    await expectComplete(out, held.inProgress!.runId);
  });

  it('state reset works while such a process holds the lease', async () => {
    const out = await outDir();
    const gone = { ...thisProcess(), pid: await deadPid() };
    await heldRun(out, { owner: `cli:${gone.host}:${gone.pid}:abc123`, minutes: 4, process: gone });
    const reset = await qexport(['state', 'reset', 'pci-scans', '--out', out, '--yes'], { env: env() });
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/abandoned run held-run/);
  });

  it('a pid now used by another process (a start time that differs) is a dead holder too', async () => {
    const out = await outDir();
    // This test process runs, but it is not the process that took the lease: its start time differs.
    const reused = { ...thisProcess(), start: 'proc:1' };
    const { key } = await heldRun(out, {
      owner: `cli:${reused.host}:${reused.pid}:def456`,
      minutes: 4,
      process: reused,
    });
    const rerun = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(existsSync(key)).toBe(true);
    await expectComplete(out, 'held-run');
  });
});

describe('a lease held by a live process, or by one elsewhere', () => {
  it('names the holder, the expiry in local time and UTC and how far off, and --take-over; which works', async () => {
    const out = await outDir();
    const live = thisProcess(); // this test process: alive
    await heldRun(out, { owner: `cli:${live.host}:${live.pid}:aaa111`, minutes: 4, process: live });
    const refused = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      new RegExp(
        `pci-scans is being exported by cli:${live.host}:${live.pid}:aaa111 \\(process ${live.pid} on this host, running\\); ` +
          'its lease runs until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d -0[45]:00 \\(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\), in [34] minutes',
      ),
    );
    expect(refused.stderr).toContain('`qexport export pci-scans --take-over`');
    const shown = await qexport(['state', 'show', 'pci-scans', '--out', out], { env: env() });
    expect(shown.stdout).toMatch(
      /lease held by .*running\) until .* UTC\), in [34] minutes: another start is refused/,
    );
    expect(shown.stdout).toContain('`qexport export pci-scans --take-over`');
    const reset = await qexport(['state', 'reset', 'pci-scans', '--out', out, '--yes'], { env: env() });
    expect(reset.code).toBe(3);
    expect(reset.stderr).toContain('`qexport state reset pci-scans --yes --take-over`');

    const taken = await qexport(['export', 'pci-scans', '--out', out, '--take-over'], { env: env() });
    expect(taken.code, taken.stderr).toBe(0);
    await expectComplete(out, 'held-run');
  });

  it('a Step Functions execution or another host is never taken for dead', async () => {
    for (const holder of [
      {
        owner: 'arn:aws:states:eu-west-1:1:execution:loop:abc',
        process: undefined,
        says: /by arn:aws:states:\S+; its lease/,
      },
      {
        owner: 'cli:build-agent-7:4242:bbb222',
        process: { host: 'build-agent-7', pid: 4242, start: 'proc:9' },
        says: /\(process 4242 on build-agent-7, another host\)/,
      },
    ]) {
      const out = await outDir();
      await heldRun(out, { owner: holder.owner, minutes: 10, process: holder.process });
      const refused = await qexport(['export', 'pci-scans', '--out', out], { env: env() });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(holder.says);
      expect(refused.stderr).toMatch(/in (9|10) minutes/);
      const reset = await qexport(['state', 'reset', 'pci-scans', '--out', out, '--yes', '--take-over'], {
        env: env(),
      });
      expect(reset.code, reset.stderr).toBe(0);
    }
  });

  it('--take-over is compare-and-swap: a holder that writes first keeps the module', async () => {
    const { dir, store } = await tempStore();
    dirs.push(dir);
    const config = simConfig(sim, { QUALYS_PCI_PAGE_SIZE: '10', QEXPORT_PART_MAX_RECORDS: '10' });
    const client = testClient(sim, config);
    const a = await pausedRun('pci-scans', { config, client, store }, 2, { invocation: { owner: 'exec-A' } });
    expect(a.status).toBe('continue');
    const key = stateKeyFor(config, 'pci-scans');
    // Between the taker's read and its write, the holder renews its lease.
    let raced = false;
    const racing: ObjectStore = {
      ...store,
      async putJson(k, v, c) {
        if (k === key && !raced) {
          raced = true;
          const current = (await store.readJson(k))!;
          const renewed = current.value as StateFile;
          renewed.lease!.expiresAt = new Date(Date.now() + LEASE_GAP_MS).toISOString();
          await store.putJson(k, renewed, { ifMatch: current.etag });
        }
        return store.putJson(k, v, c);
      },
    };
    const b = await runExport({
      module: getModule('pci-scans'),
      config,
      client,
      store: racing,
      invocation: { owner: 'exec-B', takeOver: true },
      deadline: () => Date.now() + 60_000,
    });
    expect(b.status).toBe('busy');
    expect(((await store.getJson(key)) as StateFile).lease?.owner).toBe('exec-A');
  });
});
