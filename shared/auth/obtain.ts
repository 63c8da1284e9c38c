import type { Credentials, QualysEndpoints } from '../config';
import { AuthError, ConfigError, isQexportError, OriginError, ParseError, PolicyError } from '../errors';
import { addSecret, redact } from '../log';
import {
  AUTH_BODY_LIMITS,
  decodeLenient,
  decodeStrict,
  readBody,
  send,
  type BodyKind,
  type Outbound,
} from '../net/policy';
import { backoffDelay } from '../qualys/backoff';
import { IDP_TOKEN } from '../qualys/envelopes';
import { classify, networkErrorKind, requestedWait, type Observation } from '../qualys/responses';
import { readJson } from '../qualys/shapes';
import { sleep as sleepFor } from '../sleep';

export interface ObtainedToken {
  accessToken: string;
  /** From the IdP's expires_in, when given. */
  expiresIn?: number;
}

/**
 * Retry policy of token requests: the same table and backoff as data calls (5xx, resets and timeouts are
 * retried; 4xx are final).
 */
export interface ObtainOptions {
  /** Per attempt; default 30 s. */
  timeoutMs?: number;
  /** Default 5 (QUALYS_HTTP_MAX_RETRIES). */
  maxRetries?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** A token endpoint that asks for a longer wait than this is reported, not waited for. */
const MAX_TOKEN_WAIT_MS = 120_000;
const OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'server_error',
  'temporarily_unavailable',
  'Unauthorized',
  'Forbidden',
  'Bad Request',
  'Not Found',
]);
/** Keys whose string values are credentials (access_token, id_token, client_secret, …; not token_type). */
const SECRET_KEY = /(token|secret|password|assertion)$/i;

/** Where each method asks for a token. */
export function tokenEndpoint(creds: Credentials, endpoints: QualysEndpoints): string {
  const gateway = (): string => {
    if (!endpoints.gatewayUrl)
      throw new ConfigError(`${creds.method} needs the gateway: set QUALYS_PLATFORM or QUALYS_GATEWAY_URL`);
    return endpoints.gatewayUrl;
  };
  switch (creds.method) {
    case 'qualys-oidc':
      return `${gateway()}/auth/oidc`;
    case 'qualys-oauth':
      return `${gateway()}/auth/oauth`;
    case 'qualys-basic':
      return `${gateway()}/auth`;
    case 'idp-password':
    case 'idp-client-credentials':
      if (!creds.tokenUrl) throw new AuthError(`${creds.method} needs a token URL (QUALYS_TOKEN_URL)`);
      return creds.tokenUrl;
  }
}

/** Registers every string under a credential-like key of a parsed JSON body as a secret. */
function registerJsonSecrets(value: unknown, depth = 0): void {
  if (depth > 4 || !value || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' && SECRET_KEY.test(k)) addSecret(v);
    else if (typeof v === 'object') registerJsonSecrets(v, depth + 1);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * What a body looks like, never what it says: its kind and length, and for JSON objects the key names.
 * Anything in it may be a token.
 */
export function describeShape(text: string, contentType: string | null): string {
  const t = text.trim();
  if (!t) return 'an empty body';
  if (/html/i.test(contentType ?? '') || /^<!doctype html|^<html/i.test(t))
    return `an HTML page of ${t.length} characters (is the URL right?)`;
  const j = parseJson(t);
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    const keys = Object.keys(j)
      .filter((k) => /^[A-Za-z_][A-Za-z0-9_.-]{0,40}$/.test(k))
      .slice(0, 8);
    return `a JSON object of ${t.length} characters with keys [${keys.join(', ')}]`;
  }
  if (j !== undefined)
    return `${Array.isArray(j) ? 'a JSON array' : `JSON ${typeof j}`} of ${t.length} characters`;
  if (/^</.test(t)) return `an XML/markup body of ${t.length} characters`;
  return `a text body of ${t.length} characters`;
}

/** Prose that cannot be a token: short, has spaces, no long unbroken run. */
function isProse(s: string): boolean {
  return s.length <= 200 && /\s/.test(s) && !/\S{24,}/.test(s);
}

/** An error body's standard fields, only where they cannot carry a token; otherwise its shape. */
function describeRefusal(text: string, contentType: string | null): string {
  const j = parseJson(text.trim()) as
    { error?: unknown; error_description?: unknown; message?: unknown } | undefined;
  if (j && typeof j === 'object' && !Array.isArray(j)) {
    const parts: string[] = [];
    if (typeof j.error === 'string' && OAUTH_ERRORS.has(j.error)) parts.push(j.error);
    const desc = j.error_description ?? j.message;
    if (typeof desc === 'string' && isProse(desc)) parts.push(desc);
    if (parts.length) return `'${redact(parts.join(': '))}'`;
  }
  return describeShape(text, contentType);
}

function form(fields: Record<string, string | undefined>): string {
  const f = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) f.set(k, v);
  return f.toString();
}

