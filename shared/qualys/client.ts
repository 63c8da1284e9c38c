import {
  AuthError,
  ConfigError,
  isQexportError,
  ParseError,
  QualysHttpError,
  ResumeLaterError,
  StreamError,
} from '../errors';
import { addSecret, redact } from '../log';
import { backoffDelay } from './backoff';
import { simpleReturnCode, simpleReturnText } from './limits';
import { assertAllowedOrigin } from './origin';
import { AdjustableSemaphore, Pacer } from './pacer';
import {
  classify,
  networkErrorKind,
  requestedWait,
  type AuthScheme,
  type Observation,
  type ResponseRule,
} from './responses';
import type {
  ClientOptions,
  ClientStats,
  QualysClient,
  QualysRequest,
  QualysResponse,
  QualysStream,
  QualysTarget,
  RequestAuth,
} from './types';

const ACCEPT = { json: 'application/json', xml: 'application/xml', text: 'text/plain' } as const;
/** Limit answers (409 1960/1965, 429) carry their own wait; they get a larger budget than other failures. */
export const RATE_LIMIT_RETRIES = 20;
export const DEFAULT_RATE_RESERVE = 10;
/** qualysdk's fallback: the wait header may appear only on a repeated blocked call. */
export const DEFAULT_RATE_LIMIT_FALLBACK_MS = 3601_000;

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return redact(flat.length > max ? `${flat.slice(0, max)}…` : flat);
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

const PCI_AUTH_HINT =
  'PCI Merchant takes its own account over Basic auth or an IdP token (QUALYS_PCI_AUTH_METHOD), not a gateway token';

/** Counters of a client that has sent nothing yet. */
export function zeroStats(): ClientStats {
  return { calls: 0, retries: 0, waitMs: 0, rateLimited: 0, tokenRefreshes: 0, paced: 0, pacedMs: 0 };
}

/**
 * The Qualys HTTP client: per-origin auth (gateway bearer, PCI Basic or IdP bearer), reactions read from the
 * response table (./responses.ts), pacing before the rate limit and within the server's concurrency limit
 * (./pacer.ts), the invocation deadline, and a same-origin guard.
 */
