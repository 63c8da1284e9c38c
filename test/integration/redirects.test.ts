import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkToken, createLocalTokenProvider, createPciAuth, obtainToken } from '../../shared/auth';
import { AUTH_METHODS, type AuthMethod, type Credentials, type ModuleName } from '../../shared/config';
import { AuthError } from '../../shared/errors';
import { createQualysClient } from '../../shared/qualys/client';
import type { RequestAuth } from '../../shared/qualys/types';
import { startSimulator, type Simulator } from '../sim';
import { manifestKeys, runUntilSettled, simConfig, simCredentials, tempStore } from '../support/harness';
import { startRecorder } from '../support/recorder';

/**
 * No credential of any kind reaches another origin: every request path the product has — each gateway auth
 * method's token endpoint, PCI Merchant's own auth (Basic and IdP), the JWKS, and every module's data calls (first
 * page, later pages, the EDR continuation and count, the Mobile truncation batch) — is answered with a redirect to
 * a recording server. The recorder must see no request at all, and the run must fail naming the redirect.
 */
let sim: Simulator;
let other: Awaited<ReturnType<typeof startRecorder>>;
beforeAll(async () => {
  sim = await startSimulator({ seed: 4, counts: { pci: 25, certview: 25, edr: 25, mobile: 25 } });
  other = await startRecorder();
});
afterAll(async () => {
  await Promise.all([sim.close(), other.close()]);
});

const REDIRECTS = [301, 302, 303, 307, 308];
/** The simulator's EDR events start at 2026-01-01T00:00Z: a day later they all fall in the first window. */
const NOW = () => new Date('2026-01-02T00:00:00.000Z');

const credentials = (method: AuthMethod): Credentials => simCredentials(sim, method);

const TOKEN_PATH: Record<AuthMethod, string> = {
  'qualys-oidc': '/auth/oidc',
  'qualys-oauth': '/auth/oauth',
  'qualys-basic': '/auth',
  'idp-password': '/oauth2/token',
  'idp-client-credentials': '/oauth2/token',
};

/** Everything the other origin received, and a check that it is nothing. */
function expectNothingElsewhere(): void {
  expect(other.requests, JSON.stringify(other.requests.map((r) => `${r.method} ${r.url}`))).toEqual([]);
}

function pciBasic(): RequestAuth {
  return { scheme: 'basic', username: sim.defaults.pciUsername, password: sim.defaults.pciPassword };
}

function clientFor(method: AuthMethod, pci: RequestAuth = pciBasic()) {
  const config = simConfig(sim);
  const tokens = createLocalTokenProvider({
    credentials: credentials(method),
    endpoints: config.endpoints,
    tokenCheck: { ...config.tokenCheck, jwksUrl: sim.jwksUrl },
    fetch,
  });
  const client = createQualysClient({
    gatewayUrl: sim.url,
    pciUrl: sim.url,
    fetch,
    auth: { gateway: { scheme: 'bearer', tokens }, pci },
    timeoutMs: 5000,
    maxRetries: 3,
    concurrency: 2,
    backoffBaseMs: 1,
    backoffMaxMs: 5,
  });
  return { config, client };
}

describe('the test can fail: without the policy, a redirect carries credentials away', () => {
  it('plain fetch follows a 307 from /auth/oidc and sends the clientSecret header to the other origin', async () => {
    sim.faults.clear();
    sim.faults.add({ kind: 'redirect', path: '/auth/oidc', url: other.url, status: 307 });
    await fetch(`${sim.url}/auth/oidc`, {
      method: 'POST',
      headers: { clientId: sim.defaults.clientId, clientSecret: sim.defaults.clientSecret },
    });
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]!.headers.clientsecret).toBe(sim.defaults.clientSecret);
    other.requests.length = 0;
  });
});

