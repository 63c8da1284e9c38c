import type { Credentials, QualysEndpoints, TokenCheckConfig } from '../config';
import { AuthError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { checkToken } from './check';
import { obtainToken, type ObtainOptions } from './obtain';
import type { TokenStore } from './store';
import type { RefreshResult, StoredToken } from './types';

export interface RefreshDeps {
  credentials: Credentials;
  endpoints: QualysEndpoints;
  tokenCheck: TokenCheckConfig;
  fetch: typeof fetch;
  store: TokenStore;
  now?: () => Date;
  force?: boolean;
  /** Refresh when the stored token expires within this many minutes. Default 60. */
  marginMinutes?: number;
  logger?: Logger;
  /** Retry policy of the token request (5xx, resets, timeouts; same backoff as data calls). */
  retry?: ObtainOptions;
}

/**
 * The token-refresh job: keeps a checked token in the store. Refreshes only when the stored one expires
 * within the margin (or when forced); never returns the token.
 */
export async function refreshToken(deps: RefreshDeps): Promise<RefreshResult & { tokenAgeSeconds?: number }> {
  const now = deps.now ?? (() => new Date());
  const logger = deps.logger ?? silentLogger;
  const marginMs = (deps.marginMinutes ?? 60) * 60_000;
  const current = await deps.store.read();
  if (current && !deps.force) {
    const left = Date.parse(current.token.expiresAt) - now().getTime();
    if (left > marginMs) {
      logger.info('stored token is still valid; not refreshing', { expiresAt: current.token.expiresAt });
      return {
        refreshed: false,
        expiresAt: current.token.expiresAt,
        method: current.token.method,
        tokenAgeSeconds: Math.round((now().getTime() - Date.parse(current.token.issuedAt)) / 1000),
      };
    }
  }
  const obtained = await obtainToken(deps.credentials, deps.endpoints, deps.fetch, deps.retry);
  const info = await checkToken(obtained.accessToken, deps.tokenCheck, now(), deps.fetch);
  const token: StoredToken = {
    accessToken: obtained.accessToken,
    tokenType: 'Bearer',
    expiresAt: info.expiresAt.toISOString(),
    issuedAt: info.issuedAt.toISOString(),
    method: deps.credentials.method,
  };
  const version = await deps.store.write(token, current?.versionId);
  if (version === undefined) {
    // Another refresher that started from the same version stored its token first: use that one.
    const winner = await deps.store.read();
    if (!winner)
      throw new AuthError(`a concurrent refresh won but ${deps.store.describe()} holds no valid token`);
    logger.info('a concurrent refresh stored a token first; keeping it', {
      expiresAt: winner.token.expiresAt,
    });
    return {
      refreshed: false,
      expiresAt: winner.token.expiresAt,
      method: winner.token.method,
      tokenAgeSeconds: 0,
    };
  }
  logger.info('token refreshed', { method: token.method, expiresAt: token.expiresAt, version });
  return { refreshed: true, expiresAt: token.expiresAt, method: token.method, tokenAgeSeconds: 0 };
}
