// One benchmark measurement in a fresh process (bench/run.ts bundles this file with esbuild and runs it with
// plain node, as Lambda runs the functions). argv[2] is a JSON WorkerSpec; the last stdout line is a JSON
// WorkerResult. Modes:
//   export      the exporter (runModuleLocally) into a directory or S3 (s3rver), as the Lambda and CLI run it
//   fetch-only  the same requests with the same concurrency, bodies received and dropped: the wall-time floor
//   floor       fetch + decode + parse + serialise + gzip of the same bytes, nothing else: the CPU floor
// Time and CPU are measured from after authentication to the end of the run, in all three.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { createGzip } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { buildQualysClient, localAuth, warmUp } from '../shared/app/build-client';
import { runModuleLocally } from '../shared/app/run-local';
import { loadConfig, type ModuleName } from '../shared/config';
import type { RunResult } from '../shared/export/types';
import { getModule } from '../shared/modules';
import { parseXml } from '../shared/modules/xml';
import { runExport } from '../shared/export/engine';
import { forgetKnownJournals } from '../shared/export/journal';
import { stateKeyFor, withPrefix } from '../shared/export/layout';
import type { QualysClient } from '../shared/qualys/types';
import { createDirStore, createS3Store } from '../shared/sink';
import type { ObjectStore } from '../shared/sink/types';
import { measuringState, type StateWrites } from '../test/support/state-writes';

export interface WorkerSpec {
  mode: 'export' | 'fetch-only' | 'floor';
  module: ModuleName;
  url: string;
  clientId: string;
  clientSecret: string;
  pciUsername: string;
  pciPassword: string;
  /** The Qualys user of the API server modules (Basic). */
  username: string;
  password: string;
  /** Extra configuration (page sizes, gzip level, EDR lookback), as environment variables. */
  env?: Record<string, string>;
  sink?: 'dir' | 's3';
  s3?: { endpoint: string; bucket: string };
  /** Sample memory during the run and report its breakdown at the highest RSS seen. */
  sampleMemory?: boolean;
  /** Invocations end after this many pages (as Lambda invocations end at their deadline): more checkpoints. */
  pagesPerInvocation?: number;
  /** Measure what the run writes to its state: checkpoints (the state file) and journal segments. */
  measureState?: boolean;
  /**
   * Run as the Lambda does: invocations of this many ms, each resuming from the checkpoint and reading the run's
   * journal afresh (a cold container: the worst case for memory). Default: one invocation (the CLI).
   */
  sliceMs?: number;
}

export interface WorkerResult {
  mode: string;
  module: string;
  status: string;
  records: number;
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
  /** Data requests this process sent (not counting the token request). */
  calls: number;
  /**
   * Time no request was in flight between the first request and the last body received (the exporter only):
   * the part of the wall time the fetching path waited for this process rather than for the server.
   */
  idleMs?: number;
  /** Time from the first request to the last body received. */
  fetchSpanMs?: number;
  /** What the process held when its sampled RSS was highest (MB): V8 heap spaces, external and array buffers. */
  atPeak?: Record<string, number>;
  state?: StateWrites;
  /** Invocations the run took (WorkerSpec.sliceMs, pagesPerInvocation). */
  invocations?: number;
}

/** Samples memory every 50 ms and keeps the breakdown of the sample with the highest RSS. */
function peakSampler() {
  let best: Record<string, number> = { rss: 0 };
  const mb = (x: number) => Math.round(x / 1024 / 1024);
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss <= best.rss! * 1024 * 1024) return;
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((x) => [x.space_name.replace(/_space$/, ''), mb(x.space_size)]),
    );
    best = {
      rss: mb(m.rss),
      heapTotal: mb(m.heapTotal),
      heapUsed: mb(m.heapUsed),
      external: mb(m.external),
      arrayBuffers: mb(m.arrayBuffers),
      ...spaces,
    };
  }, 50);
  timer.unref();
  return () => {
    clearInterval(timer);
    return best;
  };
}

