import { createLocalTokenProvider, createPciAuth } from '../auth';
import {
  ENV,
  loadCredentials,
  loadPciCredentials,
  loadVmCredentials,
  needsApi,
  needsGateway,
  needsPci,
  type AppConfig,
  type Env,
  type ModuleName,
} from '../config';
import type { Logger } from '../log';
import { createQualysClient } from '../qualys/client';
import type { QualysClient, RequestAuth, TokenProvider, WaitNotice } from '../qualys/types';

/** Auth for each API: gateway modules use `gateway`, PCI Merchant uses `pci`, the API server modules `api`. */
export interface ClientAuth {
  gateway: RequestAuth;
  pci: RequestAuth;
  /** Absent: the API server is not called in this process. */
  api?: RequestAuth;
}

export function unconfigured(message: string): RequestAuth {
  return { scheme: 'unconfigured', message };
}

export const NO_GATEWAY_AUTH = unconfigured(
  `no gateway credentials for this run: set ${ENV.authMethod} and its credentials (see docs/credentials.md)`,
);
export const NO_API_AUTH = unconfigured(
  `no API server credentials for this run: set ${ENV.username} / ${ENV.password} ` +
    `(or ${ENV.vmAuthMethod}=bearer with gateway credentials; see docs/credentials.md)`,
);
export const NO_PCI_AUTH = unconfigured(
  `no PCI Merchant credentials for this run: set ${ENV.pciUsername} / ${ENV.pciPassword} ` +
    `(or ${ENV.pciAuthMethod} with its IdP settings; see docs/credentials.md)`,
);

/**
 * Builds the Qualys HTTP client from typed config; the same wiring serves Lambda, the CLI and tests. A bare
 * TokenProvider authenticates both origins with the gateway bearer (the simulator's lenient dialect only).
 */
export function buildQualysClient(
  config: AppConfig,
  auth: ClientAuth | TokenProvider,
  fetchImpl: typeof fetch,
  deadline?: () => number,
  onWait?: (w: WaitNotice) => void,
): QualysClient {
  const perOrigin: ClientAuth =
    'getToken' in auth
      ? {
          gateway: { scheme: 'bearer', tokens: auth },
          pci: { scheme: 'bearer', tokens: auth },
          api: { scheme: 'bearer', tokens: auth },
        }
      : auth;
  return createQualysClient({
    gatewayUrl: config.endpoints.gatewayUrl,
    pciUrl: config.endpoints.pciUrl,
    apiUrl: config.endpoints.apiUrl,
    fetch: fetchImpl,
    auth: perOrigin,
    timeoutMs: config.http.timeoutMs,
    maxRetries: config.http.maxRetries,
    concurrency: config.http.concurrency,
    rateReserve: config.http.rateReserve,
    rateLimitFallbackMs: config.http.rateLimitFallbackSeconds * 1000,
    limits: { maxResponseBytes: config.http.maxResponseBytes, maxDecodedBytes: config.http.maxDecodedBytes },
    maxWaitMs: config.http.maxWaitSeconds * 1000,
    deadline,
    onWait,
  });
}

/**
 * Auth from environment variables for a local run of `modules` (the CLI): gateway credentials only when a
 * gateway module runs, PCI credentials only when pci-scans runs. Tokens are obtained in-process and cached.
 */
export function localAuth(opts: {
  env: Env;
  config: AppConfig;
  modules?: readonly ModuleName[];
  fetch: typeof fetch;
  logger?: Logger;
}): ClientAuth {
  const { env, config } = opts;
  const retry = { maxRetries: config.http.maxRetries, timeoutMs: Math.min(config.http.timeoutMs, 30_000) };
  const gateway: RequestAuth = needsGateway(opts.modules, config.vm.authMethod)
    ? {
        scheme: 'bearer',
        tokens: createLocalTokenProvider({
          credentials: loadCredentials(env),
          endpoints: config.endpoints,
          tokenCheck: config.tokenCheck,
          fetch: opts.fetch,
          logger: opts.logger,
          retry,
        }),
      }
    : NO_GATEWAY_AUTH;
  const pci: RequestAuth = needsPci(opts.modules)
    ? createPciAuth({
        credentials: loadPciCredentials(env),
        pciUrl: config.endpoints.pciUrl,
        fetch: opts.fetch,
        maxLifetimeSeconds: config.tokenCheck.maxLifetimeSeconds,
        logger: opts.logger,
        retry,
      })
    : NO_PCI_AUTH;
  return { gateway, pci, api: apiAuth(config, gateway, () => loadVmCredentials(env), opts.modules) };
}

/**
 * The API server's auth: the Qualys user over Basic (QUALYS_VM_AUTH_METHOD=basic, the default), or the gateway's
 * bearer token (=bearer). Unconfigured when no API server module runs.
 */
export function apiAuth(
  config: AppConfig,
  gateway: RequestAuth,
  basic: () => { username: string; password: string },
  modules?: readonly ModuleName[],
): RequestAuth {
  if (!needsApi(modules)) return NO_API_AUTH;
  if (config.vm.authMethod === 'bearer') return gateway;
  const c = basic();
  return { scheme: 'basic', username: c.username, password: c.password };
}

/** Obtains what can be obtained up front (gateway and PCI IdP tokens), so bad credentials fail fast. */
export async function warmUp(auth: ClientAuth): Promise<void> {
  for (const a of [auth.gateway, auth.pci]) if (a.scheme === 'bearer') await a.tokens.getToken();
}
