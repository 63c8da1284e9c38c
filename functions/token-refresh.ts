// Lambda entry point: obtains a Qualys token when the stored one nears expiry (or when forced) and stores it
// in Secrets Manager. Scheduled by EventBridge; exporters invoke it with {"force": true} after a 401.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { metricsWriter } from '../shared/app/metrics';
import { proxyAwareFetch } from '../shared/app/proxy-fetch';
import { handleTokenRefresh } from '../shared/auth/refresh-handler';
import type { RefreshResult } from '../shared/auth/types';
import { createLogger, parseLogLevel } from '../shared/log';

const secrets = new SecretsManagerClient({});
const logger = createLogger({ level: parseLogLevel(process.env.QEXPORT_LOG_LEVEL) });
// A listed tenant's refresh adds its id to its metrics (the Tenant dimension its token alarms select).
const writeMetrics = metricsWriter(process.env);
// Qualys and IdP token requests honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
const fetch = proxyAwareFetch(process.env);

export const handler = (event: unknown): Promise<RefreshResult> =>
  handleTokenRefresh(event, { env: process.env, secrets, fetch, logger, writeMetrics });
