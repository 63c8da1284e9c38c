import { describe, expect, it } from 'vitest';
import { checkToken, obtainToken } from '../../shared/auth';
import type { Credentials } from '../../shared/config';
import { AuthError, PolicyError, QualysHttpError, ResumeLaterError } from '../../shared/errors';
import { addSecret, redact } from '../../shared/log';
import { createQualysClient } from '../../shared/qualys/client';
import { AdjustableSemaphore, Pacer } from '../../shared/qualys/pacer';
import { classify, RESPONSE_TABLE, type Action, type Observation } from '../../shared/qualys/responses';
import type { ClientOptions, RequestAuth } from '../../shared/qualys/types';

const res = (
  status: number,
  text = '',
  headers: Record<string, string> = {},
  auth: 'bearer' | 'basic' = 'bearer',
): Observation => ({
  type: 'response',
  status,
  headers: new Headers(headers),
  text,
  auth,
});
const simpleReturn = (code: number, text: string, items = '') =>
  `<?xml version="1.0"?><SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-01T00:00:00Z</DATETIME><CODE>${code}</CODE>` +
  `<TEXT>${text}</TEXT>${items}</RESPONSE></SIMPLE_RETURN>`;
const REAL_1965_TEXT = 'This API cannot be run again for another 23 hours, 57 minutes and 54 seconds.';
const SECONDS_ITEM = '<ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>68928</VALUE></ITEM></ITEM_LIST>';

describe('the response table', () => {
  const cases: [string, Observation, Action['do']][] = [
    ['network-timeout', { type: 'network', kind: 'timeout' }, 'retry'],
    ['network-error', { type: 'network', kind: 'reset' }, 'retry'],
    ['network-error', { type: 'network', kind: 'refused' }, 'retry'],
    ['unreadable-body', { type: 'unreadable' }, 'retry'],
    ['accepted-status', { ...res(404, '{}'), acceptStatuses: [404] } as Observation, 'accept'],
    ['success', res(200, '{}'), 'accept'],
    ['success', res(201, 'x'), 'accept'],
    ['unauthorized-bearer', res(401, '{"message":"JWT expired"}'), 'refresh-and-replay'],
    ['unauthorized-basic', res(401, '', {}, 'basic'), 'fail'],
    ['concurrency-limit', res(409, simpleReturn(1960, 'too many')), 'wait'],
    ['rate-limit', res(409, simpleReturn(1965, REAL_1965_TEXT, SECONDS_ITEM)), 'wait'],
    ['rate-limit', res(409, '{"code": 1965, "message": "x"}'), 'wait'],
    ['gateway-rate-limit', res(429, '{}'), 'wait'],
    ['limit-without-code', res(409, 'busy', { 'X-RateLimit-ToWait-Sec': '5' }), 'wait'],
    ['account-refused', res(409, simpleReturn(2003, 'Registration must be completed')), 'fail'],
    ['account-refused', res(409, simpleReturn(2011, 'SecureID API access is blocked')), 'fail'],
    ['account-refused', res(409, 'conflict'), 'fail'],
    ['request-timeout', res(408), 'retry'],
    ['server-error', res(500), 'retry'],
    ['server-error', res(503, 'maintenance', { 'Retry-After': '30' }), 'retry'],
    ['client-error', res(400), 'fail'],
    ['client-error', res(403), 'fail'],
    ['client-error', res(404), 'fail'],
    ['unexpected', res(302), 'fail'],
    ['unexpected', res(101), 'fail'],
  ];
  it.each(cases)('%s ← %j', (id, obs, action) => {
    const rule = classify(obs);
    expect(rule.id).toBe(id);
    expect(rule.action.do).toBe(action);
  });

  it('every row of the table is exercised above, and the last row catches everything', () => {
    const covered = new Set(cases.map(([id]) => id));
    expect(RESPONSE_TABLE.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
    expect(new Set(RESPONSE_TABLE.map((r) => r.id)).size).toBe(RESPONSE_TABLE.length);
    expect(RESPONSE_TABLE.at(-1)!.when(res(999))).toBe(true);
  });

  it('1960 and 1965 are the only 409 codes that wait', () => {
    for (let code = 1900; code < 2100; code++) {
      const rule = classify(res(409, simpleReturn(code, 'x')));
      expect(rule.action.do, String(code)).toBe(code === 1960 || code === 1965 ? 'wait' : 'fail');
    }
  });
});

// ------------------------------------------------------------------------- the client reads the table

type Scripted = Response | Error | ((init: RequestInit | undefined) => Promise<Response>);

function scripted(responses: Scripted[]) {
  const seen: { url: string; headers: Headers; init?: RequestInit }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const f: typeof fetch = async (input, init) => {
    seen.push({ url: String(input), headers: new Headers(init?.headers), init });
    const next = responses.shift();
    if (!next) throw new Error('no more scripted responses');
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (next instanceof Error) throw next;
      if (typeof next === 'function') return await next(init);
      return next;
    } finally {
      inFlight--;
    }
  };
  return { fetch: f, seen, maxInFlight: () => maxInFlight };
}

