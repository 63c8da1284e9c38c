import { describe, expect, it } from 'vitest';
import { backoffDelay, Semaphore } from '../../shared/qualys/backoff';
import { createQualysClient } from '../../shared/qualys/client';
import { parseRetryAfter, secondsToWaitMs, simpleReturnCode } from '../../shared/qualys/limits';
import { requestedWait, type Observation } from '../../shared/qualys/responses';
import { assertAllowedOrigin } from '../../shared/qualys/origin';
import { AuthError, OriginError, ParseError, QualysHttpError, ResumeLaterError } from '../../shared/errors';

describe('backoff and limits (pure)', () => {
  it('full jitter stays within the exponential ceiling and the cap', () => {
    expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 30_000, () => 1)).toBe(4000);
    expect(backoffDelay(10, 500, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(3, 500, 30_000, () => 0)).toBe(0);
  });

  it('reads the wait the API asks for, never a number out of the text', () => {
    const obs = (o: Record<string, string>, text = ''): Observation => ({
      type: 'response',
      status: 409,
      headers: new Headers(o),
      text,
      auth: 'bearer',
    });
    const all = ['SECONDS_TO_WAIT', 'X-RateLimit-ToWait-Sec', 'Retry-After'] as const;
    expect(requestedWait(obs({ 'X-RateLimit-ToWait-Sec': '7' }), all, 0)).toEqual({
      ms: 7000,
      source: 'X-RateLimit-ToWait-Sec',
    });
    expect(requestedWait(obs({ 'Retry-After': '3' }), all, 0)?.ms).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 0)).toBe(10_000);
    expect(
      requestedWait(obs({}, '<CODE>1965</CODE><TEXT>Please wait 42 seconds</TEXT>'), all, 0),
    ).toBeUndefined();
    expect(requestedWait(obs({}, 'nothing'), all, 0)).toBeUndefined();
    expect(
      secondsToWaitMs('<ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>68928</VALUE></ITEM></ITEM_LIST>'),
    ).toBe(68_928_000);
    expect(simpleReturnCode('<SIMPLE_RETURN><RESPONSE><CODE>1960</CODE></RESPONSE></SIMPLE_RETURN>')).toBe(
      1960,
    );
    expect(simpleReturnCode('{"code": 1965}')).toBe(1965);
  });

  it('the same-origin guard accepts only the configured origins over https (http on loopback)', () => {
    const origins = ['https://gw.example.com', 'http://127.0.0.1:8443'];
    expect(
      assertAllowedOrigin('https://gw.example.com/sem/v1/assetList?id_min=5', origins).searchParams.get(
        'id_min',
      ),
    ).toBe('5');
    expect(assertAllowedOrigin('http://127.0.0.1:8443/x', origins).pathname).toBe('/x');
    expect(() => assertAllowedOrigin('https://evil.example.com/sem', origins)).toThrow(OriginError);
    expect(() => assertAllowedOrigin('http://gw.example.com/sem', origins)).toThrow(/https is required/);
    expect(() => assertAllowedOrigin('https://gw.example.com:444/sem', origins)).toThrow(OriginError);
    expect(() => assertAllowedOrigin('javascript:alert(1)', origins)).toThrow(OriginError);
  });

  it('the semaphore never lets more than its limit through', async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const release = await sem.acquire();
        active++;
        max = Math.max(max, active);
        await new Promise((r) => setTimeout(r, 1));
        active--;
        release();
      }),
    );
    expect(max).toBe(2);
  });
});

/** A 200 the client accepts as JSON (its Content-Type is checked). */
const ok = (body: string) => new Response(body, { headers: { 'content-type': 'application/json' } });

/** A scripted fetch: each call takes the next response (or error) from the list and records the request. */
function scripted(responses: (Response | Error)[]) {
  const seen: { url: string; auth: string | null }[] = [];
  const f: typeof fetch = async (input, init) => {
    seen.push({ url: String(input), auth: new Headers(init?.headers).get('authorization') });
    const next = responses.shift();
    if (!next) throw new Error('no more scripted responses');
    if (next instanceof Error) throw next;
    return next;
  };
  return { fetch: f, seen };
}

