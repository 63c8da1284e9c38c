import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../sim';
import { qexport, walk } from '../support/cli';

/**
 * The real `qexport` command (child process) with nothing but PCI Merchant's own Basic account configured,
 * against a simulator speaking the documented PCI dialect: Basic or IdP JWTs only, `apiVersion: V1` required.
 */
let sim: Simulator;
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-cli-pci-'));
  sim = await startSimulator({
    seed: 3,
    counts: { pci: 37, certview: 0, edr: 0, mobile: 0 },
    dialect: { pciAuth: 'documented', pciRequireApiVersion: true },
    auth: { pciUsername: 'merchant-7', pciPassword: 'PCI-sentinel-pw-0c4e' },
  });
});
afterAll(async () => {
  await sim.close();
  await rm(tmp, { recursive: true, force: true });
});

const pciOnly = () => ({
  QUALYS_PCI_URL: sim.url,
  QUALYS_PCI_USERNAME: 'merchant-7',
  QUALYS_PCI_PASSWORD: 'PCI-sentinel-pw-0c4e',
  QUALYS_PCI_PAGE_SIZE: '10',
});

describe('qexport with only PCI Merchant Basic credentials', () => {
  it('token checks the PCI account with one cheap call, and says the gateway is not configured', async () => {
    const before = sim.stats().byPath['/pci/scan/list'] ?? 0;
    const run = await qexport(['token'], { env: pciOnly() });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^gateway\n {2}not configured/m);
    expect(run.stdout).toMatch(/^pci\n {2}method: +basic\n {2}account: +accepted .*HTTP 200, totalCount 37/m);
    expect((sim.stats().byPath['/pci/scan/list'] ?? 0) - before).toBe(1);
    expect(run.stdout + run.stderr).not.toContain('PCI-sentinel-pw-0c4e');
  });

  it('export pci-scans writes every scan, with no gateway platform, URL or credentials', async () => {
    const out = join(tmp, 'pci');
    const run = await qexport(['export', 'pci-scans', '--out', out], { env: pciOnly() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain('PCI-sentinel-pw-0c4e');
    const manifests = (await walk(out)).filter((f) => f.endsWith('_manifest.json'));
    expect(manifests).toHaveLength(1);
    const manifest = JSON.parse(await readFile(manifests[0]!, 'utf8'));
    expect(manifest.totals.records).toBe(37);
    const ids: string[] = [];
    for (const part of manifest.parts) {
      const text = gunzipSync(await readFile(join(out, part.key))).toString('utf8');
      for (const line of text.trimEnd().split('\n')) ids.push(String(JSON.parse(line).scanId));
    }
    expect(ids.sort()).toEqual([...sim.expectedIds('pci-scans')].sort());
    for (const f of await walk(out)) {
      const body = await readFile(f);
      const text = f.endsWith('.gz') ? gunzipSync(body).toString('utf8') : body.toString('utf8');
      expect(text).not.toContain('PCI-sentinel-pw-0c4e');
      expect(text).not.toContain(Buffer.from('merchant-7:PCI-sentinel-pw-0c4e').toString('base64'));
    }
  });

  it('a refused PCI password: token and export exit 3 saying so, never printing it', async () => {
    const env = { ...pciOnly(), QUALYS_PCI_PASSWORD: 'wrong-pw-77aa' };
    const token = await qexport(['token'], { env });
    expect(token.code).toBe(3);
    expect(token.stdout).toMatch(/error: .*PCI Merchant rejected the Basic credentials/);
    const run = await qexport(['export', 'pci-scans', '--out', join(tmp, 'wrong')], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/PCI Merchant rejected the Basic credentials/);
    for (const text of [token.stdout, token.stderr, run.stdout, run.stderr])
      expect(text).not.toContain('wrong-pw-77aa');
  });

  it('a gateway module still asks for the gateway; nothing configured at all is named', async () => {
    const gw = await qexport(['export', 'mobile-assets', '--out', join(tmp, 'gw')], { env: pciOnly() });
    expect(gw.code).toBe(2);
    expect(gw.stderr).toMatch(/QUALYS_PLATFORM/);
    const none = await qexport(['token'], { env: { QUALYS_PCI_URL: sim.url } });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no credentials are configured/);
  });
});