/** Wraps fetch to measure when no request is in flight (from sending to the body read in full). */
function idleMeter(inner: typeof fetch) {
  let inflight = 0;
  let idleSince: number | undefined;
  let idleMs = 0;
  let first: number | undefined;
  let last = 0;
  const start = () => {
    const now = performance.now();
    first ??= now;
    if (inflight === 0 && idleSince !== undefined) idleMs += now - idleSince;
    inflight++;
  };
  const end = () => {
    inflight--;
    last = performance.now();
    if (inflight === 0) idleSince = last;
  };
  const wrapped: typeof fetch = async (input, init) => {
    start();
    let res: Response;
    try {
      res = await inner(input, init);
    } catch (err) {
      end();
      throw err;
    }
    let ended = false;
    const once = () => {
      if (!ended) {
        ended = true;
        end();
      }
    };
    for (const m of ['text', 'arrayBuffer', 'json'] as const) {
      const orig = res[m].bind(res) as () => Promise<unknown>;
      Object.defineProperty(res, m, {
        value: () => orig().finally(once),
      });
    }
    // A body read as a stream (the XML listings) ends when its last chunk has been read (or it is cancelled).
    const body = res.body;
    if (body) {
      let piped: ReadableStream<Uint8Array> | undefined;
      Object.defineProperty(res, 'body', {
        get: () =>
          (piped ??= body.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              flush: once,
            }),
          )),
      });
    }
    return res;
  };
  return { fetch: wrapped, idle: () => ({ idleMs, fetchSpanMs: first === undefined ? 0 : last - first }) };
}

/**
 * The run as a Step Functions execution runs it: invocations, each a cold container (it reads the checkpoint and
 * the run's journal afresh) that ends after `ms` (WorkerSpec.sliceMs) or after `pages` pages
 * (WorkerSpec.pagesPerInvocation), as a Lambda invocation ends at its deadline, until the run settles.
 */
async function invocations(
  end: { ms: number } | { pages: number },
  o: { module: ModuleName; config: ReturnType<typeof loadConfig>; client: QualysClient; store: ObjectStore },
): Promise<RunResult & { invocations: number }> {
  let r: RunResult | undefined;
  let invocations = 0;
  do {
    forgetKnownJournals();
    let deadline: () => number;
    if ('ms' in end) {
      const at = Date.now() + end.ms;
      deadline = () => at;
    } else {
      let asked = 0;
      deadline = () => (asked++ < end.pages ? Number.POSITIVE_INFINITY : 0);
    }
    r = await runExport({
      module: getModule(o.module),
      config: o.config,
      client: o.client,
      store: o.store,
      invocation: r?.runId ? { owner: 'bench', continuation: { runId: r.runId } } : { owner: 'bench' },
      deadline,
      safetyMs: 0,
    });
    invocations++;
  } while (r.status === 'continue' && invocations < 100_000);
  if (r.status === 'continue') throw new Error('the run did not end');
  return { ...r, invocations };
}

const spec = JSON.parse(process.argv[2]!) as WorkerSpec;
const env = {
  QUALYS_GATEWAY_URL: spec.url,
  QUALYS_PCI_URL: spec.url,
  QUALYS_CLIENT_ID: spec.clientId,
  QUALYS_CLIENT_SECRET: spec.clientSecret,
  QUALYS_PCI_AUTH_METHOD: 'basic',
  QUALYS_PCI_USERNAME: spec.pciUsername,
  QUALYS_PCI_PASSWORD: spec.pciPassword,
  QUALYS_API_URL: spec.url,
  QUALYS_USERNAME: spec.username,
  QUALYS_PASSWORD: spec.password,
  QEXPORT_PREFIX: 'bench',
  QEXPORT_LOG_LEVEL: 'warn',
  ...spec.env,
};
const config = loadConfig(env);
// As the CLI authenticates: a gateway token for the gateway modules, PCI Merchant's own account (HTTP Basic) for
// pci-scans.
const auth = localAuth({ env, config, modules: [spec.module], fetch });
await warmUp(auth);
const xmlApi = spec.module === 'vmdr-detections' || spec.module === 'knowledgebase';
const authorization =
  spec.module === 'pci-scans'
    ? `Basic ${Buffer.from(`${spec.pciUsername}:${spec.pciPassword}`).toString('base64')}`
    : xmlApi
      ? `Basic ${Buffer.from(`${spec.username}:${spec.password}`).toString('base64')}`
      : `Bearer ${await (auth.gateway as { tokens: { getToken(): Promise<string> } }).tokens.getToken()}`;
