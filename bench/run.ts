// `npm run bench` — performance figures for qualys-export (README "Benchmarks", docs/benchmarks.md).
//   --smoke        tiny scale and one run per figure: proves the benchmarks work (CI), not the targets
//   --only=a,b     a subset of: xml, gzip, startup, coldstart, efficiency, cpu, calls, memory, checkpoint, state, vmdr
//   --vmdr-full    the VMDR scale case at full size: 100,000 hosts, 10M detections (default 10,000 hosts, 1M)
//   --vmdr-hosts=N the VMDR scale case with N hosts (about 68 detections each after the default filters)
//   --vmdr-parts=a,b  only these parts of it: memory, cpu, wall (default all three)
//   --runs=N       alternated runs per figure (default 3; every figure is the median with min-max)
//   --modules=a,b  only these modules in the per-module sections
//   --records=N,M  the run sizes of the state section (default 100000,1000000; smoke 2000): e.g.
//                  `npm run bench -- --only=state --records=1000000` reproduces the 1M figures alone
//   --page=N       the state section's page size (default: the largest each API allows)
//   --setups=a,b   memory: only these set-ups (deployed, runtime, machine, cli); --pages=N,M: only these pages
// Writes bench/results/latest.json (smoke.json, partial.json) and prints a table: each figure, its target and
// whether it is met. The simulator, the S3 stand-in and the Python peer run in their own processes.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import {
  EXPORTER_MEMORY_MB,
  EXPORTER_SEMI_SPACE_MB,
  HEAP_WRAPPER,
  lambdaNodeOptions,
} from '../infra/lambda-runtime';
import { MOBILE_MAX_TRUNCATION_LIMIT, MODULES as ALL_MODULES, type ModuleName } from '../shared/config';
import { onlyCounts } from '../test/sim/counts';
import type { WorkerResult, WorkerSpec } from './worker';

const ROOT = join(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const smoke = argv.includes('--smoke');
const onlyArg = argv.find((a) => a.startsWith('--only='));
const SECTIONS = [
  'xml',
  'gzip',
  'startup',
  'coldstart',
  'efficiency',
  'cpu',
  'calls',
  'memory',
  'checkpoint',
  'state',
  'vmdr',
];
const only = new Set(onlyArg ? onlyArg.slice(7).split(',') : SECTIONS);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section '${s}'`);
const RUNS = Number(argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? (smoke ? 1 : 3));
/** --modules=a,b limits the per-module sections (efficiency, cpu, memory) to those modules. */
const modulesArg = argv.find((a) => a.startsWith('--modules='));
const MODULES = modulesArg
  ? ALL_MODULES.filter((m) => modulesArg.slice(10).split(',').includes(m))
  : ALL_MODULES;
const listArg = (name: string) =>
  argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(',');
const SETUPS = listArg('setups');
const PAGES = listArg('pages')?.map(Number);
/** Host detections have their own section (`vmdr`): a host is a hundred detections, not one record. */
const GENERIC = MODULES.filter((m) => m !== 'vmdr-detections');
/** Records an export of `n` simulated records writes: every tenth simulated host has no detection and is not listed. */
const listedOf = (module: ModuleName, n: number) =>
  module === 'vmdr-detections' ? n - Math.floor((n + 2) / 10) : n;
/** Page sizes: the exporter's defaults, which are also the largest the APIs allow (EDR: see calls). */
const PAGE: Record<ModuleName, number> = {
  'pci-scans': 1000,
  'certview-certificates': 200,
  'edr-events': 1000,
  'mobile-assets': 1000,
  // Hosts per page (QUALYS_VMDR_TRUNCATION_LIMIT's default); the KnowledgeBase answers in one response.
  'vmdr-detections': 1000,
  knowledgebase: 1_000_000,
};
/** The EDR window the exporter and the fetch-only/floor/peer clients read (the simulator's events span 48 h). */
const EDR_LOOKBACK_HOURS = 72;
/** What every exporter run of the bench is given: two requests in flight, and EDR's first window. */
const BENCH_ENV = {
  QUALYS_CONCURRENCY: '2',
  QUALYS_EDR_INITIAL_LOOKBACK_HOURS: String(EDR_LOOKBACK_HOURS),
};
const LATENCY_MS = 50;
/** Host List Detection's delivery rate in the wall-time comparison (generous: real pages come at ~0.2–1 MB/s). */
const HLD_BYTES_PER_SEC = 4 * 1024 * 1024;

// ------------------------------------------------------------------------------------------ results

interface Row {
  section: string;
  subject: string;
  median: number;
  min: number;
  max: number;
  unit: string;
  target?: string;
  met?: boolean;
  detail?: string;
  samples?: number[];
}
const rows: Row[] = [];
const notices: string[] = [];

function summary(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

const round = (x: number) =>
  Math.abs(x) >= 100 ? Math.round(x) : Math.abs(x) >= 10 ? +x.toFixed(1) : +x.toFixed(3);

function add(
  section: string,
  subject: string,
  values: number[],
  unit: string,
  target?: { text: string; ok: (s: { median: number; min: number; max: number }) => boolean },
  detail?: string,
): void {
  const s = summary(values);
  rows.push({
    section,
    subject,
    median: round(s.median),
    min: round(s.min),
    max: round(s.max),
    unit,
    target: target?.text,
    met: target ? target.ok(s) : undefined,
    detail,
    samples: values.map(round),
  });
}

const fmt = (s: { median: number; min: number; max: number }, digits = 2) =>
  `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]`;

// ------------------------------------------------------------------------------------------ processes

interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

function runProcess(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      // The AWS SDK's Node-version notice is not a benchmark figure.
      env: { ...(opts.env ?? process.env), NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, wallMs: performance.now() - t0 }));
  });
}

const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').pop()!) as T;

interface Sim {
  url: string;
  clientId: string;
  clientSecret: string;
  pciUsername: string;
  pciPassword: string;
  username: string;
  password: string;
  stats(): Promise<{ requests: number; byPath: Record<string, number> }>;
  close(): Promise<void>;
}

/** Helpers still running: killed when the bench ends, however it ends. */
const helpers = new Set<ReturnType<typeof spawn>>();
process.on('exit', () => {
  for (const h of helpers) h.kill('SIGKILL');
});

/** A long-running helper process (simulator, S3 stand-in) that prints one JSON line when ready. */
async function startHelper(script: string, arg?: unknown) {
  const child = spawn(process.execPath, [await bundled(script), JSON.stringify(arg ?? {})], {
    cwd: ROOT,
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  helpers.add(child);
  child.once('exit', () => helpers.delete(child));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
    });
  const info = JSON.parse(await nextLine()) as Record<string, string>;
  return {
    info,
    ask: async (cmd: string) => {
      const reply = nextLine();
      child.stdin.write(`${cmd}\n`);
      return JSON.parse(await reply) as unknown;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * `n` events over `span` ms ending two minutes ago (before the window's end: our clock minus the 60 s indexing
 * lag). More events than milliseconds share instants (`perTick`), so none is dated after the window ends.
 */
function edrTimeline(n: number, span = 48 * 3600_000) {
  const perTick = Math.max(1, Math.ceil(n / span));
  return {
    start: new Date(Date.now() - span - 120_000).toISOString(),
    stepMs: Math.max(1, Math.floor((span * perTick) / Math.max(1, n))),
    perTick,
  };
}

/** Host List Detection's shape in the bench: detections per host, one host with 5,000, one RESULTS of 10 MB. */
const vmdrShape = (perHost: number, hosts: number) => ({
  perHost,
  big: { [Math.min(hosts - 1, 1234)]: 5000 },
  bigResults: { [Math.min(hosts - 1, 2345)]: 10 * 1024 * 1024 },
});

async function startSim(
  module: ModuleName,
  n: number,
  latencyMs = 0,
  vmdr?: Record<string, unknown>,
  streamBytesPerSec?: number,
  edrSpanMs?: number,
): Promise<Sim> {
  const h = await startHelper('sim-server.ts', {
    counts: onlyCounts(module, n),
    edr: edrTimeline(n, edrSpanMs),
    latencyMs,
    limits: { concurrency: 2 },
    ...(vmdr ? { vmdr } : {}),
    ...(streamBytesPerSec ? { streamBytesPerSec } : {}),
  });
  return {
    url: h.info.url!,
    clientId: h.info.clientId!,
    clientSecret: h.info.clientSecret!,
    pciUsername: h.info.pciUsername!,
    pciPassword: h.info.pciPassword!,
    username: h.info.username!,
    password: h.info.password!,
    stats: () => h.ask('stats') as ReturnType<Sim['stats']>,
    close: h.close,
  };
}

/** The exporter's configuration for the bench, as environment variables (CLI and worker alike). */
function exporterEnv(sim: Sim, extra: Record<string, string> = {}): Record<string, string> {
  return {
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_AUTH_METHOD: 'qualys-oidc',
    QUALYS_CLIENT_ID: sim.clientId,
    QUALYS_CLIENT_SECRET: sim.clientSecret,
    QUALYS_PCI_AUTH_METHOD: 'basic',
    QUALYS_PCI_USERNAME: sim.pciUsername,
    QUALYS_PCI_PASSWORD: sim.pciPassword,
    QUALYS_API_URL: sim.url,
    QUALYS_USERNAME: sim.username,
    QUALYS_PASSWORD: sim.password,
    ...BENCH_ENV,
    ...extra,
  };
}

const scratch = await mkdtemp(join(tmpdir(), 'qexport-bench-'));
const bundles = new Map<string, Promise<string>>();

/**
 * A bench script bundled once with esbuild and run by plain node: the worker runs as Lambda runs the bundled
 * functions, and helper processes start in a fraction of the time tsx takes.
 */
function bundled(script: string): Promise<string> {
  let p = bundles.get(script);
  if (!p) {
    const outfile = join(scratch, script.replace(/\.ts$/, '.mjs'));
    p = build({
      entryPoints: [join(ROOT, 'bench', script)],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      mainFields: ['module', 'main'],
      logLevel: 'silent',
      banner: {
        js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      },
    }).then(() => outfile);
    bundles.set(script, p);
  }
  return p;
}

async function worker(spec: WorkerSpec): Promise<WorkerResult> {
  const r = await runProcess(process.execPath, [await bundled('worker.ts'), JSON.stringify(spec)]);
  if (r.code !== 0)
    throw new Error(`worker ${spec.mode} ${spec.module} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const result = lastJson<WorkerResult>(r.stdout);
  if (result.status !== 'done') throw new Error(`${spec.module} ${spec.mode} ended ${result.status}`);
  return result;
}

