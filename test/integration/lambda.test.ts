import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleExport } from '../../shared/app/lambda-export';
import { handleTokenRefresh } from '../../shared/auth';
import type { Manifest, RunResult } from '../../shared/export/types';
import { createLogger } from '../../shared/log';
import { expectedOptions, startSimulator, type Simulator } from '../sim';
import { listedCount } from '../sim/counts';
import { ALL_MODULES, compareIds, idOf, readParts } from '../support/harness';
import { startLambdaServer, type LambdaServer } from '../support/lambda-server';
import { startS3Server, type S3Server } from '../support/s3-server';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';

/**
 * The export Lambdas end to end over real protocols: the simulator, s3rver for S3, the Secrets Manager
 * stand-in, and a Lambda Invoke endpoint running the token-refresh handler. The test drives each export the
 * way the Step Functions loop does: invoke, and while the result is `continue`, invoke with the continuation.
 */
let sim: Simulator;
let s3: S3Server;
let sm: SecretsManagerServer;
let lambda: LambdaServer;
const logs: string[] = [];
const logger = createLogger({ level: 'debug', write: (l) => logs.push(l) });
let env: Record<string, string>;

beforeAll(async () => {
  sim = await startSimulator({
    seed: 9,
    counts: { pci: 230, certview: 230, edr: 230, mobile: 230, vmdr: 230, kb: 230 },
    edr: { start: new Date(Date.now() - 3600_000).toISOString(), stepMs: 1000 },
    // PCI Merchant as documented: its own Basic account or IdP JWTs, apiVersion: V1, gateway tokens refused.
    // The KnowledgeBase truncates like the other XML listings, so its runs need several invocations too.
    dialect: { pciAuth: 'documented', pciRequireApiVersion: true, kbTruncation: 20 },
  });
  s3 = await startS3Server();
  sm = await startSecretsManagerServer();
  const d = sim.defaults;
  await sm.client.send(
    new CreateSecretCommand({
      Name: 'qexport/credentials',
      SecretString: JSON.stringify({
        method: 'qualys-oidc',
        clientId: d.clientId,
        clientSecret: d.clientSecret,
      }),
    }),
  );
  await sm.client.send(new CreateSecretCommand({ Name: 'qexport/token' }));
  await sm.client.send(
    new CreateSecretCommand({
      Name: 'qexport/vm-credentials',
      SecretString: JSON.stringify({ username: d.username, password: d.password }),
    }),
  );
  await sm.client.send(
    new CreateSecretCommand({
      Name: 'qexport/pci-credentials',
      SecretString: JSON.stringify({ method: 'basic', username: d.pciUsername, password: d.pciPassword }),
    }),
  );
  env = {
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_API_URL: sim.url,
    QUALYS_JWKS_URL: sim.jwksUrl,
    QUALYS_ISSUER: sim.issuer,
    QUALYS_AUDIENCE: sim.audience,
    QUALYS_PCI_PAGE_SIZE: '20',
    QUALYS_CERTVIEW_PAGE_SIZE: '20',
    QUALYS_EDR_PAGE_SIZE: '20',
    QUALYS_MOBILE_TRUNCATION_LIMIT: '20',
    QUALYS_VMDR_TRUNCATION_LIMIT: '20',
    QEXPORT_PART_MAX_RECORDS: '50',
    QEXPORT_BUCKET: s3.bucket,
    QEXPORT_PREFIX: 'qualys',
    QEXPORT_TOKEN_SECRET_ID: 'qexport/token',
    QEXPORT_CREDENTIALS_SECRET_ID: 'qexport/credentials',
    QEXPORT_PCI_CREDENTIALS_SECRET_ID: 'qexport/pci-credentials',
    QEXPORT_VM_CREDENTIALS_SECRET_ID: 'qexport/vm-credentials',
    QEXPORT_TOKEN_REFRESH_FUNCTION: 'qexport-token-refresh',
  };
  lambda = await startLambdaServer({
    'qexport-token-refresh': (event) =>
      handleTokenRefresh(event, { env, secrets: sm.client, fetch, logger, writeMetrics: () => {} }),
  });
  // The first scheduled refresh.
  await handleTokenRefresh({}, { env, secrets: sm.client, fetch, logger, writeMetrics: () => {} });
});