/**
 * Obtains a token with one of the gateway methods, or an IdP grant (also used for PCI Merchant's IdP auth).
 * Secrets are registered for redaction before any request; every body is registered as a possible secret
 * before anything about it is printed; messages name the method, URL, status and the body's shape only.
 */
export async function obtainToken(
  creds: Credentials,
  endpoints: QualysEndpoints,
  fetchImpl: typeof fetch,
  options: ObtainOptions | number = {},
): Promise<ObtainedToken> {
  const o: ObtainOptions = typeof options === 'number' ? { timeoutMs: options } : options;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const maxRetries = o.maxRetries ?? 5;
  const sleep = o.sleep ?? ((ms: number) => sleepFor(ms));
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  addSecret(creds.clientSecret);
  addSecret(creds.password);
  const url = tokenEndpoint(creds, endpoints);
  const where = `${creds.method} token request to ${url}`;
  const target = new URL(url);
  // The token endpoint is configured (the gateway's /auth*, or QUALYS_TOKEN_URL / QUALYS_PCI_TOKEN_URL): the
  // credentials go to its origin and nowhere else, and a redirect is refused, never followed.
  const policy: Outbound = { allow: [target.origin], limits: AUTH_BODY_LIMITS, what: where };
  const idp = creds.method === 'idp-password' || creds.method === 'idp-client-credentials';
  const kind: BodyKind = idp ? 'json' : 'text';
  const headers: Record<string, string> = { 'x-requested-with': 'qualys-export' };
  let body: string | undefined;
  switch (creds.method) {
    case 'qualys-oidc':
    case 'qualys-oauth':
      // /auth/oidc (user-level client) and /auth/oauth (subscription-level client) take the same headers.
      headers.clientId = creds.clientId ?? '';
      headers.clientSecret = creds.clientSecret ?? '';
      break;
    case 'qualys-basic':
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = form({ username: creds.username, password: creds.password, token: 'true' });
      break;
    case 'idp-password':
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'application/json';
      body = form({
        grant_type: 'password',
        username: creds.username ?? '',
        password: creds.password ?? '',
        client_id: creds.clientId ?? '',
        client_secret: creds.clientSecret,
        scope: creds.scope ?? 'openid profile',
      });
      break;
    case 'idp-client-credentials':
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'application/json';
      body = form({
        grant_type: 'client_credentials',
        client_id: creds.clientId ?? '',
        client_secret: creds.clientSecret ?? '',
        scope: creds.scope,
      });
      break;
  }

  let res: Response | undefined;
  let text = '';
  for (let failures = 0; ;) {
    let obs: Observation;
    let why: string;
    let raw: Buffer | undefined;
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      res = await send(fetchImpl, target, { method: 'POST', headers, body, signal }, policy);
      raw = await readBody(res, policy, signal);
      // Whatever came back may hold a token: register it before anything about it can be printed.
      addSecret(decodeLenient(raw).trim());
      text =
        res.status >= 200 && res.status < 300
          ? decodeStrict(raw, res.headers, kind, where)
          : decodeLenient(raw);
      registerJsonSecrets(parseJson(text.trim()));
      obs = { type: 'response', status: res.status, headers: res.headers, text, auth: 'none' };
      why = `HTTP ${res.status}`;
    } catch (err) {
      if (err instanceof ParseError) {
        // A 2xx of the wrong type or charset: what it is, never what it says.
        const shape = describeShape(decodeLenient(raw!), res!.headers.get('content-type'));
        throw new AuthError(redact(`${err.message}; the body is ${shape}`));
      }
      // A redirect, another origin or an oversized answer is final: nothing was sent anywhere else, and asking
      // again would not help; it is the token request that failed.
      if (err instanceof PolicyError || err instanceof OriginError)
        throw new AuthError(redact(err.message), { cause: err });
      // Our own errors are final, as in the HTTP client (a fetch that already knows no retry helps says so).
      if (isQexportError(err)) throw err;
      res = undefined;
      const e = err as { name?: string; message?: string; cause?: { code?: string } };
      obs = { type: 'network', kind: networkErrorKind(err) };
      why =
        obs.kind === 'timeout'
          ? `timed out after ${timeoutMs} ms`
          : redact(`${e.message ?? 'failed'}${e.cause?.code ? ` (${e.cause.code})` : ''}`);
    }
    const rule = classify(obs);
    if (rule.action.do === 'accept') break;
    const transient = rule.action.do === 'retry' || rule.action.do === 'wait';
    if (!transient || failures >= maxRetries) {
      if (!res) throw new AuthError(`${where} failed after ${failures + 1} attempts: ${why}`);
      const hint =
        res.status === 401 || res.status === 400
          ? ' — check the credentials (wrong secret, locked or disabled account)'
          : res.status === 403
            ? ' — the account may be locked or lack API access'
            : '';
      throw new AuthError(
        redact(
          `${where} was refused with HTTP ${res.status}` +
            `${transient ? ` after ${failures + 1} attempts` : ''}: ${describeRefusal(text, res.headers.get('content-type'))}${hint}`,
        ),
      );
    }
    const asked = requestedWait(obs, ['Retry-After', 'X-RateLimit-ToWait-Sec'], now())?.ms ?? 0;
    if (asked > MAX_TOKEN_WAIT_MS) {
      throw new AuthError(`${where} answered ${why} and asked to wait ${Math.ceil(asked / 1000)} s`);
    }
    await sleep(
      Math.max(asked, backoffDelay(failures, o.backoffBaseMs ?? 500, o.backoffMaxMs ?? 30_000, random)),
    );
    failures++;
  }

  const contentType = res!.headers.get('content-type');
  let accessToken: string | undefined;
  let expiresIn: number | undefined;
  if (creds.method === 'qualys-oidc' || creds.method === 'qualys-oauth' || creds.method === 'qualys-basic') {
    accessToken = text.trim();
    if (!accessToken) throw new AuthError(`${where} answered an empty body instead of a token`);
    if (!JWT_SHAPE.test(accessToken)) {
      throw new AuthError(`${where} answered ${describeShape(text, contentType)}, which is not a JWT`);
    }
  } else {
    const j = parseJson(text.trim()) as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (!j || typeof j !== 'object' || Array.isArray(j)) {
      throw new AuthError(`${where} answered ${describeShape(text, contentType)}, not OAuth2 JSON`);
    }
    if (typeof j.access_token !== 'string' || !j.access_token.trim()) {
      throw new AuthError(`${where} answered ${describeShape(text, contentType)} without an access_token`);
    }
    addSecret(j.access_token.trim());
    // The declared envelope (RFC 6749 §5.1): a token once, an expires_in that is a count of seconds.
    try {
      readJson(text, IDP_TOKEN);
    } catch (err) {
      throw new AuthError(`${where}: ${redact((err as Error).message)}`);
    }
    accessToken = j.access_token.trim();
    if (typeof j.expires_in === 'number') expiresIn = j.expires_in;
    if (!JWT_SHAPE.test(accessToken)) {
      throw new AuthError(
        `${where} answered an access_token that is not a JWT (an opaque value of ${accessToken.length} characters); ` +
          'Qualys accepts only JWTs from the IdP: configure the IdP to issue JWT access tokens',
      );
    }
  }
  addSecret(accessToken);
  return { accessToken, expiresIn };
}
