import type { ModuleName } from '../../shared/config';
import type { WaitNotice } from '../../shared/qualys/types';

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
  /** Waits in progress (rate limit, pacing), shown instead of the module's counts until its next page. */
  private readonly waits = new Map<string, WaitNotice>();
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly out: Out = process.stderr,
    private readonly plainEveryMs = 2000,
    private readonly now: () => number = Date.now,
    /** How often a wait is shown again: every second on a terminal, every 5 minutes otherwise. */
    private readonly waitEveryMs = out.isTTY ? 1000 : 300_000,
  ) {
    this.tty = Boolean(out.isTTY);
    this.created = now();
  }

  /** A module's client is about to wait: why, how long, until when (local and UTC), refreshed while it lasts. */
  waiting(module: string, w: WaitNotice): void {
    if (w.ms < 1000) return; // short backoffs are not news
    this.waits.set(module, w);
    this.showWaits();
    if (!this.ticker) {
      this.ticker = setInterval(() => this.showWaits(), this.waitEveryMs);
      this.ticker.unref?.();
    }
  }

  private showWaits(): void {
    const t = this.now();
    for (const [module, w] of this.waits) if (w.until <= t) this.waits.delete(module);
    if (!this.waits.size) {
      clearInterval(this.ticker);
      this.ticker = undefined;
      return;
    }
    if (this.tty) this.draw(t);
    else for (const [module, w] of this.waits) this.out.write(`${waitLine(module, w, t)}\n`);
  }

  update(p: ModuleProgress): void {
    this.waits.delete(p.module);
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
    clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.tty && this.lastDraw) this.out.write('\r\x1b[2K');
  }

  private draw(t: number): void {
    this.lastDraw = t;
    const modules = new Set([...this.state.keys(), ...this.waits.keys()]);
    const parts = [...modules].map((m) => {
      const w = this.waits.get(m);
      return w ? waitLine(m, w, t) : this.line(this.state.get(m)!, t);
    });
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

/** 'pci-scans: waiting 23:57:54, until 2026-01-03 14:05 local (13:05 UTC): 409 (code 1965: rate limit), …' */
export function waitLine(module: string, w: WaitNotice, t: number): string {
  return `${module}: waiting ${formatDuration((w.until - t) / 1000)}, until ${formatInstant(w.until)}: ${w.reason}`;
}

/** An instant as local and UTC wall-clock time: '2026-01-03 14:05 local (13:05 UTC)', the UTC date when it differs. */
export function formatInstant(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  const localDate = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  const utcDate = d.toISOString().slice(0, 10);
  const utc = `${utcDate === localDate ? '' : `${utcDate} `}${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
  return `${localDate} ${p(d.getHours())}:${p(d.getMinutes())} local (${utc})`;
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
