import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Credentials, PciCredentials, QualysEndpoints, TokenCheckConfig } from '../config';
import { AuthError } from '../errors';
import { addSecret, redact, silentLogger, type Logger } from '../log';
import type { RequestAuth, TokenProvider } from '../qualys/types';
import { checkToken } from './check';
import { obtainToken, type ObtainOptions } from './obtain';
import type { TokenStore } from './store';

/** Shares one in-flight promise between concurrent callers. */
function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let inflight: Promise<T> | undefined;
  return () => {
    inflight ??= fn().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

/**
 * Exporter side: reads the token secret once and caches it until `marginMs` before expiry. `refresh()` (after
 * a 401) asks the refresher once — concurrent callers share that one refresh — and re-reads the secret.
 */
export function createSecretsTokenProvider(opts: {
  store: TokenStore;
  refresh: () => Promise<void>;
  now?: () => number;
  marginMs?: number;
}): TokenProvider {
  const now = opts.now ?? Date.now;
  const margin = opts.marginMs ?? 5 * 60_000;
  let cached: { token: string; expiresAt: number } | undefined;

  const load = async () => {
    const read = await opts.store.read();
    if (!read) return undefined;
    const c = { token: read.token.accessToken, expiresAt: Date.parse(read.token.expiresAt) };
    addSecret(c.token);
    return c;
  };
  const refresh = singleFlight(async () => {
    await opts.refresh();
    const fresh = await load();
    if (!fresh || fresh.expiresAt <= now()) {
      throw new AuthError(`the token refresher ran but ${opts.store.describe()} still holds no valid token`);
    }
    cached = fresh;
    return fresh.token;
  });
  return {
    async getToken() {
      if (cached && cached.expiresAt - now() > margin) return cached.token;
      const read = await load();
      if (read && read.expiresAt - now() > margin) {
        cached = read;
        return read.token;
      }
      return refresh();
    },
    refresh,
  };
}

/** In AWS: ask the token-refresh function for a new token ({force:true}); its failure becomes an AuthError. */
export function lambdaRefresher(lambda: LambdaClient, functionName: string): () => Promise<void> {
  return async () => {
    const res = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: new TextEncoder().encode(JSON.stringify({ force: true })),
      }),
    );
    if (res.FunctionError) {
      let message = res.FunctionError;
      try {
        const p = JSON.parse(new TextDecoder().decode(res.Payload)) as { errorMessage?: string };
        if (p.errorMessage) message = p.errorMessage;
      } catch {
        // keep the FunctionError kind
      }
      throw new AuthError(`token-refresh function ${functionName} failed: ${redact(message)}`);
    }
  };
}

/** CLI: obtains and checks tokens in-process, cached until near expiry; refresh() obtains a new one. */
export function createLocalTokenProvider(opts: {
  credentials: Credentials;
  endpoints: QualysEndpoints;
  tokenCheck: TokenCheckConfig;
  fetch: typeof fetch;
  now?: () => number;
  logger?: Logger;
  marginMs?: number;
  /** Retry policy of the token requests (same backoff as data calls). */
  retry?: ObtainOptions;
  /** Names the token in logs, e.g. 'gateway' or 'pci'. */
  purpose?: string;
}): TokenProvider {
  const now = opts.now ?? Date.now;
  const margin = opts.marginMs ?? 5 * 60_000;
  const logger = opts.logger ?? silentLogger;
  let cached: { token: string; expiresAt: number } | undefined;
  const refresh = singleFlight(async () => {
    const { accessToken } = await obtainToken(opts.credentials, opts.endpoints, opts.fetch, opts.retry);
    const info = await checkToken(accessToken, opts.tokenCheck, new Date(now()), opts.fetch);
    cached = { token: accessToken, expiresAt: info.expiresAt.getTime() };
    logger.info('obtained a token', {
      purpose: opts.purpose ?? 'gateway',
      method: opts.credentials.method,
      expiresAt: info.expiresAt.toISOString(),
    });
    return accessToken;
  });
  return {
    async getToken() {
      if (cached && cached.expiresAt - now() > margin) return cached.token;
      return refresh();
    },
    refresh,
  };
}

/** PCI IdP methods are the generic IdP grants, aimed at PCI Merchant's own IdP client. */
export function pciIdpCredentials(c: PciCredentials): Credentials {
  if (c.method === 'basic') throw new AuthError('PCI basic auth has no token to obtain');
  return {
    method: c.method,
    tokenUrl: c.tokenUrl,
    clientId: c.clientId,
    clientSecret: c.clientSecret,
    username: c.username,
    password: c.password,
    scope: c.scope,
  };
}

/**
 * How PCI Merchant requests authenticate: its own account over HTTP Basic, or an IdP-issued JWT obtained and
 * cached in this process (refreshed once on a 401). The JWT is checked for expiry and lifetime; the gateway's
 * QUALYS_JWKS_URL / ISSUER / AUDIENCE pin the gateway's issuer and are not applied to it.
 */
export function createPciAuth(opts: {
  credentials: PciCredentials;
  pciUrl: string;
  fetch: typeof fetch;
  maxLifetimeSeconds: number;
  now?: () => number;
  logger?: Logger;
  retry?: ObtainOptions;
}): RequestAuth {
  const c = opts.credentials;
  addSecret(c.password);
  addSecret(c.clientSecret);
  if (c.method === 'basic')
    return { scheme: 'basic', username: c.username ?? '', password: c.password ?? '' };
  return {
    scheme: 'bearer',
    tokens: createLocalTokenProvider({
      credentials: pciIdpCredentials(c),
      endpoints: { pciUrl: opts.pciUrl },
      tokenCheck: { maxLifetimeSeconds: opts.maxLifetimeSeconds },
      fetch: opts.fetch,
      now: opts.now,
      logger: opts.logger,
      retry: opts.retry,
      purpose: 'pci',
    }),
  };
}
