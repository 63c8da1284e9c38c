// `npm run bench:drift` — what the schema-drift check costs per record, against what exporting a record costs.
//   --smoke   fewer iterations (proves it runs)
// Export cost per record = parse the API page (JSON.parse, or the XML truncation reader) + one NDJSON line per
// record (with qexport_run first) + gzip level 6 of the page: the CPU work the engine does for each record.
// Drift cost per record = driftChecker(module)(record) on the parsed records. Target: ≤ 5 % of the export cost.
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { MODULES, type ModuleName } from '../shared/config';
import { kbListing } from '../shared/modules/knowledgebase';
import { MOBILE_LISTING } from '../shared/modules/mobile-assets';
import { vmdrListing } from '../shared/modules/vmdr-detections';
import { readTruncationBody } from '../shared/modules/xml-truncation';
import { driftChecker } from '../shared/schema/drift';
import { certificate, edrEvent, mobileAsset, mobileAssetXml, pciScan } from '../test/sim/data';
import {
  EXPORTER_HLD_VIEW,
  EXPORTER_KB_VIEW,
  KB_CDATA,
  kbVuln,
  VMDR_CDATA,
  vmdrHost,
  xmlOf,
} from '../test/sim/vmdr';

const smoke = process.argv.includes('--smoke');
const PAGE = 1000;
const ROUNDS = smoke ? 3 : 30;
const timeline = { startMs: Date.parse('2026-01-01T00:00:00Z'), stepMs: 1000, perTick: 1 };

function pageText(module: ModuleName): string {
  const idx = Array.from({ length: PAGE }, (_, i) => i);
  switch (module) {
    case 'pci-scans':
      return JSON.stringify({ data: { scanInfoList: idx.map((i) => pciScan(1, 1000 + i)) } });
    case 'certview-certificates':
      return JSON.stringify(idx.map((i) => certificate(1, i)));
    case 'edr-events':
      return JSON.stringify({ data: idx.map((i) => edrEvent(1, timeline, i)) });
    case 'mobile-assets':
      return (
        '<?xml version="1.0" encoding="UTF-8"?><ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><ASSET_LIST>' +
        idx.map((i) => mobileAssetXml(mobileAsset(1, i))).join('') +
        '</ASSET_LIST></RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>'
      );
    case 'vmdr-detections':
      return (
        '<?xml version="1.0" encoding="UTF-8"?><HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>' +
        idx
          .map((i) => vmdrHost(1, i, {}, { ...EXPORTER_HLD_VIEW, version: '5.0' }, 500))
          .filter((h) => h !== undefined)
          .map((h) => xmlOf('HOST', h, VMDR_CDATA, true))
          .join('') +
        '</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>'
      );
    case 'knowledgebase':
      return (
        '<?xml version="1.0" encoding="UTF-8"?><KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST>' +
        idx
          .map((i) => xmlOf('VULN', kbVuln(1, i, { ...EXPORTER_KB_VIEW, version: '4.0' }), KB_CDATA, true))
          .join('') +
        '</VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>'
      );
  }
}

const XML_LISTINGS = {
  'mobile-assets': MOBILE_LISTING,
  'vmdr-detections': vmdrListing('5.0'),
  knowledgebase: kbListing('4.0'),
} as const;

function parse(module: ModuleName, text: string): Record<string, unknown>[] {
  if (module in XML_LISTINGS) {
    const listing = XML_LISTINGS[module as keyof typeof XML_LISTINGS];
    return readTruncationBody(listing, text, { params: {}, idMin: null }, 'https://qualysapi.qualys.com')
      .records;
  }
  const body = JSON.parse(text) as unknown;
  if (Array.isArray(body)) return body as Record<string, unknown>[];
  const b = body as { data: unknown };
  return (Array.isArray(b.data) ? b.data : (b.data as { scanInfoList: unknown[] }).scanInfoList) as Record<
    string,
    unknown
  >[];
}

/** Median of per-round times, in µs per record. */
function measure(fn: () => void): number {
  fn(); // warm up
  fn();
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    fn();
    times.push(((performance.now() - t0) * 1000) / PAGE);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rows = [];
let sink = 0;
for (const module of MODULES) {
  const text = pageText(module);
  const records = parse(module, text);
  const check = driftChecker(module);
  const exportUs = measure(() => {
    const recs = parse(module, text);
    let chunk = '';
    for (const r of recs) chunk += `{"qexport_run":"20260301T000000Z-abcdef",${JSON.stringify(r).slice(1)}\n`;
    sink += gzipSync(chunk, { level: 6 }).length;
  });
  const driftUs = measure(() => {
    for (const r of records) if (check(r)) sink++;
  });
  rows.push({
    module,
    'export µs/record': Number(exportUs.toFixed(2)),
    'drift µs/record': Number(driftUs.toFixed(3)),
    'drift / export': `${((driftUs / exportUs) * 100).toFixed(2)} %`,
    'target ≤ 5 %': driftUs / exportUs <= 0.05 ? 'met' : 'NOT met',
  });
}
console.table(rows);
if (sink < 0) console.log(sink);
