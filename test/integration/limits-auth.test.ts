import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLocalTokenProvider,
  createPciAuth,
  obtainToken,
  refreshToken,
  type TokenStore,
} from '../../shared/auth';
import type { StoredToken } from '../../shared/auth/types';
import type { AppConfig, Credentials } from '../../shared/config';
import { AuthError, QualysHttpError, ResumeLaterError } from '../../shared/errors';
import { runExport } from '../../shared/export/engine';
import { createLogger } from '../../shared/log';
import { getModule } from '../../shared/modules';
import { createQualysClient } from '../../shared/qualys/client';
import type { ClientOptions, QualysClient, RequestAuth } from '../../shared/qualys/types';
import { startSimulator, type Simulator, type SimOptions } from '../sim';
import {
  compareIds,
  idOf,
  readRunFromDir,
  runUntilSettled,
  simConfig,
  simTokens,
  tempStore,
} from '../support/harness';

/**
 * The client over real HTTP against the simulator's auth and limit dialects: 409 account codes, the real 1965
 * body, the wait header only on a repeated blocked call, pacing under a small window, token-endpoint faults,
 * an IdP answering an opaque token, PCI Merchant's own auth, /auth/oauth.
 */
const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});
async function sim(opts: SimOptions = {}): Promise<Simulator> {
  const s = await startSimulator({
    seed: 11,
    counts: { pci: 60, certview: 60, edr: 60, mobile: 60 },
    ...opts,
  });
  sims.push(s);
  return s;
}

function pciBasic(s: Simulator): RequestAuth {
  return { scheme: 'basic', username: s.defaults.pciUsername, password: s.defaults.pciPassword };
}

/** PCI Merchant through the simulator's IdP with client credentials (its own JWT); `opts` over the defaults. */
function pciIdpAuth(
  s: Simulator,
  config: AppConfig,
  opts: Partial<Parameters<typeof createPciAuth>[0]> = {},
): RequestAuth {
  return createPciAuth({
    credentials: {
      method: 'idp-client-credentials',
      tokenUrl: s.tokenUrl,
      clientId: s.defaults.clientId,
      clientSecret: s.defaults.clientSecret,
    },
    pciUrl: config.endpoints.pciUrl,
    fetch,
    maxLifetimeSeconds: 86_400,
    ...opts,
  });
}

/** A client with PCI Basic auth, the gateway's OIDC token, fast backoff and optional injected sleep. */
function client(s: Simulator, config: AppConfig, opts: Partial<ClientOptions> = {}): QualysClient {
  return createQualysClient({
    gatewayUrl: config.endpoints.gatewayUrl,
    pciUrl: config.endpoints.pciUrl,
    fetch,
    auth: { gateway: { scheme: 'bearer', tokens: simTokens(s, config) }, pci: pciBasic(s) },
    timeoutMs: 5000,
    maxRetries: 3,
    concurrency: 2,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
    ...opts,
  });
}

/** Injected sleep: records the wait and returns at once (no real time passes). */
function recordingSleep(into: number[]) {
  return async (ms: number) => {
    into.push(ms);
  };
}

describe('409 codes that no wait fixes', () => {
  it.each([
    [2003, '/sem/', 'mobile-assets', /Registration must be completed/],
    [2011, '/pci/', 'pci-scans', /SecureID .* API access is blocked/],
  ] as const)(
    'code %i on %s fails the run at once, naming code and text',
    async (code, path, module, text) => {
      const s = await sim();
      s.faults.add({ kind: 'simple-return', code, path, after: 1 });
      const config = simConfig(s);
      const { store } = await tempStore();
      const c = client(s, config);
      const { result } = await runUntilSettled(module, config, c, store);
      expect(result.status).toBe('failed');
      expect(result.error?.message).toMatch(new RegExp(`409 code ${code}: `));
      expect(result.error?.message).toMatch(text);
      expect(c.stats().retries).toBe(0);
      expect(s.faults.hits).toBe(1);
      // A direct call says the same, with the code on the error.
      s.faults.add({ kind: 'simple-return', code, path });
      const err = (await c
        .request({
          url: path === '/pci/' ? '/pci/scan/list' : '/sem/v1/assetList?action=list',
          base: path === '/pci/' ? 'pci' : 'gateway',
        })
        .catch((e: unknown) => e)) as QualysHttpError;
      expect(err).toBeInstanceOf(QualysHttpError);
      expect(err.apiCode).toBe(code);
    },
  );
});