function client(f: typeof fetch, opts: Partial<Parameters<typeof createQualysClient>[0]> = {}) {
  const sleeps: number[] = [];
  let tokens = 0;
  const c = createQualysClient({
    gatewayUrl: 'https://gw.example.com',
    pciUrl: 'https://pci.example.com',
    fetch: f,
    tokens: { getToken: async () => `tok-${tokens}`, refresh: async () => `tok-${++tokens}` },
    timeoutMs: 1000,
    maxRetries: 3,
    concurrency: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...opts,
  });
  return { c, sleeps };
}

describe('client behaviour (scripted fetch)', () => {
  it('retries 5xx and network errors with backoff, then succeeds', async () => {
    const s = scripted([
      new Response('down', { status: 503 }),
      new TypeError('fetch failed'),
      ok('{"ok":1}'),
    ]);
    const { c, sleeps } = client(s.fetch);
    expect(await c.call({ url: '/x' }, (r) => JSON.parse(r.text))).toEqual({ ok: 1 });
    expect(sleeps).toEqual([250, 500]);
    expect(c.stats()).toMatchObject({ calls: 3, retries: 2 });
  });

  it('honours X-RateLimit-ToWait-Sec on 409/429', async () => {
    const s = scripted([
      new Response('<CODE>1965</CODE>', { status: 409, headers: { 'X-RateLimit-ToWait-Sec': '12' } }),
      ok('ok'),
    ]);
    const { c, sleeps } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(sleeps).toEqual([12_000]);
    expect(c.stats().rateLimited).toBe(1);
  });

  it('a wait beyond the deadline becomes ResumeLaterError without sleeping', async () => {
    const s = scripted([new Response('', { status: 429, headers: { 'Retry-After': '600' } })]);
    const { c, sleeps } = client(s.fetch, { deadline: () => Date.now() + 60_000 });
    const err = await c.request({ url: '/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResumeLaterError);
    expect((err as ResumeLaterError).waitMs).toBe(600_000);
    expect(sleeps).toEqual([]);
  });

  it('a 401 refreshes once and replays; a second 401 is an AuthError', async () => {
    const s = scripted([new Response('{"message":"JWT expired"}', { status: 401 }), ok('ok')]);
    const { c } = client(s.fetch);
    await c.request({ url: '/x' });
    expect(s.seen.map((r) => r.auth)).toEqual(['Bearer tok-0', 'Bearer tok-1']);
    const s2 = scripted([
      new Response('', { status: 401 }),
      new Response('{"message":"Not authenticated"}', { status: 401 }),
    ]);
    await expect(client(s2.fetch).c.request({ url: '/x' })).rejects.toThrow(AuthError);
  });

  it('other 4xx are final, with status, URL without query, and a redacted excerpt', async () => {
    const s = scripted([
      new Response('bad filter eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', { status: 400 }),
    ]);
    const err = (await client(s.fetch)
      .c.request({ url: '/x', query: { secret: 'q' } })
      .catch((e: unknown) => e)) as QualysHttpError;
    expect(err).toBeInstanceOf(QualysHttpError);
    expect(err.status).toBe(400);
    expect(err.message).toContain('https://gw.example.com/x');
    expect(err.message).not.toContain('secret=q');
    expect(err.message).not.toContain('eyJhbGciOiJSUzI1NiJ9');
  });

  it('a ParseError from the parse callback is retried, then reported', async () => {
    const s = scripted([ok('{"a":'), ok('{"a":'), ok('{"a":'), ok('{"a":')]);
    const parse = (r: { text: string }) => {
      try {
        return JSON.parse(r.text);
      } catch {
        throw new ParseError('truncated JSON');
      }
    };
    const err = await client(s.fetch)
      .c.call({ url: '/x' }, parse)
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/giving up after 4 attempts.*truncated JSON/);
  });

  it('an off-origin absolute URL is refused before anything is sent', async () => {
    const s = scripted([]);
    await expect(
      client(s.fetch).c.request({ url: 'https://evil.example.com/sem/v1/assetList' }),
    ).rejects.toThrow(OriginError);
    expect(s.seen).toHaveLength(0);
  });

  it('maxRetries 0 sends a non-repeatable request exactly once', async () => {
    const s = scripted([new Response('', { status: 502 })]);
    await expect(client(s.fetch).c.request({ url: '/x', maxRetries: 0 })).rejects.toThrow(
      /giving up after 1 attempts/,
    );
    expect(s.seen).toHaveLength(1);
  });
});