const workerSpec = (
  mode: WorkerSpec['mode'],
  module: ModuleName,
  sim: Sim,
  extra: Partial<WorkerSpec> = {},
): WorkerSpec => ({
  mode,
  module,
  url: sim.url,
  clientId: sim.clientId,
  clientSecret: sim.clientSecret,
  pciUsername: sim.pciUsername,
  pciPassword: sim.pciPassword,
  username: sim.username,
  password: sim.password,
  ...extra,
  env: { ...BENCH_ENV, ...extra.env },
});

/**
 * A worker run with the requests the simulator saw meanwhile, and whether EDR's /count was among them (the
 * module asks it only where the tenant serves it; the minimum counts it then).
 */
async function countedExport(sim: Sim, spec: WorkerSpec) {
  const before = await sim.stats();
  const r = await worker(spec);
  const after = await sim.stats();
  const countPath = '/ioc/events/count';
  return {
    r,
    calls: after.requests - before.requests,
    counted: (after.byPath[countPath] ?? 0) > (before.byPath[countPath] ?? 0),
  };
}

interface WholeProcess {
  cpuMs: number;
  maxRssMb: number;
  wallMs: number;
  records: number;
}

const RUSAGE = join(ROOT, 'bench', 'rusage-at-exit.mjs');
const QEXPORT = join(ROOT, 'bin', 'qexport.mjs');

async function findManifests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findManifests(p)));
    else if (e.name === '_manifest.json') out.push(p);
  }
  return out;
}