describe('1965: the real body', () => {
  it('waits SECONDS_TO_WAIT (injected sleep), never a number read from "23 hours, 57 minutes and 54 seconds"', async () => {
    const s = await sim({ dialect: { rateLimitBody: 'documented', rateLimitWaitHeader: 'never' } });
    s.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 86_274 }); // 23 h 57 min 54 s
    const config = simConfig(s);
    const sleeps: number[] = [];
    const c = client(s, config, { sleep: recordingSleep(sleeps) });
    const res = await c.request({ url: '/pci/scan/list', base: 'pci', query: { limit: 1 } });
    expect(res.status).toBe(200);
    expect(sleeps).toEqual([86_274_000]);
  });

  it('a SECONDS_TO_WAIT beyond the invocation is ResumeLater, and the engine returns continue with that wait', async () => {
    const s = await sim({ dialect: { rateLimitBody: 'documented' } });
    s.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 68_928, after: 2 });
    const config = simConfig(s);
    const { store } = await tempStore();
    const c = client(s, config, { deadline: () => Date.now() + 60_000 });
    const r = await runExport({
      module: getModule('pci-scans'),
      config,
      client: c,
      store,
      invocation: {},
      deadline: () => Date.now() + 600_000,
    });
    expect(r.status).toBe('continue');
    expect(r.waitSeconds).toBe(68_928);
    expect(c.stats().waitMs).toBe(0);
    const { result } = await runUntilSettled('pci-scans', config, client(s, config), store);
    expect(result.status).toBe('done');
    expect(result.records).toBe(60);
  });

  it('the wait header only on a repeated blocked call: one quick repeat learns it', async () => {
    const s = await sim({ dialect: { rateLimitBody: 'bare', rateLimitWaitHeader: 'repeat' } });
    s.faults.add({ kind: 'rate-limit', path: '/sem/', waitSec: 45, times: 2 });
    const config = simConfig(s);
    const sleeps: number[] = [];
    const c = client(s, config, { sleep: recordingSleep(sleeps), random: () => 1 });
    await c.request({
      url: '/sem/v1/assetList',
      query: { action: 'list', truncation_limit: 1 },
      accept: 'xml',
    });
    expect(sleeps).toEqual([5, 45_000]);
  });

  it('no wait stated at all: the documented fallback (3601 s), as ResumeLater in a short invocation', async () => {
    const s = await sim({ dialect: { rateLimitBody: 'bare', rateLimitWaitHeader: 'never' } });
    s.faults.add({ kind: 'rate-limit', path: '/sem/', waitSec: 45, times: 2 });
    const config = simConfig(s);
    const c = client(s, config, { deadline: () => Date.now() + 60_000 });
    const err = await c
      .request({ url: '/sem/v1/assetList', query: { action: 'list' }, accept: 'xml' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResumeLaterError);
    expect((err as ResumeLaterError).waitMs).toBe(3_601_000);
  });
});

describe('pacing', () => {
  it('a run longer than the window stays under the limit: no 409, every record, calls held for the reset', async () => {
    const s = await sim({ counts: { pci: 120 }, limits: { rate: { calls: 8, windowSec: 1 } } });
    const config = simConfig(s); // 10 per page: 13 calls, so at least two windows
    const { dir, store } = await tempStore();
    const c = client(s, config, { rateReserve: 2 });
    const { result } = await runUntilSettled('pci-scans', config, c, store);
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(s.stats().byPath['/pci/scan/list']).toBeGreaterThan(8); // more calls than one window allows
    expect(s.stats().rejected).toBe(0);
    expect(c.stats().rateLimited).toBe(0);
    expect(c.stats().paced).toBeGreaterThan(0);
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(
      compareIds(
        s.expectedIds('pci-scans'),
        run.records.map((r) => idOf('pci-scans', r)),
      ),
    ).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });

  it('never runs more requests in flight than the server states (VMDR spelling X-ConcurrencyLimit-Limit)', async () => {
    const s = await sim({
      counts: { pci: 200 },
      limits: { concurrency: 1 },
      latencyMs: 10,
      dialect: { concurrencyHeader: 'X-ConcurrencyLimit-Limit' },
    });
    const config = simConfig(s, { QUALYS_CONCURRENCY: '4' });
    const { store } = await tempStore();
    const c = client(s, config, { concurrency: 4 });
    await c.request({ url: '/pci/scan/list', base: 'pci', query: { limit: 1 } }); // learns the limit
    const { result } = await runUntilSettled('pci-scans', config, c, store);
    expect(result.status).toBe('done');
    expect(s.stats().maxConcurrent).toBe(1);
    expect(s.stats().rejected).toBe(0);
  });
});

