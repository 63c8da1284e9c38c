import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResumeLaterError } from '../../shared/errors';
import { startSimulator, type Simulator } from '../sim';
import { runUntilSettled, simConfig, tempStore, testClient } from '../support/harness';

/** The HTTP client against the simulator over real HTTP: limits, deadline, concurrency. */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    counts: { pci: 400, certview: 400 },
    latencyMs: 20,
    limits: { concurrency: 2 },
  });
});
afterAll(async () => {
  await sim.close();
});

describe('client against the simulator', () => {
  it('fetch-ahead never exceeds the API concurrency limit (no 1960 rejections)', async () => {
    const config = simConfig(sim);
    const { store } = await tempStore();
    for (const module of ['pci-scans', 'certview-certificates'] as const) {
      const { result } = await runUntilSettled(module, config, testClient(sim, config), store);
      expect(result.status).toBe('done');
    }
    expect(sim.stats().maxConcurrent).toBeLessThanOrEqual(2);
    expect(sim.stats().rejected).toBe(0);
  });

  it('a rate-limit wait longer than the time left ends with ResumeLaterError at once, and the run continues later', async () => {
    const config = simConfig(sim);
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 600 });
    const started = Date.now();
    const client = testClient(sim, config, { deadline: () => started + 20_000 });
    await expect(client.request({ url: '/pci/scan/list', base: 'pci' })).rejects.toBeInstanceOf(
      ResumeLaterError,
    );
    expect(client.stats().waitMs).toBe(0); // it never slept through the wait
    // The engine turns the same signal into a clean 'continue'.
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 600, after: 2 });
    const { store } = await tempStore();
    const first = await runUntilSettled(
      'pci-scans',
      config,
      testClient(sim, config, { deadline: () => Date.now() + 20_000 }),
      store,
      {
        max: 1,
      },
    ).catch((e: Error) => e);
    expect(String(first)).toMatch(/did not settle.*"status":"continue".*waiting 600 s would pass/s);
    // ... and tells the Step Functions loop how long to wait before the next invocation.
    expect(String(first)).toContain('"waitSeconds":600');
    const { result } = await runUntilSettled('pci-scans', config, testClient(sim, config), store);
    expect(result.status).toBe('done');
    expect(result.records).toBe(400);
  });
});
