// Corporate networks: Qualys and IdP calls go through HTTPS_PROXY / HTTP_PROXY (undici's EnvHttpProxyAgent, built
// once in each entry point) unless NO_PROXY lists the host. Every request the simulator receives must have come
// through the proxy: the proxy forwards each one over its own connection and counts it, and the counts agree.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { proxyAwareFetch } from '../../shared/app/proxy-fetch';
import type { Manifest } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { closedPort, lines, qexport, ROOT, simCliEnv, walk } from '../support/cli';
import { createSimSecrets, FUNCTION_BUILD, standInAwsEnv } from '../support/functions';
import { startHttpProxy, type HttpProxy } from '../support/http-proxy';
import { startS3Server, type S3Server } from '../support/s3-server';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';

let tmp: string;
let sim: Simulator;
let proxy: HttpProxy;
let authProxy: HttpProxy;
const PROXY_USER = 'corp-user';
const PROXY_PASSWORD = 'proxy-pass-w0rd';

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-proxy-'));
  sim = await startSimulator({
    port: 0,
    seed: 5,
    counts: { pci: 45, certview: 35, edr: 120, mobile: 25, vmdr: 30, kb: 15 },
    edr: { start: new Date(Date.now() - 3600_000).toISOString(), stepMs: 1000 },
  });
  proxy = await startHttpProxy();
  authProxy = await startHttpProxy({
    requireAuth: `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`,
  });
});
afterAll(async () => {
  await Promise.all([sim.close(), proxy.close(), authProxy.close()]);
  await rm(tmp, { recursive: true, force: true });
});

const simHost = () => new URL(sim.url).host;

const qualysEnv = (): Record<string, string> => ({
  ...simCliEnv(sim),
  QUALYS_PCI_PAGE_SIZE: '10',
  QUALYS_CERTVIEW_PAGE_SIZE: '10',
  QUALYS_EDR_PAGE_SIZE: '25',
  QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
});

/** Runs `fn` and returns how many requests the simulator and the proxy saw meanwhile. */
/**
 * Takes the JSON lines (metric and log lines) this process writes to stdout while active, instead of printing
 * them between test results; everything else passes through.
 */
function captureStdoutJson() {
  const lines: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  const take = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.startsWith('{')) {
      lines.push(...text.split('\n').filter(Boolean));
      return true;
    }
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stdout.write = take;
  return {
    lines,
    pause: () => void (process.stdout.write = original),
    resume: () => void (process.stdout.write = take),
    stop: () => void (process.stdout.write = original),
  };
}

async function counted<T>(
  p: HttpProxy,
  fn: () => Promise<T>,
): Promise<{ value: T; sim: number; proxied: number }> {
  const simBefore = sim.stats().requests;
  const proxiedBefore = p.requests.length;
  const value = await fn();
  return { value, sim: sim.stats().requests - simBefore, proxied: p.requests.length - proxiedBefore };
}

/**
 * `qexport token` through the proxy at `proxyUrl`, no retries: exit 3, and each configured check (gateway, PCI)
 * reports its error as one line matching `pattern`.
 */
async function tokenFailsThrough(proxyUrl: string, pattern: RegExp) {
  const run = await qexport(['token'], {
    env: { ...qualysEnv(), HTTP_PROXY: proxyUrl, QUALYS_HTTP_MAX_RETRIES: '0' },
  });
  expect(run.code).toBe(3);
  const l = lines(run.stdout).filter((x) => /^ +error: /.test(x));
  expect(l, run.stdout).toHaveLength(2);
  for (const line of l) expect(line).toMatch(pattern);
  return run;
}