function client(f: typeof fetch, opts: Partial<ClientOptions> = {}) {
  const sleeps: number[] = [];
  let t = 1_000_000;
  let refreshes = 0;
  const c = createQualysClient({
    gatewayUrl: 'https://gw.example.com',
    pciUrl: 'https://pci.example.com',
    fetch: f,
    tokens: { getToken: async () => `tok-${refreshes}`, refresh: async () => `tok-${++refreshes}` },
    timeoutMs: 1000,
    maxRetries: 3,
    concurrency: 2,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    random: () => 0.5,
    ...opts,
  });
  return { c, sleeps, refreshes: () => refreshes, advance: (ms: number) => (t += ms) };
}

/** A scripted answer; a JSON Content-Type unless `headers` name one (the client checks it on a 2xx). */
const resp = (status: number, body = '', headers: Record<string, string> = {}) =>
  new Response(status === 204 || status === 101 ? null : body, {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('client rows over a scripted fetch', () => {
  it('network-timeout: an attempt that never answers is aborted and retried', async () => {
    const hang = (init: RequestInit | undefined) =>
      new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)),
      );
    const s = scripted([hang, resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch, { timeoutMs: 20, now: Date.now });
    await expect(c.request({ url: '/x' })).resolves.toMatchObject({ status: 200 });
    expect(sleeps).toHaveLength(1);
  });

  it('network-error: a reset is retried with backoff', async () => {
    const reset = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    const s = scripted([reset, resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([250]);
  });

  it('accepted-status: a declared status reaches the parser instead of failing', async () => {
    const s = scripted([resp(404, 'no such endpoint')]);
    const { c } = client(s.fetch);
    await expect(c.call({ url: '/ioc/events/count', acceptStatuses: [404] }, (r) => r.status)).resolves.toBe(
      404,
    );
  });

  it('unauthorized-bearer: refresh once and replay; a second 401 is an AuthError', async () => {
    const s = scripted([resp(401, '{"message":"JWT expired"}'), resp(200, 'ok')]);
    const { c } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(s.seen.map((r) => r.headers.get('authorization'))).toEqual(['Bearer tok-0', 'Bearer tok-1']);
    const s2 = scripted([resp(401), resp(401, '{"message":"Not authenticated"}')]);
    await expect(client(s2.fetch).c.request({ url: '/x' })).rejects.toThrow(/freshly refreshed token/);
  });

  it('unauthorized-basic: PCI Basic credentials refused fail at once, without a refresh', async () => {
    const s = scripted([resp(401, '{"message":"Bad username or password"}')]);
    const pci: RequestAuth = { scheme: 'basic', username: 'merchant', password: 'pci-pass-7781' };
    const { c, refreshes } = client(s.fetch, { auth: { pci } });
    const err = await c.request({ url: '/pci/scan/list', base: 'pci' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(
      /PCI Merchant rejected the Basic credentials.*cannot fix Basic auth/,
    );
    expect((err as Error).message).not.toContain('pci-pass-7781');
    expect(s.seen).toHaveLength(1);
    expect(refreshes()).toBe(0);
  });

  it('concurrency-limit (1960): waits what the header says, else backs off', async () => {
    const s = scripted([
      resp(409, simpleReturn(1960, 'running'), { 'X-RateLimit-ToWait-Sec': '3' }),
      resp(409, simpleReturn(1960, 'running')),
      resp(200, 'ok'),
    ]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/sem/v1/assetList' });
    expect(sleeps).toEqual([3000, 500]);
  });

  it('rate-limit (1965): SECONDS_TO_WAIT wins over the header, and is never read from the text', async () => {
    const s = scripted([
      resp(409, simpleReturn(1965, REAL_1965_TEXT, SECONDS_ITEM), { 'X-RateLimit-ToWait-Sec': '5' }),
      resp(200, 'ok'),
    ]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/pci/scan/list', base: 'pci' });
    expect(sleeps).toEqual([68_928_000]);
    expect(sleeps).not.toContain(54_000);
  });

  it('rate-limit (1965): a SECONDS_TO_WAIT beyond the deadline is ResumeLater with that wait, no sleep', async () => {
    const s = scripted([resp(409, simpleReturn(1965, REAL_1965_TEXT, SECONDS_ITEM))]);
    const t = 0;
    const { c, sleeps } = client(s.fetch, { now: () => t, deadline: () => t + 600_000 });
    const err = await c.request({ url: '/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResumeLaterError);
    expect((err as ResumeLaterError).waitMs).toBe(68_928_000);
    expect((err as Error).message).toMatch(/SECONDS_TO_WAIT says 68928 s/);
    expect(sleeps).toEqual([]);
  });

  it('rate-limit (1965): without a stated wait, asks once more (the header may come on a repeat), then uses it', async () => {
    const s = scripted([
      resp(409, simpleReturn(1965, REAL_1965_TEXT)),
      resp(409, simpleReturn(1965, REAL_1965_TEXT), { 'X-RateLimit-ToWait-Sec': '40' }),
      resp(200, 'ok'),
    ]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([250, 40_000]);
  });

  it('rate-limit (1965): nothing stated even on the repeat → the documented fallback (3601 s, configurable)', async () => {
    const blocked = () => resp(409, simpleReturn(1965, REAL_1965_TEXT));
    const s = scripted([blocked(), blocked(), resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([250, 3_601_000]);
    const s2 = scripted([blocked(), blocked(), resp(200, 'ok')]);
    const two = client(s2.fetch, { rateLimitFallbackMs: 120_000 });
    await two.c.request({ url: '/x' });
    expect(two.sleeps).toEqual([250, 120_000]);
  });

  it('gateway-rate-limit (429): Retry-After, else backoff', async () => {
    const s = scripted([resp(429, '{}', { 'Retry-After': '7' }), resp(429, '{}'), resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/certview/v2/certificates' });
    expect(sleeps).toEqual([7000, 500]);
    expect(c.stats().rateLimited).toBe(2);
  });

  it('limit-without-code: a 409 without a code but with a wait header waits', async () => {
    const s = scripted([resp(409, 'Conflict', { 'X-RateLimit-ToWait-Sec': '9' }), resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([9000]);
  });

  it.each([
    [2003, 'Registration must be completed before API requests will be served'],
    [2011, 'SecureID authentication is required for this account, so API access is blocked'],
  ])('account-refused: 409 code %i fails at once naming code and text', async (code, text) => {
    const s = scripted([resp(409, simpleReturn(code, text), { 'X-RateLimit-ToWait-Sec': '0' })]);
    const { c, sleeps } = client(s.fetch);
    const err = (await c.request({ url: '/sem/v1/assetList' }).catch((e: unknown) => e)) as QualysHttpError;
    expect(err).toBeInstanceOf(QualysHttpError);
    expect(err.apiCode).toBe(code);
    expect(err.status).toBe(409);
    expect(err.message).toContain(`409 code ${code}: ${text}`);
    expect(s.seen).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('request-timeout and server-error: retried; Retry-After on a 503 is a floor under the backoff', async () => {
    const s = scripted([resp(408), resp(503, 'maintenance', { 'Retry-After': '20' }), resp(200, 'ok')]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([250, 20_000]);
  });

  it('a 3xx is never followed: it fails at once, naming the status and the target origin only', async () => {
    const s = scripted([resp(302, 'moved', { location: 'https://elsewhere.example.net/login?token=abc' })]);
    const err = (await client(s.fetch)
      .c.request({ url: '/x' })
      .catch((e: unknown) => e)) as PolicyError;
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe('redirect');
    expect(err.status).toBe(302);
    expect(err.message).toMatch(/HTTP 302 redirect to https:\/\/elsewhere\.example\.net refused/);
    expect(err.message).not.toContain('token=abc');
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]!.init?.redirect).toBe('manual');
  });

  it.each([400, 403, 404])('client-error / unexpected: %i fails at once', async (status) => {
    const s = scripted([resp(status, 'nope')]);
    const err = (await client(s.fetch)
      .c.request({ url: '/x' })
      .catch((e: unknown) => e)) as QualysHttpError;
    expect(err).toBeInstanceOf(QualysHttpError);
    expect(err.status).toBe(status);
    expect(s.seen).toHaveLength(1);
  });
});

describe('per-origin auth', () => {
  it('PCI requests carry apiVersion: V1 and their own auth; gateway requests keep the gateway bearer', async () => {
    const s = scripted([resp(200, '{}'), resp(200, '{}')]);
    const { c } = client(s.fetch, { auth: { pci: { scheme: 'basic', username: 'm', password: 'p4ss' } } });
    await c.request({ url: '/pci/scan/list', base: 'pci' });
    await c.request({ url: '/ioc/events/scroll' });
    expect(s.seen[0]!.url).toBe('https://pci.example.com/pci/scan/list');
    expect(s.seen[0]!.headers.get('apiversion')).toBe('V1');
    expect(s.seen[0]!.headers.get('authorization')).toBe(`Basic ${Buffer.from('m:p4ss').toString('base64')}`);
    expect(s.seen[1]!.headers.get('apiversion')).toBeNull();
    expect(s.seen[1]!.headers.get('authorization')).toBe('Bearer tok-0');
    // The encoded credentials are registered as secrets.
    expect(redact(`x ${Buffer.from('m:p4ss').toString('base64')} y`)).toBe('x [REDACTED] y');
  });

  it('an unconfigured origin fails with a ConfigError before anything is sent', async () => {
    const s = scripted([]);
    const { c } = client(s.fetch, {
      tokens: undefined,
      gatewayUrl: undefined,
      auth: { pci: { scheme: 'unconfigured', message: 'set QUALYS_PCI_USERNAME' } },
    });
    await expect(c.request({ url: '/pci/scan/list', base: 'pci' })).rejects.toThrow(/QUALYS_PCI_USERNAME/);
    await expect(c.request({ url: '/ioc/events/scroll' })).rejects.toThrow(
      /QUALYS_PLATFORM or QUALYS_GATEWAY_URL/,
    );
    expect(s.seen).toHaveLength(0);
  });
});

// ------------------------------------------------------------------------------------------- pacing

function limitHeaders(
  limit: number,
  remaining: number,
  windowSec: number,
  extra: Record<string, string> = {},
) {
  return new Headers({
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(remaining),
    'X-RateLimit-Window-Sec': String(windowSec),
    ...extra,
  });
}

describe('pacer', () => {
  it('sends freely above the reserve, spreads the reserve over the rest of the window, then waits for the reset', () => {
    let t = 0;
    const p = new Pacer({ reserve: 2, now: () => t });
    const f = 'https://gw/x';
    for (let i = 1; i <= 8; i++) {
      expect(p.decide(f).delayMs).toBe(0);
      const seq = p.sent(f);
      t += 10;
      p.observe(f, seq, limitHeaders(10, 10 - i, 60), t);
    }
    // The window ends by the first answer's time + 60 s = 60 010; 2 calls left are spread over the rest.
    const resetAt = 10 + 60_000;
    const d1 = p.decide(f);
    expect(d1.estimate).toBe(2);
    expect(d1.delayMs).toBe(Math.ceil(70 + (resetAt - t) / 2 - t)); // last sent at 70
    t += d1.delayMs;
    expect(p.decide(f).delayMs).toBe(0);
    p.observe(f, p.sent(f), limitHeaders(10, 1, 60), (t += 10));
    const d2 = p.decide(f);
    expect(d2.estimate).toBe(1);
    expect(d2.delayMs).toBeGreaterThan(20_000);
    t += d2.delayMs;
    p.observe(f, p.sent(f), limitHeaders(10, 0, 60), (t += 1));
    // None left: wait for the reset, never sending into a block.
    const d3 = p.decide(f);
    expect(d3).toEqual({ delayMs: resetAt - t, estimate: 0 });
    t += d3.delayMs;
    expect(p.decide(f)).toEqual({ delayMs: 0, estimate: 10 });
  });

  it('a spaced call that finds the window already reset returns to full speed', () => {
    let t = 0;
    const p = new Pacer({ reserve: 5, now: () => t });
    const f = 'https://gw/x';
    p.observe(f, p.sent(f), limitHeaders(300, 4, 3600), (t = 100)); // late in a window we did not see start
    expect(p.decide(f).delayMs).toBeGreaterThan(600_000);
    t += p.decide(f).delayMs;
    p.observe(f, p.sent(f), limitHeaders(300, 299, 3600), (t += 50)); // the window had reset meanwhile
    expect(p.decide(f)).toEqual({ delayMs: 0, estimate: 299 });
  });

  it('counts calls still in flight against the remaining budget', () => {
    let t = 0;
    const p = new Pacer({ reserve: 1, now: () => t });
    const f = 'https://gw/x';
    const first = p.sent(f);
    p.observe(f, first, limitHeaders(5, 4, 30), ++t);
    p.sent(f);
    p.sent(f);
    expect(p.estimate(f)).toBe(2);
    p.sent(f);
    expect(p.decide(f).delayMs).toBeGreaterThan(0); // 1 left = the reserve
  });

  it('ignores a late answer to an older call, and dates a new window when Remaining goes up', () => {
    let t = 0;
    const p = new Pacer({ reserve: 0, now: () => t });
    const f = 'https://gw/x';
    const a = p.sent(f);
    const b = p.sent(f);
    p.observe(f, b, limitHeaders(10, 3, 60), (t = 100));
    p.observe(f, a, limitHeaders(10, 4, 60), (t = 101));
    expect(p.estimate(f)).toBe(3);
    const c = p.sent(f);
    p.observe(f, c, limitHeaders(10, 9, 60), (t = 5000));
    expect(p.estimate(f)).toBe(9);
    expect(p.decide(f).delayMs).toBe(0);
  });

  it('a stated ToWait dates the reset; the reserve is at most half the limit', () => {
    let t = 0;
    const p = new Pacer({ reserve: 100, now: () => t });
    const f = 'https://gw/x';
    const s1 = p.sent(f);
    p.observe(f, s1, limitHeaders(4, 3, 3600), (t = 1));
    expect(p.decide(f).delayMs).toBe(0); // reserve capped at 2; 3 left
    const s2 = p.sent(f);
    p.observe(f, s2, limitHeaders(4, 0, 3600, { 'X-RateLimit-ToWait-Sec': '7' }), (t = 2));
    expect(p.decide(f)).toEqual({ delayMs: 7000, estimate: 0 });
  });

  it('reads both spellings of the concurrency limit', () => {
    const p = new Pacer({ reserve: 0, now: () => 0 });
    p.observe('f', p.sent('f'), new Headers({ 'X-ConcurrencyLimit-Limit': '1' }), 0);
    expect(p.concurrencyLimit()).toBe(1);
    p.observe('f', p.sent('f'), new Headers({ 'X-Concurrency-Limit-Limit': '3' }), 0);
    expect(p.concurrencyLimit()).toBe(3);
  });

  it('the adjustable semaphore honours a lowered limit at once', async () => {
    const sem = new AdjustableSemaphore(3);
    const r1 = await sem.acquire();
    const r2 = await sem.acquire();
    sem.setLimit(1);
    let third = false;
    const p = sem.acquire().then((r) => {
      third = true;
      return r;
    });
    r1();
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(false); // still 1 in flight = the new limit
    r2();
    (await p)();
    expect(third).toBe(true);
    expect(sem.inFlight()).toBe(0);
  });

  it('the client spreads the calls in the reserve, and never exceeds the server concurrency limit', async () => {
    let remaining = 6;
    const answer = async () => {
      await new Promise((r) => setTimeout(r, 2));
      remaining--;
      return resp(200, '{}', {
        'X-RateLimit-Limit': '6',
        'X-RateLimit-Remaining': String(remaining),
        'X-RateLimit-Window-Sec': '60',
        'X-ConcurrencyLimit-Limit': '1',
      });
    };
    const s = scripted(Array.from({ length: 8 }, () => answer));
    const { c, sleeps } = client(s.fetch, { concurrency: 4, rateReserve: 2 });
    await c.request({ url: '/sem/v1/assetList' }); // learns limit 1 and the window
    await Promise.all(Array.from({ length: 5 }, () => c.request({ url: '/sem/v1/assetList' })));
    expect(s.maxInFlight()).toBe(1);
    // 2 left: spread over the rest of the 60 s window; then none left: wait for the reset.
    expect(sleeps).toHaveLength(2);
    expect(sleeps.every((ms) => ms > 0 && ms <= 60_000)).toBe(true);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60_000);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThan(50_000);
    expect(c.stats().paced).toBe(sleeps.length);
  });
});

// ------------------------------------------------------------------------------ token request hygiene

describe('token requests', () => {
  const idp: Credentials = {
    method: 'idp-client-credentials',
    tokenUrl: 'https://idp.example.com/token',
    clientId: 'c',
    clientSecret: 'idp-client-secret-4471',
  };
  const oidc: Credentials = { method: 'qualys-oidc', clientId: 'c', clientSecret: 'oidc-secret-9911' };
  const endpoints = { gatewayUrl: 'https://gw.example.com', pciUrl: 'https://pci.example.com' };
  const noSleep = { sleep: async () => {}, random: () => 0 };
  const OPAQUE = 'opaque-AbCdEf0123456789xyzOPAQUEtoken';
  const jsonBody = (v: unknown) =>
    new Response(JSON.stringify(v), { headers: { 'content-type': 'application/json' } });

  const bodies: [string, Credentials, Response, RegExp][] = [
    [
      'an opaque access token',
      idp,
      jsonBody({ access_token: OPAQUE, token_type: 'Bearer', expires_in: 3600 }),
      /access_token that is not a JWT \(an opaque value of 37 characters\)/,
    ],
    [
      'an HTML page',
      oidc,
      new Response(`<html><body>${OPAQUE}</body></html>`, { headers: { 'content-type': 'text/html' } }),
      /an HTML page of \d+ characters/,
    ],
    ['JSON without access_token', idp, jsonBody({ token: OPAQUE }), /keys \[token\] without an access_token/],
    ['a bare non-JWT text', oidc, new Response(OPAQUE), /a text body of 37 characters, which is not a JWT/],
    [
      'a token inside an error body',
      idp,
      new Response(
        JSON.stringify({ error: 'invalid_grant', error_description: OPAQUE, access_token: OPAQUE }),
        {
          status: 400,
        },
      ),
      /refused with HTTP 400: 'invalid_grant'/,
    ],
    [
      'a token in a prose error description',
      idp,
      new Response(JSON.stringify({ error: 'weird', message: `bad token ${OPAQUE} given` }), { status: 401 }),
      /HTTP 401: a JSON object of \d+ characters with keys \[error, message\]/,
    ],
  ];
  it.each(bodies)(
    '%s: the error describes shape and length, never the content',
    async (_n, creds, body, pattern) => {
      const err = (await obtainToken(creds, endpoints, async () => body, noSleep).catch(
        (e: unknown) => e,
      )) as Error;
      expect(err).toBeInstanceOf(AuthError);
      expect(err.message).toMatch(pattern);
      expect(err.message).not.toContain(OPAQUE);
      expect(err.message).not.toContain('idp-client-secret-4471');
      // And if anything prints it later, the logger redacts it.
      expect(redact(`leak ${OPAQUE}`)).toBe('leak [REDACTED]');
    },
  );

  it('5xx, resets and timeouts are retried with backoff; 4xx are not', async () => {
    const good = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln';
    const reset = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    const script: (Response | Error)[] = [
      new Response('<html>503</html>', { status: 503 }),
      reset,
      new Response(good),
    ];
    const sleeps: number[] = [];
    let calls = 0;
    const f: typeof fetch = async () => {
      calls++;
      const n = script.shift()!;
      if (n instanceof Error) throw n;
      return n;
    };
    const got = await obtainToken(oidc, endpoints, f, {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    });
    expect(got.accessToken).toBe(good);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([250, 500]);

    calls = 0;
    const refused: typeof fetch = async () => {
      calls++;
      return new Response('{"error":"invalid_client"}', { status: 401 });
    };
    await expect(obtainToken(oidc, endpoints, refused, noSleep)).rejects.toThrow(
      /HTTP 401: 'invalid_client'/,
    );
    expect(calls).toBe(1);

    const down: typeof fetch = async () => new Response('', { status: 503 });
    await expect(obtainToken(oidc, endpoints, down, { ...noSleep, maxRetries: 2 })).rejects.toThrow(
      /refused with HTTP 503 after 3 attempts/,
    );
  });

  it('a JWT without exp is refused (whether Qualys JWTs always carry exp is not published)', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const noExp = `${b64({ alg: 'none' })}.${b64({ sub: 'x', iat: 1 })}.`;
    await expect(checkToken(noExp, { maxLifetimeSeconds: 86_400 }, new Date(), fetch)).rejects.toThrow(
      /it has no exp claim/,
    );
  });

  it('qualys-oauth posts the client headers to /auth/oauth', async () => {
    let url = '';
    let headers = new Headers();
    const f: typeof fetch = async (input, init) => {
      url = String(input);
      headers = new Headers(init?.headers);
      return new Response('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln');
    };
    addSecret('sub-secret-1234');
    await obtainToken(
      { method: 'qualys-oauth', clientId: 'sub', clientSecret: 'sub-secret-1234' },
      endpoints,
      f,
    );
    expect(url).toBe('https://gw.example.com/auth/oauth');
    expect(headers.get('clientid')).toBe('sub');
    expect(headers.get('clientsecret')).toBe('sub-secret-1234');
  });
});
