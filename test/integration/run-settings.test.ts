import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env, ModuleName } from '../../shared/config';
import { stateKeyFor } from '../../shared/export/layout';
import { ConfigError } from '../../shared/errors';
import type { StateFile } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { qexport, simCliEnv } from '../support/cli';
import {
  idCheck,
  pausedRun,
  readRunFromDir,
  runUntilSettled,
  simConfig,
  tempStore,
  testClient,
} from '../support/harness';

/**
 * Settings that shape a run are recorded when it starts (issue 19 item 4). A resumed run with a changed one applies
 * it where it cannot change what the run lists, and otherwise refuses before writing anything, naming the setting,
 * the run's value, the new value and both ways out.
 */
const NOW = Date.parse('2026-09-10T11:00:00.000Z');
let sim: Simulator;
const dirs: string[] = [];
beforeAll(async () => {
  sim = await startSimulator({
    seed: 52,
    counts: { pci: 64, certview: 64, edr: 64, mobile: 64 },
    edr: { start: new Date(NOW - 2 * 3600_000).toISOString(), stepMs: 60_000 },
  });
});
afterAll(async () => {
  await sim?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const SMALL: Env = {
  QUALYS_PCI_PAGE_SIZE: '10',
  QUALYS_CERTVIEW_PAGE_SIZE: '10',
  QUALYS_EDR_PAGE_SIZE: '10',
  QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
  QEXPORT_PART_MAX_RECORDS: '10',
};

/** A run of `module` paused after 3 pages in a fresh directory; then `resume(env)` runs it on with other settings. */
async function paused(module: ModuleName) {
  const { dir, store } = await tempStore();
  dirs.push(dir);
  const config = simConfig(sim, SMALL);
  const first = await pausedRun(module, { config, client: testClient(sim, config), store }, 3, {
    now: () => new Date(NOW),
  });
  expect(first.status).toBe('continue');
  const stateFile = join(dir, stateKeyFor(config, module));
  return {
    dir,
    runId: first.runId!,
    stateFile,
    /** Runs the paused run on to the end with `env`; the URLs it requested. */
    async resume(env: Env) {
      const cfg = simConfig(sim, { ...SMALL, ...env });
      const urls: URL[] = [];
      const fetchSpy: typeof fetch = (input, init) => {
        urls.push(new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url));
        return fetch(input, init);
      };
      const client = testClient(sim, cfg, { fetch: fetchSpy });
      const { result } = await runUntilSettled(module, cfg, client, store, {
        now: () => new Date(NOW + 1000),
      });
      return { result, urls };
    },
  };
}

describe('a changed setting that cannot change what the run lists is applied', () => {
  it.each([
    ['pci-scans', { QUALYS_PCI_PAGE_SIZE: '7' }, (u: URL) => u.searchParams.get('limit')],
    [
      'mobile-assets',
      { QUALYS_MOBILE_TRUNCATION_LIMIT: '7' },
      (u: URL) => u.searchParams.get('truncation_limit'),
    ],
    ['edr-events', { QUALYS_EDR_PAGE_SIZE: '7' }, (u: URL) => u.searchParams.get('pageSize')],
  ] as const)('%s: %o, and the run completes with nothing lost or repeated', async (module, env, param) => {
    const p = await paused(module);
    const { result, urls } = await p.resume(env);
    expect(result.status, result.error?.message).toBe('done');
    expect(result.runId).toBe(p.runId);
    // Every request of the resumed run that names a page size names the new one.
    const sizes = urls.map(param).filter((v) => v !== null);
    expect(sizes.length).toBeGreaterThan(0);
    expect(new Set(sizes)).toEqual(new Set(['7']));
    const run = await readRunFromDir(p.dir, result.manifestKey!);
    expect(idCheck(sim, module, run)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  });
});

describe('a changed setting that could change what the run lists is refused, naming it and the way out', () => {
  it.each([
    ['certview-certificates', 'QUALYS_CERTVIEW_PAGE_SIZE', '20', '10', /pages are numbered/],
    ['certview-certificates', 'QUALYS_CERTVIEW_API_VERSION', 'v2.1', 'v2', /another API version/],
    [
      'certview-certificates',
      'QUALYS_CERTVIEW_ASSET_TYPE',
      'MANAGED',
      'ALL',
      /which certificates are listed/,
    ],
    [
      'certview-certificates',
      'QUALYS_CERTVIEW_INCLUDES',
      'ASSET_TAGS',
      '(unset)',
      /fields of each certificate/,
    ],
    [
      'mobile-assets',
      'QUALYS_MOBILE_DETECTION_UPDATED_SINCE',
      '2026-01-01T00:00:00Z',
      '(unset)',
      /which assets/,
    ],
    ['edr-events', 'QUALYS_EDR_FILTER', 'type:MUTEX', '(unset)', /which events are listed/],
    [
      'edr-events',
      'QUALYS_EDR_TIME_FIELD',
      'event.eventprocesstime',
      'event.datetime',
      /window and its order/,
    ],
  ] as const)('%s: %s', async (module, variable, changed, was, why) => {
    const p = await paused(module);
    const before = await readFile(p.stateFile, 'utf8');
    const err = await p.resume({ [variable]: changed }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain(
      `${variable} is ${changed} but run ${p.runId} of ${module} started with ${was}`,
    );
    expect(message).toMatch(why);
    expect(message).toContain(
      `Set ${variable}=${was === '(unset)' ? "'' (unset it)" : was} to resume the run`,
    );
    expect(message).toContain(`\`qexport state reset ${module} --yes\``);
    expect(message).toContain(`start over with ${changed}`);
    expect(await readFile(p.stateFile, 'utf8')).toBe(before);
    // Set back, the run resumes and completes.
    const { result } = await p.resume({});
    expect(result.status).toBe('done');
    expect(result.runId).toBe(p.runId);
  });

  it('qexport export: one line per refused setting, exit 2, nothing written', async () => {
    const p = await paused('certview-certificates');
    const before = await readFile(p.stateFile, 'utf8');
    const out = join(p.dir);
    const r = await qexport(['export', 'certview-certificates', '--out', out], {
      env: {
        ...simCliEnv(sim),
        ...SMALL,
        QUALYS_CERTVIEW_PAGE_SIZE: '25',
        QUALYS_CERTVIEW_ASSET_TYPE: 'MANAGED',
      },
    });
    expect(r.code).toBe(2);
    const problems = r.stderr.split('\n').filter((l) => l.includes('but run'));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /QUALYS_CERTVIEW_PAGE_SIZE is 25 but run \S+ of certview-certificates started with 10/,
    );
    expect(problems[1]).toMatch(/QUALYS_CERTVIEW_ASSET_TYPE is MANAGED .* started with ALL/);
    expect(await readFile(p.stateFile, 'utf8')).toBe(before);
    const state = JSON.parse(before) as StateFile;
    expect(state.inProgress?.settings).toMatchObject({
      QUALYS_CERTVIEW_PAGE_SIZE: '10',
      QUALYS_CERTVIEW_API_VERSION: 'v2',
      QUALYS_CERTVIEW_ASSET_TYPE: 'ALL',
      QUALYS_CERTVIEW_INCLUDES: null,
    });
  });
});