const headers = { authorization, 'x-requested-with': 'qexport-bench' };
const m = config.modules;

function peakRssMb(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : process.memoryUsage().rss / 1024 / 1024;
}

/** What a page body yields to the floor (records) and to both (the cursor for the next request). */
type Consume = (res: Response) => Promise<number>;

/**
 * The module's requests, in the module's order and with the module's concurrency, handing each page to `consume`
 * (which returns the records it held) and each request that only proves the listing complete to `check` (PCI's
 * closing re-read of offset 1, EDR's /ioc/events/count): the requests the exporter makes. Resolves with
 * [records, requests].
 */
async function page(consume: Consume, check: (res: Response) => Promise<unknown>): Promise<[number, number]> {
  let records = 0;
  let calls = 0;
  const get = async (url: string, init?: RequestInit) => {
    calls++;
    const res = await fetch(url, { ...init, headers: { ...headers, ...init?.headers } });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res;
  };
  const base = spec.url;

  if (spec.module === 'pci-scans' || spec.module === 'certview-certificates') {
    // Independent pages: up to `concurrency` in flight, in order; stop at the end the API reports.
    const pci = spec.module === 'pci-scans';
    const size = pci ? m.pci.pageSize : m.certview.pageSize;
    let total = Number.POSITIVE_INFINITY; // PCI: totalCount; CertView: learnt from the first empty page
    let next = 0;
    const one = async (k: number): Promise<void> => {
      const res = pci
        ? await get(`${base}/pci/scan/list?offset=${k * size + 1}&limit=${size}`, {
            headers: { accept: 'application/json', apiversion: 'V1' },
          })
        : await get(`${base}/certview/${m.certview.apiVersion}/certificates`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify({ pageNumber: k, pageSize: size, assetType: 'ALL' }),
          });
      const n = await consume(res);
      records += n;
      if (pci) total = Math.min(total, Number(lastTotal));
      else if (n === 0) total = Math.min(total, k * size);
    };
    const lane = async () => {
      while (next * size < total) await one(next++);
    };
    await Promise.all(Array.from({ length: config.http.concurrency }, lane));
    if (pci && total > size) {
      await check(
        await get(`${base}/pci/scan/list?offset=1&limit=${size}`, {
          headers: { accept: 'application/json', apiversion: 'V1' },
        }),
      );
    }
    return [records, calls];
  }

  if (spec.module === 'edr-events') {
    // The exporter's first request: the time probe before the window is fixed (a count of the last second).
    const probe = `${m.edr.timeField}:['${new Date(startedAt - 1000).toISOString()}'..'${new Date(startedAt).toISOString()}']`;
    await check(await get(`${base}/ioc/events/count?${new URLSearchParams({ filter: probe })}`));
    const to = new Date(startedAt).toISOString();
    const from = new Date(startedAt - m.edr.initialLookbackHours * 3600_000).toISOString();
    const field = m.edr.timeField;
    const filter = `${field}:['${from}'..'${to}']`;
    const sort = JSON.stringify([{ [field]: 'asc' }]);
    let url = `${base}/ioc/events/scroll?${new URLSearchParams({ filter, sort, pageSize: String(m.edr.pageSize) })}`;
    for (;;) {
      const n = await consume(await get(url));
      if (n === 0) {
        await check(await get(`${base}/ioc/events/count?${new URLSearchParams({ filter })}`));
        return [records, calls];
      }
      records += n;
      url = `${base}/ioc/events/scroll?scrollId=${encodeURIComponent(lastCursor!)}`;
    }
  }

  if (xmlApi) {
    // The exporter's own parameters, POSTed; each next request adds the id_min the WARNING URL names.
    const module = getModule(spec.module);
    const start = module.start({ config, now: new Date(startedAt), committed: undefined }) as {
      params: Record<string, string>;
      version: string;
    };
    const path =
      spec.module === 'vmdr-detections'
        ? `/api/${start.version}/fo/asset/host/vm/detection/`
        : `/api/${start.version}/fo/knowledge_base/vuln/`;
    let idMin: string | undefined;
    do {
      const form = new URLSearchParams({ ...start.params, ...(idMin ? { id_min: idMin } : {}) });
      records += await consume(
        await get(`${base}${path}`, {
          method: 'POST',
          headers: { accept: 'application/xml', 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        }),
      );
      idMin = lastCursor ? (new URL(lastCursor).searchParams.get('id_min') ?? undefined) : undefined;
    } while (idMin);
    return [records, calls];
  }

  let url: string | undefined =
    `${base}/sem/v1/assetList?action=list&truncation_limit=${m.mobile.truncationLimit}`;
  while (url) {
    records += await consume(await get(url, { headers: { accept: 'application/xml' } }));
    url = lastCursor;
  }
  return [records, calls];
}