describe('token endpoints', () => {
  it('one 503 and one reset on /auth/oidc do not fail the run', async () => {
    const s = await sim();
    s.faults.add({ kind: 'status', status: 503, path: '/auth/oidc' });
    s.faults.add({ kind: 'reset', path: '/auth/oidc' });
    const config = simConfig(s);
    const tokens = createLocalTokenProvider({
      credentials: {
        method: 'qualys-oidc',
        clientId: s.defaults.clientId,
        clientSecret: s.defaults.clientSecret,
      },
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch,
      retry: { backoffBaseMs: 5 },
    });
    const { store } = await tempStore();
    const c = client(s, config, { auth: { gateway: { scheme: 'bearer', tokens }, pci: pciBasic(s) } });
    const { result } = await runUntilSettled('certview-certificates', config, c, store);
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(s.faults.hits).toBe(2);
    expect(s.stats().byPath['/auth/oidc']).toBe(3);
  });

  it('the token-refresh job retries a 503 from the IdP too; a 4xx is not retried', async () => {
    const s = await sim();
    s.faults.add({ kind: 'status', status: 503, path: '/oauth2/token' });
    const config = simConfig(s);
    let stored: StoredToken | undefined;
    const store: TokenStore = {
      read: async () => (stored ? { token: stored, versionId: '1' } : undefined),
      write: async (t) => {
        stored = t;
        return '1';
      },
      describe: () => 'memory',
    };
    const creds: Credentials = {
      method: 'idp-client-credentials',
      tokenUrl: s.tokenUrl,
      clientId: s.defaults.clientId,
      clientSecret: s.defaults.clientSecret,
    };
    const r = await refreshToken({
      credentials: creds,
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch,
      store,
      retry: { backoffBaseMs: 5 },
    });
    expect(r.refreshed).toBe(true);
    expect(s.faults.hits).toBe(1);
    expect(s.stats().byPath['/oauth2/token']).toBe(2);
    const before = s.stats().byPath['/oauth2/token']!;
    await expect(
      obtainToken({ ...creds, clientSecret: 'wrong-secret-1' }, config.endpoints, fetch),
    ).rejects.toThrow(/HTTP 401: 'invalid_client: Client authentication failed'/);
    expect(s.stats().byPath['/oauth2/token']! - before).toBe(1);
  });

  it('an IdP answering an opaque access token: the run fails, and the token is in no error, log line or file', async () => {
    const s = await sim({ dialect: { idpAccessToken: 'opaque' } });
    const issued: string[] = [];
    // Watch the wire to learn the opaque value the IdP sent (the exporter itself must never show it).
    const watching: typeof fetch = async (input, init) => {
      const r = await fetch(input, init);
      if (String(input).endsWith('/oauth2/token')) {
        const j = (await r.clone().json()) as { access_token?: string };
        if (j.access_token) issued.push(j.access_token);
      }
      return r;
    };
    const logs: string[] = [];
    const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const config = simConfig(s);
    const pci = pciIdpAuth(s, config, { fetch: watching, logger, retry: { backoffBaseMs: 5 } });
    const { dir, store } = await tempStore();
    const c = client(s, config, {
      fetch: watching,
      auth: { pci, gateway: { scheme: 'unconfigured', message: 'none' } },
    });
    const thrown: string[] = [];
    const r = await runExport({
      module: getModule('pci-scans'),
      config,
      client: c,
      store,
      invocation: {},
      deadline: () => Date.now() + 60_000,
      logger,
    });
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/access_token that is not a JWT \(an opaque value of 32 characters\)/);
    if (pci.scheme === 'bearer')
      await pci.tokens.getToken().catch((e: Error) => thrown.push(e.message, String(e.stack)));
    expect(issued.length).toBeGreaterThanOrEqual(2);
    const haystacks = [JSON.stringify(r), logs.join('\n'), thrown.join('\n')];
    for (const f of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (f.isFile()) haystacks.push(await readFile(join(f.parentPath, f.name), 'utf8'));
    }
    expect(haystacks.length).toBeGreaterThan(3);
    for (const h of haystacks) for (const t of issued) expect(h.includes(t)).toBe(false);
    expect(logs.join('\n')).toMatch(/not a JWT/);
  });
});