/** `qexport <args>` as a user runs it (the precompiled CLI), measured as a whole process. */
async function cli(
  args: string[],
  env: Record<string, string>,
  outDir?: string,
  expectCode = 0,
): Promise<WholeProcess> {
  const usage = join(scratch, `rusage-${process.hrtime.bigint()}.json`);
  const r = await runProcess(process.execPath, ['--import', RUSAGE, QEXPORT, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      QEXPORT_BENCH_RUSAGE: usage,
      ...env,
    },
  });
  if (r.code !== expectCode) {
    throw new Error(`qexport ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  }
  const u = JSON.parse(await readFile(usage, 'utf8')) as { cpuMs: number; maxRssKb: number };
  let records = 0;
  if (outDir) {
    for (const m of await findManifests(outDir)) {
      records += (JSON.parse(await readFile(m, 'utf8')) as { totals: { records: number } }).totals.records;
    }
  }
  return { cpuMs: u.cpuMs, maxRssMb: u.maxRssKb / 1024, wallMs: r.wallMs, records };
}

/** Set once python3, requests or xmltodict turned out to be missing (the notice is given once). */
let peerMissing = false;

/** The Python script a user would write, measured as a whole process; undefined when Python is missing. */
async function peer(module: ModuleName, sim: Sim): Promise<WholeProcess | undefined> {
  if (peerMissing) return undefined;
  const skip = (why: string) => {
    peerMissing = true;
    notices.push(
      `Python peer SKIPPED: python3 with the requests and xmltodict packages is not available (${why}); ` +
        'install them to compare.',
    );
    return undefined;
  };
  const out = join(scratch, `peer-${process.hrtime.bigint()}.ndjson.gz`);
  const now = Date.now();
  // measure.py exits 3 when requests or xmltodict cannot be imported.
  const r = await runProcess(
    'python3',
    [
      join(ROOT, 'bench', 'peers', 'measure.py'),
      join(ROOT, 'bench', 'peers', `${module.replace('-', '_')}.py`),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        ...exporterEnv(sim),
        PYTHONDONTWRITEBYTECODE: '1',
        PEER_OUT: out,
        PEER_EDR_FROM: new Date(now - EDR_LOOKBACK_HOURS * 3600_000).toISOString(),
        PEER_EDR_TO: new Date(now).toISOString(),
      },
    },
  ).catch(() => undefined);
  await rm(out, { force: true });
  if (!r) return skip('python3 not found');
  if (r.code === 3) return skip(r.stderr.trim().split('\n').pop() ?? 'an import failed');
  if (r.code !== 0) throw new Error(`python peer ${module} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  const usage = JSON.parse(lines.pop()!) as { cpuMs: number; maxRssKb: number };
  const { records } = JSON.parse(lines.pop()!) as { records: number };
  return { cpuMs: usage.cpuMs, maxRssMb: usage.maxRssKb / 1024, wallMs: r.wallMs, records };
}

/** Runs `fns` `runs` times, rotating which goes first each round so drift and warm caches spread evenly. */
async function alternate<T>(fns: (() => Promise<T>)[], runs = RUNS): Promise<T[][]> {
  const out: T[][] = fns.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < fns.length; k++) {
      const i = (k + r) % fns.length;
      out[i]!.push(await fns[i]!());
    }
  }
  return out;
}

/**
 * Token requests: one per run for the gateway modules; PCI Merchant and the API server modules send their account on
 * every call (Basic).
 */
const authCalls = (module: ModuleName) =>
  module === 'pci-scans' || module === 'vmdr-detections' || module === 'knowledgebase' ? 0 : 1;

/** The calls a module needs beyond its pages to prove the listing complete (see docs/benchmarks.md). */
function proofCalls(module: ModuleName, pages: number, countCall: boolean): { calls: number; text: string } {
  switch (module) {
    case 'pci-scans':
      // A pass of more than one page closes with a re-read of offset 1: same totalCount, no unseen scan.
      return pages > 1 ? { calls: 1, text: ' + 1 closing re-read of offset 1' } : { calls: 0, text: '' };
    case 'certview-certificates':
      return { calls: 1, text: ' + 1 empty page' };
    case 'edr-events':
      // The time probe (a /count of the last second) fixes the window by Qualys's clock before the first page.
      return countCall
        ? { calls: 3, text: ' + 1 time probe + 1 empty page + 1 /ioc/events/count' }
        : { calls: 2, text: ' + 1 time probe + 1 empty page' };
    default:
      return { calls: 0, text: '' }; // the last batch has no WARNING
  }
}

function minimumCalls(module: ModuleName, n: number, page: number, countCall: boolean) {
  const pages = Math.ceil(n / page);
  const proof = proofCalls(module, pages, countCall);
  return {
    minimum: authCalls(module) + pages + proof.calls,
    text: `${authCalls(module) ? '1 auth + ' : ''}ceil(${n}/${page})${proof.text}`,
  };
}

const scale = <T>(full: T, small: T) => (smoke ? small : full);
const benchStart = performance.now();
const sectionStart = (name: string) =>
  console.error(`bench: ${((performance.now() - benchStart) / 1000).toFixed(1)} s, ${name} ...`);

// ------------------------------------------------------------------ Mobile XML parser candidates
if (only.has('xml')) {
  sectionStart('xml');
  const r = await runProcess(process.execPath, [await bundled('xml-compare.ts'), String(scale(7, 2))]);
  if (r.code !== 0) throw new Error(`xml-compare: ${r.stderr}`);
  for (const line of r.stdout.trim().split('\n')) {
    const x = JSON.parse(line) as { name: string; usPerAsset: number; min: number; max: number };
    rows.push({
      section: 'Mobile parse',
      subject: x.name,
      median: round(x.usPerAsset),
      min: round(x.min),
      max: round(x.max),
      unit: 'us/asset',
    });
  }
}

// ------------------------------------------------------------------ gzip levels
interface GzipLine {
  module: string;
  level: number;
  rawBytesPerRecord: number;
  bytesPerRecord: number;
  usPerRecord: number;
  usMin: number;
  usMax: number;
}
const gzipLines: GzipLine[] = [];
if (only.has('gzip')) {
  sectionStart('gzip');
  const r = await runProcess(process.execPath, [
    await bundled('gzip-levels.ts'),
    String(scale(20_000, 2000)),
    String(scale(5, 1)),
  ]);
  if (r.code !== 0) throw new Error(`gzip-levels: ${r.stderr}`);
  for (const line of r.stdout.trim().split('\n')) gzipLines.push(JSON.parse(line) as GzipLine);
}

