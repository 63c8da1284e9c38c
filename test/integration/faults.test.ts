import { afterAll, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import type { ObjectStore } from '../../shared/sink/types';
import { LEASE_TTL_MS } from '../../shared/export/engine';
import { startSimulator, type FaultSpec, type SimDialect, type Simulator } from '../sim';
import {
  ALL_MODULES,
  compareIds,
  idCheck,
  idOf,
  readRunFromDir,
  runUntilSettled,
  simRuns,
  testClient,
} from '../support/harness';

/**
 * The fault matrix: every simulator fault × every module it applies to, plus forced interruptions and a
 * crash between a part upload and its checkpoint. Each cell asserts: records lost = 0, duplicated = 0.
 */
const NOW = () => new Date('2026-01-02T00:00:00.000Z');
/** Modules that read their bodies as streams and recover from a body that fails mid-way themselves. */
const XML_LISTINGS: ModuleName[] = ['mobile-assets', 'vmdr-detections', 'knowledgebase'];
const COUNTS = { pci: 47, certview: 47, edr: 47, mobile: 47, vmdr: 47, kb: 47 };
const PATHS: Record<ModuleName, string> = {
  'pci-scans': '/pci/',
  'certview-certificates': '/certview/',
  'edr-events': '/ioc/',
  'mobile-assets': '/sem/',
  'vmdr-detections': '/api/',
  knowledgebase: '/api/',
};
/** The KnowledgeBase answers in one response unless it truncates: here it does, so faults land mid-listing. */
const DIALECTS: Partial<Record<ModuleName, SimDialect>> = { knowledgebase: { kbTruncation: 10 } };

const FAULTS: {
  name: string;
  spec: Omit<FaultSpec, 'path'>;
  only?: ModuleName;
  except?: ModuleName[];
  timeoutMs?: number;
  env?: Record<string, string>;
}[] = [
  // PCI Merchant and the API server authenticate with HTTP Basic: a 401 there cannot be cured by a refresh.
  {
    name: '401 mid-run (token expires)',
    spec: { kind: 'expire-token', after: 2 },
    except: ['pci-scans', 'vmdr-detections', 'knowledgebase'],
  },
  { name: '409/429 rate limit (1965)', spec: { kind: 'rate-limit', after: 1, waitSec: 1 } },
  { name: '409/429 concurrency limit (1960)', spec: { kind: 'concurrency-limit', after: 1, waitSec: 1 } },
  { name: '500', spec: { kind: 'status', status: 500, after: 1, times: 2 } },
  { name: '503 maintenance', spec: { kind: 'status', status: 503, after: 2 } },
  { name: 'connection reset', spec: { kind: 'reset', after: 1, times: 2 } },
  {
    name: 'stalled response',
    spec: { kind: 'stall', after: 1 },
    timeoutMs: 400,
    // The API server listings have timeouts of their own (pages take minutes to produce).
    env: { QUALYS_VMDR_TIMEOUT_SECONDS: '1', QUALYS_KB_TIMEOUT_SECONDS: '1' },
  },
  { name: 'malformed page', spec: { kind: 'malformed', after: 1 } },
  { name: 'truncated page', spec: { kind: 'truncated', after: 2 } },
  { name: 'scroll expiry', spec: { kind: 'scroll-expire', after: 1 }, only: 'edr-events' },
  {
    name: 'new scans arrive mid-run',
    spec: { kind: 'pci-insert', after: 1, count: 13, times: 2 },
    only: 'pci-scans',
  },
];

const cells = ALL_MODULES.flatMap((module) =>
  FAULTS.filter((f) => (!f.only || f.only === module) && !f.except?.includes(module)).map((f) => ({
    module,
    ...f,
  })),
);

const runs = simRuns();
afterAll(async () => {
  await runs.cleanup();
  console.log(`fault matrix: ${cells.length} fault cells + ${ALL_MODULES.length * 2} interruption cells`);
});

async function verify(module: ModuleName, sim: Simulator, dir: string, manifestKey: string) {
  return idCheck(sim, module, await readRunFromDir(dir, manifestKey));
}

describe('fault matrix', () => {
  it.each(cells)(
    '$module × $name: nothing lost, nothing duplicated',
    async ({ module, spec, timeoutMs, env }) => {
      const sim = await startSimulator({ seed: 5, counts: COUNTS, dialect: DIALECTS[module] });
      try {
        // What exists when the run starts must all arrive; scans created mid-run may or may not.
        const before = [
          ...sim.expectedIds(
            module,
            module === 'edr-events'
              ? { from: '2026-01-01T00:00:00.000Z', to: NOW().toISOString() }
              : undefined,
          ),
        ];
        sim.faults.add({ ...spec, path: PATHS[module] } as FaultSpec);
        const { config, dir, store } = await runs.prepare(sim, env);
        const client = testClient(sim, config, { timeoutMs: timeoutMs ?? 5000 });
        const { result } = await runUntilSettled(module, config, client, store, { now: NOW });
        expect(result.status, JSON.stringify(result.error)).toBe('done');
        const run = await readRunFromDir(dir, result.manifestKey!);
        const got = run.records.map((r) => idOf(module, r));
        const check = compareIds(before, got);
        expect({ lost: check.lost, duplicated: check.duplicated }).toEqual({ lost: 0, duplicated: 0 });
        if (spec.kind === 'pci-insert') {
          expect(check.extra).toBeLessThanOrEqual(26); // only scans that really arrived mid-run
        } else {
          expect(check.extra).toBe(0);
          expect(await verify(module, sim, dir, result.manifestKey!)).toEqual({
            lost: 0,
            duplicated: 0,
            extra: 0,
          });
        }
        // The fault really happened, and the exporter recovered from it.
        expect(sim.faults.hits).toBeGreaterThan(0);
        // XML listings read a body that fails mid-way (malformed, cut short) again themselves, from the last record
        // handed over (not through the client's retries); the fault's hit and the complete run above prove it.
        if (module !== 'edr-events' && spec.kind !== 'pci-insert' && !XML_LISTINGS.includes(module)) {
          const stats = client.stats();
          expect(stats.retries + stats.tokenRefreshes).toBeGreaterThan(0);
        }
      } finally {
        await sim.close();
      }
    },
  );
});

/**
 * A store whose process "dies" at its Nth checkpoint write, after the part upload succeeded: that write and
 * every later one fail, as nothing more gets out of a dead process.
 */
function crashingStore(inner: ObjectStore, crashOnStateWrite: number): ObjectStore {
  let stateWrites = 0;
  return {
    ...inner,
    async putJson(key, value, condition) {
      if (key.includes('/_state/') && ++stateWrites >= crashOnStateWrite)
        throw new Error('simulated crash before checkpoint');
      return inner.putJson(key, value, condition);
    },
  };
}

describe('PCI Merchant Basic auth', () => {
  it('a 401 mid-run fails at once (no refresh can fix a password), keeps the checkpoint, and a rerun completes', async () => {
    const sim = await startSimulator({ seed: 5, counts: COUNTS });
    try {
      sim.faults.add({ kind: 'expire-token', after: 2, path: '/pci/' });
      const { config, dir, store } = await runs.prepare(sim);
      const client = testClient(sim, config);
      const failed = await runUntilSettled('pci-scans', config, client, store, { now: NOW });
      expect(failed.result.status).toBe('failed');
      expect(failed.result.error?.code).toBe('auth');
      expect(client.stats().tokenRefreshes).toBe(0);
      const { result } = await runUntilSettled('pci-scans', config, client, store, { now: NOW });
      expect(result.status).toBe('done');
      expect(result.runId).toBe(failed.result.runId);
      expect(await verify('pci-scans', sim, dir, result.manifestKey!)).toEqual({
        lost: 0,
        duplicated: 0,
        extra: 0,
      });
    } finally {
      await sim.close();
    }
  });
});

describe('interruptions', () => {
  it.each(ALL_MODULES)(
    '%s: a crash between a part upload and its checkpoint rewrites that part, no duplicates',
    async (module) => {
      const sim = await startSimulator({ seed: 6, counts: COUNTS });
      try {
        const { config, dir, store } = await runs.prepare(sim);
        const client = testClient(sim, config);
        // State writes: 1 = run start, 2 = first part checkpoint (crash there).
        await expect(
          runUntilSettled(module, config, client, crashingStore(store, 2), { now: NOW }),
        ).rejects.toThrow(/simulated crash/);
        // The dead invocation still holds the lease: another one backs off until it expires, then resumes.
        const blocked = await runUntilSettled(module, config, client, store, { now: NOW });
        expect(blocked.result.status).toBe('busy');
        const later = () => new Date(NOW().getTime() + LEASE_TTL_MS + 1000);
        const { result } = await runUntilSettled(module, config, client, store, { now: later });
        expect(result.status).toBe('done');
        expect(await verify(module, sim, dir, result.manifestKey!)).toEqual({
          lost: 0,
          duplicated: 0,
          extra: 0,
        });
      } finally {
        await sim.close();
      }
    },
  );

  it.each(ALL_MODULES)(
    '%s: a run that fails keeps its checkpoint and a later invocation completes it',
    async (module) => {
      const sim = await startSimulator({ seed: 8, counts: COUNTS, dialect: DIALECTS[module] });
      try {
        sim.faults.add({ kind: 'status', status: 500, after: 3, times: 100, path: PATHS[module] });
        const { config, dir, store } = await runs.prepare(sim, { QUALYS_HTTP_MAX_RETRIES: '2' });
        const client = testClient(sim, config);
        const failed = await runUntilSettled(module, config, client, store, { now: NOW });
        expect(failed.result.status).toBe('failed');
        expect(failed.result.error?.message).toMatch(/HTTP 500/);
        sim.faults.clear();
        const { result } = await runUntilSettled(module, config, client, store, { now: NOW });
        expect(result.status).toBe('done');
        expect(result.runId).toBe(failed.result.runId);
        expect(await verify(module, sim, dir, result.manifestKey!)).toEqual({
          lost: 0,
          duplicated: 0,
          extra: 0,
        });
      } finally {
        await sim.close();
      }
    },
  );
});

describe('same-origin guard', () => {
  it('a truncation URL on another host is never followed: its id_min goes to the configured origin, the run completes', async () => {
    const sim = await startSimulator({ counts: { mobile: 30 } });
    const other = await startSimulator({ counts: { mobile: 30 } });
    try {
      sim.faults.add({ kind: 'offsite-url', url: other.url, path: '/sem/', times: Infinity });
      const { config, dir, store } = await runs.prepare(sim);
      const { result } = await runUntilSettled('mobile-assets', config, testClient(sim, config), store);
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      expect(await verify('mobile-assets', sim, dir, result.manifestKey!)).toEqual({
        lost: 0,
        duplicated: 0,
        extra: 0,
      });
      expect(other.stats().authHeadersSeen).toBe(0);
      expect(other.stats().requests).toBe(0);
    } finally {
      await sim.close();
      await other.close();
    }
  });

  it('a truncation URL that cannot be re-issued safely stops the run with a clear error; the token is not sent', async () => {
    const sim = await startSimulator({ counts: { mobile: 30 } });
    const other = await startSimulator({ counts: { mobile: 30 } });
    try {
      sim.setDialect({ mobileUrlHost: other.url, mobileUrlPath: '/api/2.0/fo/asset/host/' });
      const { config, store } = await runs.prepare(sim);
      const { result } = await runUntilSettled('mobile-assets', config, testClient(sim, config), store);
      expect(result.status).toBe('failed');
      expect(result.error?.code).toBe('origin');
      expect(result.error?.message).toContain('/api/2.0/fo/asset/host/');
      expect(result.error?.message).toMatch(/token was not sent/);
      expect(other.stats().requests).toBe(0);
    } finally {
      await sim.close();
      await other.close();
    }
  });
});