export function createQualysClient(opts: ClientOptions): QualysClient {
  const gateway = opts.gatewayUrl ? trimSlash(opts.gatewayUrl) : undefined;
  const pci = trimSlash(opts.pciUrl);
  const api = opts.apiUrl ? trimSlash(opts.apiUrl) : undefined;
  const gatewayOrigin = gateway ? new URL(gateway).origin : undefined;
  const pciOrigin = new URL(pci).origin;
  const apiOrigin = api ? new URL(api).origin : undefined;
  const origins = [
    ...new Set([...(gatewayOrigin ? [gatewayOrigin] : []), pciOrigin, ...(apiOrigin ? [apiOrigin] : [])]),
  ];
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const deadline = opts.deadline ?? (() => Number.POSITIVE_INFINITY);
  const baseMs = opts.backoffBaseMs ?? 500;
  const maxMs = opts.backoffMaxMs ?? 30_000;
  const reserve = opts.rateReserve ?? DEFAULT_RATE_RESERVE;
  const fallbackMs = opts.rateLimitFallbackMs ?? DEFAULT_RATE_LIMIT_FALLBACK_MS;
  const configuredConcurrency = Math.max(1, opts.concurrency);
  const gate = new AdjustableSemaphore(configuredConcurrency);
  const pacer = new Pacer({ reserve, now });
  const stats = zeroStats();

  const gatewayAuth: RequestAuth =
    opts.auth?.gateway ??
    (opts.tokens
      ? { scheme: 'bearer', tokens: opts.tokens }
      : { scheme: 'unconfigured', message: 'no gateway credentials are configured (QUALYS_AUTH_METHOD …)' });
  const pciAuth: RequestAuth = opts.auth?.pci ?? gatewayAuth;
  const apiAuth: RequestAuth = opts.auth?.api ?? {
    scheme: 'unconfigured',
    message: 'no API server credentials are configured (QUALYS_VM_AUTH_METHOD, QUALYS_USERNAME …)',
  };
  const authOf: Record<QualysTarget, RequestAuth> = { gateway: gatewayAuth, pci: pciAuth, api: apiAuth };
  for (const a of [gatewayAuth, pciAuth, apiAuth]) {
    if (a.scheme === 'basic') {
      addSecret(a.password);
      addSecret(Buffer.from(`${a.username}:${a.password}`).toString('base64'));
    }
  }

  function assertSameOrigin(url: string): URL {
    return assertAllowedOrigin(url, origins);
  }

  const originOf: Record<QualysTarget, string | undefined> = {
    gateway: gatewayOrigin,
    pci: pciOrigin,
    api: apiOrigin,
  };

  /** Which configured API a request goes to (decides auth and the PCI apiVersion header). */
  function targetOf(req: QualysRequest, url: URL): QualysTarget {
    if (!/^[a-z][a-z0-9+.-]*:/i.test(req.url)) return req.base ?? 'gateway';
    // An absolute URL: the one configured API on its origin, or (origins shared, as in tests) the request's base.
    const on = (Object.keys(originOf) as QualysTarget[]).filter((t) => originOf[t] === url.origin);
    if (on.length === 1) return on[0]!;
    return req.base ?? 'gateway';
  }

  function buildUrl(req: QualysRequest): URL {
    let url: URL;
    if (/^[a-z][a-z0-9+.-]*:/i.test(req.url)) url = assertSameOrigin(req.url);
    else {
      const base = req.base === 'pci' ? pci : req.base === 'api' ? api : gateway;
      if (!base) {
        throw new ConfigError(
          req.base === 'api'
            ? `${req.label ?? req.url}: no API server URL is configured: set QUALYS_PLATFORM or QUALYS_API_URL`
            : `${req.label ?? req.url}: no gateway URL is configured: set QUALYS_PLATFORM or QUALYS_GATEWAY_URL`,
        );
      }
      url = new URL(`${base}${req.url.startsWith('/') ? '' : '/'}${req.url}`);
    }
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

  /** A concurrency slot and a send sequence, after any pacing hold for the endpoint family. */
  async function slot(family: string, label: string): Promise<{ release: () => void; seq: number }> {
    for (;;) {
      const release = await gate.acquire();
      const d = pacer.decide(family);
      if (d.delayMs <= 0) return { release, seq: pacer.sent(family) };
      release();
      stats.paced++;
      stats.pacedMs += d.delayMs;
      await wait(
        d.delayMs,
        label,
        d.estimate !== undefined && d.estimate > 0
          ? `pacing: about ${d.estimate} calls left in the rate window (reserve ${reserve}), spread over the rest of it`
          : 'pacing: no calls left in the rate window; waiting for it to reset',
      );
    }
  }

  async function authorization(auth: RequestAuth): Promise<{ header: string; scheme: AuthScheme }> {
    switch (auth.scheme) {
      case 'bearer': {
        const token = await auth.tokens.getToken();
        addSecret(token);
        return { header: `Bearer ${token}`, scheme: 'bearer' };
      }
      case 'basic':
        return {
          header: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
          scheme: 'basic',
        };
      case 'unconfigured':
        throw new ConfigError(auth.message);
    }
  }

  /**
   * One HTTP exchange. The body is read under the same timeout as the request (a response that stalls mid-way is
   * aborted too); with `stream`, a 2xx (or accepted) body is left unread and handed back with the timer still
   * armed, for the caller to read and then `finish`.
   */
  async function attempt(
    req: QualysRequest,
    url: URL,
    target: QualysTarget,
    authHeader: string,
    stream: boolean,
  ): Promise<{ res: QualysResponse; body?: ReadableStream<Uint8Array>; finish: () => void }> {
    const left = deadline() - now();
    if (left <= 0)
      throw new ResumeLaterError(`${req.label ?? url.pathname}: no time left in this invocation`);
    const timeoutMs = Math.min(req.timeoutMs ?? opts.timeoutMs, left);
    const ac = new AbortController();
    const timer = setTimeout(
      () => ac.abort(new AttemptTimeout(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = () => clearTimeout(timer);
    const headers: Record<string, string> = {
      authorization: authHeader,
      'x-requested-with': 'qualys-export',
      accept: ACCEPT[req.accept ?? 'json'],
      // Every documented PCI Merchant request carries apiVersion: V1.
      ...(target === 'pci' ? { apiversion: 'V1' } : {}),
      ...req.headers,
    };
    let body: string | undefined;
    if (req.form !== undefined) {
      body = new URLSearchParams(req.form).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (req.body !== undefined) {
      body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      headers['content-type'] ??= typeof req.body === 'string' ? 'text/plain' : 'application/json';
    }
    let handedOver = false;
    try {
      const res = await opts.fetch(url, { method: req.method ?? 'GET', headers, body, signal: ac.signal });
      const accepted = (res.status >= 200 && res.status < 300) || req.acceptStatuses?.includes(res.status);
      if (stream && accepted && res.body) {
        handedOver = true;
        const info = { status: res.status, headers: res.headers, url: url.href, text: '' };
        return { res: info, body: res.body, finish };
      }
      const text = await res.text();
      return { res: { status: res.status, headers: res.headers, url: url.href, text }, finish };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof AttemptTimeout) throw ac.signal.reason;
      throw err;
    } finally {
      if (!handedOver) finish();
    }
  }

  async function call<T>(req: QualysRequest, parse: (res: QualysResponse) => T): Promise<T> {
    return exchange(req, false, parse) as Promise<T>;
  }

  /**
   * PLACEHOLDER for issue 18's outbound policy (branch wt-trust replaces this with its own implementation: body
   * size bounds, charset from Content-Type, redirects refused). What it does meanwhile: the same auth, response
   * table and retries as `call` up to the status line; the 2xx body then streams as UTF-8 text chunks (a fatal
   * decoder: bytes that are not UTF-8 end the stream with a ParseError) under the request's timeout, holding its
   * concurrency slot until the body is read, cancelled or fails.
   */
  async function openStream(req: QualysRequest): Promise<QualysStream> {
    return exchange(req, true, () => undefined) as Promise<QualysStream>;
  }

  /** A 2xx body as decoded text chunks; `done` runs once when it ends, fails or is cancelled. */
  function textStream(res: QualysResponse, body: ReadableStream<Uint8Array>, done: () => void): QualysStream {
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
    let finished = false;
    const end = () => {
      if (finished) return;
      finished = true;
      done();
    };
    async function* chunks(): AsyncGenerator<string> {
      try {
        for (;;) {
          let r: Awaited<ReturnType<typeof reader.read>>;
          try {
            r = await reader.read();
          } catch (err) {
            const e = err as { name?: string; message?: string };
            throw new StreamError(
              `${res.url.replace(/\?.*$/, '')}: the body failed mid-way: ${redact(e?.message ?? String(err))}`,
              { cause: err },
            );
          }
          let text: string;
          try {
            text = r.done ? decoder.decode() : decoder.decode(r.value, { stream: true });
          } catch {
            throw new ParseError('the response body is not valid UTF-8');
          }
          if (text) yield text;
          if (r.done) return;
        }
      } finally {
        if (!finished) reader.cancel().catch(() => undefined);
        end();
      }
    }
    return {
      status: res.status,
      headers: res.headers,
      url: res.url,
      chunks: chunks(),
      cancel: () => {
        if (finished) return;
        reader.cancel().catch(() => undefined);
        end();
      },
    };
  }

  async function exchange<T>(
    req: QualysRequest,
    stream: boolean,
    parse: (res: QualysResponse) => T,
  ): Promise<T | QualysStream> {
    const url = buildUrl(req);
    const target = targetOf(req, url);
    const auth = authOf[target];
    const where = `${url.origin}${url.pathname}`;
    const label = req.label ?? `${req.method ?? 'GET'} ${url.pathname}`;
    const family = Pacer.family(url);
    let refreshed = false;
    let probed = false;
    let failures = 0;
    let waits = 0;
    for (;;) {
      let res: QualysResponse | undefined;
      let body: ReadableStream<Uint8Array> | undefined;
      let finish = () => {};
      let networkError: unknown;
      let scheme: AuthScheme = 'none';
      const { release, seq } = await slot(family, label);
      try {
        const a = await authorization(auth);
        scheme = a.scheme;
        stats.calls++;
        ({ res, body, finish } = await attempt(req, url, target, a.header, stream));
      } catch (err) {
        if (isQexportError(err)) throw err;
        networkError = err;
      } finally {
        // A streamed body keeps its slot until it has been read (the server counts it as running till then).
        if (!body) release();
      }
      if (res) {
        pacer.observe(family, seq, res.headers, now());
        const server = pacer.concurrencyLimit();
        if (server !== undefined) gate.setLimit(Math.min(configuredConcurrency, server));
      }
      if (body) {
        return textStream(res!, body, () => {
          finish();
          release();
        });
      }

      let obs: Observation =
        res === undefined
          ? { type: 'network', kind: networkErrorKind(networkError) }
          : {
              type: 'response',
              status: res.status,
              headers: res.headers,
              text: res.text,
              auth: scheme,
              acceptStatuses: req.acceptStatuses,
            };
      let rule: ResponseRule = classify(obs);
      let reason: string;
      if (rule.action.do === 'accept') {
        try {
          return parse(res!);
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
          reason = `unreadable response body: ${redact(err.message)}`;
          obs = { type: 'unreadable' };
          rule = classify(obs);
        }
      } else {
        reason = res === undefined ? describeNetworkError(networkError) : `HTTP ${res.status}`;
      }

      const action = rule.action;
      let waitMs: number;
      let why = reason;
      switch (action.do) {
        case 'accept':
          // Unreachable: an unreadable body is never accepted.
          throw new Error(`response table row '${rule.id}' accepted an unreadable body`);
        case 'refresh-and-replay': {
          if (refreshed) {
            throw new AuthError(
              `${label}: Qualys rejected a freshly refreshed token (401 at ${where}): ${excerpt(res!.text)}` +
                (target === 'pci' ? `; ${PCI_AUTH_HINT}` : ''),
            );
          }
          refreshed = true;
          stats.tokenRefreshes++;
          if (auth.scheme === 'bearer') addSecret(await auth.tokens.refresh());
          continue;
        }
        case 'fail':
          throw failure(action.kind, res!, label, where, target);
        case 'retry': {
          if (res && res.status >= 500) why = `HTTP ${res.status}: ${excerpt(res.text)}`;
          failures++;
          if (exhausted(req, failures, waits, false))
            throw givingUp(label, where, why, failures + waits, res, networkError);
          const floor = requestedWait(obs, ['Retry-After', 'X-RateLimit-ToWait-Sec'], now())?.ms ?? 0;
          waitMs = Math.max(floor, backoffDelay(failures - 1, baseMs, maxMs, random));
          break;
        }
        case 'wait': {
          stats.rateLimited++;
          waits++;
          const code = res ? simpleReturnCode(res.text) : undefined;
          why = `${res?.status ?? ''}${code !== undefined ? ` (code ${code}: ${action.limit === 'rate' ? 'rate limit' : 'concurrency limit'})` : ` (${action.limit} limit)`}`;
          if (exhausted(req, failures, waits, true))
            throw givingUp(label, where, why, failures + waits, res, networkError);
          const asked = requestedWait(obs, action.sources, now());
          if (asked) {
            waitMs = asked.ms;
            why += `, ${asked.source} says ${Math.ceil(asked.ms / 1000)} s`;
          } else if (action.otherwise === 'probe-then-fallback' && !probed) {
            // The wait may be stated only on a repeated blocked call: ask once more after a short backoff.
            probed = true;
            waitMs = backoffDelay(waits - 1, baseMs, maxMs, random);
            why += ', no wait stated; asking again once';
          } else if (action.otherwise === 'probe-then-fallback') {
            waitMs = fallbackMs;
            why += `, no wait stated; falling back to ${Math.ceil(fallbackMs / 1000)} s`;
          } else {
            waitMs = backoffDelay(waits - 1, baseMs, maxMs, random);
          }
          break;
        }
      }
      stats.retries++;
      await wait(waitMs, label, why);
    }
  }

  function exhausted(req: QualysRequest, failures: number, waits: number, limit: boolean): boolean {
    if (req.maxRetries !== undefined) return failures + waits > req.maxRetries;
    return limit ? waits > RATE_LIMIT_RETRIES : failures > opts.maxRetries;
  }

  function givingUp(
    label: string,
    where: string,
    reason: string,
    attempts: number,
    res: QualysResponse | undefined,
    cause: unknown,
  ): QualysHttpError {
    return new QualysHttpError(`${label}: giving up after ${attempts} attempts at ${where}: ${reason}`, {
      status: res?.status,
      url: where,
      cause,
    });
  }

  function failure(
    kind: 'auth' | 'account' | 'http',
    res: QualysResponse,
    label: string,
    where: string,
    target: QualysTarget,
  ): Error {
    if (kind === 'auth') {
      const check =
        target === 'pci'
          ? 'QUALYS_PCI_USERNAME / QUALYS_PCI_PASSWORD (in AWS, the PCI credentials secret)'
          : 'QUALYS_USERNAME / QUALYS_PASSWORD (in AWS, the VM credentials secret)';
      return new AuthError(
        `${label}: ${target === 'pci' ? 'PCI Merchant' : 'Qualys'} rejected the Basic credentials (401 at ${where}); ` +
          `a token refresh cannot fix Basic auth: check ${check} and that the account has API access`,
      );
    }
    if (kind === 'account') {
      const code = simpleReturnCode(res.text);
      const text = simpleReturnText(res.text);
      return new QualysHttpError(
        `${label}: Qualys refused the call with 409` +
          (code !== undefined ? ` code ${code}` : ' (no SIMPLE_RETURN code)') +
          `: ${text ? excerpt(text, 300) : excerpt(res.text)} (at ${where}); no wait fixes this, the account ` +
          'or subscription needs attention',
        { status: 409, url: where, apiCode: code },
      );
    }
    const code = simpleReturnCode(res.text);
    return new QualysHttpError(`${label}: HTTP ${res.status} from ${where}: ${excerpt(res.text)}`, {
      status: res.status,
      url: where,
      apiCode: code,
    });
  }

  return {
    call,
    openStream,
    request: (req) => call(req, (res) => res),
    assertSameOrigin,
    stats: () => ({ ...stats }),
  };
}