describe('qexport through a proxy', () => {
  it('exports all six modules with every Qualys request going through HTTP_PROXY', async () => {
    const out = join(tmp, 'all');
    const connectsBefore = proxy.connects[simHost()] ?? 0;
    const {
      value: run,
      sim: seen,
      proxied,
    } = await counted(proxy, () =>
      qexport(['export', 'all', '--out', out], { env: { ...qualysEnv(), HTTP_PROXY: proxy.url } }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(seen).toBeGreaterThanOrEqual(15); // token + every page of six modules
    expect(proxied).toBe(seen); // no request reached the simulator except through the proxy
    expect((proxy.connects[simHost()] ?? 0) - connectsBefore).toBeGreaterThan(0);
    expect(proxy.requests).toContain('POST /auth/oidc');
    const manifests = (await walk(out)).filter((f) => f.endsWith('_manifest.json'));
    expect(manifests).toHaveLength(6);
    const records = await Promise.all(
      manifests.map(async (f) => (JSON.parse(await readFile(f, 'utf8')) as Manifest).totals.records),
    );
    // 30 VMDR hosts of which 27 have detections (every tenth has none: Host List Detection leaves it out).
    expect(records.sort((a, b) => a - b)).toEqual([15, 25, 27, 35, 45, 120]);
  });

  it('the lowercase spelling wins over the uppercase one, as in curl', async () => {
    const {
      value: run,
      sim: seen,
      proxied,
    } = await counted(proxy, () =>
      qexport(['token'], {
        env: { ...qualysEnv(), http_proxy: proxy.url, HTTP_PROXY: 'http://127.0.0.1:9' },
      }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(proxied).toBe(seen);
    expect(run.stdout).toMatch(new RegExp(`network: +http\\(s\\) via ${proxy.url}`));
  });

  it('qexport token verifies the signature with a JWKS fetched through the proxy, never direct', async () => {
    const {
      value: run,
      sim: seen,
      proxied,
    } = await counted(proxy, () =>
      qexport(['token'], { env: { ...qualysEnv(), QUALYS_JWKS_URL: sim.jwksUrl, HTTP_PROXY: proxy.url } }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/verified: signature \(JWKS\)/);
    // Each check fetches the key set in its own process (a fresh CLI), through the proxy.
    const before = proxy.requests.length - proxied;
    expect(proxy.requests.slice(before)).toContain('GET /.well-known/jwks.json');
    expect(proxied).toBe(seen);
  });

  it('NO_PROXY sends the listed host direct', async () => {
    const {
      value: run,
      sim: seen,
      proxied,
    } = await counted(proxy, () =>
      qexport(['export', 'pci-scans', '--out', join(tmp, 'noproxy')], {
        env: { ...qualysEnv(), HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' },
      }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(seen).toBeGreaterThan(1);
    expect(proxied).toBe(0);
  });

  it('a proxy with credentials in its URL: authenticated, and the password is never printed', async () => {
    const url = `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${authProxy.port}`;
    const {
      value: run,
      sim: seen,
      proxied,
    } = await counted(authProxy, () =>
      qexport(['token'], { env: { ...qualysEnv(), HTTP_PROXY: url, QEXPORT_LOG_LEVEL: 'debug' } }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(proxied).toBe(seen);
    expect(run.stdout + run.stderr).not.toContain(PROXY_PASSWORD);
    expect(run.stdout).toMatch(
      new RegExp(`network: +http\\(s\\) via http://127\\.0\\.0\\.1:${authProxy.port}`),
    );
  });

  it('a proxy refusing our credentials: one line naming the proxy status, exit 3', async () => {
    const url = `http://${PROXY_USER}:not-the-password@127.0.0.1:${authProxy.port}`;
    const run = await tokenFailsThrough(
      url,
      new RegExp(
        `the proxy \\(http://127\\.0\\.0\\.1:${authProxy.port}\\) refused the connection with HTTP 407: check the user and password`,
      ),
    );
    expect(run.stdout + run.stderr).not.toContain('not-the-password');
  });

  it('a proxy that is down: one line naming the cause, exit 3, no direct fallback', async () => {
    const port = await closedPort();
    const before = sim.stats().requests;
    await tokenFailsThrough(
      `http://127.0.0.1:${port}`,
      new RegExp(
        `cannot connect to the proxy http://127\\.0\\.0\\.1:${port} \\(connection refused, ECONNREFUSED\\): check HTTPS_PROXY`,
      ),
    );
    expect(sim.stats().requests).toBe(before);
  });
});

describe('proxyAwareFetch', () => {
  it('is the plain fetch when no proxy is set, and honours only the variables it is given', async () => {
    expect(proxyAwareFetch({}, globalThis.fetch)).toBe(globalThis.fetch);
    const f = proxyAwareFetch({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url });
    const { proxied, sim: seen } = await counted(proxy, async () =>
      (await f(`${sim.url}/.well-known/jwks.json`)).text(),
    );
    expect(seen).toBe(1);
    expect(proxied).toBe(1);
  });

  it('a bad proxy variable makes every call fail with the configuration error, never a direct call', async () => {
    const f = proxyAwareFetch({ HTTP_PROXY: 'socks4://x' });
    const before = sim.stats().requests;
    await expect(f(`${sim.url}/.well-known/jwks.json`)).rejects.toThrow(/HTTP_PROXY must be an http/);
    expect(sim.stats().requests).toBe(before);
  });
});

describe('the Lambda entry points build the proxy-aware fetch from their environment', () => {
  let sm: SecretsManagerServer;
  let s3: S3Server;
  const saved = { ...process.env };
  beforeAll(async () => {
    sm = await startSecretsManagerServer();
    s3 = await startS3Server();
    await createSimSecrets(sm, sim, { credentials: 'proxy-creds', token: 'proxy-token' });
    Object.assign(process.env, {
      ...standInAwsEnv({ s3: s3.endpoint, secretsManager: sm.endpoint }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...qualysEnv(),
      HTTP_PROXY: proxy.url,
      QEXPORT_BUCKET: s3.bucket,
      QEXPORT_TOKEN_SECRET_ID: 'proxy-token',
      QEXPORT_CREDENTIALS_SECRET_ID: 'proxy-creds',
      QEXPORT_TOKEN_REFRESH_FUNCTION: 'refresh-unused',
      QEXPORT_LOG_LEVEL: 'error',
    });
    vi.resetModules();
  });
  afterAll(async () => {
    process.env = saved;
    await Promise.all([sm.close(), s3.close()]);
  });

  /** Bundles an entry point the way the stack does (esbuild, ESM, everything inline) into `dir`. */
  async function bundle(entry: string, dir: string): Promise<string> {
    const outfile = join(dir, `${entry}.mjs`);
    await build({
      ...FUNCTION_BUILD,
      entryPoints: [join(ROOT, 'functions', `${entry}.ts`)],
      outfile,
      logLevel: 'error',
    });
    return outfile;
  }

  /**
   * Runs the bundle's handler({force:true}) in a plain Node process (as Lambda would), with this environment.
   * `text` is its stdout (metric lines, then the result), `log` its stderr (warnings and errors).
   */
  function runBundle(file: string): Promise<{ ok: boolean; text: string; log: string }> {
    const script =
      `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});` +
      'try { console.log(JSON.stringify(await handler({ force: true }))); }' +
      'catch (e) { console.log("ERROR " + e.message); process.exitCode = 1; }';
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let log = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (log += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ ok: code === 0, text: out.trim(), log }));
    });
  }

  it('the bundled token-refresh carries no undici; with it installed beside, it goes through the proxy', async () => {
    // Inside the repository, so `import('undici')` resolves from its node_modules as from a Lambda asset's.
    const dir = await mkdtemp(join(ROOT, 'node_modules', '.cache-qexport-bundle-'));
    try {
      const file = await bundle('token-refresh', dir);
      expect(await readFile(file, 'utf8')).not.toMatch(/node_modules\/undici\//);
      const r = await counted(proxy, () => runBundle(file));
      expect(r.value.ok, r.value.text).toBe(true);
      expect(JSON.parse(r.value.text.split('\n').at(-1)!).refreshed).toBe(true); // after the EMF lines
      expect(r.sim).toBeGreaterThan(0);
      expect(r.proxied).toBe(r.sim);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without undici beside the bundle, a proxied call fails naming the fix, never going direct', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qexport-bundle-'));
    try {
      const file = await bundle('token-refresh', dir);
      const before = sim.stats().requests;
      const r = await runBundle(file);
      expect(r.ok).toBe(false);
      expect(r.text).toMatch(
        /a proxy is configured .* but the undici package cannot be loaded .*nodeModules \['undici'\]/,
      );
      // The function logs the failure (as CloudWatch would keep it) and counts it in its metric line.
      expect(r.log).toMatch(/"msg":"token refresh failed".*undici package cannot be loaded/);
      expect(r.text).toMatch(/"TokenRefreshFailures":1/);
      expect(sim.stats().requests).toBe(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('token-refresh and an exporter reach Qualys only through the proxy; AWS calls stay direct', async () => {
    // The entry points write their metric lines to stdout, as in Lambda: keep them, and check them.
    const emf = captureStdoutJson();
    const refresh = (await import('../../functions/token-refresh')).handler;
    const r1 = await counted(proxy, () => refresh({ force: true })).finally(emf.pause);
    expect(r1.sim).toBeGreaterThan(0);
    expect(r1.proxied).toBe(r1.sim);
    const stored = await sm.client.send(new GetSecretValueCommand({ SecretId: 'proxy-token' }));
    expect(JSON.parse(stored.SecretString!).accessToken).toMatch(/^eyJ/);

    const exporter = (await import('../../functions/export-certview-certificates')).handler;
    emf.resume();
    const r2 = await counted(proxy, () =>
      exporter({}, { getRemainingTimeInMillis: () => 600_000 } as Parameters<typeof exporter>[1]),
    ).finally(emf.stop);
    const metricLines = emf.lines.filter((l) => l.startsWith('{"_aws"'));
    expect(metricLines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ TokenRefreshes: 1, TokenRefreshFailures: 0 }),
      expect.objectContaining({ Module: 'certview-certificates', Records: 35, RunsCompleted: 1 }),
    ]);
    expect(r2.value.status).toBe('done');
    expect(r2.value.records).toBe(35);
    expect(r2.sim).toBeGreaterThan(1);
    expect(r2.proxied).toBe(r2.sim);
    expect(proxy.connects[new URL(s3.endpoint).host]).toBeUndefined(); // S3 went direct
  });
});
