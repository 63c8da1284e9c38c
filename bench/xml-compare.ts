// Mobile batch parse cost per asset for each candidate (docs/benchmarks.md, "Mobile parser"): one simulator
// batch of 1,000 assets, parsed `rounds` times by each candidate in turn (order alternating), CPU per asset.
// Prints one JSON line per candidate: median, min and max of the rounds. argv: rounds.
import { mobileAsset, mobileAssetXml } from '../test/sim/data';
import { parseXml } from '../shared/modules/xml';
import { fxpBestParse, fxpBestValidatedParse, previousParse } from './xml-candidates';

const rounds = Number(process.argv[2] ?? 5);
const ASSETS = 1000;
let body = '';
for (let i = 0; i < ASSETS; i++) body += mobileAssetXml(mobileAsset(1, i));
const doc =
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ASSET_LIST_VM_DETECTION_OUTPUT SYSTEM "https://x/a.dtd">\n' +
  `<ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2026-11-24T00:00:00Z</DATETIME><ASSET_LIST>${body}` +
  '</ASSET_LIST></RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>\n';

const candidates: [string, (t: string) => unknown][] = [
  ['before: precheck + XMLValidator + fast-xml-parser (jPath isArray)', previousParse],
  ['fast-xml-parser at its best (jPath: false, Set isArray, no validator)', fxpBestParse],
  ['fast-xml-parser at its best + XMLValidator (strict)', fxpBestValidatedParse],
  ['ours: strict one-pass reader (shared/modules/xml.ts)', parseXml],
];
if (JSON.stringify(parseXml(doc)) !== JSON.stringify(previousParse(doc))) throw new Error('outputs differ');
const samples = new Map<string, number[]>();
for (const [, f] of candidates) f(doc); // warm up
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of r % 2 ? [...candidates].reverse() : candidates) {
    const reps = name.startsWith('ours') ? 10 : 2;
    const t = process.cpuUsage();
    for (let i = 0; i < reps; i++) f(doc);
    const u = process.cpuUsage(t);
    samples.set(name, [...(samples.get(name) ?? []), (u.user + u.system) / reps / ASSETS]);
  }
}
for (const [name] of candidates) {
  const s = samples.get(name)!.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ name, usPerAsset: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1], batchBytes: doc.length })}\n`,
  );
}