// ------------------------------------------------------------------ CLI start
if (only.has('startup')) {
  sectionStart('startup');
  const sim = await startSim('pci-scans', 10);
  const env = exporterEnv(sim);
  const out = () => mkdtemp(join(scratch, 'cli-'));
  await cli(['--help'], {}); // builds the CLI if it is not current, outside the measurement
  // `qexport export` up to its first request: everything loaded, flags, output and configuration read; run
  // here without the PCI account's password, so it stops (exit 2) exactly where it would send the first request.
  const { QUALYS_PCI_PASSWORD: _omit, ...startEnv } = env;
  const [help, start, exp] = await alternate(
    [
      () => cli(['--help'], {}),
      async () => cli(['export', 'pci-scans', '--out', await out()], startEnv, undefined, 2),
      async () => cli(['export', 'pci-scans', '--out', await out()], env),
    ],
    scale(7, 2),
  );
  await sim.close();
  const cpuTarget = { text: '<= 0.3 s', ok: (s: { median: number }) => s.median <= 0.3 };
  const rssTarget = { text: '<= 80 MB', ok: (s: { median: number }) => s.median <= 80 };
  add(
    'CLI start',
    'qexport --help: CPU',
    help!.map((h) => h.cpuMs / 1000),
    's',
    cpuTarget,
  );
  add(
    'CLI start',
    'qexport --help: peak RSS',
    help!.map((h) => h.maxRssMb),
    'MB',
    rssTarget,
  );
  add(
    'CLI start',
    'qexport export, up to its first request: CPU',
    start!.map((h) => h.cpuMs / 1000),
    's',
    cpuTarget,
  );
  add(
    'CLI start',
    'qexport export, up to its first request: peak RSS',
    start!.map((h) => h.maxRssMb),
    'MB',
    rssTarget,
  );
  add(
    'CLI run',
    'qexport export pci-scans, 10 records: CPU',
    exp!.map((h) => h.cpuMs / 1000),
    's',
    undefined,
    'the whole command: start, one page (PCI Basic auth), part, manifest',
  );
  add(
    'CLI run',
    'qexport export pci-scans, 10 records: peak RSS',
    exp!.map((h) => h.maxRssMb),
    'MB',
    undefined,
    "Node's built-in fetch (undici and its wasm HTTP parser) loads at the first request: ~+0.06 s CPU, ~+40 MB",
  );
}

// ------------------------------------------------------------------ Lambda bundles: size and load
if (only.has('coldstart')) {
  sectionStart('coldstart');
  const entries = [
    'token-refresh',
    'export-pci-scans',
    'export-certview-certificates',
    'export-edr-events',
    'export-mobile-assets',
    'export-vmdr-detections',
    'export-knowledgebase',
  ];
  for (const e of entries) {
    const outfile = join(scratch, `${e}.mjs`);
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
      banner: {
        js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      },
    });
    const size = (await stat(outfile)).size / 1024 / 1024;
    rows.push({
      section: 'Lambda bundle size',
      subject: e,
      median: round(size),
      min: round(size),
      max: round(size),
      unit: 'MB',
      target: '<= 1',
      met: size <= 1,
    });
    const times: number[] = [];
    for (let i = 0; i < scale(7, 1); i++) {
      const r = await runProcess(process.execPath, [
        '--input-type=module',
        '-e',
        `const t=performance.now(); await import(${JSON.stringify(outfile)}); console.log(performance.now()-t)`,
      ]);
      times.push(Number(r.stdout.trim()));
    }
    add('Lambda module load', e, times, 'ms', { text: '<= 200', ok: (s) => s.median <= 200 });
  }
}

// ------------------------------------------------------------------ wall time vs the fetch-only floor, and API calls
const callRows: {
  module: ModuleName;
  page: number;
  n: number;
  calls: number[];
  minimum: { minimum: number; text: string };
  note: string;
}[] = [];
if (only.has('efficiency')) {
  const counts = scale(
    {
      'pci-scans': 200_000,
      'certview-certificates': 40_000,
      'edr-events': 100_000,
      'mobile-assets': 30_000,
      'vmdr-detections': 10_000,
      knowledgebase: 20_000,
    },
    {
      'pci-scans': 4000,
      'certview-certificates': 1000,
      'edr-events': 3000,
      'mobile-assets': 2000,
      'vmdr-detections': 500,
      knowledgebase: 1000,
    },
  );
  for (const module of GENERIC) {
    sectionStart(`efficiency ${module}`);
    const n = counts[module];
    const sim = await startSim(module, n, LATENCY_MS);
    const calls: number[] = [];
    let counted = false;
    const [exp, floor] = await alternate([
      async () => {
        const c = await countedExport(sim, workerSpec('export', module, sim));
        const r = c.r;
        calls.push(c.calls);
        counted ||= c.counted;
        if (r.records !== n) throw new Error(`${module}: exported ${r.records} of ${n}`);
        return r;
      },
      () => worker(workerSpec('fetch-only', module, sim)),
    ]);
    await sim.close();
    const ratios = exp!.map((e, i) => e.wallMs / floor![i]!.wallMs);
    add(
      'Wall / fetch-only floor',
      module,
      ratios,
      'x',
      { text: '<= 1.05', ok: (s) => s.median <= 1.05 },
      `${n} records, ${LATENCY_MS} ms per page, concurrency 2: exporter ${fmt(summary(exp!.map((e) => e.wallMs / 1000)))} s, ` +
        `fetch-only ${fmt(summary(floor!.map((e) => e.wallMs / 1000)))} s (${floor![0]!.calls} requests); ` +
        `exporter with no request in flight ${fmt(summary(exp!.map((e) => (e.idleMs ?? 0) / 1000)))} s of its fetching span ` +
        `${fmt(summary(exp!.map((e) => (e.fetchSpanMs ?? 0) / 1000)))} s`,
    );
    callRows.push({
      module,
      page: PAGE[module],
      n,
      calls,
      minimum: minimumCalls(module, n, PAGE[module], counted),
      note: '',
    });
  }
}

// EDR events at the largest page the simulator accepts (5,000; Qualys publishes no maximum for events).
if (only.has('calls')) {
  sectionStart('calls');
  const n = scale(100_000, 5000);
  const sim = await startSim('edr-events', n);
  const { calls, counted } = await countedExport(
    sim,
    workerSpec('export', 'edr-events', sim, { env: { QUALYS_EDR_PAGE_SIZE: '5000' } }),
  );
  await sim.close();
  callRows.push({
    module: 'edr-events',
    page: 5000,
    n,
    calls: [calls],
    minimum: minimumCalls('edr-events', n, 5000, counted),
    note: 'QUALYS_EDR_PAGE_SIZE=5000',
  });
}
// CertView with a listing that does not end on a full page (the efficiency run's 40,000 is 200 full pages: with
// two requests in flight, the page after the empty one has left before the empty one is answered).
if (only.has('calls') && MODULES.includes('certview-certificates')) {
  sectionStart('calls certview');
  const n = scale(40_100, 1_100);
  const sim = await startSim('certview-certificates', n);
  const { r, calls } = await countedExport(sim, workerSpec('export', 'certview-certificates', sim));
  await sim.close();
  if (r.records !== n) throw new Error(`certview-certificates: exported ${r.records} of ${n}`);
  callRows.push({
    module: 'certview-certificates',
    page: PAGE['certview-certificates'],
    n,
    calls: [calls],
    minimum: minimumCalls('certview-certificates', n, PAGE['certview-certificates'], false),
    note: 'last page short',
  });
}
for (const c of callRows) {
  add(
    'API calls / minimum',
    `${c.module} (page ${c.page}, ${c.n} records)`,
    c.calls.map((x) => x / c.minimum.minimum),
    'x',
    { text: '= 1.00', ok: (s) => s.max <= 1.0 },
    `${c.n} records: ${summary(c.calls).median} calls vs minimum ${c.minimum.minimum} = ${c.minimum.text}` +
      `${c.note ? ` (${c.note})` : ''}`,
  );
}

