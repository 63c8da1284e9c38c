import type { Credentials, QualysEndpoints } from '../config';
import { AuthError } from '../errors';
import { addSecret, redact } from '../log';

export interface ObtainedToken {
  accessToken: string;
  /** From the IdP's expires_in, when given. */
  expiresIn?: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Where each method asks for a token. */
export function tokenEndpoint(creds: Credentials, endpoints: QualysEndpoints): string {
  switch (creds.method) {
    case 'qualys-oidc':
      return `${endpoints.gatewayUrl}/auth/oidc`;
    case 'qualys-basic':
      return `${endpoints.gatewayUrl}/auth`;
    case 'idp-password':
    case 'idp-client-credentials':
      if (!creds.tokenUrl) throw new AuthError(`${creds.method} needs a token URL (QUALYS_TOKEN_URL)`);
      return creds.tokenUrl;
  }
}

function describeBody(text: string, contentType: string | null): string {
  const t = text.trim();
  if (!t) return 'an empty body';
  if (/html/i.test(contentType ?? '') || /^<!doctype html|^<html/i.test(t))
    return 'an HTML page (is the URL right?)';
  const flat = t.replace(/\s+/g, ' ');
  return `'${redact(flat.length > 160 ? `${flat.slice(0, 160)}…` : flat)}'`;
}

function oauthError(text: string): string | undefined {
  try {
    const j = JSON.parse(text) as { error?: unknown; error_description?: unknown; message?: unknown };
    const parts = [j.error, j.error_description ?? j.message].filter((p) => typeof p === 'string' && p);
    return parts.length ? redact(parts.join(': ')) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Obtains a token with one of the four methods. Errors name the method and the URL, never a secret; the
 * secret values are registered for redaction before any request is made.
 */
export async function obtainToken(
  creds: Credentials,
  endpoints: QualysEndpoints,
  fetchImpl: typeof fetch,
  timeoutMs = 30_000,
): Promise<ObtainedToken> {
  addSecret(creds.clientSecret);
  addSecret(creds.password);
  const url = tokenEndpoint(creds, endpoints);
  const where = `${creds.method} token request to ${url}`;
  const headers: Record<string, string> = { 'x-requested-with': 'qualys-export' };
  let body: string | undefined;
  switch (creds.method) {
    case 'qualys-oidc':
      headers.clientId = creds.clientId ?? '';
      headers.clientSecret = creds.clientSecret ?? '';
      break;
    case 'qualys-basic':
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams({
        username: creds.username ?? '',
        password: creds.password ?? '',
        token: 'true',
      }).toString();
      break;
    case 'idp-password': {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'application/json';
      const form = new URLSearchParams({
        grant_type: 'password',
        username: creds.username ?? '',
        password: creds.password ?? '',
        client_id: creds.clientId ?? '',
        scope: creds.scope ?? 'openid profile',
      });
      if (creds.clientSecret) form.set('client_secret', creds.clientSecret);
      body = form.toString();
      break;
    }
    case 'idp-client-credentials': {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'application/json';
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: creds.clientId ?? '',
        client_secret: creds.clientSecret ?? '',
      });
      if (creds.scope) form.set('scope', creds.scope);
      body = form.toString();
      break;
    }
  }

  let res: Response;
  let text: string;
  try {
    res = await fetchImpl(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `timed out after ${timeoutMs} ms`
        : `${e.message ?? 'failed'}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
    throw new AuthError(`${where} failed: ${redact(why)}`);
  }
  if (res.status !== 200 && res.status !== 201) {
    const detail = oauthError(text) ?? describeBody(text, res.headers.get('content-type'));
    const hint =
      res.status === 401 || res.status === 400
        ? ' — check the credentials (wrong secret, locked or disabled account)'
        : res.status === 403
          ? ' — the account may be locked or lack API access'
          : '';
    throw new AuthError(`${where} was refused with HTTP ${res.status}: ${detail}${hint}`);
  }

  let accessToken: string | undefined;
  let expiresIn: number | undefined;
  if (creds.method === 'qualys-oidc' || creds.method === 'qualys-basic') {
    accessToken = text.trim();
  } else {
    let j: { access_token?: unknown; expires_in?: unknown };
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      throw new AuthError(
        `${where} answered ${describeBody(text, res.headers.get('content-type'))}, not OAuth2 JSON`,
      );
    }
    if (typeof j.access_token !== 'string')
      throw new AuthError(`${where} answered JSON without an access_token`);
    accessToken = j.access_token.trim();
    if (typeof j.expires_in === 'number') expiresIn = j.expires_in;
  }
  if (!accessToken) throw new AuthError(`${where} answered an empty body instead of a token`);
  if (!JWT_SHAPE.test(accessToken)) {
    throw new AuthError(
      `${where} answered ${describeBody(accessToken, res.headers.get('content-type'))}, which is not a JWT`,
    );
  }
  addSecret(accessToken);
  return { accessToken, expiresIn };
}
