import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { emitTokenMetrics } from '../app/metrics';
import { ENV, loadConfig, parseCredentials, type Env } from '../config';
import { ConfigError } from '../errors';
import type { Logger } from '../log';
import { refreshToken } from './refresh';
import { createSecretsTokenStore } from './store';
import type { RefreshResult } from './types';

export interface RefreshHandlerDeps {
  env: Env;
  secrets: SecretsManagerClient;
  fetch: typeof fetch;
  logger: Logger;
  writeMetrics?: (line: string) => void;
}

/** `{force: true}` forces a refresh; an EventBridge event or `{}` refreshes only near expiry. */
export function parseRefreshEvent(event: unknown): { force: boolean } {
  if (event === undefined || event === null) return { force: false };
  if (typeof event !== 'object' || Array.isArray(event))
    throw new ConfigError('token-refresh event must be a JSON object');
  const force = (event as { force?: unknown }).force;
  if (force !== undefined && typeof force !== 'boolean')
    throw new ConfigError('token-refresh event.force must be true or false');
  return { force: force === true };
}

function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw new ConfigError(`${name} is not set`);
  return v;
}

function margin(env: Env): number {
  const v = env[ENV.refreshMarginMinutes]?.trim();
  if (!v) return 60;
  if (!/^\d+$/.test(v) || Number(v) > 24 * 60) {
    throw new ConfigError(
      `${ENV.refreshMarginMinutes} must be a whole number of minutes (0-1440), got '${v}'`,
    );
  }
  return Number(v);
}

/** The token-refresh Lambda with its clients injected. Returns {refreshed, expiresAt, method}, never the token. */
export async function handleTokenRefresh(event: unknown, deps: RefreshHandlerDeps): Promise<RefreshResult> {
  const { force } = parseRefreshEvent(event);
  try {
    const config = loadConfig(deps.env);
    const credentialsId = required(deps.env, ENV.credentialsSecretId);
    const raw = await deps.secrets.send(new GetSecretValueCommand({ SecretId: credentialsId }));
    const credentials = parseCredentials(raw.SecretString ?? '', `credentials secret ${credentialsId}`);
    const result = await refreshToken({
      credentials,
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch: deps.fetch,
      store: createSecretsTokenStore(deps.secrets, required(deps.env, ENV.tokenSecretId)),
      force,
      marginMinutes: margin(deps.env),
      logger: deps.logger,
      retry: { maxRetries: config.http.maxRetries },
    });
    emitTokenMetrics(
      { refreshed: result.refreshed, failed: false, tokenAgeSeconds: result.tokenAgeSeconds },
      deps.writeMetrics,
    );
    return { refreshed: result.refreshed, expiresAt: result.expiresAt, method: result.method };
  } catch (err) {
    emitTokenMetrics({ refreshed: false, failed: true }, deps.writeMetrics);
    deps.logger.error('token refresh failed', { error: err });
    throw err;
  }
}
