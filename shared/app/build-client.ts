import type { AppConfig } from '../config';
import { createQualysClient } from '../qualys/client';
import type { QualysClient, TokenProvider } from '../qualys/types';

/** Builds the Qualys HTTP client from typed config; the same wiring serves Lambda, the CLI and tests. */
export function buildQualysClient(
  config: AppConfig,
  tokens: TokenProvider,
  fetchImpl: typeof fetch,
  deadline?: () => number,
): QualysClient {
  return createQualysClient({
    gatewayUrl: config.endpoints.gatewayUrl,
    pciUrl: config.endpoints.pciUrl,
    fetch: fetchImpl,
    tokens,
    timeoutMs: config.http.timeoutMs,
    maxRetries: config.http.maxRetries,
    concurrency: config.http.concurrency,
    deadline,
  });
}
