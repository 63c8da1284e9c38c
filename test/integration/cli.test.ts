import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../sim';
import { QEXPORT, qexport, ROOT, walk } from '../support/cli';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('qexport demo', () => {
  it('exports all four modules into the S3 layout, with manifests matching the simulator', async () => {
    const out = join(tmp, 'demo');
    const run = await qexport(['demo', '--out', out, '--scale', '0.02']);
    expect(run.stderr + run.stdout).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./); // no JWT printed
    expect(run.code, run.stderr).toBe(0);
    for (const m of ['pci-scans', 'certview-certificates', 'edr-events', 'mobile-assets']) {
      expect(run.stdout).toMatch(new RegExp(`ok +${m}: (\\d+) records written, simulator holds \\1`));
    }
    expect(run.stdout).toMatch(/module +status +records +parts +bytes +seconds/);

    const files = await walk(out);
    for (const m of ['pci-scans', 'certview-certificates', 'edr-events', 'mobile-assets']) {
      const manifests = files.filter(
        (f) => new RegExp(`/demo-[^/]+/${m}/dt=`).test(f) && f.endsWith('_manifest.json'),
      );
      expect(manifests).toHaveLength(1);
      const manifest = JSON.parse(await readFile(manifests[0]!, 'utf8'));
      expect(manifest.module).toBe(m);
      let lines = 0;
      for (const part of manifest.parts) {
        const body = gunzipSync(await readFile(join(out, part.key)));
        const text = body.toString('utf8');
        expect(text.endsWith('\n')).toBe(true);
        const records = text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(records).toHaveLength(part.records);
        lines += records.length;
      }
      expect(lines).toBe(manifest.totals.records);
      expect(lines).toBeGreaterThan(0);
    }
  });
});

describe('qexport sim', () => {
  it("serves each module's first page in the documented shape to a token from /auth/oidc", async () => {
    const child = spawn(process.execPath, [QEXPORT, 'sim', '--port', '0', '--scale', '0.1'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('close', (code) => reject(new Error(`sim exited ${code}`)));
      });
      const token = await (
        await fetch(`${url}/auth/oidc`, {
          method: 'POST',
          headers: { clientId: 'qexport-demo', clientSecret: 'demo-client-secret' },
        })
      ).text();
      const h = { authorization: `Bearer ${token}` };
      const pci = (await (await fetch(`${url}/pci/scan/list?limit=2`, { headers: h })).json()) as {
        data: { scanInfoList: unknown[] };
      };
      expect(pci.data.scanInfoList).toHaveLength(2);
      const certs = (await (
        await fetch(`${url}/certview/v2/certificates`, {
          method: 'POST',
          headers: { ...h, 'content-type': 'application/json' },
          body: '{"pageNumber":0,"pageSize":1}',
        })
      ).json()) as unknown[];
      expect(certs).toHaveLength(1);
      const edr = (await (await fetch(`${url}/ioc/events/scroll?pageSize=2`, { headers: h })).json()) as {
        data: unknown[];
        scrollId: string;
      };
      expect(edr.data).toHaveLength(2);
      expect(typeof edr.scrollId).toBe('string');
      const xml = await (
        await fetch(`${url}/sem/v1/assetList?action=list&truncation_limit=1`, { headers: h })
      ).text();
      expect(xml).toContain('<CODE>1980</CODE>');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise((r) =>
      child.exitCode !== null ? r(child.exitCode) : child.on('close', r),
    );
    expect(code).toBe(0);
  });
});

describe('qexport export against a separately started simulator', () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 7, counts: { pci: 0, certview: 0, edr: 0, mobile: 57 } });
  });
  afterAll(async () => {
    await sim.close();
  });

  const envFor = () => ({
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_AUTH_METHOD: 'qualys-oidc',
    QUALYS_CLIENT_ID: sim.defaults.clientId,
    QUALYS_CLIENT_SECRET: sim.defaults.clientSecret,
    QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
  });

  it('exports mobile-assets with only the documented environment variables', async () => {
    const out = join(tmp, 'mobile');
    const run = await qexport(['export', 'mobile-assets', '--out', out], { env: envFor() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(sim.defaults.clientSecret);
    const manifests = (await walk(out)).filter((f) => f.endsWith('_manifest.json'));
    expect(manifests).toHaveLength(1);
    const manifest = JSON.parse(await readFile(manifests[0]!, 'utf8'));
    expect(manifest.totals.records).toBe(57);
    const ids: string[] = [];
    for (const part of manifest.parts) {
      const text = gunzipSync(await readFile(join(out, part.key))).toString('utf8');
      for (const line of text.trimEnd().split('\n')) ids.push(String(JSON.parse(line).ID));
    }
    expect(ids).toEqual([...sim.expectedIds('mobile-assets')]);
  });

  it('prints its token check without the token', async () => {
    const run = await qexport(['token'], { env: envFor() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/method: +qualys-oidc/);
    expect(run.stdout).toMatch(/expires: +\d{4}-\d\d-\d\dT/);
    expect(run.stdout).not.toMatch(/eyJ/);
  });

  it.each([
    [
      'missing credentials',
      ['export', 'mobile-assets'],
      { QUALYS_CLIENT_SECRET: '' },
      /QUALYS_CLIENT_SECRET/,
    ],
    ['unknown module', ['export', 'nope'], {}, /nope/],
    ['bad URL', ['export', 'mobile-assets'], { QUALYS_GATEWAY_URL: 'not a url' }, /QUALYS_GATEWAY_URL/],
    ['unknown flag', ['export', 'mobile-assets', '--bogus'], {}, /bogus/],
  ])('%s exits 2 with a one-line message naming the problem', async (_name, args, overrides, pattern) => {
    const out = join(tmp, 'misconfig');
    const run = await qexport([...args, '--out', out], { env: { ...envFor(), ...overrides } });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(pattern);
  });

  it('an unwritable output directory exits 2 naming the directory', async () => {
    // A regular file in the path makes the directory impossible to create, even for root.
    const blocker = join(tmp, 'blocker');
    await writeFile(blocker, 'not a directory');
    const target = join(blocker, 'sub');
    const run = await qexport(['export', 'mobile-assets', '--out', target], { env: envFor() });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(target);
  });

  it('--help exits 0 and documents the commands', async () => {
    const run = await qexport(['--help']);
    expect(run.code).toBe(0);
    for (const c of ['demo', 'export', 'token', 'sim']) expect(run.stdout).toContain(`qexport ${c}`);
  });
});
