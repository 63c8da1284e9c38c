import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkToken,
  createSecretsTokenProvider,
  createSecretsTokenStore,
  handleTokenRefresh,
  obtainToken,
  refreshToken,
} from '../../shared/auth';
import { requestTokenFor } from '../../shared/auth/store';
import type { Credentials, TokenCheckConfig } from '../../shared/config';
import { AuthError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { startSimulator, type Simulator } from '../sim';
import { motoAvailable, startMotoServer } from '../support/moto-server';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';
import { simCredentials } from '../support/harness';

let sim: Simulator;
let sm: SecretsManagerServer;
const logLines: string[] = [];
const logger = createLogger({ level: 'debug', write: (l) => logLines.push(l) });
let secretCounter = 0;

beforeAll(async () => {
  sim = await startSimulator();
  sm = await startSecretsManagerServer();
});
afterAll(async () => {
  await sim.close();
  await sm.close();
});

const endpoints = () => ({ gatewayUrl: sim.url, pciUrl: sim.url });
const fullCheck = (): TokenCheckConfig => ({
  jwksUrl: sim.jwksUrl,
  issuer: sim.issuer,
  audience: sim.audience,
  maxLifetimeSeconds: 86_400,
});

const credsFor = (method: Credentials['method']): Credentials => simCredentials(sim, method);

async function newSecret(value?: string): Promise<string> {
  return newSecretIn(sm.client, value);
}

async function newSecretIn(client: SecretsManagerClient, value?: string): Promise<string> {
  const name = `qexport/test/${++secretCounter}`;
  await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return name;
}

/** A Secrets Manager endpoint for the token-secret suite: our stand-in, or moto_server where it is installed. */
interface SmBackend {
  client: SecretsManagerClient;
  /** Requests sent, by operation (counted on the client). */
  calls: Record<string, number>;
  /** Every stored value of every secret. */
  dump(): Promise<{ name: string; versionId: string; stages: string[]; value: string }[]>;
  close(): Promise<void>;
}

/** Counts the operations a client sends (what the stand-in counts on its side, for any endpoint). */
function countCalls(client: SecretsManagerClient): Record<string, number> {
  const calls: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => (args) => {
      const op = String(context.commandName ?? '').replace(/Command$/, '');
      calls[op] = (calls[op] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return calls;
}

/** Every version of every secret, read through the API (for an endpoint we cannot look inside). */
async function dumpThroughApi(client: SecretsManagerClient) {
  const out: { name: string; versionId: string; stages: string[]; value: string }[] = [];
  for (const s of (await client.send(new ListSecretsCommand({ MaxResults: 100 }))).SecretList ?? []) {
    const versions = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: s.ARN, IncludeDeprecated: true }),
    );
    for (const v of versions.Versions ?? []) {
      const got = await client.send(new GetSecretValueCommand({ SecretId: s.ARN, VersionId: v.VersionId }));
      out.push({
        name: s.Name!,
        versionId: v.VersionId!,
        stages: v.VersionStages ?? [],
        value: got.SecretString ?? '',
      });
    }
  }
  return out;
}

const SM_BACKENDS: [string, () => Promise<SmBackend>][] = [
  [
    'stand-in',
    async () => {
      const server = await startSecretsManagerServer();
      return {
        client: server.client,
        calls: server.calls,
        dump: async () => server.dump(),
        close: server.close,
      };
    },
  ],
  [
    'moto_server',
    async () => {
      const moto = await startMotoServer();
      const client = moto.secretsManager();
      return { client, calls: countCalls(client), dump: () => dumpThroughApi(client), close: moto.close };
    },
  ],
];

