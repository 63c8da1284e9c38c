import {
  AuthError,
  ConfigError,
  isQexportError,
  ParseError,
  QualysHttpError,
  ResumeLaterError,
  StreamError,
} from '../errors';
import { MAX_PLAUSIBLE_WAIT_SECONDS } from '../config';
import { addSecret, redact } from '../log';
import {
  BodyMeter,
  checkContentType,
  decodeLenient,
  decodeStrict,
  DEFAULT_BODY_LIMITS,
  readBody,
  readWithin,
  send,
  StrictTextStream,
  type BodyKind,
  type Outbound,
} from '../net/policy';
import { sleep as sleepFor } from '../sleep';
import { backoffDelay } from './backoff';
import { ServerClock } from './clock';
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
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => sleepFor(ms));
  const maxWaitMs = opts.maxWaitMs ?? Number.POSITIVE_INFINITY;
  const limits = opts.limits ?? DEFAULT_BODY_LIMITS;
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
  // The server's clock, from the Date header of every response (whatever its status): see ./clock.ts.
  const serverClock = new ServerClock();

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

  /** The outbound policy of every request of this client: the configured origins, the body bounds. */
  const outbound = (what: string): Outbound => ({ allow: origins, limits, what });
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
    if (ms > MAX_PLAUSIBLE_WAIT_SECONDS * 1000) {
      // Not a wait anything can honour (a Step Functions execution lasts a year at most): a clear failure instead.
      throw new QualysHttpError(
        `${label}: ${why}; a wait of ${Math.ceil(ms / 1000)} s (more than a year) is not plausible: refusing it`,
        { url: label },
      );
    }
    if (ms > maxWaitMs) {
      throw new ResumeLaterError(
        `${label}: ${why}; a wait of ${Math.ceil(ms / 1000)} s is longer than QEXPORT_MAX_WAIT_SECONDS ` +
          `(${Math.round(maxWaitMs / 1000)} s): not waited in this process`,
        ms,
      );
    }
    const left = deadline() - now();
    if (ms > left) {
      throw new ResumeLaterError(
        `${label}: ${why}; waiting ${Math.ceil(ms / 1000)} s would pass this invocation's deadline`,
        ms,
      );
    }
    stats.waitMs += ms;
    opts.onWait?.({ label, reason: why, ms, until: now() + ms });
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

  function requestInit(req: QualysRequest, target: QualysTarget, authHeader: string, signal: AbortSignal) {
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
    return { method: req.method ?? 'GET', headers, body, signal };
  }

  /** The body kind whose Content-Types a 2xx must declare. */
  const kindOf = (req: QualysRequest): BodyKind => req.accept ?? 'json';
  const isSuccess = (status: number) => status >= 200 && status < 300;

  /**
   * A 2xx body as chunks of text, under the same policy as a whole body: bounded, strictly UTF-8, and a stall
   * longer than the request timeout aborts it. The attempt (its concurrency slot) ends when the body is consumed,
   * fails, or is cancelled.
   */
  function bodyStream(
    res: Response,
    req: QualysRequest,
    url: URL,
    label: string,
    ac: AbortController,
    endAttempt: () => void,
  ): QualysStream {
    const reader = res.body?.getReader();
    const meter = new BodyMeter(res, outbound(label));
    const decoder = new StrictTextStream(kindOf(req), label);
    let idle: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(idle);
      endAttempt();
    };
    const stall = () =>
      new AttemptTimeout(
        `${label}: no data for ${opts.timeoutMs} ms while reading the body (at ${url.origin}${url.pathname})`,
      );
    async function* chunks(): AsyncGenerator<string> {
      let done = false;
      try {
        if (!reader) return;
        for (;;) {
          clearTimeout(idle);
          idle = setTimeout(() => ac.abort(stall()), opts.timeoutMs);
          let r: Awaited<ReturnType<typeof reader.read>>;
          try {
            r = await readWithin(reader, ac.signal);
          } catch (err) {
            // A reset or a stall mid-way: transient, the pager reads on from the last record it handed over.
            const cause =
              ac.signal.aborted && ac.signal.reason instanceof AttemptTimeout ? ac.signal.reason : err;
            if (isQexportError(cause)) throw cause;
            const e = cause as { message?: string };
            throw new StreamError(
              `${label}: the body failed mid-way: ${redact(e?.message ?? String(cause))}`,
              {
                cause,
              },
            );
          }
          if (r.done) {
            done = true;
            const tail = decoder.end();
            if (tail) yield tail;
            return;
          }
          meter.add(r.value.byteLength);
          const text = decoder.push(r.value);
          if (text) yield text;
        }
      } finally {
        if (!done) reader?.cancel().catch(() => undefined);
        end();
      }
    }
    return {
      status: res.status,
      headers: res.headers,
      url: url.href,
      chunks: chunks(),
      cancel: () => {
        if (ended) return;
        reader?.cancel().catch(() => undefined);
        ac.abort(new Error('cancelled'));
        end();
      },
    };
  }

  /**
   * One request with auth, pacing, retries and waits. `streaming`: a 2xx is handed over as a QualysStream before
   * its body is read; otherwise every body is read whole and a 2xx goes to `parse`.
   */
  async function perform<T>(
    req: QualysRequest,
    parse: ((res: QualysResponse) => T) | undefined,
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
      let res: Response | undefined;
      let raw: Buffer | undefined;
      let stream: QualysStream | undefined;
      let networkError: unknown;
      let unreadable: string | undefined;
      let scheme: AuthScheme = 'none';
      const { release, seq } = await slot(family, label);
      const left = deadline() - now();
      if (left <= 0) {
        release();
        throw new ResumeLaterError(`${label}: no time left in this invocation`);
      }
      const timeoutMs = Math.min(opts.timeoutMs, left);
      const ac = new AbortController();
      const timer = setTimeout(
        () => ac.abort(new AttemptTimeout(`timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      let attemptOpen = true;
      const endAttempt = () => {
        if (!attemptOpen) return;
        attemptOpen = false;
        clearTimeout(timer);
        release();
      };
      try {
        const a = await authorization(auth);
        scheme = a.scheme;
        stats.calls++;
        const sentAt = now();
        res = await send(opts.fetch, url, requestInit(req, target, a.header, ac.signal), outbound(label));
        serverClock.observe(res.headers.get('date'), sentAt, now());
        if (parse === undefined && isSuccess(res.status)) {
          // The headers are in: the body is the caller's to read, under the idle timeout of the stream.
          checkContentType(res.headers, kindOf(req), label);
          clearTimeout(timer);
          stream = bodyStream(res, req, url, label, ac, endAttempt);
        } else {
          // The body is read under the same timeout: a response that stalls mid-way is aborted too.
          raw = await readBody(res, outbound(label), ac.signal);
        }
      } catch (err) {
        if (ac.signal.aborted && ac.signal.reason instanceof AttemptTimeout) networkError = ac.signal.reason;
        else if (err instanceof ParseError) {
          unreadable = err.message;
          res?.body?.cancel().catch(() => undefined);
        } else if (isQexportError(err)) {
          endAttempt();
          throw err;
        } else networkError = err;
      } finally {
        if (!stream) endAttempt();
      }
      if (res) {
        pacer.observe(family, seq, res.headers, now());
        const server = pacer.concurrencyLimit();
        if (server !== undefined) gate.setLimit(Math.min(configuredConcurrency, server));
      }

      let text = '';
      if (res && raw) {
        if (isSuccess(res.status)) {
          try {
            text = decodeStrict(raw, res.headers, kindOf(req), label);
          } catch (err) {
            if (!(err instanceof ParseError)) throw err;
            unreadable = err.message;
          }
        } else text = decodeLenient(raw);
      }
      let obs: Observation =
        unreadable !== undefined
          ? { type: 'unreadable' }
          : res === undefined
            ? { type: 'network', kind: networkErrorKind(networkError) }
            : {
                type: 'response',
                status: res.status,
                headers: res.headers,
                text,
                auth: scheme,
                acceptStatuses: req.acceptStatuses,
              };
      let rule: ResponseRule = classify(obs);
      let reason: string;
      if (rule.action.do === 'accept') {
        if (stream) return stream;
        try {
          return parse!({ status: res!.status, headers: res!.headers, url: url.href, text });
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
          unreadable = err.message;
          obs = { type: 'unreadable' };
          rule = classify(obs);
        }
      }
      if (unreadable !== undefined) reason = `unreadable response body: ${redact(unreadable)}`;
      else reason = res === undefined ? describeNetworkError(networkError) : `HTTP ${res.status}`;
      stream?.cancel();

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
              `${label}: Qualys rejected a freshly refreshed token (401 at ${where}): ${excerpt(text)}` +
                (target === 'pci' ? `; ${PCI_AUTH_HINT}` : ''),
            );
          }
          refreshed = true;
          stats.tokenRefreshes++;
          if (auth.scheme === 'bearer') addSecret(await auth.tokens.refresh());
          continue;
        }
        case 'fail':
          throw failure(action.kind, res!.status, text, label, where, target);
        case 'retry': {
          if (res && res.status >= 500) why = `HTTP ${res.status}: ${excerpt(text)}`;
          failures++;
          if (exhausted(req, failures, waits, false))
            throw givingUp(label, where, why, failures + waits, res?.status, networkError);
          const floor = requestedWait(obs, ['Retry-After', 'X-RateLimit-ToWait-Sec'], now())?.ms ?? 0;
          waitMs = Math.max(floor, backoffDelay(failures - 1, baseMs, maxMs, random));
          break;
        }
        case 'wait': {
          stats.rateLimited++;
          waits++;
          const code = simpleReturnCode(text);
          why = `${res?.status ?? ''}${code !== undefined ? ` (code ${code}: ${action.limit === 'rate' ? 'rate limit' : 'concurrency limit'})` : ` (${action.limit} limit)`}`;
          if (exhausted(req, failures, waits, true))
            throw givingUp(label, where, why, failures + waits, res?.status, networkError);
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

  const call = <T>(req: QualysRequest, parse: (res: QualysResponse) => T): Promise<T> =>
    perform(req, parse) as Promise<T>;

  function exhausted(req: QualysRequest, failures: number, waits: number, limit: boolean): boolean {
    if (req.maxRetries !== undefined) return failures + waits > req.maxRetries;
    return limit ? waits > RATE_LIMIT_RETRIES : failures > opts.maxRetries;
  }

  function givingUp(
    label: string,
    where: string,
    reason: string,
    attempts: number,
    status: number | undefined,
    cause: unknown,
  ): QualysHttpError {
    return new QualysHttpError(`${label}: giving up after ${attempts} attempts at ${where}: ${reason}`, {
      status,
      url: where,
      cause,
    });
  }

  function failure(
    kind: 'auth' | 'account' | 'http',
    status: number,
    text: string,
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
      const code = simpleReturnCode(text);
      const said = simpleReturnText(text);
      return new QualysHttpError(
        `${label}: Qualys refused the call with 409` +
          (code !== undefined ? ` code ${code}` : ' (no SIMPLE_RETURN code)') +
          `: ${said ? excerpt(said, 300) : excerpt(text)} (at ${where}); no wait fixes this, the account ` +
          'or subscription needs attention',
        { status: 409, url: where, apiCode: code },
      );
    }
    const code = simpleReturnCode(text);
    return new QualysHttpError(`${label}: HTTP ${status} from ${where}: ${excerpt(text)}`, {
      status,
      url: where,
      apiCode: code,
    });
  }

  return {
    call,
    request: (req) => call(req, (res) => res),
    openStream: (req) => perform(req, undefined) as Promise<QualysStream>,
    assertSameOrigin,
    stats: () => ({ ...stats }),
    clock: () => serverClock.reading(now()),
  };
}
