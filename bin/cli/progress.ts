import type { ModuleName } from '../../shared/config';

export interface ModuleProgress {
  module: ModuleName;
  pages: number;
  records: number;
  parts: number;
  bytes: number;
  /** Records the API says the run will hold (PCI's totalCount, …), when it gives one. */
  total?: number;
}

export interface SummaryRow {
  module: string;
  status: string;
  records: number;
  parts: number;
  bytes: number;
  seconds: number;
}

interface Out {
  isTTY?: boolean;
  write(s: string): unknown;
}

/**
 * Progress for one or more concurrent exports: a single live line on a TTY (redrawn at most 10x/s), plain
 * lines otherwise (at most one per module every `plainEveryMs`).
 */
export class ProgressReporter {
  private readonly state = new Map<string, ModuleProgress & { startedAt: number; lastPlain: number }>();
  private lastDraw = 0;
  private readonly tty: boolean;
  private readonly created: number;

  constructor(
    private readonly out: Out = process.stderr,
    private readonly plainEveryMs = 2000,
    private readonly now: () => number = Date.now,
  ) {
    this.tty = Boolean(out.isTTY);
    this.created = now();
  }

  update(p: ModuleProgress): void {
    const t = this.now();
    const prev = this.state.get(p.module);
    const entry = { ...p, startedAt: prev?.startedAt ?? this.created, lastPlain: prev?.lastPlain ?? 0 };
    this.state.set(p.module, entry);
    if (this.tty) {
      if (t - this.lastDraw >= 100) this.draw(t);
    } else if (t - entry.lastPlain >= this.plainEveryMs) {
      entry.lastPlain = t;
      this.out.write(`${this.line(entry, t)}\n`);
    }
  }

  /** Clears the live line (TTY) so the summary starts on a clean line. */
  finish(): void {
    if (this.tty && this.lastDraw) this.out.write('\r\x1b[2K');
  }

  private draw(t: number): void {
    this.lastDraw = t;
    const parts = [...this.state.values()].map((e) => this.line(e, t));
    this.out.write(`\r\x1b[2K${parts.join(' | ')}`);
  }

  private line(e: ModuleProgress & { startedAt: number }, t: number): string {
    const secs = Math.max((t - e.startedAt) / 1000, 0.001);
    const rate = e.records / secs;
    const base = `${e.module}: ${e.pages} pages, `;
    if (e.total === undefined || !Number.isFinite(e.total) || e.total <= 0) {
      return `${base}${e.records} records, ${Math.round(rate)}/s`;
    }
    // The total can move while a listing is read (new scans appear): never show more than 100 %.
    const pct = Math.min(100, Math.floor((e.records / e.total) * 100));
    const left = Math.max(0, e.total - e.records);
    const eta = rate > 0 && e.records > 0 ? `ETA ${formatDuration(left / rate)}` : 'ETA --:--';
    return `${base}${e.records}/${e.total} records (${pct}%), ${Math.round(rate)}/s, ${eta}`;
  }
}

/** 75 → '1:15', 3725 → '1:02:05'. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatSummary(rows: SummaryRow[]): string {
  const header = ['module', 'status', 'records', 'parts', 'bytes', 'seconds'];
  const body = rows.map((r) => [
    r.module,
    r.status,
    String(r.records),
    String(r.parts),
    formatBytes(r.bytes),
    r.seconds.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