describe('PCI Merchant auth dialects', () => {
  it('documented PCI: Basic and IdP JWTs work, a gateway token is refused with a hint, apiVersion is required', async () => {
    const s = await sim({ dialect: { pciAuth: 'documented', pciRequireApiVersion: true } });
    const config = simConfig(s);
    const q = { url: '/pci/scan/list', base: 'pci' as const, query: { limit: 5 } };
    await expect(client(s, config).request(q)).resolves.toMatchObject({ status: 200 });
    const idp = createPciAuth({
      credentials: {
        method: 'idp-password',
        tokenUrl: s.tokenUrl,
        clientId: s.defaults.clientId,
        username: s.defaults.username,
        password: s.defaults.password,
      },
      pciUrl: config.endpoints.pciUrl,
      fetch,
      maxLifetimeSeconds: 86_400,
    });
    await expect(client(s, config, { auth: { pci: idp } }).request(q)).resolves.toMatchObject({
      status: 200,
    });
    const gatewayOnPci = client(s, config, { auth: undefined, tokens: simTokens(s, config) });
    const err = await gatewayOnPci.request(q).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(/PCI Merchant takes its own account/);
    const raw = await fetch(`${s.url}/pci/scan/list`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${s.defaults.pciUsername}:${s.defaults.pciPassword}`).toString('base64')}`,
      },
    });
    expect(raw.status).toBe(400);
  });

  it("the first build's dialect (bearer only) still works with a PCI IdP token", async () => {
    const s = await sim({ dialect: { pciAuth: 'bearer-only' } });
    const config = simConfig(s);
    const idp = pciIdpAuth(s, config);
    const { store } = await tempStore();
    const { result } = await runUntilSettled(
      'pci-scans',
      config,
      client(s, config, { auth: { pci: idp } }),
      store,
    );
    expect(result.status).toBe('done');
    expect(result.records).toBe(60);
    await expect(client(s, config).request({ url: '/pci/scan/list', base: 'pci' })).rejects.toThrow(
      /rejected the Basic credentials/,
    );
  });
});

describe('/auth/oauth for subscription-level clients', () => {
  it('split dialect: each endpoint takes only its own kind of client', async () => {
    const s = await sim({ dialect: { oauthClients: 'split' } });
    const endpoints = { gatewayUrl: s.url, pciUrl: s.url };
    const sub = {
      clientId: s.defaults.subscriptionClientId,
      clientSecret: s.defaults.subscriptionClientSecret,
    };
    const user = { clientId: s.defaults.clientId, clientSecret: s.defaults.clientSecret };
    await expect(obtainToken({ method: 'qualys-oauth', ...sub }, endpoints, fetch)).resolves.toHaveProperty(
      'accessToken',
    );
    await expect(obtainToken({ method: 'qualys-oidc', ...user }, endpoints, fetch)).resolves.toHaveProperty(
      'accessToken',
    );
    await expect(obtainToken({ method: 'qualys-oidc', ...sub }, endpoints, fetch)).rejects.toThrow(
      /auth\/oidc was refused with HTTP 401/,
    );
    await expect(obtainToken({ method: 'qualys-oauth', ...user }, endpoints, fetch)).rejects.toThrow(
      /auth\/oauth was refused with HTTP 401/,
    );
    // The subscription token works on a gateway API.
    const config = simConfig(s);
    const tokens = createLocalTokenProvider({
      credentials: { method: 'qualys-oauth', ...sub },
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch,
    });
    const { store } = await tempStore();
    const { result } = await runUntilSettled(
      'certview-certificates',
      config,
      client(s, config, { auth: { gateway: { scheme: 'bearer', tokens }, pci: pciBasic(s) } }),
      store,
    );
    expect(result.status).toBe('done');
  });
});
