import { AuthError, ParseError, QualysHttpError, ResumeLaterError } from '../errors';
import { addSecret, redact } from '../log';
import { backoffDelay, Semaphore } from './backoff';
import { requestedWaitMs, simpleReturnCode } from './limits';
import { assertAllowedOrigin } from './origin';
import type { ClientOptions, ClientStats, QualysClient, QualysRequest, QualysResponse } from './types';

const ACCEPT = { json: 'application/json', xml: 'application/xml', text: 'text/plain' } as const;
/** Rate-limit answers (409/429) carry their own wait; they get a larger budget than other failures. */
const RATE_LIMIT_RETRIES = 20;

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return redact(flat.length > 200 ? `${flat.slice(0, 200)}…` : flat);
}

function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return e.message ?? 'timed out';
  const code = e?.cause?.code ?? (err as { code?: string })?.code;
  return redact(`${e?.message ?? String(err)}${code ? ` (${code})` : ''}`);
}

class AttemptTimeout extends Error {
  override name = 'TimeoutError';
}

/** The Qualys HTTP client: bearer auth, retries, limits, deadline, 401 replay and a same-origin guard. */
export function createQualysClient(opts: ClientOptions): QualysClient {
  const gateway = trimSlash(opts.gatewayUrl);
  const pci = trimSlash(opts.pciUrl);
  const origins = [...new Set([new URL(gateway).origin, new URL(pci).origin])];
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const deadline = opts.deadline ?? (() => Number.POSITIVE_INFINITY);
  const baseMs = opts.backoffBaseMs ?? 500;
  const maxMs = opts.backoffMaxMs ?? 30_000;
  const gate = new Semaphore(Math.max(1, opts.concurrency));
  const stats: ClientStats = { calls: 0, retries: 0, waitMs: 0, rateLimited: 0, tokenRefreshes: 0 };

  function assertSameOrigin(url: string): URL {
    return assertAllowedOrigin(url, origins);
  }

  function buildUrl(req: QualysRequest): URL {
    const url = /^[a-z][a-z0-9+.-]*:/i.test(req.url)
      ? assertSameOrigin(req.url)
      : new URL(`${req.base === 'pci' ? pci : gateway}${req.url.startsWith('/') ? '' : '/'}${req.url}`);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  async function wait(ms: number, label: string, why: string): Promise<void> {
    const left = deadline() - now();
    if (ms > left) {
      throw new ResumeLaterError(
        `${label}: ${why}; waiting ${Math.ceil(ms / 1000)} s would pass this invocation's deadline`,
        ms,
      );
    }
    stats.waitMs += ms;
    await sleep(ms);
  }

  async function attempt(req: QualysRequest, url: URL, token: string): Promise<QualysResponse> {
    const left = deadline() - now();
    if (left <= 0)
      throw new ResumeLaterError(`${req.label ?? url.pathname}: no time left in this invocation`);
    const timeoutMs = Math.min(opts.timeoutMs, left);
    const ac = new AbortController();
    const timer = setTimeout(
      () => ac.abort(new AttemptTimeout(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      'x-requested-with': 'qualys-export',
      accept: ACCEPT[req.accept ?? 'json'],
      ...req.headers,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      headers['content-type'] ??= typeof req.body === 'string' ? 'text/plain' : 'application/json';
    }
    try {
      const res = await opts.fetch(url, { method: req.method ?? 'GET', headers, body, signal: ac.signal });
      // The body is read under the same timeout: a response that stalls mid-way is aborted too.
      const text = await res.text();
      return { status: res.status, headers: res.headers, url: url.href, text };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof AttemptTimeout) throw ac.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async function call<T>(req: QualysRequest, parse: (res: QualysResponse) => T): Promise<T> {
    const url = buildUrl(req);
    const where = `${url.origin}${url.pathname}`;
    const label = req.label ?? `${req.method ?? 'GET'} ${url.pathname}`;
    let refreshed = false;
    let failures = 0;
    let rateLimits = 0;
    for (;;) {
      let res: QualysResponse | undefined;
      let networkError: unknown;
      const release = await gate.acquire();
      try {
        const token = await opts.tokens.getToken();
        addSecret(token);
        stats.calls++;
        res = await attempt(req, url, token);
      } catch (err) {
        if (err instanceof ResumeLaterError || err instanceof AuthError) throw err;
        networkError = err;
      } finally {
        release();
      }

      let reason: string;
      let waitMs: number | undefined;
      let rateLimited = false;
      if (res === undefined) {
        reason = describeNetworkError(networkError);
      } else if (res.status >= 200 && res.status < 300) {
        try {
          return parse(res);
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
          reason = `unreadable response body: ${redact(err.message)}`;
        }
      } else if (res.status === 401) {
        if (!refreshed) {
          refreshed = true;
          stats.tokenRefreshes++;
          addSecret(await opts.tokens.refresh());
          continue;
        }
        throw new AuthError(
          `${label}: Qualys rejected a freshly refreshed token (401 at ${where}): ${excerpt(res.text)}`,
        );
      } else if (res.status === 409 || res.status === 429) {
        rateLimited = true;
        stats.rateLimited++;
        const code = simpleReturnCode(res.text);
        reason = `${res.status}${code ? ` (code ${code}: ${code === 1960 ? 'concurrency limit' : code === 1965 ? 'rate limit' : 'limit'})` : ''}`;
        waitMs = requestedWaitMs(res.headers, res.text, now());
      } else if (res.status >= 500) {
        reason = `HTTP ${res.status}: ${excerpt(res.text)}`;
        waitMs = requestedWaitMs(res.headers, '', now());
      } else {
        throw new QualysHttpError(`${label}: HTTP ${res.status} from ${where}: ${excerpt(res.text)}`, {
          status: res.status,
          url: where,
        });
      }

      const exhausted =
        req.maxRetries !== undefined
          ? (rateLimited ? ++rateLimits : ++failures) + (rateLimited ? failures : rateLimits) > req.maxRetries
          : rateLimited
            ? ++rateLimits > RATE_LIMIT_RETRIES
            : ++failures > opts.maxRetries;
      if (exhausted) {
        throw new QualysHttpError(
          `${label}: giving up after ${failures + rateLimits} attempts at ${where}: ${reason}`,
          {
            status: res?.status,
            url: where,
            cause: networkError,
          },
        );
      }
      const backoff = backoffDelay(rateLimited ? rateLimits - 1 : failures - 1, baseMs, maxMs, random);
      stats.retries++;
      await wait(Math.max(waitMs ?? 0, backoff), label, reason);
    }
  }

  return {
    call,
    request: (req) => call(req, (res) => res),
    assertSameOrigin,
    stats: () => ({ ...stats }),
  };
}
