// gzip level trade-off on each module's NDJSON (the simulator's records, with the writer's qexport_run field):
// CPU per record and stored bytes per record at each level. Prints one JSON line per (module, level): the median
// of `rounds` passes, the levels alternating within each pass so machine noise spreads over all of them.
// argv: records per module, rounds.
import { gzipSync } from 'node:zlib';
import { certificate, edrEvent, mobileAsset, pciScan, PCI_BASE_ID } from '../test/sim/data';

const n = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
export const LEVELS = [1, 2, 3, 4, 5, 6, 9];

const timeline = { startMs: Date.UTC(2026, 0, 1), stepMs: 1000, perTick: 1 };
const make: Record<string, (i: number) => unknown> = {
  'pci-scans': (i) => pciScan(1, PCI_BASE_ID + i),
  'certview-certificates': (i) => certificate(1, i),
  'edr-events': (i) => edrEvent(1, timeline, i),
  'mobile-assets': (i) => mobileAsset(1, i),
};

for (const [module, f] of Object.entries(make)) {
  // Pages of 1,000 records compressed through one stream, as the part writer does: one write per page.
  let text = '';
  for (let i = 0; i < n; i++)
    text += `{"qexport_run":"20261124T000000Z-abcdef",${JSON.stringify(f(i)).slice(1)}\n`;
  const raw = Buffer.from(text);
  const cpu: Record<number, number[]> = {};
  const bytes: Record<number, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const level of r % 2 ? [...LEVELS].reverse() : LEVELS) {
      const t = process.cpuUsage();
      bytes[level] = gzipSync(raw, { level }).length;
      const u = process.cpuUsage(t);
      (cpu[level] ??= []).push((u.user + u.system) / n);
    }
  }
  for (const level of LEVELS) {
    const s = cpu[level]!.sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({ module, level, records: n, rawBytesPerRecord: raw.length / n, bytesPerRecord: bytes[level]! / n, usPerRecord: s[Math.floor(s.length / 2)], usMin: s[0], usMax: s[s.length - 1] })}\n`,
    );
  }
}
