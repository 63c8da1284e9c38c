import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createPciAuth, createSecretsTokenProvider, createSecretsTokenStore, lambdaRefresher } from '../auth';
import {
  describeConfig,
  ENV,
  loadConfig,
  parsePciCredentials,
  parseVmCredentials,
  API_MODULES,
  type AppConfig,
  type Env,
  type ModuleName,
} from '../config';
import { ConfigError } from '../errors';
import { DEFAULT_SAFETY_MS, runExport } from '../export/engine';
import type { ExportInvocation, RunResult } from '../export/types';
import { checkRunId } from '../export/run-id';
import { parseWindow } from '../export/window';
import type { Logger } from '../log';
import { getModule } from '../modules';
import type { RequestAuth } from '../qualys/types';
import { createS3Store } from '../sink';
import { apiAuth, buildQualysClient, NO_GATEWAY_AUTH, NO_PCI_AUTH, type ClientAuth } from './build-client';
import { emitRunMetrics } from './metrics';

export interface ExportHandlerDeps {
  env: Env;
  s3: S3Client;
  secrets: SecretsManagerClient;
  lambda: LambdaClient;
  fetch: typeof fetch;
  logger: Logger;
  /** Where EMF metric lines go (stdout in Lambda). */
  writeMetrics?: (line: string) => void;
  /** Clock for the run engine (tests drive the time budget with it). */
  now?: () => number;
}

export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
}

function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (!v)
    throw new ConfigError(
      `${name} is not set (the CDK stack sets it; set it when running the handler yourself)`,
    );
  return v;
}

/**
 * Accepts what EventBridge Scheduler / rules, Step Functions and people send: a scheduled event or `{}`
 * (start or resume the module's run), `{runId}` (start a run with that id), or `{continuation: {runId}}`; any of
 * them with `owner` (who keeps the module's lease across invocations: Step Functions passes its execution id).
 */
export function parseExportEvent(event: unknown): ExportInvocation {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new ConfigError(
      `export event must be a JSON object, got ${Array.isArray(event) ? 'an array' : typeof event}`,
    );
  }
  const e = event as Record<string, unknown>;
  if ('detail-type' in e || e.source === 'aws.events' || e.source === 'aws.scheduler') return {};
  const out: ExportInvocation = {};
  if (e.runId !== undefined) {
    out.runId = checkRunId(e.runId, 'event.runId');
  }
  if (e.owner !== undefined) {
    if (typeof e.owner !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(e.owner)) {
      throw new ConfigError(
        'event.owner must be 1-256 printable characters (Step Functions passes $$.Execution.Id)',
      );
    }
    out.owner = e.owner;
  }
  if (e.backfill !== undefined) out.backfill = parseWindow(e.backfill, 'event.backfill');
  if (e.continuation !== undefined) {
    const c = e.continuation as { runId?: unknown } | null;
    if (!c || typeof c !== 'object' || typeof c.runId !== 'string' || !c.runId) {
      throw new ConfigError('event.continuation must be {"runId": "<the runId of the run to continue>"}');
    }
    out.continuation = { runId: checkRunId(c.runId, 'event.continuation.runId') };
  }
  return out;
}

/** PCI auth per secret value, kept for the life of the container so an IdP token is reused until near expiry. */
const pciAuthCache = new Map<string, RequestAuth>();

/**
 * Auth for one module's Lambda: gateway modules read the token secret (refreshed by the token-refresh function
 * on a 401); the PCI exporter reads only the PCI credentials secret (Basic, or an IdP grant whose token it
 * obtains and caches in-process). Neither needs the other's settings.
 */
