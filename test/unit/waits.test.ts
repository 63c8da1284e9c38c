import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatInstant, ProgressReporter, waitLine } from '../../bin/cli/progress';
import { QualysHttpError, ResumeLaterError } from '../../shared/errors';
import { createQualysClient } from '../../shared/qualys/client';
import type { ClientOptions, WaitNotice } from '../../shared/qualys/types';
import { MAX_TIMER_MS, sleep } from '../../shared/sleep';

const DAY = 86_400_000;
afterEach(() => {
  vi.useRealTimers();
});

describe('sleeps of any length', () => {
  it("Node's own timer fires at once past 2^31-1 ms; sleep() does not", async () => {
    vi.useFakeTimers();
    let raw = false;
    setTimeout(() => (raw = true), 30 * DAY);
    let ours = false;
    void sleep(30 * DAY).then(() => (ours = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(raw).toBe(true); // the overflow the issue describes
    expect(ours).toBe(false);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS); // 24.8 days
    expect(ours).toBe(false);
    await vi.advanceTimersByTimeAsync(30 * DAY - MAX_TIMER_MS - 10);
    expect(ours).toBe(true);
  });

  it('a sleep of exactly one piece, and of zero, end when they should', async () => {
    vi.useFakeTimers();
    let done = 0;
    void sleep(MAX_TIMER_MS).then(() => done++);
    void sleep(0).then(() => done++);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(1);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(done).toBe(2);
  });
});

/** A client whose one request meets a 409 1965 stating `seconds`, then succeeds. */
function blockedOnce(seconds: number, opts: Partial<ClientOptions> = {}) {
  const body = `<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>later</TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>${seconds}</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`;
  const replies = [
    new Response(body, { status: 409 }),
    new Response('{}', { headers: { 'content-type': 'application/json' } }),
  ];
  const slept: number[] = [];
  const notices: WaitNotice[] = [];
  const c = createQualysClient({
    gatewayUrl: 'https://gw.example.com',
    pciUrl: 'https://pci.example.com',
    fetch: async () => replies.shift()!,
    tokens: { getToken: async () => 'token-abcdefgh', refresh: async () => 'token-abcdefgh' },
    timeoutMs: 1000,
    maxRetries: 2,
    concurrency: 1,
    now: () => 1_000_000,
    sleep: async (ms) => void slept.push(ms),
    onWait: (w) => notices.push(w),
    ...opts,
  });
  return { c, slept, notices };
}

describe('the client and long waits', () => {
  it('sits through a 30-day wait when allowed, telling the caller why and until when', async () => {
    const { c, slept, notices } = blockedOnce(30 * 86_400);
    await c.request({ url: '/x' });
    expect(slept).toEqual([30 * DAY]);
    expect(notices).toEqual([
      {
        label: 'GET /x',
        reason: '409 (code 1965: rate limit), SECONDS_TO_WAIT says 2592000 s',
        ms: 30 * DAY,
        until: 1_000_000 + 30 * DAY,
      },
    ]);
  });

  it('a wait longer than QEXPORT_MAX_WAIT_SECONDS is not sat through: ResumeLater with the wait', async () => {
    const { c, slept } = blockedOnce(30 * 86_400, { maxWaitMs: 2 * DAY });
    const err = (await c.request({ url: '/x' }).catch((e: unknown) => e)) as ResumeLaterError;
    expect(err).toBeInstanceOf(ResumeLaterError);
    expect(err.waitMs).toBe(30 * DAY);
    expect(err.message).toMatch(/longer than QEXPORT_MAX_WAIT_SECONDS \(172800 s\)/);
    expect(slept).toEqual([]);
  });

  it('a wait of more than a year is not plausible: the call fails, naming it', async () => {
    const { c, slept } = blockedOnce(400 * 86_400);
    await expect(c.request({ url: '/x' })).rejects.toThrow(QualysHttpError);
    await expect(blockedOnce(400 * 86_400).c.request({ url: '/x' })).rejects.toThrow(
      /a wait of 34560000 s \(more than a year\) is not plausible/,
    );
    expect(slept).toEqual([]);
  });
});

describe('the CLI shows a wait', () => {
  const notice: WaitNotice = {
    label: 'pci-scans offset 1',
    reason: '409 (code 1965: rate limit), SECONDS_TO_WAIT says 86274 s',
    ms: 86_274_000,
    until: Date.UTC(2026, 0, 3, 12, 5),
  };

  it('why, how long, until when in local time and UTC', () => {
    const t = notice.until - notice.ms;
    expect(waitLine('pci-scans', notice, t)).toBe(
      `pci-scans: waiting 23:57:54, until ${formatInstant(notice.until)}: ${notice.reason}`,
    );
    expect(formatInstant(notice.until)).toMatch(
      /^2026-01-0[23] \d\d:\d\d local \((2026-01-03 )?12:05 UTC\)$/,
    );
  });

  it('plain output: a line when the wait starts and again while it lasts; a page ends it', () => {
    vi.useFakeTimers();
    const out: string[] = [];
    let now = notice.until - notice.ms;
    const r = new ProgressReporter({ write: (s: string) => out.push(s) }, 0, () => now, 300_000);
    r.waiting('pci-scans', notice);
    expect(out).toEqual([`${waitLine('pci-scans', notice, now)}\n`]);
    now += 300_000;
    vi.advanceTimersByTime(300_000);
    expect(out[1]).toMatch(/^pci-scans: waiting 23:52:54, until /);
    r.update({ module: 'pci-scans', pages: 1, records: 10, parts: 0, bytes: 0 });
    vi.advanceTimersByTime(300_000);
    expect(out.filter((l) => l.includes('waiting'))).toHaveLength(2);
    r.finish();
  });

  it('on a terminal: the live line shows the wait in place of the counts, redrawn', () => {
    vi.useFakeTimers();
    const out: string[] = [];
    let now = 0;
    const r = new ProgressReporter({ isTTY: true, write: (s: string) => out.push(s) }, 0, () => now, 1000);
    r.update({ module: 'edr-events', pages: 1, records: 5, parts: 0, bytes: 0 });
    r.waiting('pci-scans', { ...notice, ms: 5000, until: 5000 });
    const CLEAR = '\r\x1b[2K';
    expect(out.at(-1)!.startsWith(CLEAR)).toBe(true);
    expect(out.at(-1)).toMatch(/edr-events: .* \| pci-scans: waiting 0:05, until /);
    now = 1000;
    vi.advanceTimersByTime(1000);
    expect(out.at(-1)).toMatch(/pci-scans: waiting 0:04/);
    r.waiting('edr-events', { ...notice, ms: 500, until: 1500 }); // under a second: not shown
    expect(out.at(-1)!.startsWith(`${CLEAR}edr-events: 1 pages`)).toBe(true);
    r.finish();
  });
});