afterAll(async () => {
  await Promise.all([sim.close(), s3.close(), sm.close(), lambda.close()]);
});

/** Runs the Step Functions loop: each invocation gets `remainingMs`; returns the final result. */
async function stepFunctionsLoop(
  module: (typeof ALL_MODULES)[number],
  remainingMs: () => number,
  now?: () => number,
  envOverride?: Record<string, string | undefined>,
) {
  const deps = {
    env: envOverride ?? env,
    s3: s3.client,
    secrets: sm.client,
    lambda: lambda.client,
    fetch,
    logger,
    now,
    writeMetrics: (l: string) => metrics.push(l),
  };
  const metrics: string[] = [];
  let result: RunResult = await handleExport(
    module,
    { source: 'aws.scheduler', 'detail-type': 'Scheduled Event' },
    { getRemainingTimeInMillis: remainingMs },
    deps,
  );
  let invocations = 1;
  while (result.status === 'continue') {
    result = await handleExport(
      module,
      { continuation: { runId: result.runId } },
      { getRemainingTimeInMillis: remainingMs },
      deps,
    );
    invocations++;
    if (invocations > 200) throw new Error('loop did not end');
  }
  return { result, invocations, metrics };
}

describe('export Lambdas', () => {
  it.each(ALL_MODULES)(
    '%s: the loop completes across invocations and S3 holds exactly the API records',
    async (module) => {
      // A clock that moves 4 s each time it is read, and 50 s per invocation with 30 s kept in hand:
      // a few pages per invocation, deterministically.
      let t = Date.now();
      const clock = () => (t += 4000);
      const { result, invocations, metrics } = await stepFunctionsLoop(module, () => 50_000, clock);
      expect(result.status, JSON.stringify(result.error)).toBe('done');
      expect(invocations).toBeGreaterThan(1);
      const manifest = JSON.parse((await s3.getObject(result.manifestKey!)).toString('utf8')) as Manifest;
      const records = await readParts(manifest, (key) => s3.getObject(key));
      const expected = sim.expectedIds(module, expectedOptions(module, manifest.range));
      expect(
        compareIds(
          expected,
          records.map((r) => idOf(module, r)),
        ),
      ).toEqual({ lost: 0, duplicated: 0, extra: 0 });
      expect(manifest.totals.records).toBe(listedCount(module, 230));
      // Keys follow the documented layout; the manifest is there; state says committed.
      const keys = await s3.listKeys(`qualys/${module}/`);
      for (const k of keys)
        expect(k).toMatch(
          new RegExp(
            `^qualys/${module}/dt=\\d{4}-\\d\\d-\\d\\d/run=${result.runId}/(part-\\d{5}\\.ndjson\\.gz|_manifest\\.json)$`,
          ),
        );
      expect(keys.filter((k) => k.endsWith('.ndjson.gz'))).toHaveLength(manifest.parts.length);
      // One EMF line per invocation.
      expect(metrics).toHaveLength(invocations);
      expect(JSON.parse(metrics.at(-1)!).RunsCompleted).toBe(1);
    },
  );

  it('a token that expires mid-run is replaced through the token-refresh function after one 401', async () => {
    sim.faults.add({ kind: 'expire-token', path: '/certview/', after: 3 });
    const before = lambda.invocations.length;
    const { result } = await stepFunctionsLoop('certview-certificates', () => 600_000);
    expect(result.status).toBe('done');
    expect(sim.faults.hits).toBeGreaterThan(0);
    expect(lambda.invocations.length - before).toBe(1);
    expect(lambda.invocations.at(-1)!.payload).toEqual({ force: true });
  });

  it('a second 401 after a refresh fails the run with a clear message', async () => {
    sim.faults.add({ kind: 'expire-token', path: '/sem/', times: 2 });
    const { result } = await stepFunctionsLoop('mobile-assets', () => 600_000);
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/rejected a freshly refreshed token/);
    sim.faults.clear();
    const again = await stepFunctionsLoop('mobile-assets', () => 600_000);
    expect(again.result.status).toBe('done');
    expect(again.result.runId).toBe(result.runId);
  });

  it('the PCI exporter needs only the PCI secret; the gateway exporters never read it', async () => {
    const pciOnly = {
      ...env,
      QEXPORT_TOKEN_SECRET_ID: undefined,
      QEXPORT_CREDENTIALS_SECRET_ID: undefined,
      QEXPORT_TOKEN_REFRESH_FUNCTION: undefined,
      QUALYS_GATEWAY_URL: undefined,
    };
    const before = lambda.invocations.length;
    const { result } = await stepFunctionsLoop('pci-scans', () => 600_000, undefined, pciOnly);
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(result.records).toBe(230);
    expect(lambda.invocations.length).toBe(before); // no token-refresh for Basic auth
    const gatewayOnly = { ...env, QEXPORT_PCI_CREDENTIALS_SECRET_ID: undefined };
    const other = await stepFunctionsLoop('mobile-assets', () => 600_000, undefined, gatewayOnly);
    expect(other.result.status).toBe('done');
  });

  it('the PCI exporter with an IdP method obtains its token in-process, once per container', async () => {
    await sm.client.send(
      new CreateSecretCommand({
        Name: 'qexport/pci-idp',
        SecretString: JSON.stringify({
          method: 'idp-client-credentials',
          tokenUrl: sim.tokenUrl,
          clientId: sim.defaults.clientId,
          clientSecret: sim.defaults.clientSecret,
        }),
      }),
    );
    const idpEnv = { ...env, QEXPORT_PCI_CREDENTIALS_SECRET_ID: 'qexport/pci-idp' };
    const tokenCalls = sim.stats().byPath['/oauth2/token'] ?? 0;
    let t = Date.now();
    const { result, invocations } = await stepFunctionsLoop(
      'pci-scans',
      () => 50_000,
      () => (t += 4000),
      idpEnv,
    );
    expect(result.status, JSON.stringify(result.error)).toBe('done');
    expect(invocations).toBeGreaterThan(1);
    expect((sim.stats().byPath['/oauth2/token'] ?? 0) - tokenCalls).toBe(1);
  });

  it('refused PCI Basic credentials fail at once with a clear message, without a refresh', async () => {
    await sm.client.send(
      new CreateSecretCommand({
        Name: 'qexport/pci-wrong',
        SecretString: JSON.stringify({
          method: 'basic',
          username: sim.defaults.pciUsername,
          password: 'wrong-PCI-pw-1',
        }),
      }),
    );
    const before = lambda.invocations.length;
    const { result } = await stepFunctionsLoop('pci-scans', () => 600_000, undefined, {
      ...env,
      QEXPORT_PCI_CREDENTIALS_SECRET_ID: 'qexport/pci-wrong',
    });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/PCI Merchant rejected the Basic credentials/);
    expect(result.error?.message).not.toContain('wrong-PCI-pw-1');
    expect(lambda.invocations.length).toBe(before);
  });

  it('rejects malformed events with a clear error', async () => {
    const deps = { env, s3: s3.client, secrets: sm.client, lambda: lambda.client, fetch, logger };
    const ctx = { getRemainingTimeInMillis: () => 600_000 };
    await expect(handleExport('pci-scans', [], ctx, deps)).rejects.toThrow(/JSON object/);
    await expect(handleExport('pci-scans', { continuation: {} }, ctx, deps)).rejects.toThrow(/continuation/);
    await expect(
      handleExport('pci-scans', {}, ctx, { ...deps, env: { ...env, QEXPORT_BUCKET: '' } }),
    ).rejects.toThrow(/QEXPORT_BUCKET/);
  });

  it('no log line or S3 object contains a token or a client secret', async () => {
    const tokens = sm
      .dump()
      .map((v) => {
        try {
          return (JSON.parse(v.value) as { accessToken?: string }).accessToken;
        } catch {
          return undefined;
        }
      })
      .filter((t): t is string => Boolean(t));
    expect(tokens.length).toBeGreaterThan(0);
    const needles = [...tokens, sim.defaults.clientSecret, sim.defaults.pciPassword, 'wrong-PCI-pw-1'];
    const haystacks = [logs.join('\n')];
    for (const key of await s3.listKeys()) {
      const body = await s3.getObject(key);
      haystacks.push(
        key.endsWith('.gz')
          ? (await import('node:zlib')).gunzipSync(body).toString('utf8')
          : body.toString('utf8'),
      );
    }
    for (const h of haystacks) for (const n of needles) expect(h.includes(n)).toBe(false);
  });
});
