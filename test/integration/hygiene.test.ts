import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { emitRunMetrics } from '../../shared/app/metrics';
import { createLocalTokenProvider } from '../../shared/auth';
import { runExport } from '../../shared/export/engine';
import type { AppConfig } from '../../shared/config';
import { createLogger, type Logger } from '../../shared/log';
import { getModule } from '../../shared/modules';
import { createQualysClient } from '../../shared/qualys/client';
import type { TokenProvider } from '../../shared/qualys/types';
import { startSimulator, type Simulator } from '../sim';
import { addHeader, bodyText, withBody, withHeader } from '../fuzz/wire';
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

/**
 * Tokens from the simulator for the sentinel client (checked against its JWKS), noting every token handed out so
 * the outputs can be searched for them.
 */
function sentinelTokens(sim: Simulator, config: AppConfig, logger: Logger, issued: string[]): TokenProvider {
  const inner = createLocalTokenProvider({
    credentials: { method: 'qualys-oidc', clientId: SENTINEL_ID, clientSecret: SENTINEL_SECRET },
    endpoints: config.endpoints,
    tokenCheck: { ...config.tokenCheck, jwksUrl: sim.jwksUrl },
    fetch,
    logger,
  });
  const note = (t: string) => {
    if (!issued.includes(t)) issued.push(t);
    return t;
  };
  return {
    getToken: async () => note(await inner.getToken()),
    refresh: async () => note(await inner.refresh()),
  };
}

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
      const tokens = sentinelTokens(sim, config, logger, issued);
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

/**
 * Credentials planted in every position of a response that the exporter reads (bodies of errors, status texts,
 * headers of every answer, a redirect's Location, an EDR continuation id, a Mobile truncation URL, an HTML page):
 * no log line, error, run result, metric line, state file, manifest or part may hold any of them afterwards.
 */