describe('token endpoints: every gateway auth method', () => {
  const cases = AUTH_METHODS.flatMap((method) => REDIRECTS.map((status) => ({ method, status })));
  it.each(cases)('$method, $status: refused, nothing sent elsewhere', async ({ method, status }) => {
    sim.faults.clear();
    sim.faults.add({ kind: 'redirect', path: TOKEN_PATH[method], url: other.url, status });
    const before = sim.stats().byPath[TOKEN_PATH[method]] ?? 0;
    const config = simConfig(sim);
    const err = (await obtainToken(credentials(method), config.endpoints, fetch, {
      maxRetries: 3,
      sleep: async () => {},
    }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain(`HTTP ${status} redirect to ${other.url} refused`);
    // Asked once: a redirect is final, not retried.
    expect((sim.stats().byPath[TOKEN_PATH[method]] ?? 0) - before).toBe(1);
    expectNothingElsewhere();
  });
});

describe('the JWKS jose fetches', () => {
  it.each(REDIRECTS)('%i: the token is refused, the JWKS request never leaves', async (status) => {
    sim.faults.clear();
    sim.faults.add({ kind: 'redirect', path: '/.well-known/jwks.json', url: other.url, status });
    const token = await sim.issueToken();
    // A fetch of its own, so jose's per-fetch JWKS cache starts empty.
    const own: typeof fetch = (i, o) => fetch(i, o);
    const err = (await checkToken(
      token,
      { jwksUrl: sim.jwksUrl, maxLifetimeSeconds: 86_400 },
      new Date(),
      own,
    ).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toMatch(new RegExp(`JWKS request .*HTTP ${status} redirect to ${other.url} refused`));
    expectNothingElsewhere();
  });
});

/** Data paths: where the redirect hits, as a simulator fault path and how many answers pass first. */
const DATA: { module: ModuleName; name: string; path: string; after: number }[] = [
  { module: 'pci-scans', name: 'first page', path: '/pci/', after: 0 },
  { module: 'pci-scans', name: 'a later page', path: '/pci/', after: 1 },
  { module: 'certview-certificates', name: 'first page', path: '/certview/', after: 0 },
  { module: 'certview-certificates', name: 'a later page', path: '/certview/', after: 1 },
  { module: 'edr-events', name: 'scroll open', path: '/ioc/events/scroll', after: 0 },
  { module: 'edr-events', name: 'scroll continuation', path: '/ioc/events/scroll', after: 1 },
  { module: 'edr-events', name: 'window count', path: '/ioc/events/count', after: 0 },
  { module: 'mobile-assets', name: 'first batch', path: '/sem/', after: 0 },
  { module: 'mobile-assets', name: 'truncation batch', path: '/sem/', after: 1 },
];

async function failsWithoutLeaving(
  module: ModuleName,
  client: ReturnType<typeof clientFor>['client'],
  config: ReturnType<typeof clientFor>['config'],
) {
  const { dir, store } = await tempStore();
  const { result } = await runUntilSettled(module, config, client, store, { now: NOW });
  expect(result.status).toBe('failed');
  expect(result.error?.code).toBe('redirect');
  expect(result.error?.message).toMatch(new RegExp(`HTTP 3\\d\\d redirect to ${other.url} refused`));
  expect(await manifestKeys(dir)).toEqual([]);
  expectNothingElsewhere();
}

describe('data calls: every module, every path, under every gateway auth method', () => {
  const cases = DATA.filter((d) => d.module !== 'pci-scans').flatMap((d) =>
    AUTH_METHODS.map((method, k) => ({ ...d, method, status: REDIRECTS[k % REDIRECTS.length]! })),
  );
  it.each(cases)(
    '$module $name ($method, $status): the run fails, nothing sent elsewhere',
    async ({ module, path, after, method, status }) => {
      sim.faults.clear();
      sim.faults.add({ kind: 'redirect', path, after, status, url: other.url });
      const { client, config } = clientFor(method);
      await failsWithoutLeaving(module, client, config);
      expect(sim.faults.hits).toBeGreaterThan(0);
    },
  );
});

describe('PCI Merchant: Basic and IdP auth', () => {
  const pciIdp = (method: 'idp-password' | 'idp-client-credentials') =>
    createPciAuth({
      credentials:
        method === 'idp-password'
          ? {
              method,
              tokenUrl: sim.tokenUrl,
              clientId: sim.defaults.clientId,
              username: sim.defaults.username,
              password: sim.defaults.password,
            }
          : {
              method,
              tokenUrl: sim.tokenUrl,
              clientId: sim.defaults.clientId,
              clientSecret: sim.defaults.clientSecret,
            },
      pciUrl: sim.url,
      fetch,
      maxLifetimeSeconds: 86_400,
      retry: { maxRetries: 2, sleep: async () => {} },
    });
  const cases = [
    ...DATA.filter((d) => d.module === 'pci-scans').map((d) => ({ ...d, auth: 'basic' as const })),
    ...(['idp-password', 'idp-client-credentials'] as const).flatMap((auth) => [
      ...DATA.filter((d) => d.module === 'pci-scans').map((d) => ({ ...d, auth })),
      { module: 'pci-scans' as const, name: 'its IdP token request', path: '/oauth2/token', after: 0, auth },
    ]),
  ];
  it.each(cases)('$auth, $name: the run fails, nothing sent elsewhere', async ({ auth, path, after }) => {
    sim.faults.clear();
    sim.faults.add({ kind: 'redirect', path, after, status: 307, url: other.url });
    const { client, config } = clientFor('qualys-oidc', auth === 'basic' ? pciBasic() : pciIdp(auth));
    const { dir, store } = await tempStore();
    const { result } = await runUntilSettled('pci-scans', config, client, store, { now: NOW });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(new RegExp(`HTTP 307 redirect to ${other.url} refused`));
    expect(await manifestKeys(dir)).toEqual([]);
    expectNothingElsewhere();
  });
});