describe.each([
  'qualys-oidc',
  'qualys-oauth',
  'qualys-basic',
  'idp-password',
  'idp-client-credentials',
] as const)('%s', (method) => {
  it('obtains, checks (JWKS signature, issuer, audience) and stores a token', async () => {
    const store = createSecretsTokenStore(sm.client, await newSecret());
    const result = await refreshToken({
      credentials: credsFor(method),
      endpoints: endpoints(),
      tokenCheck: fullCheck(),
      fetch,
      store,
      logger,
    });
    expect(result.refreshed).toBe(true);
    expect(result.method).toBe(method);
    const stored = await store.read();
    expect(stored?.token.method).toBe(method);
    expect(stored?.token.tokenType).toBe('Bearer');
    expect(Date.parse(stored!.token.expiresAt)).toBe(Date.parse(result.expiresAt));
    // The stored token really works against the API.
    const res = await fetch(`${sim.url}/pci/scan/list?limit=1`, {
      headers: { authorization: `Bearer ${stored!.token.accessToken}` },
    });
    expect(res.status).toBe(200);
    // Lifetime as documented: 4 h for Qualys tokens, 3600 s for the IdP.
    const hours = (Date.parse(result.expiresAt) - Date.now()) / 3600_000;
    expect(hours).toBeCloseTo(method.startsWith('qualys') ? 4 : 1, 1);
  });

  it('a wrong secret gives a clear error naming the method and URL, never the secret', async () => {
    const creds = credsFor(method);
    const wrong = 'WRONG-s3cr3t-value-123';
    if (creds.clientSecret) creds.clientSecret = wrong;
    if (creds.password) creds.password = wrong;
    const err = await obtainToken(creds, endpoints(), fetch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    const msg = (err as Error).message;
    expect(msg).toContain(method);
    expect(msg).toMatch(/http:\/\/127\.0\.0\.1:\d+\//);
    expect(msg).toMatch(/HTTP 40[01]/);
    expect(msg).not.toContain(wrong);
  });
});

describe('token checks', () => {
  const cases: [string, Parameters<Simulator['issueToken']>[0], RegExp][] = [
    ['expired', { ttlSec: -60 }, /expired/],
    ['not yet valid', { nbfOffsetSec: 3600 }, /not valid yet/],
    ['wrong issuer', { issuer: 'https://evil.example.com' }, /issuer/],
    ['wrong audience', { audience: 'someone-else' }, /audience/],
    ['bad signature', { foreignKey: true }, /signature|no key in the JWKS/],
    ['absurd lifetime', { ttlSec: 90 * 86_400 }, /lifetime/],
  ];
  it.each(cases)('%s tokens are refused with a clear error', async (_name, opts, pattern) => {
    const token = await sim.issueToken(opts);
    const err = await checkToken(token, fullCheck(), new Date(), fetch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain(token);
  });

  it('accepts a good token and reports subject and expiry', async () => {
    const info = await checkToken(
      await sim.issueToken({ sub: 'alice', ttlSec: 600 }),
      fullCheck(),
      new Date(),
      fetch,
    );
    expect(info.subject).toBe('alice');
    expect(info.expiresAt.getTime() - Date.now()).toBeGreaterThan(500_000);
  });

  it('fetches the JWKS with the injected fetch (so it goes through the same proxy as every call)', async () => {
    const seen: string[] = [];
    const counting: typeof fetch = (input, init) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    // A JWKS URL of its own, so jose's per-URL cache cannot answer without fetching.
    const check = { ...fullCheck(), jwksUrl: `${sim.jwksUrl}?via=injected` };
    const info = await checkToken(
      await sim.issueToken({ sub: 'bob', ttlSec: 600 }),
      check,
      new Date(),
      counting,
    );
    expect(info.subject).toBe('bob');
    expect(seen).toEqual([check.jwksUrl]);
  });

  it('without a JWKS, still refuses an expired token and a non-JWT', async () => {
    const basic: TokenCheckConfig = { maxLifetimeSeconds: 86_400 };
    await expect(checkToken(await sim.issueToken({ ttlSec: -5 }), basic, new Date(), fetch)).rejects.toThrow(
      /expired/,
    );
    await expect(checkToken('not-a-jwt', basic, new Date(), fetch)).rejects.toThrow(/not a JWT/);
  });

  it('HTML error pages and empty bodies are named as such', async () => {
    const html: typeof fetch = async () =>
      new Response('<html><body>Login</body></html>', {
        status: 200,
        headers: { 'content-type': 'text/html' },
      });
    await expect(obtainToken(credsFor('qualys-oidc'), endpoints(), html)).rejects.toThrow(/HTML page/);
    const empty: typeof fetch = async () => new Response('', { status: 200 });
    await expect(obtainToken(credsFor('qualys-oidc'), endpoints(), empty)).rejects.toThrow(/empty body/);
    const locked: typeof fetch = async () =>
      new Response('{"error":"access_denied","error_description":"account locked"}', { status: 403 });
    await expect(obtainToken(credsFor('idp-password'), endpoints(), locked)).rejects.toThrow(
      /403.*account locked.*locked/,
    );
  });
});

for (const [backend, start] of SM_BACKENDS) {
  describe.skipIf(backend === 'moto_server' && !motoAvailable())(`the token secret (${backend})`, () => {
    let sm: SmBackend;
    /** A refresh with the simulator's Qualys OIDC client, checked against its JWKS. */
    const oidcDeps = <T extends object>(extra: T) => ({
      credentials: credsFor('qualys-oidc'),
      endpoints: endpoints(),
      tokenCheck: fullCheck(),
      fetch,
      ...extra,
    });
    const newSecret = (value?: string) => newSecretIn(sm.client, value);
    beforeAll(async () => {
      sm = await start();
    }, 60_000);
    afterAll(async () => {
      await sm?.close();
    });

    it('PutSecretValue: idempotent on ClientRequestToken; a new value under a used token is refused', async () => {
      const id = await newSecret();
      const store = createSecretsTokenStore(sm.client, id);
      // A secret with no value yet reads as "no token", not an error.
      expect(await store.read()).toBeUndefined();
      const token = {
        accessToken: 'a'.repeat(40),
        tokenType: 'Bearer' as const,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        issuedAt: new Date().toISOString(),
        method: 'qualys-oidc' as const,
      };
      const v1 = await store.write(token, undefined);
      expect(v1).toEqual(expect.any(String));
      // The SDK retrying the same request (same token, same value) gets the same version back.
      const put = (value: string) =>
        sm.client.send(
          new PutSecretValueCommand({
            SecretId: id,
            SecretString: value,
            ClientRequestToken: requestTokenFor(id, undefined),
          }),
        );
      expect((await put(JSON.stringify(token))).VersionId).toBe(v1);
      // Another refresher that started from the same version, with its own token: refused, and it says so.
      const other = { ...token, accessToken: 'b'.repeat(40) };
      await expect(put(JSON.stringify(other))).rejects.toBeInstanceOf(ResourceExistsException);
      expect(await store.write(other, undefined)).toBeUndefined();
      expect((await store.read())!.token.accessToken).toBe(token.accessToken);
      // The next version, based on v1: AWSCURRENT moves to it and v1 becomes AWSPREVIOUS.
      const v2 = await store.write(other, v1);
      const versions = await sm.client.send(new ListSecretVersionIdsCommand({ SecretId: id }));
      const stages = Object.fromEntries((versions.Versions ?? []).map((v) => [v.VersionId, v.VersionStages]));
      expect(stages).toEqual({ [v1!]: ['AWSPREVIOUS'], [v2!]: ['AWSCURRENT'] });
      expect((await store.read())!.versionId).toBe(v2);
    });

    it('refreshes only within the margin unless forced', async () => {
      const store = createSecretsTokenStore(sm.client, await newSecret());
      const deps = oidcDeps({ store });
      expect((await refreshToken(deps)).refreshed).toBe(true);
      expect((await refreshToken(deps)).refreshed).toBe(false); // 4 h left > 60 min margin
      expect((await refreshToken({ ...deps, marginMinutes: 300 })).refreshed).toBe(true);
      expect((await refreshToken({ ...deps, force: true })).refreshed).toBe(true);
    });

    it('two refreshes started at once leave exactly one new, valid version', async () => {
      const id = await newSecret();
      const store = createSecretsTokenStore(sm.client, id);
      const deps = oidcDeps({ force: true });
      // Two independent stores = two Lambda containers, each reading the same starting version.
      const [a, b] = await Promise.all([
        refreshToken({ ...deps, store: createSecretsTokenStore(sm.client, id) }),
        refreshToken({ ...deps, store: createSecretsTokenStore(sm.client, id) }),
      ]);
      expect([a.refreshed, b.refreshed].sort()).toEqual([false, true]);
      const versions = await sm.client.send(new ListSecretVersionIdsCommand({ SecretId: id }));
      expect(versions.Versions).toHaveLength(1);
      const current = await store.read();
      await expect(
        checkToken(current!.token.accessToken, fullCheck(), new Date(), fetch),
      ).resolves.toBeDefined();
      expect(current!.token.expiresAt).toBe(a.refreshed ? a.expiresAt : b.expiresAt);
    });

    it('the exporter side caches the token and asks the refresher once on 401', async () => {
      const id = await newSecret();
      const store = createSecretsTokenStore(sm.client, id);
      const deps = oidcDeps({ store });
      await refreshToken(deps);
      let refreshes = 0;
      const provider = createSecretsTokenProvider({
        store,
        refresh: async () => {
          refreshes++;
          await refreshToken({ ...deps, force: true });
        },
      });
      const first = await provider.getToken();
      const reads = sm.calls.GetSecretValue ?? 0;
      expect(await provider.getToken()).toBe(first);
      expect(sm.calls.GetSecretValue ?? 0).toBe(reads); // cached: no second read
      const [r1, r2] = await Promise.all([provider.refresh(), provider.refresh()]);
      expect(refreshes).toBe(1); // concurrent 401s share one refresh
      expect(r1).toBe(r2);
      expect(r1).not.toBe(first);
    });

    it('the token-refresh handler reads the credentials secret and returns no token', async () => {
      const credsId = await newSecret(JSON.stringify(credsFor('idp-client-credentials')));
      const tokenId = await newSecret();
      const metrics: string[] = [];
      const env = {
        QUALYS_GATEWAY_URL: sim.url,
        QUALYS_PCI_URL: sim.url,
        QUALYS_JWKS_URL: sim.jwksUrl,
        QUALYS_ISSUER: sim.issuer,
        QUALYS_AUDIENCE: sim.audience,
        QEXPORT_CREDENTIALS_SECRET_ID: credsId,
        QEXPORT_TOKEN_SECRET_ID: tokenId,
      };
      const out = await handleTokenRefresh(
        { force: true },
        { env, secrets: sm.client, fetch, logger, writeMetrics: (l) => metrics.push(l) },
      );
      expect(Object.keys(out).sort()).toEqual(['expiresAt', 'method', 'refreshed']);
      expect(out.refreshed).toBe(true);
      expect(JSON.parse(metrics[0]!)._aws.CloudWatchMetrics[0].Namespace).toBe('QualysExport');
      const writeMetrics = (l: string) => metrics.push(l);
      await expect(
        handleTokenRefresh({ force: 'yes' }, { env, secrets: sm.client, fetch, logger, writeMetrics }),
      ).rejects.toThrow(/force/);
      const badCreds = await newSecret(JSON.stringify({ method: 'qualys-oidc', clientId: 'x' }));
      await expect(
        handleTokenRefresh(
          {},
          {
            env: { ...env, QEXPORT_CREDENTIALS_SECRET_ID: badCreds },
            secrets: sm.client,
            fetch,
            logger,
            writeMetrics,
          },
        ),
      ).rejects.toThrow(/credentials secret .* field 'clientSecret' is required/);
      // The failed refresh is counted (what the TokenRefreshFailures alarm reads).
      expect(JSON.parse(metrics.at(-1)!)).toMatchObject({ TokenRefreshes: 0, TokenRefreshFailures: 1 });
    });

    it('no log line, error or stored object other than the token secret contains a token or secret', async () => {
      const stored = await sm.dump();
      const tokens = stored.flatMap((v) => {
        try {
          const j = JSON.parse(v.value) as { accessToken?: string };
          return j.accessToken ? [j.accessToken] : [];
        } catch {
          return [];
        }
      });
      expect(tokens.length).toBeGreaterThan(3);
      const secretValues = [sim.defaults.clientSecret, sim.defaults.password];
      const haystack = logLines.join('\n');
      for (const t of tokens) expect(haystack).not.toContain(t);
      for (const s of secretValues) expect(haystack).not.toContain(s);
      expect(haystack).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
      // Only credentials secrets hold credentials; token secrets hold only the token JSON.
      for (const v of stored) {
        if (v.value.includes('accessToken')) {
          expect(Object.keys(JSON.parse(v.value)).sort()).toEqual([
            'accessToken',
            'expiresAt',
            'issuedAt',
            'method',
            'tokenType',
          ]);
        }
      }
    });
  });
}
