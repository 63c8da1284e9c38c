// One benchmark measurement in a fresh process: runs an export against a simulator URL and reports wall
// time, CPU, peak RSS and counts as one JSON line. With --baseline it also measures the bare work on the
// same bytes: parse + JSON.stringify + gzip, without the exporter.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { createLocalTokenProvider } from '../shared/auth';
import { buildQualysClient } from '../shared/app/build-client';
import { runModuleLocally } from '../shared/app/run-local';
import { loadConfig, type ModuleName } from '../shared/config';
import { createDirStore } from '../shared/sink';

const [module, url, clientId, clientSecret, mode, now] = process.argv.slice(2) as [
  ModuleName,
  string,
  string,
  string,
  string,
  string,
];
const env = {
  QUALYS_GATEWAY_URL: url,
  QUALYS_PCI_URL: url,
  QUALYS_CLIENT_ID: clientId,
  QUALYS_CLIENT_SECRET: clientSecret,
  QUALYS_CONCURRENCY: '2',
  QEXPORT_PREFIX: 'bench',
};
const config = loadConfig(env);
const tokens = createLocalTokenProvider({
  credentials: { method: 'qualys-oidc', clientId, clientSecret },
  endpoints: config.endpoints,
  tokenCheck: config.tokenCheck,
  fetch,
});
await tokens.getToken();

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 1024 / 1024;
}
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function rawPages(): Promise<string[]> {
  // The same requests the exporter makes, bodies kept as text (baseline only; small scales).
  const token = await tokens.getToken();
  const h = { authorization: `Bearer ${token}`, 'x-requested-with': 'bench' };
  const out: string[] = [];
  if (module === 'edr-events') {
    const q = new URLSearchParams({
      filter: `event.datetime:['2000-01-01T00:00:00.000Z'..'${now}']`,
      pageSize: '1000',
    });
    let body = (await (await fetch(`${url}/ioc/events/scroll?${q}`, { headers: h })).json()) as {
      data: unknown[];
      scrollId?: string;
    };
    while (body.data.length) {
      out.push(JSON.stringify(body));
      body = (await (
        await fetch(`${url}/ioc/events/scroll?scrollId=${body.scrollId}`, { headers: h })
      ).json()) as typeof body;
    }
  } else if (module === 'mobile-assets') {
    let next: string | undefined = `${url}/sem/v1/assetList?action=list&truncation_limit=1000`;
    while (next) {
      const text = await (await fetch(next, { headers: h })).text();
      out.push(text);
      next = /<URL><!\[CDATA\[(.*?)\]\]><\/URL>/.exec(text)?.[1];
    }
  } else if (module === 'pci-scans') {
    for (let offset = 1; ; offset += 1000) {
      const text = await (
        await fetch(`${url}/pci/scan/list?offset=${offset}&limit=1000`, { headers: h })
      ).text();
      const j = JSON.parse(text) as { data: { totalCount: number; scanInfoList: unknown[] } };
      if (!j.data.scanInfoList.length) break;
      out.push(text);
      if (offset + 1000 > j.data.totalCount) break;
    }
  } else {
    for (let page = 0; ; page++) {
      const text = await (
        await fetch(`${url}/certview/v2/certificates`, {
          method: 'POST',
          headers: { ...h, 'content-type': 'application/json' },
          body: JSON.stringify({ pageNumber: page, pageSize: 200 }),
        })
      ).text();
      const list = JSON.parse(text) as unknown[];
      if (list.length) out.push(text);
      if (list.length < 200) break;
    }
  }
  return out;
}

async function baselineCpuMs(pages: string[]): Promise<number> {
  const xml = new XMLParser({
    ignoreAttributes: false,
    parseTagValue: false,
    isArray: (_n, j) => String(j).split('.').slice(-2, -1)[0]?.endsWith('_LIST') ?? false,
  });
  const start = process.cpuUsage();
  const gz = createGzip({ level: 6 });
  gz.resume();
  const done = new Promise((r) => gz.on('end', r));
  for (const text of pages) {
    let records: unknown[];
    if (module === 'mobile-assets') {
      const doc = xml.parse(text) as {
        ASSET_LIST_VM_DETECTION_OUTPUT: { RESPONSE: { ASSET_LIST?: { ASSET?: unknown[] } } };
      };
      records = doc.ASSET_LIST_VM_DETECTION_OUTPUT.RESPONSE.ASSET_LIST?.ASSET ?? [];
    } else {
      const j = JSON.parse(text) as { data?: unknown[] | { scanInfoList: unknown[] } } | unknown[];
      records = Array.isArray(j) ? j : Array.isArray(j.data) ? j.data : (j.data?.scanInfoList ?? []);
    }
    let chunk = '';
    for (const r of records) chunk += `${JSON.stringify(r)}\n`;
    if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return cpuMs(process.cpuUsage(start));
}

const dir = await mkdtemp(join(tmpdir(), 'qexport-bench-'));
let baseline: number | undefined;
if (mode === 'baseline') baseline = await baselineCpuMs(await rawPages());
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const client = buildQualysClient(config, tokens, fetch);
const result = await runModuleLocally({
  module,
  config:
    module === 'edr-events'
      ? {
          ...config,
          modules: { ...config.modules, edr: { ...config.modules.edr, initialLookbackHours: 24 * 90 } },
        }
      : config,
  client,
  store: createDirStore(dir),
});
const wallMs = performance.now() - t0;
const exporterCpuMs = cpuMs(process.cpuUsage(cpu0));
await rm(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ module, status: result.status, records: result.records, wallMs, cpuMs: exporterCpuMs, baselineCpuMs: baseline, peakRssMb: peakRssMb(), apiCalls: client.stats().calls })}\n`,
);