// The cursor each response carries, found by the cheapest means (fetch-only) or by the full parse (floor).
let lastCursor: string | undefined;
let lastTotal = 'Infinity';

/** fetch-only: receive the bytes; find the cursor in the head or tail of the body without parsing it. */
const fetchOnly: Consume = async (res) => {
  const buf = Buffer.from(await res.arrayBuffer());
  const head = buf.subarray(0, 200).toString('latin1');
  // XML truncation URLs repeat every parameter of the request (Host List Detection: a dozen): a longer tail.
  const tail = buf.subarray(Math.max(0, buf.length - 4096)).toString('latin1');
  switch (spec.module) {
    case 'pci-scans': {
      lastTotal = /"totalCount":(\d+)/.exec(head)?.[1] ?? 'Infinity';
      // A page's size without parsing it: the fetchRange "a-b" near the start.
      const range = /"fetchRange":"(\d+)-(\d+)"/.exec(head);
      return range ? Number(range[2]) - Number(range[1]) + 1 : 0;
    }
    case 'certview-certificates':
      return buf.length > 2 ? 1 : 0; // '[]' is the empty page; records are counted by the export
    case 'edr-events':
      lastCursor = /"scrollId":"([^"]+)"/.exec(tail)?.[1];
      return /^\{"data":\[\]/.test(head) ? 0 : 1;
    default:
      lastCursor = /<URL><!\[CDATA\[(.*?)\]\]><\/URL>/.exec(tail)?.[1];
      return 1;
  }
};

/** The records of an XML listing's page, and its truncation URL, by the strict reader (floor). */
function xmlRecords(text: string): Record<string, unknown>[] {
  const lists = new Set([
    'TAG',
    'QDS_FACTOR',
    'EXPLT_SRC',
    'MW_SRC',
    'THREAT_INTEL',
    'SUPPORTED_MODULE',
    'PCI_REASON',
  ]);
  const doc = parseXml(text, { lists }) as Record<string, { RESPONSE: Record<string, unknown> }>;
  const root = Object.values(doc)[0]!.RESPONSE;
  const list = (root.HOST_LIST ?? root.VULN_LIST ?? root.ASSET_LIST) as Record<string, unknown> | undefined;
  lastCursor = (root.WARNING as { URL?: string } | undefined)?.URL;
  const items = list && typeof list === 'object' ? (Object.values(list)[0] as Record<string, unknown>[]) : [];
  return items ?? [];
}

