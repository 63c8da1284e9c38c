import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleFunctions } from '../support/functions';

const ROOT = join(import.meta.dirname, '..', '..');
let out: string;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('bundled functions', () => {
  it('the esbuild bundles load and run as Lambda would, configured only by environment', async () => {
    out = await mkdtemp(join(tmpdir(), 'qexport-bundles-'));
    await bundleFunctions(['token-refresh', 'export-mobile-assets'], out);
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          join(ROOT, 'bin', 'run-ts.mjs'),
          join(ROOT, 'test', 'support', 'bundled-run.ts'),
          join(out, 'token-refresh.mjs'),
          join(out, 'export-mobile-assets.mjs'),
        ],
        {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let s = '';
      let e = '';
      child.stdout.on('data', (d) => (s += d));
      child.stderr.on('data', (d) => (e += d));
      child.on('close', (code) =>
        code === 0 ? resolve(s) : reject(new Error(`exit ${code}: ${e.slice(-2000)}`)),
      );
    });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line).toBeDefined();
    const r = JSON.parse(line!.slice(7));
    expect(r.refreshed).toMatchObject({ refreshed: true, method: 'qualys-oidc' });
    expect(r.result.status).toBe('done');
    expect(r.records).toBe(2500);
    expect(r.invokes).toBe(1); // the mid-run 401 went through the bundled token-refresh function
    expect(r.keys.some((k: string) => k.endsWith('_manifest.json'))).toBe(true);
    expect(stdout).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
  });
});
