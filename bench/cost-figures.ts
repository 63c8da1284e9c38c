// The measured inputs of docs/cost.md: per module, exporter CPU per record, API calls and bytes per record, and
// the S3 requests a run makes, from a real export against the simulator (in its own process, so its CPU is not
// counted) into (1) a directory, for CPU, and (2) the S3 stand-in, counting every S3 command the SDK sends.
//   node bin/run-ts.mjs bench/cost-figures.ts [--scale=0.1]
// Prints one JSON object per module and writes bench/results/cost-figures.json.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalTokenProvider } from '../shared/auth';
import { buildQualysClient } from '../shared/app/build-client';
import { runModuleLocally } from '../shared/app/run-local';
import { loadConfig, type ModuleName } from '../shared/config';
import type { Manifest } from '../shared/export/types';
import { createDirStore, createS3Store } from '../shared/sink';
import { onlyCounts } from '../test/sim/counts';
import { startS3Server } from '../test/support/s3-server';

const ROOT = join(import.meta.dirname, '..');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const scaleArg = process.argv.find((a) => a.startsWith('--scale='));
const scale = scaleArg ? Number(scaleArg.slice(8)) : 1;
const COUNTS: Record<ModuleName, number> = {
  'pci-scans': Math.round(100_000 * scale),
  'certview-certificates': Math.round(20_000 * scale),
  'edr-events': Math.round(100_000 * scale),
  'mobile-assets': Math.round(20_000 * scale),
  'vmdr-detections': Math.round(5_000 * scale),
  knowledgebase: Math.round(20_000 * scale),
};
async function withSim<T>(
  opts: Record<string, unknown>,
  fn: (sim: { url: string; clientId: string; clientSecret: string }) => Promise<T>,
): Promise<T> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'run-ts.mjs'), join(ROOT, 'bench', 'sim-server.ts'), JSON.stringify(opts)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const info = await new Promise<{ url: string; clientId: string; clientSecret: string }>(
    (resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
      });
      child.on('close', (code) => reject(new Error(`simulator exited ${code}`)));
    },
  );
  try {
    return await fn(info);
  } finally {
    child.kill('SIGTERM');
  }
}

const results: Record<string, unknown>[] = [];
const s3 = await startS3Server('qexport-cost');
// Count every command the exporter's S3 client sends (S3 bills per request, by request type).
const commands: Record<string, number> = {};
s3.client.middlewareStack.add(
  (next, context) => async (args) => {
    const name = (context as { commandName?: string }).commandName ?? 'unknown';
    commands[name] = (commands[name] ?? 0) + 1;
    return next(args);
  },
  { step: 'initialize', name: 'countCommands' },
);

for (const module of Object.keys(COUNTS) as ModuleName[]) {
  const n = COUNTS[module];
  const now = Date.now();
  const simOpts = {
    seed: 1,
    counts: onlyCounts(module, n),
    edr: { start: new Date(now - 20 * 3600_000).toISOString(), stepMs: Math.floor((20 * 3600_000) / n) },
  };
  const row = await withSim(simOpts, async (sim) => {
    const config = loadConfig({
      QUALYS_GATEWAY_URL: sim.url,
      QUALYS_PCI_URL: sim.url,
      QEXPORT_PREFIX: 'cost',
    });
    const tokens = createLocalTokenProvider({
      credentials: { method: 'qualys-oidc', clientId: sim.clientId, clientSecret: sim.clientSecret },
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch,
    });
    await tokens.getToken();

    // Pass 1: CPU and wall time into a directory.
    const dir = await mkdtemp(join(tmpdir(), 'qexport-cost-'));
    const client = buildQualysClient(config, tokens, fetch);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r1 = await runModuleLocally({ module, config, client, store: createDirStore(dir) });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const manifest = (await createDirStore(dir).getJson(r1.manifestKey!)) as Manifest;
    await rm(dir, { recursive: true, force: true });

    // Pass 2: the same run into the S3 stand-in, counting requests.
    for (const k of Object.keys(commands)) delete commands[k];
    const client2 = buildQualysClient(config, tokens, fetch);
    const r2 = await runModuleLocally({
      module,
      config,
      client: client2,
      store: createS3Store({ s3: s3.client, bucket: s3.bucket }),
    });
    if (r2.status !== 'done' || r1.status !== 'done') throw new Error(`${module}: ${r1.status}/${r2.status}`);
    return {
      module,
      records: manifest.totals.records,
      apiCalls: client.stats().calls,
      parts: manifest.totals.parts,
      rawBytes: manifest.totals.rawBytes,
      bytes: manifest.totals.bytes,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      wallMs: Math.round(wallMs),
      s3Requests: { ...commands },
    };
  });
  const perRecord = {
    cpuUsPerRecord: +((row.cpuMs * 1000) / row.records).toFixed(1),
    recordsPerSecond: Math.round(row.records / (row.wallMs / 1000)),
    rawBytesPerRecord: Math.round(row.rawBytes / row.records),
    storedBytesPerRecord: +(row.bytes / row.records).toFixed(1),
    apiCallsPer1M: Math.round((row.apiCalls / row.records) * 1e6),
  };
  const out = { ...row, ...perRecord };
  results.push(out);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
await s3.close();
await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
await writeFile(
  join(ROOT, 'bench', 'results', 'cost-figures.json'),
  `${JSON.stringify({ at: new Date().toISOString(), node: process.version, scale, results }, null, 2)}\n`,
);
process.exit(0);
