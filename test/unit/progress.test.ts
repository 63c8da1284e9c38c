import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressReporter } from '../../bin/cli/progress';

function reporter(tty = false) {
  const out: string[] = [];
  let now = 0;
  const r = new ProgressReporter({ isTTY: tty, write: (s: string) => out.push(s) }, 0, () => now);
  return { r, out, at: (ms: number) => (now = ms) };
}

const base = { module: 'pci-scans' as const, parts: 0, bytes: 0 };

describe('progress', () => {
  it('without a total: pages, records and rate only', () => {
    const { r, out, at } = reporter();
    at(2000);
    r.update({ ...base, pages: 2, records: 2000 });
    expect(out).toEqual(['pci-scans: 2 pages, 2000 records, 1000/s\n']);
  });

  it('with a total: records of the total, percentage and an ETA from the rate so far', () => {
    const { r, out, at } = reporter();
    at(10_000);
    r.update({ ...base, pages: 10, records: 10_000, total: 40_000 });
    // 1000 records/s, 30 000 left → 30 s
    expect(out).toEqual(['pci-scans: 10 pages, 10000/40000 records (25%), 1000/s, ETA 0:30\n']);
    at(20_000);
    r.update({ ...base, pages: 20, records: 20_000, total: 4_020_000 });
    expect(out[1]).toBe('pci-scans: 20 pages, 20000/4020000 records (0%), 1000/s, ETA 1:06:40\n');
  });

  it('a total that grew past the records never shows more than 100 % or a negative ETA', () => {
    const { r, out, at } = reporter();
    at(1000);
    r.update({ ...base, pages: 1, records: 120, total: 100 });
    expect(out[0]).toBe('pci-scans: 1 pages, 120/100 records (100%), 120/s, ETA 0:00\n');
  });

  it('no records yet: the ETA is unknown, not zero', () => {
    const { r, out, at } = reporter();
    at(1000);
    r.update({ ...base, pages: 0, records: 0, total: 500 });
    expect(out[0]).toBe('pci-scans: 0 pages, 0/500 records (0%), 0/s, ETA --:--\n');
  });

  it('on a terminal: one live line for all modules, cleared at the end', () => {
    const { r, out, at } = reporter(true);
    at(1000);
    r.update({ ...base, pages: 1, records: 100, total: 200 });
    at(1200);
    r.update({ module: 'edr-events', pages: 1, records: 50, parts: 0, bytes: 0 });
    r.finish();
    expect(out[1]).toBe(
      '\r\x1b[2Kpci-scans: 1 pages, 100/200 records (50%), 83/s, ETA 0:01 | edr-events: 1 pages, 50 records, 42/s',
    );
    expect(out.at(-1)).toBe('\r\x1b[2K');
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});
