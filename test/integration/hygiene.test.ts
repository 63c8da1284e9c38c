import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalTokenProvider } from '../../shared/auth';
import { runExport } from '../../shared/export/engine';
import { createLogger } from '../../shared/log';
import { getModule } from '../../shared/modules';
import { createQualysClient } from '../../shared/qualys/client';
import { startSimulator } from '../sim';
import { ALL_MODULES, simConfig, tempStore } from '../support/harness';

/**
 * Secret hygiene: every module runs with known sentinel credentials, through successes, a token expiry, a
 * failure and a refused token; then every log line, error message, S3-layout object and manifest is scanned
 * for the sentinels and for any token the simulator issued.
 */
const SENTINEL_ID = 'sentinel-client-id-51d2';
const SENTINEL_SECRET = 'SENTINEL-secret-9f3a7c1e-do-not-log';
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

describe('secret hygiene', () => {
  it('no log, error, object or manifest contains a credential or a token', async () => {
    const sim = await startSimulator({
      counts: { pci: 30, certview: 30, edr: 30, mobile: 30 },
      auth: { clientId: SENTINEL_ID, clientSecret: SENTINEL_SECRET },
    });
    const logs: string[] = [];
    const errors: string[] = [];
    const issued: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    try {
      const config = simConfig(sim);
      const { dir, store } = await tempStore();
      dirs.push(dir);
      const local = createLocalTokenProvider({
        credentials: { method: 'qualys-oidc', clientId: SENTINEL_ID, clientSecret: SENTINEL_SECRET },
        endpoints: config.endpoints,
        tokenCheck: { ...config.tokenCheck, jwksUrl: sim.jwksUrl },
        fetch,
        logger,
      });
      const tokens = {
        getToken: async () => {
          const t = await local.getToken();
          if (!issued.includes(t)) issued.push(t);
          return t;
        },
        refresh: async () => {
          const t = await local.refresh();
          issued.push(t);
          return t;
        },
      };
      const client = createQualysClient({
        gatewayUrl: sim.url,
        pciUrl: sim.url,
        fetch,
        tokens,
        timeoutMs: 5000,
        maxRetries: 1,
        concurrency: 2,
        backoffBaseMs: 1,
      });
      for (const module of ALL_MODULES) {
        sim.faults.add({ kind: 'expire-token', after: 1 });
        sim.faults.add({ kind: 'status', status: 500, after: 2, times: 5 });
        for (let i = 0; i < 3; i++) {
          const r = await runExport({
            module: getModule(module),
            config,
            client,
            store,
            invocation: {},
            deadline: () => Date.now() + 60_000,
            logger,
            now: () => new Date('2026-01-02T00:00:00Z'),
          });
          if (r.error) errors.push(r.error.message);
          if (r.status === 'done') break;
        }
        sim.faults.clear();
      }
      // A refused token and a wrong secret produce errors too.
      sim.faults.add({ kind: 'expire-token', times: 5 });
      const failed = await runExport({
        module: getModule('pci-scans'),
        config,
        client,
        store,
        invocation: {},
        deadline: () => Date.now() + 60_000,
        logger,
      });
      errors.push(failed.error?.message ?? '');
      const wrong = createLocalTokenProvider({
        credentials: {
          method: 'qualys-oidc',
          clientId: SENTINEL_ID,
          clientSecret: `${SENTINEL_SECRET}-wrong`,
        },
        endpoints: config.endpoints,
        tokenCheck: config.tokenCheck,
        fetch,
      });
      await wrong.getToken().catch((e: Error) => errors.push(e.message));

      expect(issued.length).toBeGreaterThanOrEqual(2);
      expect(errors.filter(Boolean).length).toBeGreaterThan(0);
      const haystacks: [string, string][] = [
        ['logs', logs.join('\n')],
        ['errors', errors.join('\n')],
      ];
      let objects = 0;
      for await (const file of walk(dir)) {
        const body = await readFile(file);
        haystacks.push([
          file,
          file.endsWith('.gz') ? gunzipSync(body).toString('utf8') : body.toString('utf8'),
        ]);
        objects++;
      }
      expect(objects).toBeGreaterThan(8); // parts, manifests and state files of four modules
      for (const [where, text] of haystacks) {
        expect(text.includes(SENTINEL_SECRET), `${where} contains the client secret`).toBe(false);
        for (const t of issued) expect(text.includes(t), `${where} contains a token`).toBe(false);
        expect(text, where).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
      }
    } finally {
      await sim.close();
    }
  });
});
