import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Credentials, QualysEndpoints, TokenCheckConfig } from '../config';
import { AuthError } from '../errors';
import { addSecret, redact, silentLogger, type Logger } from '../log';
import type { TokenProvider } from '../qualys/types';
import { checkToken } from './check';
import { obtainToken } from './obtain';
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
}): TokenProvider {
  const now = opts.now ?? Date.now;
  const margin = opts.marginMs ?? 5 * 60_000;
  const logger = opts.logger ?? silentLogger;
  let cached: { token: string; expiresAt: number } | undefined;
  const refresh = singleFlight(async () => {
    const { accessToken } = await obtainToken(opts.credentials, opts.endpoints, opts.fetch);
    const info = await checkToken(accessToken, opts.tokenCheck, new Date(now()));
    cached = { token: accessToken, expiresAt: info.expiresAt.getTime() };
    logger.info('obtained a token', {
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