async function lambdaAuth(
  moduleName: ModuleName,
  deps: ExportHandlerDeps,
  config: AppConfig,
): Promise<ClientAuth> {
  if (moduleName === 'pci-scans') {
    const secretId = required(deps.env, ENV.pciCredentialsSecretId);
    const raw = await deps.secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    const value = raw.SecretString ?? '';
    const key = `${secretId}\n${raw.VersionId ?? ''}\n${config.endpoints.pciUrl}`;
    let pci = pciAuthCache.get(key);
    if (!pci) {
      pci = createPciAuth({
        credentials: parsePciCredentials(value, `PCI credentials secret ${secretId}`),
        pciUrl: config.endpoints.pciUrl,
        fetch: deps.fetch,
        maxLifetimeSeconds: config.tokenCheck.maxLifetimeSeconds,
        logger: deps.logger,
        retry: { maxRetries: config.http.maxRetries },
      });
      pciAuthCache.clear();
      pciAuthCache.set(key, pci);
    }
    return { gateway: NO_GATEWAY_AUTH, pci };
  }
  const gatewayToken = (): RequestAuth => {
    const tokenStore = createSecretsTokenStore(deps.secrets, required(deps.env, ENV.tokenSecretId));
    const tokens = createSecretsTokenProvider({
      store: tokenStore,
      refresh: lambdaRefresher(deps.lambda, required(deps.env, ENV.tokenRefreshFunction)),
    });
    return { scheme: 'bearer', tokens };
  };
  if ((API_MODULES as readonly string[]).includes(moduleName)) {
    // The API server: the Qualys user from the VM credentials secret over Basic, or the gateway's token.
    if (config.vm.authMethod === 'bearer') {
      return { gateway: NO_GATEWAY_AUTH, pci: NO_PCI_AUTH, api: gatewayToken() };
    }
    const secretId = required(deps.env, ENV.vmCredentialsSecretId);
    const raw = await deps.secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    const credentials = parseVmCredentials(raw.SecretString ?? '', `VM credentials secret ${secretId}`);
    return {
      gateway: NO_GATEWAY_AUTH,
      pci: NO_PCI_AUTH,
      api: apiAuth(config, NO_GATEWAY_AUTH, () => credentials, [moduleName]),
    };
  }
  return { gateway: gatewayToken(), pci: NO_PCI_AUTH };
}

/** The whole export Lambda, with every AWS client injected. */
export async function handleExport(
  moduleName: ModuleName,
  event: unknown,
  context: LambdaContextLike,
  deps: ExportHandlerDeps,
): Promise<RunResult> {
  const clock = deps.now ?? Date.now;
  const startedAt = clock();
  const endBy = startedAt + context.getRemainingTimeInMillis();
  const invocation = parseExportEvent(event);
  const config = loadConfig(deps.env, { modules: [moduleName] });
  const bucket = required(deps.env, ENV.bucket);
  const auth = await lambdaAuth(moduleName, deps, config);
  const deadline = () => endBy;
  // The client must give up waiting early enough for the engine to store the open part and checkpoint.
  const client = buildQualysClient(config, auth, deps.fetch, () => endBy - DEFAULT_SAFETY_MS);
  const logger = deps.logger.child({ module: moduleName });
  logger.info('export invocation starts', {
    config: describeConfig(config),
    remainingMs: endBy - startedAt,
    invocation,
  });
  let pages = 0;
  const result = await runExport({
    module: getModule(moduleName),
    config,
    client,
    store: createS3Store({ s3: deps.s3, bucket }),
    invocation,
    deadline,
    now: () => new Date(clock()),
    logger,
    onProgress: (p) => {
      pages = p.pages;
    },
  });
  const stats = client.stats();
  const window = getModule(moduleName).window;
  const measured = client.clock();
  emitRunMetrics(
    {
      module: moduleName,
      result,
      pages,
      apiCalls: stats.calls,
      retries: stats.retries,
      durationMs: clock() - startedAt,
      ...(window && measured.samples > 0
        ? { clock: { skewMs: measured.skewMs, overlapMs: window.overlapMs(config) } }
        : {}),
    },
    deps.writeMetrics,
  );
  logger.info('export invocation finished', {
    status: result.status,
    runId: result.runId,
    records: result.records,
  });
  return result;
}
