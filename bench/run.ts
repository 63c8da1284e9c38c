// `npm run bench` — reproducible performance figures for qualys-export (see README "Benchmarks").
//   --smoke   tiny scale, proves the benchmarks still work (CI)
// Writes bench/results/latest.json and prints a table with each target and whether it is met.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');
const smoke = process.argv.includes('--smoke');
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
/** --only=efficiency,cpu,memory,coldstart runs a subset. */
const only = new Set(onlyArg ? onlyArg.slice(7).split(',') : ['efficiency', 'cpu', 'memory', 'coldstart']);
const RUN_TS = join(ROOT, 'bin', 'run-ts.mjs');

interface Row {
  benchmark: string;
  subject: string;
  value: number;
  unit: string;
  target: string;
  met: boolean;
  detail?: string;
}
const rows: Row[] = [];

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}`)),
    );
  });
}

async function withSim<T>(
  opts: Record<string, unknown>,
  fn: (sim: { url: string; clientId: string; clientSecret: string }) => Promise<T>,
): Promise<T> {
  const child = spawn(
    process.execPath,
    [RUN_TS, join(ROOT, 'bench', 'sim-server.ts'), JSON.stringify(opts)],
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

type WorkerResult = {
  module: string;
  status: string;
  records: number;
  wallMs: number;
  cpuMs: number;
  baselineCpuMs?: number;
  peakRssMb: number;
  apiCalls: number;
};

async function worker(
  module: string,
  sim: { url: string; clientId: string; clientSecret: string },
  mode: 'plain' | 'baseline',
): Promise<WorkerResult> {
  const out = await run([
    RUN_TS,
    join(ROOT, 'bench', 'worker.ts'),
    module,
    sim.url,
    sim.clientId,
    sim.clientSecret,
    mode,
    new Date().toISOString(),
  ]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as WorkerResult;
  if (r.status !== 'done') throw new Error(`${module} export ended ${r.status}`);
  return r;
}

const edrTimeline = (n: number) => {
  const span = 48 * 3600_000;
  return {
    start: new Date(Date.now() - span - 60_000).toISOString(),
    stepMs: Math.max(1, Math.floor(span / Math.max(1, n))),
  };
};

// ------------------------------------------------------------------ 1. API-bound efficiency
const LATENCY = 50;
const pageSizes = {
  'pci-scans': 1000,
  'certview-certificates': 200,
  'edr-events': 1000,
  'mobile-assets': 1000,
} as const;
const effCounts = smoke
  ? { 'pci-scans': 4000, 'certview-certificates': 1000, 'edr-events': 4000, 'mobile-assets': 3000 }
  : { 'pci-scans': 200_000, 'certview-certificates': 40_000, 'edr-events': 100_000, 'mobile-assets': 30_000 };
for (const module of only.has('efficiency') ? (Object.keys(pageSizes) as (keyof typeof pageSizes)[]) : []) {
  const n = effCounts[module];
  const size = pageSizes[module];
  // Pages the API must serve: PCI and Mobile stop on the last full page; CertView and EDR need one more
  // (short/empty) page to see the end. PCI offsets and CertView pages can be fetched 2 at a time (the
  // documented concurrency limit); an EDR scroll and Mobile truncation links are inherently sequential.
  const pages =
    module === 'pci-scans' || module === 'mobile-assets' ? Math.ceil(n / size) : Math.floor(n / size) + 1;
  const parallel = module === 'pci-scans' || module === 'certview-certificates' ? 2 : 1;
  const floorMs = (pages * LATENCY) / parallel;
  const counts = {
    pci: 0,
    certview: 0,
    edr: 0,
    mobile: 0,
    [module.split('-')[0] === 'certview'
      ? 'certview'
      : module === 'pci-scans'
        ? 'pci'
        : module === 'edr-events'
          ? 'edr'
          : 'mobile']: n,
  };
  const r = await withSim(
    { counts, latencyMs: LATENCY, limits: { concurrency: 2 }, edr: edrTimeline(n) },
    (sim) => worker(module, sim, 'plain'),
  );
  const ratio = r.wallMs / floorMs;
  rows.push({
    benchmark: 'API-bound efficiency',
    subject: module,
    value: +ratio.toFixed(3),
    unit: 'x floor',
    target: '<= 1.05',
    met: ratio <= 1.05,
    detail: `${pages} pages x ${LATENCY} ms / ${parallel} = ${floorMs} ms floor; wall ${r.wallMs.toFixed(0)} ms; ${r.records} records; ${r.apiCalls} calls`,
  });
}

// ------------------------------------------------------------------ 2. CPU per record
const cpuCounts = smoke
  ? { 'edr-events': 5000, 'mobile-assets': 2000, 'pci-scans': 5000, 'certview-certificates': 2000 }
  : { 'edr-events': 100_000, 'mobile-assets': 20_000, 'pci-scans': 100_000, 'certview-certificates': 20_000 };
for (const module of only.has('cpu') ? (Object.keys(cpuCounts) as (keyof typeof cpuCounts)[]) : []) {
  const n = cpuCounts[module];
  const key =
    module === 'pci-scans'
      ? 'pci'
      : module === 'certview-certificates'
        ? 'certview'
        : module === 'edr-events'
          ? 'edr'
          : 'mobile';
  const r = await withSim(
    { counts: { pci: 0, certview: 0, edr: 0, mobile: 0, [key]: n }, edr: edrTimeline(n) },
    (sim) => worker(module, sim, 'baseline'),
  );
  const ratio = r.cpuMs / r.baselineCpuMs!;
  rows.push({
    benchmark: 'CPU per record',
    subject: module,
    value: +ratio.toFixed(3),
    unit: 'x baseline',
    target: '<= 1.25',
    met: ratio <= 1.25,
    detail: `exporter ${((r.cpuMs * 1000) / r.records).toFixed(1)} us/record vs bare parse+stringify+gzip ${((r.baselineCpuMs! * 1000) / r.records).toFixed(1)} us/record (${r.records} records, ${Math.round(r.records / (r.wallMs / 1000))} records/s against the simulator, no latency)`,
  });
}

// ------------------------------------------------------------------ 3. Memory
const memScales = smoke
  ? { 'edr-events': 20_000, 'mobile-assets': 2000 }
  : { 'edr-events': 1_000_000, 'mobile-assets': 100_000 };
for (const module of only.has('memory') ? (Object.keys(memScales) as (keyof typeof memScales)[]) : []) {
  const big = memScales[module];
  const key = module === 'edr-events' ? 'edr' : 'mobile';
  const rss: number[] = [];
  for (const n of [big / 10, big]) {
    const r = await withSim(
      { counts: { pci: 0, certview: 0, edr: 0, mobile: 0, [key]: n }, edr: edrTimeline(n) },
      (sim) => worker(module, sim, 'plain'),
    );
    if (r.records !== n) throw new Error(`${module}: exported ${r.records} of ${n}`);
    rss.push(r.peakRssMb);
  }
  rows.push({
    benchmark: 'Peak RSS',
    subject: `${module} x${big}`,
    value: +rss[1]!.toFixed(1),
    unit: 'MB',
    target: '<= 256',
    met: rss[1]! <= 256,
  });
  const growth = rss[1]! / rss[0]!;
  rows.push({
    benchmark: 'RSS growth 10x data',
    subject: module,
    value: +growth.toFixed(3),
    unit: 'x',
    target: '<= 1.2',
    met: growth <= 1.2,
    detail: `${rss[0]!.toFixed(1)} MB at ${big / 10} -> ${rss[1]!.toFixed(1)} MB at ${big}`,
  });
}

// ------------------------------------------------------------------ 4. Cold start
const outDir = await mkdtemp(join(tmpdir(), 'qexport-bundle-'));
const entries = [
  'token-refresh',
  'export-pci-scans',
  'export-certview-certificates',
  'export-edr-events',
  'export-mobile-assets',
];
for (const e of only.has('coldstart') ? entries : []) {
  const outfile = join(outDir, `${e}.mjs`);
  await build({
    entryPoints: [join(ROOT, 'functions', `${e}.ts`)],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    outfile,
    logLevel: 'silent',
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  });
  const size = (await stat(outfile)).size;
  rows.push({
    benchmark: 'Bundle size',
    subject: e,
    value: +(size / 1024 / 1024).toFixed(3),
    unit: 'MB',
    target: '<= 1',
    met: size <= 1024 * 1024,
  });
  const times: number[] = [];
  for (let i = 0; i < (smoke ? 2 : 7); i++) {
    const out = await run([
      '--input-type=module',
      '-e',
      `const t=performance.now(); await import(${JSON.stringify(outfile)}); console.log(performance.now()-t)`,
    ]);
    times.push(Number(out.trim()));
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  rows.push({
    benchmark: 'Module load',
    subject: e,
    value: +median.toFixed(1),
    unit: 'ms',
    target: '<= 200',
    met: median <= 200,
    detail: `median of ${times.length}`,
  });
}
await rm(outDir, { recursive: true, force: true });

// ------------------------------------------------------------------ report
const resultsDir = join(ROOT, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const report = { scale: smoke ? 'smoke' : 'full', node: process.version, at: new Date().toISOString(), rows };
await writeFile(
  join(resultsDir, smoke ? 'smoke.json' : 'latest.json'),
  `${JSON.stringify(report, null, 2)}\n`,
);
const header = ['benchmark', 'subject', 'value', 'target', 'met'];
const body = rows.map((r) => [
  r.benchmark,
  r.subject,
  `${r.value} ${r.unit}`,
  r.target,
  r.met ? 'yes' : 'NO',
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const b of body) console.log(line(b));
for (const r of rows) if (r.detail) console.log(`  ${r.subject} (${r.benchmark}): ${r.detail}`);
console.log(
  `\n${smoke ? 'smoke scale: figures prove the benchmarks run, not the targets\n' : ''}written ${join('bench', 'results', smoke ? 'smoke.json' : onlyArg ? 'partial.json' : 'latest.json')}`,
);
