import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDialectArg, startSimulator, type Simulator } from '../sim';
import { parseFaultArg } from '../sim/faults';

/** The simulator's auth and limit dialects, checked on the wire with plain fetch (no client code involved). */
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ counts: { pci: 5, mobile: 5 } });
});
afterAll(async () => {
  await sim.close();
});

const basic = () =>
  `Basic ${Buffer.from(`${sim.defaults.pciUsername}:${sim.defaults.pciPassword}`).toString('base64')}`;
async function gatewayToken(): Promise<string> {
  const r = await fetch(`${sim.url}/auth/oidc`, {
    method: 'POST',
    headers: { clientId: sim.defaults.clientId, clientSecret: sim.defaults.clientSecret },
  });
  return r.text();
}
const pci = (authorization: string, headers: Record<string, string> = {}) =>
  fetch(`${sim.url}/pci/scan/list?limit=1`, { headers: { authorization, ...headers } });

describe('simulator dialects on the wire', () => {
  it('pciAuth: any / documented / bearer-only; pciRequireApiVersion', async () => {
    const gw = `Bearer ${await gatewayToken()}`;
    sim.setDialect({ pciAuth: 'any', pciRequireApiVersion: false });
    expect((await pci(basic())).status).toBe(200);
    expect((await pci(gw)).status).toBe(200);
    expect((await pci('Basic ' + Buffer.from('pci-demo:wrong').toString('base64'))).status).toBe(401);
    sim.setDialect({ pciAuth: 'documented' });
    expect((await pci(basic())).status).toBe(200);
    expect((await pci(gw)).status).toBe(401);
    sim.setDialect({ pciAuth: 'bearer-only' });
    expect((await pci(basic())).status).toBe(401);
    expect((await pci(gw)).status).toBe(200);
    sim.setDialect({ pciAuth: 'any', pciRequireApiVersion: true });
    expect((await pci(basic())).status).toBe(400);
    expect((await pci(basic(), { apiVersion: 'V1' })).status).toBe(200);
    sim.setDialect({ pciRequireApiVersion: false });
  });

  it('rateLimitBody documented / bare, rateLimitWaitHeader repeat / never', async () => {
    const auth = { authorization: basic() };
    sim.setDialect({ rateLimitBody: 'documented', rateLimitWaitHeader: 'repeat' });
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 86_274, times: 2 });
    const first = await fetch(`${sim.url}/pci/scan/list`, { headers: auth });
    const body = await first.text();
    expect(first.status).toBe(409);
    expect(body).toContain('<CODE>1965</CODE>');
    expect(body).toContain('for another 23 hours, 57 minutes and 54 seconds');
    expect(body).toMatch(
      /<ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT<\/KEY><VALUE>86274<\/VALUE><\/ITEM><\/ITEM_LIST>/,
    );
    expect(first.headers.get('x-ratelimit-towait-sec')).toBeNull();
    const repeat = await fetch(`${sim.url}/pci/scan/list`, { headers: auth });
    expect(repeat.headers.get('x-ratelimit-towait-sec')).toBe('86274');
    sim.setDialect({ rateLimitBody: 'bare', rateLimitWaitHeader: 'never' });
    sim.faults.add({ kind: 'rate-limit', path: '/pci/', waitSec: 5, times: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${sim.url}/pci/scan/list`, { headers: auth });
      expect(r.headers.get('x-ratelimit-towait-sec')).toBeNull();
      expect(await r.text()).not.toContain('SECONDS_TO_WAIT');
    }
    sim.setDialect({ rateLimitBody: 'short', rateLimitWaitHeader: 'always' });
  });

  it('simple-return answers 409 with the documented account codes', async () => {
    const token = await gatewayToken();
    sim.faults.add({ kind: 'simple-return', path: '/sem/', code: 2011 });
    const r = await fetch(`${sim.url}/sem/v1/assetList?action=list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(409);
    const text = await r.text();
    expect(text).toContain('<CODE>2011</CODE>');
    expect(text).toMatch(/SecureID .* API access is blocked/);
  });

  it('oauthClients split, idpAccessToken opaque, token endpoint faults, concurrency header spelling', async () => {
    const post = (path: string, id: string, secret: string) =>
      fetch(`${sim.url}${path}`, { method: 'POST', headers: { clientId: id, clientSecret: secret } });
    const d = sim.defaults;
    expect((await post('/auth/oauth', d.subscriptionClientId, d.subscriptionClientSecret)).status).toBe(200);
    expect((await post('/auth/oidc', d.subscriptionClientId, d.subscriptionClientSecret)).status).toBe(200);
    sim.setDialect({ oauthClients: 'split' });
    expect((await post('/auth/oidc', d.subscriptionClientId, d.subscriptionClientSecret)).status).toBe(401);
    expect((await post('/auth/oauth', d.clientId, d.clientSecret)).status).toBe(401);
    sim.setDialect({ oauthClients: 'shared', idpAccessToken: 'opaque' });
    const idp = await fetch(sim.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: d.clientId,
        client_secret: d.clientSecret,
      }),
    });
    const { access_token } = (await idp.json()) as { access_token: string };
    expect(access_token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    sim.setDialect({ idpAccessToken: 'jwt' });
    sim.faults.add({ kind: 'status', path: '/auth/oidc' });
    const down = await post('/auth/oidc', d.clientId, d.clientSecret);
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/html/);
    sim.faults.add({ kind: 'status' }); // no path: data paths only, never a token endpoint
    expect((await post('/auth/oidc', d.clientId, d.clientSecret)).status).toBe(200);
    sim.faults.clear();
    sim.setLimits({ concurrency: 2 });
    sim.setDialect({ concurrencyHeader: 'X-ConcurrencyLimit-Limit' });
    const r = await pci(basic());
    expect(r.headers.get('x-concurrencylimit-limit')).toBe('2');
    expect(r.headers.get('x-concurrency-limit-limit')).toBeNull();
    sim.setLimits({});
  });

  it('the CLI forms parse and refuse unknown values', () => {
    expect(parseDialectArg('pciAuth=documented,pciRequireApiVersion=true')).toEqual({
      pciAuth: 'documented',
      pciRequireApiVersion: true,
    });
    expect(() => parseDialectArg('pciAuth=maybe')).toThrow(
      /pciAuth must be one of any, documented, bearer-only/,
    );
    expect(() => parseDialectArg('colour=blue')).toThrow(/--dialect/);
    expect(parseFaultArg('simple-return:/sem:code=2003')).toEqual({
      kind: 'simple-return',
      path: '/sem',
      code: 2003,
    });
  });
});