// ------------------------------------------------------------------ CPU: per record vs the floor; whole process vs the Python peer
if (only.has('cpu')) {
  const counts = scale(
    // Large enough that start-up and first-call compilation are a small share of the per-record figures.
    {
      'pci-scans': 200_000,
      'certview-certificates': 50_000,
      'edr-events': 200_000,
      'mobile-assets': 50_000,
      'vmdr-detections': 20_000,
      knowledgebase: 20_000,
    },
    {
      'pci-scans': 3000,
      'certview-certificates': 600,
      'edr-events': 2000,
      'mobile-assets': 1000,
      'vmdr-detections': 300,
      knowledgebase: 600,
    },
  );
  for (const module of GENERIC) {
    sectionStart(`cpu ${module}`);
    const n = counts[module];
    const sim = await startSim(module, n);
    const [exp, floor, ours, py] = await alternate<WorkerResult | WholeProcess | undefined>([
      () => worker(workerSpec('export', module, sim)),
      () => worker(workerSpec('floor', module, sim)),
      async () => {
        const out = await mkdtemp(join(scratch, 'cli-'));
        const r = await cli(['export', module, '--out', out], exporterEnv(sim), out);
        await rm(out, { recursive: true, force: true });
        return r;
      },
      () => peer(module, sim),
    ]);
    await sim.close();
    const e = exp as WorkerResult[];
    const f = floor as WorkerResult[];
    const usRec = (x: { cpuMs: number; records: number }) => (x.cpuMs * 1000) / x.records;
    add(
      'CPU per record / CPU floor',
      module,
      e.map((x, i) => usRec(x) / usRec(f[i]!)),
      'x',
      { text: '<= 1.15', ok: (s) => s.median <= 1.15 },
      `${n} records, no latency: exporter ${fmt(summary(e.map(usRec)), 1)} us/record, floor (fetch + decode + parse + ` +
        `serialise + gzip) ${fmt(summary(f.map(usRec)), 1)} us/record`,
    );
    const o = ours as WholeProcess[];
    for (const x of o)
      if (x.records !== n) throw new Error(`${module}: the CLI exported ${x.records} of ${n}`);
    if (py?.[0]) {
      const p = py as WholeProcess[];
      for (const x of p)
        if (x.records !== n) throw new Error(`${module}: the Python peer wrote ${x.records} of ${n}`);
      add(
        'Whole-process CPU / Python peer',
        module,
        o.map((x, i) => x.cpuMs / p[i]!.cpuMs),
        'x',
        { text: '<= 0.5', ok: (s) => s.median <= 0.5 },
        `qexport export ${fmt(summary(o.map((x) => x.cpuMs / 1000)))} s CPU, peer ${fmt(summary(p.map((x) => x.cpuMs / 1000)))} s CPU ` +
          `(${n} records; ${fmt(summary(o.map(usRec)), 1)} vs ${fmt(summary(p.map(usRec)), 1)} us/record)`,
      );
      add(
        'Whole-process wall / Python peer',
        module,
        o.map((x, i) => x.wallMs / p[i]!.wallMs),
        'x',
        undefined,
        `qexport ${fmt(summary(o.map((x) => x.wallMs / 1000)))} s, peer ${fmt(summary(p.map((x) => x.wallMs / 1000)))} s; ` +
          `peak RSS qexport ${fmt(summary(o.map((x) => x.maxRssMb)), 0)} MB, peer ${fmt(summary(p.map((x) => x.maxRssMb)), 0)} MB`,
      );
    }
  }
}

// ------------------------------------------------------------------ peak RSS, as Lambda runs it and on this machine
/**
 * How a memory worker's node is started. `lambda`: as the Lambda runtime starts an exporter of
 * EXPORTER_MEMORY_MB (its own node options), through our wrapper (functions/lambda-heap.sh) with the semi-space
 * the stack sets; `runtime`: the runtime's options without the wrapper; `machine`: plain node, whose heap V8 sizes
 * for this machine's memory (the CLI's case).
 */