/** floor: decode, parse (JSON.parse; the strict one-pass XML reader, the fastest we measured), serialise, gzip. */
function makeFloor(): { consume: Consume; end: () => Promise<void> } {
  const gz = createGzip({ level: config.output.gzipLevel });
  gz.resume();
  const ended = new Promise((r) => gz.on('end', r));
  const runField = '{"qexport_run":"20261124T000000Z-bench0",';
  const consume: Consume = async (res) => {
    const text = await res.text();
    let list: Record<string, unknown>[];
    if (spec.module === 'mobile-assets' || xmlApi) {
      list = xmlRecords(text);
    } else {
      const j = JSON.parse(text) as
        | Record<string, unknown>[]
        | {
            data: Record<string, unknown>[] | { totalCount: number; scanInfoList: Record<string, unknown>[] };
            scrollId?: string;
          };
      if (Array.isArray(j)) list = j;
      else if (Array.isArray(j.data)) {
        list = j.data;
        lastCursor = j.scrollId;
      } else {
        list = j.data.scanInfoList;
        lastTotal = String(j.data.totalCount);
      }
    }
    let chunk = '';
    for (const r of list) chunk += `${runField}${JSON.stringify(r).slice(1)}\n`;
    if (chunk && !gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
    return list.length;
  };
  return {
    consume,
    end: async () => {
      gz.end();
      await ended;
    },
  };
}

const sampled = spec.sampleMemory ? peakSampler() : undefined;
const startedAt = Date.now();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let result: Omit<WorkerResult, 'wallMs' | 'cpuMs' | 'peakRssMb'>;
let dir: string | undefined;

if (spec.mode === 'export') {
  if (spec.sink !== 's3') dir = await mkdtemp(join(tmpdir(), 'qexport-bench-'));
  const sink = spec.s3
    ? createS3Store({
        s3: new S3Client({
          endpoint: spec.s3.endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
          // s3rver stores aws-chunked framing inside streamed objects otherwise (local-aws.md).
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
        bucket: spec.s3.bucket,
      })
    : createDirStore(dir!);
  const measured = spec.measureState
    ? measuringState(sink, stateKeyFor(config, spec.module), `${withPrefix(config, '_state')}/`)
    : undefined;
  const store = measured?.store ?? sink;
  const meter = idleMeter(fetch);
  const client = buildQualysClient(config, auth, meter.fetch);
  const run = { module: spec.module, config, client, store };
  const r = spec.sliceMs
    ? await invocations({ ms: spec.sliceMs }, run)
    : spec.pagesPerInvocation
      ? await invocations({ pages: spec.pagesPerInvocation }, run)
      : await runModuleLocally(run);
  result = {
    mode: spec.mode,
    module: spec.module,
    status: r.status,
    records: r.records,
    calls: client.stats().calls,
    ...meter.idle(),
    ...(measured ? { state: measured.writes } : {}),
    ...('invocations' in r ? { invocations: r.invocations as number } : {}),
  };
} else {
  const floor = spec.mode === 'floor' ? makeFloor() : undefined;
  const [records, calls] = await page(
    floor?.consume ?? fetchOnly,
    floor ? async (res) => JSON.parse(await res.text()) : (res) => res.arrayBuffer(),
  );
  await floor?.end();
  result = { mode: spec.mode, module: spec.module, status: 'done', records, calls };
}
const wallMs = performance.now() - t0;
const u = process.cpuUsage(cpu0);
const peak = peakRssMb();
if (dir) await rm(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ ...result, wallMs, cpuMs: (u.user + u.system) / 1000, peakRssMb: peak, ...(sampled ? { atPeak: sampled() } : {}) } satisfies WorkerResult)}\n`,
);
process.exit(0);