describe('credentials planted in responses', () => {
  it('reach no output: logs, errors, results, metrics, state, manifests, parts', async () => {
    const PCI_PASSWORD = 'SENTINEL-pci-password-77c1';
    const sim = await startSimulator({
      counts: { pci: 25, certview: 25, edr: 25, mobile: 25, vmdr: 25, kb: 25 },
      auth: { clientId: SENTINEL_ID, clientSecret: SENTINEL_SECRET, pciPassword: PCI_PASSWORD },
      // The KnowledgeBase truncates too, so its continuation is a position where a credential is planted.
      dialect: { kbTruncation: 10 },
    });
    const basic = Buffer.from(`${sim.defaults.pciUsername}:${PCI_PASSWORD}`).toString('base64');
    const vmBasic = Buffer.from(`${sim.defaults.username}:${sim.defaults.password}`).toString('base64');
    const issued: string[] = [];
    const logs: string[] = [];
    const outputs: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const token = () => issued.at(-1) ?? 'no-token-yet';
    const everything = () =>
      `Bearer ${token()} Basic ${basic} Basic ${vmBasic} clientSecret=${SENTINEL_SECRET} password=${PCI_PASSWORD} ` +
      `vm=${sim.defaults.password}`;
    const once = new Set<string>();
    const first = (key: string) => !once.has(key) && once.add(key) !== undefined;
    sim.setMutator(({ path, reply }) => {
      // Every answer, token endpoints included, carries them in headers.
      let r = addHeader(reply, 'set-cookie', `session=${token()}; HttpOnly`);
      r = addHeader(r, 'www-authenticate', `Bearer error="invalid_token", token="${token()}"`);
      r = addHeader(r, 'x-echo', everything());
      if (reply.status !== 200 || !/^\/(pci|certview|ioc|sem|api)\//.test(path)) return r;
      const text = bodyText(r);
      if (path.startsWith('/pci/') && first('pci-redirect'))
        return withHeader(
          withBody({ ...r, status: 302 }, everything()),
          'location',
          `https://elsewhere.example/?token=${token()}&password=${PCI_PASSWORD}`,
        );
      if (path.startsWith('/pci/') && first('pci-500'))
        return withBody({ ...r, status: 500 }, JSON.stringify({ message: everything() }));
      if (path.startsWith('/certview/') && first('cert-409'))
        return withBody(
          { ...r, status: 409 },
          `<SIMPLE_RETURN><RESPONSE><CODE>2003</CODE><TEXT>${everything()}</TEXT></RESPONSE></SIMPLE_RETURN>`,
        );
      if (path.startsWith('/certview/') && first('cert-html'))
        return withHeader(
          withBody(r, `<html><body>${everything()}</body></html>`),
          'content-type',
          'text/html',
        );
      if (path === '/ioc/events/scroll' && text.includes('"scrollId"') && first('edr-id'))
        return withBody(r, text.replace(/"scrollId":"[^"]*"/, `"scrollId":${JSON.stringify(token())}`));
      if (path === '/ioc/events/count' && first('edr-count'))
        return withBody({ ...r, status: 400 }, everything());
      if (path.startsWith('/sem/') && text.includes('<URL>') && first('mobile-url'))
        return withBody(r, text.replace(/(<URL><!\[CDATA\[[^\]]*)/, `$1&access_token=${token()}`));
      // Host detections and the KB: a truncation URL carrying the Basic password, and a SIMPLE_RETURN echoing all.
      if (path.includes('/fo/asset/host/vm/detection') && text.includes('<URL>') && first('vmdr-url'))
        return withBody(r, text.replace(/(<URL><!\[CDATA\[[^\]]*)/, `$1&password=${sim.defaults.password}`));
      if (path.includes('/fo/knowledge_base/vuln') && first('kb-409'))
        return withBody(
          { ...r, status: 409 },
          `<SIMPLE_RETURN><RESPONSE><CODE>2003</CODE><TEXT>${everything()}</TEXT></RESPONSE></SIMPLE_RETURN>`,
        );
      return r;
    });
    try {
      const config = simConfig(sim);
      const { dir, store } = await tempStore();
      dirs.push(dir);
      const tokens = sentinelTokens(sim, config, logger, issued);
      const client = createQualysClient({
        gatewayUrl: sim.url,
        pciUrl: sim.url,
        apiUrl: sim.url,
        fetch,
        auth: {
          gateway: { scheme: 'bearer', tokens },
          pci: { scheme: 'basic', username: sim.defaults.pciUsername, password: PCI_PASSWORD },
          api: { scheme: 'basic', username: sim.defaults.username, password: sim.defaults.password },
        },
        timeoutMs: 5000,
        maxRetries: 2,
        concurrency: 2,
        backoffBaseMs: 1,
      });
      const failures: Record<string, number> = {};
      for (const module of ALL_MODULES) {
        for (let i = 0; i < 6; i++) {
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
          outputs.push(JSON.stringify(r));
          emitRunMetrics({ module, result: r, pages: 1, apiCalls: 1, retries: 0, durationMs: 1 }, (l) =>
            outputs.push(l),
          );
          if (r.status === 'failed') failures[module] = (failures[module] ?? 0) + 1;
          if (r.status === 'done') break;
        }
      }
      // Every planted position was met, and each refusal ended a run that a rerun completed.
      expect(once).toEqual(
        new Set([
          'pci-redirect',
          'pci-500',
          'cert-409',
          'cert-html',
          'edr-id',
          'edr-count',
          'mobile-url',
          'vmdr-url',
          'kb-409',
        ]),
      );
      expect(failures).toEqual({
        'pci-scans': 1,
        'certview-certificates': 1,
        'edr-events': 1,
        'mobile-assets': 1,
        'vmdr-detections': 1,
        knowledgebase: 1,
      });
      expect(outputs.filter((o) => o.includes('"status":"done"'))).toHaveLength(ALL_MODULES.length);
      const haystacks: [string, string][] = [
        ['logs', logs.join('\n')],
        ['results and metrics', outputs.join('\n')],
      ];
      for await (const file of walk(dir)) {
        const body = await readFile(file);
        haystacks.push([
          file,
          file.endsWith('.gz') ? gunzipSync(body).toString('utf8') : body.toString('utf8'),
        ]);
      }
      const planted = [...issued, SENTINEL_SECRET, PCI_PASSWORD, basic, vmBasic, sim.defaults.password];
      expect(issued.length).toBeGreaterThan(0);
      for (const [where, text] of haystacks) {
        for (const p of planted)
          expect(text.includes(p), `${where} contains a planted credential`).toBe(false);
        expect(text, where).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
      }
    } finally {
      await sim.close();
    }
  });
});