type HeapSetup = 'lambda' | 'runtime' | 'machine';
async function memoryWorker(spec: WorkerSpec, heap: HeapSetup): Promise<WorkerResult> {
  const node = [
    ...(heap === 'machine' ? [] : lambdaNodeOptions(EXPORTER_MEMORY_MB)),
    await bundled('worker.ts'),
  ];
  const r =
    heap === 'lambda'
      ? await runProcess(
          join(ROOT, 'functions', HEAP_WRAPPER),
          [process.execPath, ...node, JSON.stringify(spec)],
          {
            env: { ...process.env, QEXPORT_SEMI_SPACE_MB: String(EXPORTER_SEMI_SPACE_MB) } as Record<
              string,
              string
            >,
          },
        )
      : await runProcess(process.execPath, [...node, JSON.stringify(spec)]);
  if (r.code !== 0)
    throw new Error(`memory worker ${spec.module} (${heap}) exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return lastJson<WorkerResult>(r.stdout);
}

if (only.has('memory')) {
  const scales = scale({ 'edr-events': 1_000_000, 'mobile-assets': 100_000 } as Record<string, number>, {
    'edr-events': 5000,
    'mobile-assets': 1000,
  });
  const setups = (
    [
      { id: 'deployed', name: 'Peak RSS, S3 sink, as deployed', sink: 's3', heap: 'lambda', target: true },
      {
        id: 'runtime',
        name: "Peak RSS, S3 sink, the runtime's own heap",
        sink: 's3',
        heap: 'runtime',
        target: false,
      },
      {
        id: 'machine',
        name: "Peak RSS, S3 sink, this machine's heap",
        sink: 's3',
        heap: 'machine',
        target: false,
      },
      {
        id: 'cli',
        name: "Peak RSS, directory sink (CLI), this machine's heap",
        sink: 'dir',
        heap: 'machine',
        target: false,
      },
    ] as const
  ).filter((s) => !SETUPS || SETUPS.includes(s.id));
  // EDR at its default page and at the largest the simulator accepts (the docs suggest 5,000 to tenants near the
  // rate limit); Mobile at its default truncation limit.
  const cases = [
    { module: 'edr-events' as const, page: 1000 },
    { module: 'edr-events' as const, page: 5000 },
    { module: 'mobile-assets' as const, page: 1000 },
  ].filter((c) => MODULES.includes(c.module) && (!PAGES || PAGES.includes(c.page)));
  for (const { module, page } of cases) {
    sectionStart(`memory ${module} page ${page}`);
    const n = scales[module]!;
    const sim = await startSim(module, n);
    const env: Record<string, string> =
      module === 'edr-events'
        ? { QUALYS_EDR_PAGE_SIZE: String(page) }
        : { QUALYS_MOBILE_TRUNCATION_LIMIT: String(page) };
    const results = await alternate(
      setups.map((setup) => async () => {
        const h = setup.sink === 's3' ? await startHelper('s3-server.ts') : undefined;
        try {
          const r = await memoryWorker(
            workerSpec('export', module, sim, {
              sink: setup.sink,
              ...(h ? { s3: { endpoint: h.info.endpoint!, bucket: h.info.bucket! } } : {}),
              sampleMemory: true,
              env,
            }),
            setup.heap,
          );
          if (r.status !== 'done' || r.records !== n)
            throw new Error(`${module} (${setup.name}): ${r.status}, exported ${r.records} of ${n}`);
          return r;
        } finally {
          await h?.close();
        }
      }),
    );
    await sim.close();
    const target = { text: '<= 192 each run', ok: (s: { max: number }) => s.max <= 192 };
    setups.forEach((setup, i) => {
      const rs = results[i]!;
      const peaks = (x: WorkerResult) =>
        Object.entries(x.atPeak ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
      add(
        setup.name,
        `${module} x${n}, page ${page}`,
        rs.map((x) => x.peakRssMb),
        'MB',
        setup.target ? target : undefined,
        `runs: ${rs.map((x) => x.peakRssMb.toFixed(0)).join(', ')} MB; CPU ${fmt(summary(rs.map((x) => x.cpuMs / 1000)))} s; ` +
          `at each run's sampled peak (MB): ${rs.map(peaks).join(' | ')}`,
      );
    });
  }
}

// ------------------------------------------------------------------ EDR checkpoints: size and state bytes per run
/**
 * The worst case for EDR's checkpoint: every event of the window in its overlap (the last 10 minutes), so every
 * event's fingerprint must be kept for the next run. Invocations of 20 pages each (as Lambda invocations end at
 * their deadline) write a checkpoint each. Reported: the largest state file [<= 64 KB], the state bytes written per
 * event (constant when they grow linearly with the run), and the objects kept beside the state file.
 */
if (only.has('checkpoint') && MODULES.includes('edr-events')) {
  for (const page of [1000, 5000]) {
    const rows: { n: number; r: WorkerResult }[] = [];
    for (const n of scale([100_000, 1_000_000], [5_000, 20_000])) {
      sectionStart(`checkpoint edr-events ${n} page ${page}`);
      const sim = await startSim('edr-events', n, 0, undefined, undefined, 9 * 60_000);
      const r = await worker(
        workerSpec('export', 'edr-events', sim, {
          env: { QUALYS_EDR_PAGE_SIZE: String(page) },
          pagesPerInvocation: 20,
          measureState: true,
        }),
      );
      await sim.close();
      if (r.status !== 'done' || r.records !== n || !r.state)
        throw new Error(`edr-events checkpoint ${n}: ${r.status}, exported ${r.records} of ${n}`);
      rows.push({ n, r });
      const s = r.state;
      add(
        'EDR checkpoint, all events in the overlap',
        `edr-events x${n}, page ${page}: largest state file`,
        [s.largestCheckpoint / 1024],
        'KB',
        { text: '<= 64 KB', ok: (x) => x.max <= 64 },
        `${s.checkpoints} state writes; with the ${s.journalSegments} objects beside it, ` +
          `${(s.stateBytes / 1024 / 1024).toFixed(1)} MB in all (${(s.stateBytes / n).toFixed(1)} B/event)`,
      );
    }
    if (rows.length === 2) {
      const [a, b] = rows as [{ n: number; r: WorkerResult }, { n: number; r: WorkerResult }];
      const perEvent = (x: { n: number; r: WorkerResult }) => x.r.state!.stateBytes / x.n;
      add(
        'EDR checkpoint, all events in the overlap',
        `edr-events page ${page}: state bytes per event, ${b.n} vs ${a.n} events`,
        [perEvent(b) / perEvent(a)],
        'x',
        { text: '~1 (linear)', ok: (x) => x.max <= 1.25 },
        `${perEvent(a).toFixed(1)} and ${perEvent(b).toFixed(1)} bytes per event written to the state file and beside it`,
      );
    }
  }
}

// ------------------------------------------------------------------ state: checkpoint size, state bytes, peak RSS
/**
 * Issue 19 item 7: per module, for runs of 100k and 1M records at the largest page size each API allows (peak
 * memory grows with the page), exported as deployed (S3 sink, the Lambda's heap through our wrapper): peak RSS, the
 * largest checkpoint written (the state file) and every byte the run wrote to its state (checkpoints and journal
 * segments). EDR's memory is covered by the memory section (and its checkpoint by its own work); name it in
 * --modules to include it here.
 */
/** Invocations as the Lambda runs them, shortened so a 100k run spans several: each resumes from the checkpoint. */
const STATE_SLICE_MS = 20_000;
const STATE_PAGE: Partial<Record<ModuleName, { env: string; max: number }>> = {
  'pci-scans': { env: 'QUALYS_PCI_PAGE_SIZE', max: 1000 },
  'certview-certificates': { env: 'QUALYS_CERTVIEW_PAGE_SIZE', max: 200 },
  'edr-events': { env: 'QUALYS_EDR_PAGE_SIZE', max: 5000 },
  'mobile-assets': { env: 'QUALYS_MOBILE_TRUNCATION_LIMIT', max: MOBILE_MAX_TRUNCATION_LIMIT },
  // The host list's default (hosts carry ~68 detections each: larger responses are streamed all the same).
  'vmdr-detections': { env: 'QUALYS_VMDR_TRUNCATION_LIMIT', max: 1000 },
};
if (only.has('state')) {
  const recordsArg = argv.find((a) => a.startsWith('--records='));
  const sizes = recordsArg
    ? recordsArg
        .slice(10)
        .split(',')
        .map((x) => Number(x.replace(/_/g, '')))
    : scale([100_000, 1_000_000], [2000]);
  for (const n of sizes)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--records: '${n}' is not a count`);
  // The KnowledgeBase is one response the server truncates (no page size of ours): its figures are in the vmdr section.
  const modules = MODULES.filter((m) => STATE_PAGE[m] && (m !== 'edr-events' || modulesArg));
  const pageArg = argv.find((a) => a.startsWith('--page='));
  const perRun = new Map<string, number>();
  for (const module of modules) {
    for (const n of sizes) {
      sectionStart(`state ${module} x${n}`);
      const page = { ...STATE_PAGE[module]!, ...(pageArg ? { max: Number(pageArg.slice(7)) } : {}) };
      const sim = await startSim(module, n);
      const [results] = await alternate([
        async () => {
          const h = await startHelper('s3-server.ts');
          try {
            const r = await memoryWorker(
              workerSpec('export', module, sim, {
                sink: 's3',
                s3: { endpoint: h.info.endpoint!, bucket: h.info.bucket! },
                sampleMemory: true,
                measureState: true,
                sliceMs: STATE_SLICE_MS,
                env: { [page.env]: String(page.max) },
              }),
              'lambda',
            );
            if (r.status !== 'done' || r.records !== listedOf(module, n))
              throw new Error(
                `${module} x${n} (state): ${r.status}, exported ${r.records} of ${listedOf(module, n)}`,
              );
            return r;
          } finally {
            await h.close();
          }
        },
      ]);
      await sim.close();
      const rs = results!;
      const subject = `${module} x${n} (page ${page.max})`;
      add(
        'Peak RSS, S3 sink, as deployed',
        subject,
        rs.map((x) => x.peakRssMb),
        'MB',
        { text: '<= 192 each run', ok: (x) => x.max <= 192 },
        `runs: ${rs.map((x) => x.peakRssMb.toFixed(0)).join(', ')} MB; CPU ${fmt(summary(rs.map((x) => x.cpuMs / 1000)))} s; ` +
          `${summary(rs.map((x) => x.invocations ?? 1)).median} invocations of ${STATE_SLICE_MS / 1000} s, each reading ` +
          'the checkpoint and the journal afresh',
      );
      add(
        'Largest checkpoint',
        subject,
        rs.map((x) => x.state!.largestCheckpoint / 1024),
        'KB',
        { text: '<= 64', ok: (x) => x.max <= 64 },
        `${summary(rs.map((x) => x.state!.checkpoints)).median} checkpoints written per run`,
      );
      const bytes = rs.map((x) => x.state!.stateBytes);
      perRun.set(`${module}:${n}`, summary(bytes).median);
      add(
        'State bytes per run',
        subject,
        bytes.map((b) => b / 1024 / 1024),
        'MB',
        undefined,
        `${(summary(bytes).median / n).toFixed(1)} bytes per record: ${summary(rs.map((x) => x.state!.checkpoints)).median} ` +
          `checkpoints and ${summary(rs.map((x) => x.state!.journalSegments)).median} journal segments`,
      );
    }
    // Linear growth: bytes per record the same at every size (within 25 %).
    const per = sizes.map((n) => perRun.get(`${module}:${n}`)! / n);
    if (sizes.length > 1) {
      add(
        'State bytes per record, largest ÷ smallest run',
        `${module} (${sizes.join(' vs ')})`,
        [Math.max(...per) / Math.min(...per)],
        'x',
        { text: '<= 1.25 (linear)', ok: (x) => x.max <= 1.25 },
        per.map((b, i) => `${sizes[i]}: ${b.toFixed(1)} B/record`).join(', '),
      );
    }
  }
}

// ------------------------------------------------------------------ VMDR host detections at scale (issue 22 item 6)
// Hosts with about 100 detections each (RESULTS included), one host with 5,000 detections and one RESULTS of 10 MB:
// peak RSS as deployed, CPU per detection against the Python peer, and wall time against the fetch-only floor.
if (only.has('vmdr') && MODULES.includes('vmdr-detections')) {
  const full = argv.includes('--vmdr-full');
  const hostsArg = argv.find((a) => a.startsWith('--vmdr-hosts='));
  const hosts = hostsArg ? Number(hostsArg.slice(13)) : smoke ? 200 : full ? 100_000 : 10_000;
  const partsArg = argv.find((a) => a.startsWith('--vmdr-parts='));
  const parts = new Set(partsArg ? partsArg.slice(13).split(',') : ['memory', 'cpu', 'wall']);
  const perHost = smoke ? 20 : 100;
  const shape = vmdrShape(perHost, hosts);
  sectionStart(`vmdr ${hosts} hosts`);
  // The detections the export holds, from the simulator's own generator (the exporter's default filters).
  const { vmdrHost, EXPORTER_HLD_VIEW } = await import('../test/sim/vmdr');
  let detections = 0;
  for (let i = 0; i < hosts; i++) {
    const h = vmdrHost(1, i, shape, { ...EXPORTER_HLD_VIEW, version: '5.0' }, 200);
    detections += (h?.DETECTION_LIST as { DETECTION: unknown[] } | undefined)?.DETECTION.length ?? 0;
  }
  const listed = (r: { records: number }, what: string) => {
    if (r.records !== listedOf('vmdr-detections', hosts)) throw new Error(`vmdr ${what}: ${r.records} hosts`);
  };
  const about = `${hosts} hosts, ${detections} detections (one host with 5,000, one RESULTS of 10 MB)`;

  // Peak RSS as deployed: the Lambda's node options through the heap wrapper, 16 MB semi-space, S3 sink.
  const sim = await startSim('vmdr-detections', hosts, 0, shape);
  const mem: WorkerResult[] = [];
  for (let r = 0; r < (parts.has('memory') ? RUNS : 0); r++) {
    const h = await startHelper('s3-server.ts');
    try {
      const res = await memoryWorker(
        workerSpec('export', 'vmdr-detections', sim, {
          sink: 's3',
          s3: { endpoint: h.info.endpoint!, bucket: h.info.bucket! },
          sampleMemory: true,
        }),
        'lambda',
      );
      if (res.status !== 'done') throw new Error(`vmdr memory run: ${res.status}`);
      listed(res, 'memory');
      mem.push(res);
    } finally {
      await h.close();
    }
  }
  if (mem.length)
    add(
      'Peak RSS, S3 sink, as deployed',
      `vmdr-detections x${hosts}`,
      mem.map((x) => x.peakRssMb),
      'MB',
      { text: '<= 192 each run', ok: (x) => x.max <= 192 },
      `${about}; runs: ${mem.map((x) => x.peakRssMb.toFixed(0)).join(', ')} MB; CPU ${fmt(summary(mem.map((x) => x.cpuMs / 1000)))} s; ` +
        `at the sampled peak (MB): ${mem
          .map((x) =>
            Object.entries(x.atPeak ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', '),
          )
          .join(' | ')}`,
    );

  // CPU per detection, the whole command against the Python peer (requests + xmltodict, gzip 6), alternated.
  const [ours, py] = await alternate<WholeProcess | undefined>(
    [
      async () => {
        const out = await mkdtemp(join(scratch, 'cli-'));
        const r = await cli(['export', 'vmdr-detections', '--out', out], exporterEnv(sim), out);
        await rm(out, { recursive: true, force: true });
        return r;
      },
      () => peer('vmdr-detections', sim),
    ],
    parts.has('cpu') ? RUNS : 0,
  );
  await sim.close();
  const o = ours as WholeProcess[];
  for (const x of o) listed(x, 'CLI');
  const usDet = (x: WholeProcess) => (x.cpuMs * 1000) / detections;
  if (py?.[0] && o.length) {
    const p = py as WholeProcess[];
    for (const x of p) listed(x, 'peer');
    add(
      'CPU per detection / Python peer',
      'vmdr-detections',
      o.map((x, i) => x.cpuMs / p[i]!.cpuMs),
      'x',
      { text: '<= 0.5', ok: (x) => x.median <= 0.5 },
      `${about}: qexport ${fmt(summary(o.map(usDet)), 1)} us/detection (${fmt(summary(o.map((x) => x.cpuMs / 1000)))} s CPU, ` +
        `peak RSS ${fmt(summary(o.map((x) => x.maxRssMb)), 0)} MB), peer ${fmt(summary(p.map(usDet)), 1)} us/detection ` +
        `(${fmt(summary(p.map((x) => x.cpuMs / 1000)))} s CPU, peak RSS ${fmt(summary(p.map((x) => x.maxRssMb)), 0)} MB)`,
    );
  }

  // Wall time against the fetch-only floor: the same requests, bodies received and dropped, with page latency.
  // Qualys produces a Host List Detection page as it sends it, over minutes for 1,000 hosts (qualys-vmdr-kb.md §1.7):
  // the simulator sends at most HLD_BYTES_PER_SEC, so the floor is the API's pace, not this machine's load.
  const slow = await startSim('vmdr-detections', hosts, LATENCY_MS, shape, HLD_BYTES_PER_SEC);
  const [exp, floor] = await alternate(
    [
      async () => {
        const r = await worker(workerSpec('export', 'vmdr-detections', slow));
        listed(r, 'export');
        return r;
      },
      () => worker(workerSpec('fetch-only', 'vmdr-detections', slow)),
    ],
    parts.has('wall') ? RUNS : 0,
  );
  await slow.close();
  if (exp!.length)
    add(
      'Wall / fetch-only floor',
      'vmdr-detections',
      exp!.map((e, i) => e.wallMs / floor![i]!.wallMs),
      'x',
      { text: '<= 1.05', ok: (x) => x.median <= 1.05 },
      `${about}, ${LATENCY_MS} ms per page, sent at ${HLD_BYTES_PER_SEC / 1024 / 1024} MB/s: exporter ${fmt(summary(exp!.map((e) => e.wallMs / 1000)))} s, ` +
        `fetch-only ${fmt(summary(floor!.map((e) => e.wallMs / 1000)))} s (${floor![0]!.calls} requests); exporter CPU ` +
        `${fmt(summary(exp!.map((e) => e.cpuMs / 1000)))} s`,
    );
}

await rm(scratch, { recursive: true, force: true });
sectionStart('report');

// ------------------------------------------------------------------ report
const resultsDir = join(ROOT, 'bench', 'results');
await mkdir(resultsDir, { recursive: true });
const file = smoke ? 'smoke.json' : onlyArg ? 'partial.json' : 'latest.json';
await writeFile(
  join(resultsDir, file),
  `${JSON.stringify({ scale: smoke ? 'smoke' : 'full', runs: RUNS, node: process.version, at: new Date().toISOString(), rows, gzip: gzipLines, notices }, null, 2)}\n`,
);

const header = ['figure', 'subject', 'median [min–max]', 'target', 'met'];
const body = rows.map((r) => [
  r.section,
  r.subject,
  `${r.median} [${r.min}–${r.max}] ${r.unit}`,
  r.target ?? '',
  r.met === undefined ? '' : r.met ? 'yes' : 'NO',
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (c: string[]) =>
  c
    .map((x, i) => x.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const b of body) console.log(line(b));
for (const r of rows) if (r.detail) console.log(`  ${r.subject} (${r.section}): ${r.detail}`);

if (gzipLines.length) {
  // What the level costs: the exporter's CPU once (Lambda arm64, 1,024 MB = 0.58 vCPU at $0.0000133334 per
  // GB-s), against what readers pay for the bytes (S3 Standard $0.023 per GB-month, Athena $5 per TB scanned).
  const cpuDollarsPerSecond = (1 * 0.0000133334) / (1024 / 1769);
  console.log('\ngzip level: per million records (simulator data)');
  console.log(
    'module                 level  us/record [min-max]   bytes/record  ratio  Lambda $/M  S3 $/M/month  Athena $/M/scan',
  );
  for (const g of gzipLines) {
    const gb = (g.bytesPerRecord * 1e6) / 1e9;
    console.log(
      `${g.module.padEnd(22)} ${String(g.level).padStart(5)}  ${`${g.usPerRecord.toFixed(2)} [${g.usMin.toFixed(2)}-${g.usMax.toFixed(2)}]`.padEnd(20)}  ` +
        `${g.bytesPerRecord.toFixed(1).padStart(12)}  ${(g.rawBytesPerRecord / g.bytesPerRecord).toFixed(1).padStart(5)}  ` +
        `${(g.usPerRecord * cpuDollarsPerSecond).toFixed(5).padStart(10)}  ${(gb * 0.023).toFixed(5).padStart(12)}  ${((gb / 1000) * 5).toFixed(5).padStart(15)}`,
    );
  }
}
for (const n of notices) console.log(`\nNOTICE: ${n}`);
console.log(
  `\n${smoke ? 'smoke scale: figures prove the benchmarks run, not the targets\n' : ''}written ${join('bench', 'results', file)}`,
);
